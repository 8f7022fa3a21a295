/**
 * The `process` platform with real processes: deploy, health (heartbeats, deadline, cancel),
 * promote, terminate (process groups, SIGKILL escalation) and pid files surviving a "restart".
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createActivities } from '../../activities';
import { spawn } from 'node:child_process';
import { INSTANCE_ID_ENV, launchRecordFile, readInstanceState, startInstance, writeLaunchRecord } from '../../activities/platform';
import type { HealthResult } from '../../activities/types';
import type { RolloutSpec } from '../../rollout-spec/types';
import { freePort, freePortRange } from '../helpers/free-port';
import { rolloutSpec } from '../helpers/rollout-spec';
import { WORKER_ENV_WITH_SECRETS } from '../helpers/worker-env';

// A service that answers with its version, serves /healthz after HEALTH_DELAY_MS, and has a
// child process (to prove the whole group is stopped). With ENV_DUMP_FILE it writes its whole
// environment there before it listens (so a healthy instance has written it).
const SERVICE = `
const http = require('node:http');
const { spawn } = require('node:child_process');
const [port, version] = process.argv.slice(2);
const readyAt = Date.now() + Number(process.env.HEALTH_DELAY_MS || 0);
if (process.env.IGNORE_SIGTERM) process.on('SIGTERM', () => {});
if (process.env.CRASH) process.exit(3);
const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
require('node:fs').writeFileSync(process.env.CHILD_PID_FILE + '.' + port, String(child.pid));
if (process.env.ENV_DUMP_FILE) require('node:fs').writeFileSync(process.env.ENV_DUMP_FILE, JSON.stringify(process.env));
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.writeHead(Date.now() >= readyAt ? 200 : 503).end();
  res.end(version);
}).listen(Number(port), '127.0.0.1');
`;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitDead(pid: number, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

describe('process platform', () => {
  let dir: string;
  let script: string;
  const logger = pino({ level: 'silent' });
  const quiet = { logger: new DefaultLogger('ERROR') };
  const mkActivities = (registry = new Registry()) =>
    createActivities({ logger, registry, env: process.env, stopGraceMs: 500, healthIntervalMs: 100 });

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'phoenix-process-platform-'));
    script = path.join(dir, 'service.js');
    await writeFile(script, SERVICE);
  });
  after(async () => {
    // Safety net: instances are detached by design, so a failed test must not leave them running.
    const stateDir = path.join(dir, 'state');
    for (const file of existsSync(stateDir) ? await readdir(stateDir) : []) {
      if (!file.endsWith('.json')) continue;
      const state = await readInstanceState(path.join(stateDir, file));
      try {
        if (state) process.kill(-state.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  async function specFor(env: Record<string, string> = {}, service = 'checkout'): Promise<RolloutSpec> {
    return rolloutSpec({
      service,
      platform: {
        kind: 'process',
        command: [process.execPath, script, '{{port}}', '{{version}}'],
        env: { CHILD_PID_FILE: path.join(dir, `${service}-child`), ...env },
        stablePort: await freePort(),
        canaryPort: await freePort(),
        healthPath: '/healthz',
        stateDir: path.join(dir, 'state'),
      },
    });
  }
  const portsOf = (spec: RolloutSpec) => spec.platform as Extract<RolloutSpec['platform'], { kind: 'process' }>;

  it('deploys, reports health with heartbeats, survives a worker restart, and terminates the group', async () => {
    const spec = await specFor({ HEALTH_DELAY_MS: '1500' });
    const { canaryPort, stateDir } = portsOf(spec);
    const registry = new Registry();
    const activities = mkActivities(registry);
    const input = { rolloutId: 'rollout-checkout', spec };
    const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 30_000 }, quiet);
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => heartbeats.push(d));

    await env.run(activities.deployCanary, input);
    const state = await readInstanceState(path.join(stateDir, 'checkout-canary.json'));
    assert.ok(state && alive(state.pid), 'pid file records a live process');
    assert.equal(state.version, 'v2');

    const health: HealthResult = await env.run(activities.checkCanaryHealth, input);
    assert.equal(health.healthy, true, health.detail);
    assert.ok(heartbeats.length >= 2, `expected heartbeats while waiting, got ${heartbeats.length}`);
    assert.equal(await (await fetch(`http://127.0.0.1:${canaryPort}/`)).text(), 'v2');
    assert.match(await registry.getSingleMetricAsString('phoenix_active_rollouts'), /phoenix_active_rollouts 1/);

    // A new worker (fresh activities, same stateDir) finds the running canary instead of starting another.
    const restarted = mkActivities();
    await new MockActivityEnvironment(undefined, quiet).run(restarted.deployCanary, input);
    assert.equal((await readInstanceState(path.join(stateDir, 'checkout-canary.json')))?.pid, state.pid);

    const childPid = Number(await readFile(path.join(dir, `checkout-child.${canaryPort}`), 'utf8'));
    assert.ok(alive(childPid));
    await env.run(restarted.terminateCanary, input);
    assert.ok(await waitDead(state.pid), 'canary stopped');
    assert.ok(await waitDead(childPid), 'its child stopped too (process group)');
    assert.equal(existsSync(path.join(stateDir, 'checkout-canary.json')), false);
    await env.run(restarted.terminateCanary, input); // harmless when gone
  });

  it('fresh baseline: starts the stable version on baselinePort, checks its health, leaves it alone on a redeploy, terminates it', async () => {
    const spec = await specFor({}, 'fresh');
    const baselinePort = await freePort();
    const withBaseline = { ...spec, platform: { ...portsOf(spec), baselinePort } };
    const { stateDir } = portsOf(spec);
    const activities = mkActivities();
    const input = { rolloutId: 'rollout-fresh', spec: withBaseline };
    const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 30_000 }, quiet);
    const file = path.join(stateDir, 'fresh-baseline.json');

    await env.run(activities.deployBaseline, input);
    const state = await readInstanceState(file);
    assert.ok(state && alive(state.pid), 'pid file records a live baseline process');
    assert.equal(state.version, 'v1', 'the stable version');
    assert.equal(state.port, baselinePort);
    const health: HealthResult = await env.run(activities.checkBaselineHealth, input);
    assert.equal(health.healthy, true, health.detail);
    assert.equal(await (await fetch(`http://127.0.0.1:${baselinePort}/`)).text(), 'v1');
    await env.run(activities.deployBaseline, input);
    assert.equal((await readInstanceState(file))?.pid, state.pid, 'a retried deploy keeps the running baseline');
    assert.equal(existsSync(path.join(stateDir, 'fresh-canary.json')), false, 'the canary slot is untouched');

    await env.run(activities.terminateBaseline, input);
    assert.ok(await waitDead(state.pid), 'baseline stopped');
    assert.equal(existsSync(file), false);
    await env.run(activities.terminateBaseline, input); // harmless when gone
    await assert.rejects(env.run(activities.deployBaseline, { rolloutId: 'rollout-fresh', spec }), /platform\.baselinePort/);
  });

  it('a worker killed between the spawn and the pid file: the retried deploy stops the unrecorded instance and starts afresh', async () => {
    const spec = await specFor();
    const { canaryPort, stateDir } = portsOf(spec);
    const stateFile = path.join(stateDir, 'checkout-canary.json');
    // What a killed worker leaves: the launch record, a running instance holding the port, no pid file.
    const instanceId = 'killed-worker-launch';
    await writeLaunchRecord(stateFile, { instanceId, port: canaryPort, startedAt: new Date().toISOString() });
    const orphan = spawn(process.execPath, [script, String(canaryPort), 'v2'], {
      detached: true,
      stdio: 'ignore',
      env: { PATH: process.env.PATH, CHILD_PID_FILE: path.join(dir, 'orphan-child'), [INSTANCE_ID_ENV]: instanceId },
    });
    orphan.unref();
    const orphanPid = orphan.pid as number;
    const until = Date.now() + 10_000;
    while (Date.now() < until && !(await fetch(`http://127.0.0.1:${canaryPort}/`).then(() => true, () => false))) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(existsSync(stateFile), false);

    const activities = mkActivities();
    const input = { rolloutId: 'rollout-checkout', spec };
    try {
      await new MockActivityEnvironment({ startToCloseTimeoutMs: 30_000 }, quiet).run(activities.deployCanary, input);
      assert.ok(await waitDead(orphanPid), 'the unrecorded instance was stopped');
      const state = await readInstanceState(stateFile);
      assert.ok(state && alive(state.pid) && state.pid !== orphanPid, 'a fresh instance is recorded');
      assert.equal(existsSync(launchRecordFile(stateFile)), false, 'the launch record is gone once the pid file exists');
      const health: HealthResult = await new MockActivityEnvironment({ startToCloseTimeoutMs: 30_000 }, quiet).run(
        activities.checkCanaryHealth,
        input,
      );
      assert.equal(health.healthy, true, health.detail);
    } finally {
      await new MockActivityEnvironment(undefined, quiet).run(activities.terminateCanary, input);
      try {
        process.kill(-orphanPid, 'SIGKILL');
      } catch {
        /* stopped by the deploy */
      }
    }
  });

  it('promotes: replaces the stable instance with the canary version on the stable port', async () => {
    const spec = await specFor({}, 'payments');
    const { stablePort, canaryPort, stateDir } = portsOf(spec);
    const activities = mkActivities();
    const input = { rolloutId: 'rollout-payments', spec };
    const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 30_000 }, quiet);
    const oldStable = await startInstance({
      argv: [process.execPath, script, String(stablePort), 'v1'],
      version: 'v1',
      port: stablePort,
      env: { ...process.env, CHILD_PID_FILE: path.join(dir, 'payments-child') },
      stateFile: path.join(stateDir, 'payments-stable.json'),
      logFile: path.join(stateDir, 'payments-stable.log'),
    });
    await env.run(activities.deployCanary, input);
    await env.run(activities.promoteCanary, input);
    assert.ok(await waitDead(oldStable.pid), 'old stable stopped');
    assert.equal(await (await fetch(`http://127.0.0.1:${stablePort}/`)).text(), 'v2');
    assert.equal(await (await fetch(`http://127.0.0.1:${canaryPort}/`)).text(), 'v2', 'canary keeps serving until terminated');
    const promoted = await readInstanceState(path.join(stateDir, 'payments-stable.json'));
    await env.run(activities.promoteCanary, input); // idempotent
    assert.equal((await readInstanceState(path.join(stateDir, 'payments-stable.json')))?.pid, promoted?.pid);
    await env.run(activities.terminateCanary, input);
    if (promoted) process.kill(-promoted.pid, 'SIGKILL');
  });

  it('pools: deploys replicas on consecutive ports, checks each, promotes instance by instance, terminates all', async () => {
    const stablePort = await freePortRange(3);
    let canaryPort = await freePortRange(2);
    while (canaryPort <= stablePort + 2 && canaryPort + 1 >= stablePort) canaryPort = await freePortRange(2);
    const stateDir = path.join(dir, 'state');
    const spec = rolloutSpec({
      service: 'orders',
      platform: {
        kind: 'process',
        command: [process.execPath, script, '{{port}}', '{{version}}'],
        env: { CHILD_PID_FILE: path.join(dir, 'orders-child') },
        stablePort,
        canaryPort,
        replicas: { stable: 3, canary: 2 },
        stateDir,
      },
    });
    const activities = mkActivities();
    const input = { rolloutId: 'rollout-orders', spec };
    const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 30_000 }, quiet);
    const oldStable = [];
    for (let i = 0; i < 3; i++) {
      oldStable.push(
        await startInstance({
          argv: [process.execPath, script, String(stablePort + i), 'v1'],
          version: 'v1',
          port: stablePort + i,
          env: { ...process.env, CHILD_PID_FILE: path.join(dir, 'orders-child') },
          stateFile: path.join(stateDir, i === 0 ? 'orders-stable.json' : `orders-stable-${i + 1}.json`),
          logFile: path.join(stateDir, `orders-stable-${i + 1}.log`),
        }),
      );
    }
    await env.run(activities.deployCanary, input);
    for (const port of [canaryPort, canaryPort + 1]) assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'v2');
    assert.deepEqual((await readdir(stateDir)).filter((f) => /^orders-canary.*json$/.test(f)).sort(), ['orders-canary-2.json', 'orders-canary.json']);
    const health: HealthResult = await env.run(activities.checkCanaryHealth, input);
    assert.equal(health.healthy, true, health.detail);
    assert.equal(health.detail.split(';').length, 2, `both instances probed: ${health.detail}`);

    // One canary instance dies: health names it and fails.
    const second = await readInstanceState(path.join(stateDir, 'orders-canary-2.json'));
    process.kill(-second!.pid, 'SIGKILL');
    assert.ok(await waitDead(second!.pid));
    const sick: HealthResult = await env.run(activities.checkCanaryHealth, input);
    assert.equal(sick.healthy, false);
    assert.match(sick.detail, new RegExp(`process ${second!.pid} exited`));
    await env.run(activities.deployCanary, input); // redeploy restarts the missing instance only
    const healthAgain: HealthResult = await env.run(activities.checkCanaryHealth, input);
    assert.equal(healthAgain.healthy, true);

    // Promotion: every stable instance now serves v2; the old ones were stopped one at a time.
    const order: number[] = [];
    await env.run(activities.promoteCanary, input);
    for (const [i, old] of oldStable.entries()) {
      assert.ok(await waitDead(old.pid), `old stable ${i + 1} stopped`);
      assert.equal(await (await fetch(`http://127.0.0.1:${stablePort + i}/`)).text(), 'v2');
      const now = await readInstanceState(path.join(stateDir, i === 0 ? 'orders-stable.json' : `orders-stable-${i + 1}.json`));
      order.push(Date.parse(now!.startedAt));
    }
    assert.deepEqual([...order].sort((a, b) => a - b), order, 'replaced in order, instance by instance');
    await env.run(activities.terminateCanary, input);
    assert.deepEqual((await readdir(stateDir)).filter((f) => /^orders-canary.*json$/.test(f)), []);
    for (const port of [canaryPort, canaryPort + 1]) await assert.rejects(fetch(`http://127.0.0.1:${port}/`));
    for (let i = 0; i < 3; i++) {
      const state = await readInstanceState(path.join(stateDir, i === 0 ? 'orders-stable.json' : `orders-stable-${i + 1}.json`));
      if (state) process.kill(-state.pid, 'SIGKILL');
    }
  });

  it('escalates to SIGKILL when the canary ignores SIGTERM', async () => {
    const spec = await specFor({ IGNORE_SIGTERM: '1' }, 'stubborn');
    const activities = mkActivities();
    const input = { rolloutId: 'rollout-stubborn', spec };
    const env = new MockActivityEnvironment(undefined, quiet);
    await env.run(activities.deployCanary, input);
    // Healthy means the script ran, so its SIGTERM handler is installed.
    const health: HealthResult = await new MockActivityEnvironment({ startToCloseTimeoutMs: 30_000 }, quiet).run(
      activities.checkCanaryHealth,
      input,
    );
    assert.equal(health.healthy, true, health.detail);
    const state = await readInstanceState(path.join(portsOf(spec).stateDir, 'stubborn-canary.json'));
    const started = Date.now();
    await env.run(activities.terminateCanary, input);
    assert.ok(await waitDead(state!.pid, 100));
    assert.ok(Date.now() - started >= 450, 'waited the grace period first');
  });

  describe('environment of the instances', () => {
    const workerEnv = WORKER_ENV_WITH_SECRETS;
    const withWorkerEnv = () =>
      createActivities({ logger, registry: new Registry(), env: workerEnv, stopGraceMs: 500, healthIntervalMs: 100 });

    async function deployAndReadEnv(
      service: string,
      passEnv?: string[],
      extraEnv: Record<string, string> = {},
    ): Promise<Record<string, string>> {
      const dump = path.join(dir, `${service}-env.json`);
      const spec = await specFor({ ENV_DUMP_FILE: dump, ...extraEnv }, service);
      if (passEnv) Object.assign(spec.platform, { passEnv });
      const activities = withWorkerEnv();
      const input = { rolloutId: `rollout-${service}`, spec };
      try {
        await new MockActivityEnvironment(undefined, quiet).run(activities.deployCanary, input);
        const health: HealthResult = await new MockActivityEnvironment({ startToCloseTimeoutMs: 30_000 }, quiet).run(
          activities.checkCanaryHealth,
          input,
        );
        assert.equal(health.healthy, true, health.detail);
        return JSON.parse(await readFile(dump, 'utf8')) as Record<string, string>;
      } finally {
        await new MockActivityEnvironment(undefined, quiet).run(activities.terminateCanary, input);
      }
    }

    it('by default: PATH, HOME, LANG, TZ and the spec env; none of the worker secrets', async () => {
      const env = await deployAndReadEnv('envdefault');
      assert.equal(env.PATH, workerEnv.PATH);
      for (const secret of ['PHOENIX_API_HMAC_SECRET', 'SOME_WEBHOOK_SECRET', 'TEMPORAL_API_KEY']) {
        assert.equal(env[secret], undefined, `${secret} reached the instance`);
      }
      assert.doesNotMatch(JSON.stringify(env), /s3cret/);
      assert.deepEqual(Object.keys(env).sort(), ['CHILD_PID_FILE', 'ENV_DUMP_FILE', 'HOME', 'LANG', 'PATH', INSTANCE_ID_ENV, 'TZ'].sort());
      assert.deepEqual([env.HOME, env.LANG, env.TZ], [workerEnv.HOME, workerEnv.LANG, workerEnv.TZ]);
    });

    it('passEnv replaces the default list; names unset in the worker are skipped; spec env wins', async () => {
      const env = await deployAndReadEnv('envlisted', ['PATH', 'PHOENIX_PASSED', 'TZ', 'PHOENIX_NOT_SET_ANYWHERE'], { TZ: 'UTC' });
      assert.equal(env.PATH, workerEnv.PATH);
      assert.equal(env.PHOENIX_PASSED, 'passed-through');
      assert.equal(env.TZ, 'UTC', 'platform.env wins over a passed variable');
      assert.equal(env.HOME, undefined, 'not listed, so not passed');
      assert.equal(env.PHOENIX_API_HMAC_SECRET, undefined);
      assert.equal(env.SOME_WEBHOOK_SECRET, undefined);
      assert.ok(!('PHOENIX_NOT_SET_ANYWHERE' in env));
    });
  });

  it('classifies start failures: crash → retryable, missing executable → non-retryable', async () => {
    const activities = mkActivities();
    const env = new MockActivityEnvironment(undefined, quiet);
    const crash = await specFor({ CRASH: '1' }, 'crashy');
    const crashInput = { rolloutId: 'r', spec: crash };
    // A crash inside the settle window fails the deploy; a slower one (a loaded machine) is caught
    // by the health check, which must then stop polling at once.
    const deployed = await env.run(activities.deployCanary, crashInput).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (deployed !== undefined) {
      assert.ok(deployed instanceof ApplicationFailure, inspect(deployed));
      assert.equal(deployed.type, 'ProcessControlError');
      assert.equal(deployed.nonRetryable, false);
      assert.match(deployed.message, /exited right after start \(code 3/);
    } else {
      const started = Date.now();
      const health: HealthResult = await new MockActivityEnvironment({ startToCloseTimeoutMs: 30_000 }, quiet).run(
        activities.checkCanaryHealth,
        crashInput,
      );
      assert.equal(health.healthy, false);
      assert.match(health.detail, /exited/);
      assert.ok(Date.now() - started < 5000, 'a dead process is final, not polled until the deadline');
    }
    const missing = await specFor({}, 'missing');
    (missing.platform as { command: string[] }).command = ['/nonexistent/phoenix-binary', '{{port}}'];
    await assert.rejects(env.run(activities.deployCanary, { rolloutId: 'r', spec: missing }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'ConfigError');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /platform\.command/);
      return true;
    });
  });

  it('gives up at the deadline with healthy=false, and honours cancellation', async () => {
    const spec = await specFor({ HEALTH_DELAY_MS: '600000' }, 'slow');
    const activities = mkActivities();
    const input = { rolloutId: 'rollout-slow', spec };
    await new MockActivityEnvironment(undefined, quiet).run(activities.deployCanary, input);
    try {
      const started = Date.now();
      const result: HealthResult = await new MockActivityEnvironment({ startToCloseTimeoutMs: 1500 }, quiet).run(activities.checkCanaryHealth, input);
      assert.equal(result.healthy, false);
      assert.match(result.detail, /503/);
      assert.ok(Date.now() - started < 1500, 'returned before the activity timeout');

      const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 }, quiet);
      const pending = env.run(activities.checkCanaryHealth, input);
      setTimeout(() => env.cancel(), 300);
      await assert.rejects(pending, (err: unknown) => err instanceof CancelledFailure);
    } finally {
      await new MockActivityEnvironment(undefined, quiet).run(activities.terminateCanary, input);
    }
  });
});
