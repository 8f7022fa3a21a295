/**
 * `canaryScale: weight` with real processes behind a real HAProxy: the deploy starts one canary
 * instance; raising the weight starts more (healthy before they get traffic), lowering it takes
 * traffic off an instance before stopping it, with no request through HAProxy failing; a rollback
 * never starts an instance.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createActivities } from '../../activities';
import { readInstanceState } from '../../activities/platform';
import { parseRuntimeApiAddress, runRuntimeApiCommand } from '../../activities/traffic/haproxy-runtime-api';
import type { HealthResult, SetWeightResult } from '../../activities/types';
import type { RolloutSpec } from '../../rollout-spec/types';
import { freePortRange } from '../helpers/free-port';
import { startHaproxy, type HaproxyHandle } from '../helpers/haproxy';
import { startHttpServer, type TestHttpServer } from '../helpers/http-servers';
import { rolloutSpec } from '../helpers/rollout-spec';

const SERVICE = `
const http = require('node:http');
const [port, version] = process.argv.slice(2);
http.createServer((req, res) => res.end(req.url === '/healthz' ? 'ok' : 'canary ' + version)).listen(Number(port), '127.0.0.1');
`;

describe('canary pool that follows its weight (canaryScale: weight)', () => {
  const logger = pino({ level: 'silent' });
  let dir: string;
  let haproxy: HaproxyHandle;
  const stable: TestHttpServer[] = [];
  let spec: RolloutSpec;
  let canaryPort: number;
  const activities = createActivities({ logger, registry: new Registry(), env: process.env, stopGraceMs: 1_000, healthIntervalMs: 100 });
  const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 30_000 }, { logger: new DefaultLogger('ERROR') });
  const input = () => ({ rolloutId: 'rollout-scale', spec });

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'phoenix-canary-scale-'));
    const script = path.join(dir, 'service.js');
    await writeFile(script, SERVICE);
    for (let i = 0; i < 3; i++) stable.push(await startHttpServer('stable'));
    canaryPort = await freePortRange(2);
    const check = 'check inter 200ms fastinter 100ms downinter 100ms fall 1 rise 1';
    haproxy = await startHaproxy({
      servers: [
        ...stable.map((s, i) => ({ name: `stable-${i + 1}`, address: `127.0.0.1:${s.port}`, weight: 100, options: check })),
        { name: 'canary-1', address: `127.0.0.1:${canaryPort}`, weight: 0, options: check },
        { name: 'canary-2', address: `127.0.0.1:${canaryPort + 1}`, weight: 0, options: check },
      ],
    });
    spec = rolloutSpec({
      traffic: { kind: 'haproxy', runtimeApi: haproxy.runtimeApi, backend: 'app', stableServers: { prefix: 'stable-' }, canaryServers: { prefix: 'canary-' } },
      platform: {
        kind: 'process',
        command: [process.execPath, script, '{{port}}', '{{version}}'],
        stablePort: stable[0]!.port,
        canaryPort,
        replicas: { stable: 3, canary: 2 },
        canaryScale: 'weight',
        stateDir: path.join(dir, 'state'),
      },
    });
  });

  after(async () => {
    const stateDir = path.join(dir, 'state');
    for (const file of existsSync(stateDir) ? await readdir(stateDir) : []) {
      const state = file.endsWith('.json') ? await readInstanceState(path.join(stateDir, file)) : undefined;
      try {
        if (state) process.kill(-state.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await haproxy?.stop();
    for (const s of stable) await s.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const canaryFiles = async () => (await readdir(path.join(dir, 'state'))).filter((f) => /^checkout-canary.*\.json$/.test(f)).sort();
  const weights = async () => {
    const answer = await runRuntimeApiCommand(parseRuntimeApiAddress(haproxy.runtimeApi), 'show servers state app');
    const rows = answer.split('\n').slice(2).filter((l) => l.trim()).map((l) => l.trim().split(/\s+/));
    return Object.fromEntries(rows.map((f) => [f[3] as string, Number(f[7])]));
  };

  /** Requests through HAProxy, 5 at a time, until stopped; counts answers that are not 200. */
  function backgroundLoad() {
    let running = true;
    const tally = { ok: 0, failed: 0 };
    const lane = async () => {
      while (running) {
        const res = await fetch(haproxy.url).catch(() => undefined);
        if (res?.status === 200) tally.ok++;
        else tally.failed++;
        await res?.text();
      }
    };
    const lanes = Array.from({ length: 5 }, lane);
    return {
      tally,
      async stop() {
        running = false;
        await Promise.all(lanes);
        return tally;
      },
    };
  }

  it('starts one instance, grows with the weight, shrinks without a failed request', async () => {
    await env.run(activities.deployCanary, input());
    assert.deepEqual(await canaryFiles(), ['checkout-canary.json'], 'a 5% canary does not cost the full pool');
    const health: HealthResult = await env.run(activities.checkCanaryHealth, input());
    assert.equal(health.healthy, true, health.detail);

    const load = backgroundLoad();
    const at5: SetWeightResult = await env.run(activities.setCanaryWeight, { ...input(), weight: 5 });
    assert.equal(at5.leftOut?.['canary-2'], 'scaled down');
    assert.ok((at5.servers?.['canary-1'] ?? 0) > 0);
    assert.ok(Math.abs((at5.share ?? -1) - 5) <= 0.5);

    // ceil(3 stable × 40%) = 2 instances: the second is started and healthy before it gets traffic.
    const at40: SetWeightResult = await env.run(activities.setCanaryWeight, { ...input(), weight: 40 });
    assert.deepEqual(await canaryFiles(), ['checkout-canary-2.json', 'checkout-canary.json']);
    assert.deepEqual(at40.leftOut, {});
    assert.equal(at40.servers?.['canary-1'], at40.servers?.['canary-2']);
    assert.ok((at40.servers?.['canary-2'] ?? 0) > 0);
    assert.equal((await weights())['canary-2'], at40.servers?.['canary-2']);

    // Back to 20% (one instance): canary-2 leaves traffic first, then it is stopped.
    const second = await readInstanceState(path.join(dir, 'state', 'checkout-canary-2.json'));
    const at20: SetWeightResult = await env.run(activities.setCanaryWeight, { ...input(), weight: 20 });
    assert.equal(at20.servers?.['canary-2'], 0);
    assert.deepEqual(await canaryFiles(), ['checkout-canary.json']);
    assert.throws(() => process.kill(second!.pid, 0), 'instance 2 stopped');
    const tally = await load.stop();
    assert.ok(tally.ok > 100, `requests went through: ${JSON.stringify(tally)}`);
    assert.equal(tally.failed, 0, `no request failed while the pool grew and shrank: ${JSON.stringify(tally)}`);
  });

  it('a rollback step never starts an instance', async () => {
    const rollback = { ...input(), weight: 60, context: { phase: 'rollback', rollbackAction: 'gradual_rollback' as const } };
    await env.run(activities.setCanaryWeight, rollback);
    assert.deepEqual(await canaryFiles(), ['checkout-canary.json'], 'still one instance');
    await env.run(activities.setCanaryWeight, { ...input(), weight: 0 });
    await env.run(activities.terminateCanary, input());
    assert.deepEqual(await canaryFiles(), []);
  });
});
