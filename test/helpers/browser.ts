/**
 * Headless Chromium for browser tests: launch with flags that work on a closed network, keep
 * numbered screenshots as test artifacts, and turn a failed step into an error naming its
 * screenshot.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Where browser tests keep their screenshots (git-ignored). */
export const BROWSER_ARTIFACTS_DIR = path.resolve(__dirname, '..', '..', 'test-artifacts', 'ui');

/**
 * Chromium's background services (updates, sync, safe browsing, QUIC probes) try to reach Google
 * at start; on this machine's closed network those connections are refused and can stall the
 * launch, so they are all switched off. `--no-sandbox` because tests run as root.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The Chromium binary: `PHOENIX_CHROMIUM_PATH` if set, else Debian's `/usr/bin/chromium`.
 * Throws naming the variable and the package when neither exists, rather than letting playwright
 * fail with a download hint that cannot work here.
 */
export function chromiumPath(): string {
  const fromEnv = process.env.PHOENIX_CHROMIUM_PATH;
  const candidate = fromEnv && fromEnv.trim() ? fromEnv : '/usr/bin/chromium';
  if (!fs.existsSync(candidate)) {
    throw new Error(
      `Chromium not found at ${candidate}: install the Debian package (apt-get install -y chromium) ` +
        'or set PHOENIX_CHROMIUM_PATH to a Chromium binary',
    );
  }
  return candidate;
}

/** Launches headless Chromium with `CHROMIUM_ARGS`. Close it in `after()`. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: [...CHROMIUM_ARGS] });
}

/**
 * Numbered screenshots of one test file, e.g. `test-artifacts/ui/temporal-ui-03-signal-dialog.png`.
 * Earlier runs' files with the same prefix are removed first so the folder shows only this run.
 */
export class ScreenshotTrail {
  private count = 0;
  /** Paths written so far, in order. */
  readonly paths: string[] = [];

  constructor(
    private readonly prefix: string,
    private readonly dir: string = BROWSER_ARTIFACTS_DIR,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    for (const file of fs.readdirSync(dir)) {
      if (file.startsWith(`${prefix}-`) && file.endsWith('.png')) fs.rmSync(path.join(dir, file), { force: true });
    }
  }

  /** Saves a full-page screenshot named after `name`, prints its path and returns it. */
  async shot(page: Page, name: string): Promise<string> {
    this.count += 1;
    const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
    const file = path.join(this.dir, `${this.prefix}-${String(this.count).padStart(2, '0')}-${slug}.png`);
    await page.screenshot({ path: file, fullPage: true });
    this.paths.push(file);
    process.stdout.write(`screenshot: ${path.relative(process.cwd(), file)}\n`);
    return file;
  }

  /**
   * Runs one step of a browser test. On failure a screenshot is taken and the error is rethrown
   * with the step name and the screenshot path, so the failure message says where to look.
   */
  async step<T>(page: Page, name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      let where = '(no screenshot: the page could not be captured)';
      try {
        where = await this.shot(page, `FAILED ${name}`);
      } catch {
        // The page or browser may be gone; the original error matters more.
      }
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`browser step "${name}" failed: ${message}\nscreenshot: ${where}`, { cause: err });
    }
  }
}

/**
 * Polls `probe` until it returns a value other than `undefined`, or throws after `timeoutMs` with
 * `what` and the last observation, for UI state that settles asynchronously.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 30_000, intervalMs = 250 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      last = 'not yet';
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
