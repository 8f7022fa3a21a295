/**
 * Waits until Prometheus has scraped every target of a selector at least twice. Prometheus answers
 * `/-/ready` seconds before its first scrapes, and a rate() needs two of them: a rollout started in
 * between fails its pre-flight ("no data for stable"), rightly, so the stack is not ready before this.
 */
export async function waitForScrapes(prometheusUrl: string, selector: string, timeoutMs = 30_000): Promise<void> {
  const query = `min(count_over_time(up${selector}[30s]))`;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    try {
      const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`, { signal: AbortSignal.timeout(2_000) });
      const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
      const scrapes = Number(body.data?.result?.[0]?.value[1] ?? 0);
      if (scrapes >= 2) return;
      last = `${scrapes} scrapes`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) throw new Error(`Prometheus did not scrape up${selector} twice within ${timeoutMs} ms (${last})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
