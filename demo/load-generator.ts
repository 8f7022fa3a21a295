/**
 * A steady-rate HTTP load generator: sends `ratePerSecond` GETs to one URL over keep-alive
 * connections and counts outcomes by status. Requests are scheduled against the wall clock, so a
 * slow tick catches up instead of drifting; beyond `maxInFlight` requests are counted as dropped
 * rather than queued, which keeps the offered rate honest when the target is slow.
 */
import http from 'node:http';

export interface LoadGeneratorOptions {
  url: string;
  ratePerSecond: number;
  maxInFlight?: number;
  timeoutMs?: number;
  /** Scheduler tick (ms); small enough to spread requests across each second. */
  tickMs?: number;
}

/** Outcome counts: HTTP status codes as keys, plus `error` (network), `timeout` and `dropped`. */
export interface LoadStats {
  url: string;
  ratePerSecond: number;
  startedAt: string;
  sent: number;
  inFlight: number;
  counts: Record<string, number>;
}

/** A running generator; `stop()` stops scheduling and waits (bounded) for in-flight requests. */
export interface LoadGenerator {
  stats(): LoadStats;
  stop(graceMs?: number): Promise<LoadStats>;
}

/** Starts sending immediately. */
export function startLoadGenerator(opts: LoadGeneratorOptions): LoadGenerator {
  const url = new URL(opts.url);
  if (url.protocol !== 'http:') throw new Error(`url: only http:// is supported, got ${opts.url}`);
  if (!(opts.ratePerSecond > 0)) throw new Error(`ratePerSecond: must be > 0, got ${opts.ratePerSecond}`);
  const maxInFlight = opts.maxInFlight ?? 200;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: maxInFlight });
  const startedAt = Date.now();
  const counts: Record<string, number> = {};
  let sent = 0;
  let scheduled = 0;
  let inFlight = 0;
  const bump = (key: string) => (counts[key] = (counts[key] ?? 0) + 1);

  const fire = () => {
    if (inFlight >= maxInFlight) return bump('dropped');
    inFlight++;
    sent++;
    let settled = false;
    const done = (key: string) => {
      if (settled) return;
      settled = true;
      inFlight--;
      bump(key);
    };
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => done(String(res.statusCode)));
      res.on('error', () => done('error'));
    });
    req.on('timeout', () => {
      done('timeout');
      req.destroy();
    });
    req.on('error', () => done('error'));
  };

  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - startedAt) / 1000) * opts.ratePerSecond);
    for (; scheduled < due; scheduled++) fire();
  }, opts.tickMs ?? 10);

  const stats = (): LoadStats => ({
    url: opts.url,
    ratePerSecond: opts.ratePerSecond,
    startedAt: new Date(startedAt).toISOString(),
    sent,
    inFlight,
    counts: { ...counts },
  });

  return {
    stats,
    async stop(graceMs = 2_000) {
      clearInterval(timer);
      const deadline = Date.now() + graceMs;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      agent.destroy();
      return stats();
    },
  };
}
