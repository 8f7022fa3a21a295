/**
 * The worker process against a real Temporal dev server: it starts, polls the task queue, serves
 * app and SDK metrics on loopback, logs JSON only, and exits 0 on SIGTERM; bad config exits 1.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../helpers/free-port';
import { startDevServer, type TestDevServer } from '../helpers/temporal';

const ROOT = path.resolve(__dirname, '../..');

function startWorker(env: Record<string, string>): { child: ChildProcess; stdout: () => string; stderr: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, debug: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${what} not seen within ${timeoutMs} ms\n${debug().slice(-3000)}`);
}

describe('worker process', () => {
  let server: TestDevServer;
  before(async () => {
    server = await startDevServer();
  });
  after(async () => {
    await server?.teardown();
  });

  it('runs, serves metrics on loopback, logs JSON, and shuts down cleanly on SIGTERM', { timeout: 180_000 }, async () => {
    const appPort = await freePort();
    const sdkPort = await freePort();
    const w = startWorker({
      TEMPORAL_ADDRESS: server.address,
      PHOENIX_METRICS_ADDR: `127.0.0.1:${appPort}`,
      PHOENIX_SDK_METRICS_ADDR: `127.0.0.1:${sdkPort}`,
      LOG_LEVEL: 'info',
    });
    const debug = () => `stdout:\n${w.stdout()}\nstderr:\n${w.stderr()}`;
    try {
      await until('"worker started"', () => w.stdout().includes('"msg":"worker started"'), 120_000, debug);
      const app = await (await fetch(`http://127.0.0.1:${appPort}/metrics`)).text();
      assert.match(app, /^phoenix_active_rollouts 0$/m, 'app metrics come from the activities registry');
      assert.match(app, /^process_cpu_user_seconds_total /m, 'default process metrics');
      assert.equal((await fetch(`http://127.0.0.1:${appPort}/other`)).status, 404);
      await until(
        'SDK poller metrics',
        async () => /temporal_num_pollers\{.*task_queue="phoenix-rollouts"/.test(await (await fetch(`http://127.0.0.1:${sdkPort}/metrics`)).text()),
        30_000,
        debug,
      );
    } finally {
      w.child.kill('SIGTERM');
    }
    assert.equal(await w.exit, 0, debug());
    const lines = w.stdout().split('\n').filter(Boolean);
    for (const line of lines) {
      const parsed = JSON.parse(line) as { msg?: string; level?: number };
      assert.equal(typeof parsed.msg, 'string', line);
    }
    assert.ok(lines.some((l) => l.includes('"msg":"worker stopped"')), debug());
  });

  it('exits 1 naming the bad variable when the configuration is invalid', async () => {
    const w = startWorker({ TEMPORAL_ADDRESS: server.address, PHOENIX_METRICS_ADDR: 'everywhere', LOG_LEVEL: 'chatty' });
    assert.equal(await w.exit, 1);
    assert.match(w.stderr(), /PHOENIX_METRICS_ADDR="everywhere"/);
    assert.match(w.stderr(), /LOG_LEVEL="chatty"/);
  });
});
