/**
 * Scenario 7: HAProxy's runtime API refuses connections for a while around a weight change. The
 * rollout's `traffic.runtimeApi` points at a TCP forwarder this test controls in front of the real
 * runtime API; the forwarder stops listening (connections are refused) shortly before the first
 * phase ends and comes back ~6 s later. The weight then converges (HAProxy's own read-back equals
 * the plan), and no request through HAProxy fails in the meantime.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import { buildPlan } from '../../workflows/plan';
import { portClosed, startStack, type Stack } from '../helpers/stack';

/** A TCP forwarder that can stop listening (so connects are refused) and listen again on its port. */
class RefusableForwarder {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  /** Connections accepted while open. */
  accepted = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    // Half-open both ways: runtime API clients send the command, half-close, then read the answer.
    const server = net.createServer({ allowHalfOpen: true }, (client) => {
      this.accepted++;
      const upstream = net.connect({ ...this.target, allowHalfOpen: true });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and cuts conversations in flight: from now on connects get ECONNREFUSED. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

interface LoadCounts {
  counts: Record<string, number>;
  updatedAt: string;
}

async function loadCounts(stack: Stack): Promise<LoadCounts> {
  return JSON.parse(await fs.readFile(stack.endpoints.loadStats, 'utf8')) as LoadCounts;
}

/** Waits for a stats file written after `ms` (the load generator rewrites it every second). */
async function loadCountsAfter(stack: Stack, ms: number): Promise<LoadCounts> {
  return stack.waitFor('load stats written after the window', async () => {
    const c = await loadCounts(stack);
    return Date.parse(c.updatedAt) > ms ? c : undefined;
  }, 10_000, 200);
}

function delta(before: LoadCounts, after: LoadCounts): Record<string, number> {
  const keys = new Set([...Object.keys(before.counts), ...Object.keys(after.counts)]);
  const out: Record<string, number> = {};
  for (const k of keys) {
    const d = (after.counts[k] ?? 0) - (before.counts[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

describe('scenario 7: HAProxy runtime API refusing connections (real stack)', { timeout: 300_000 }, () => {
  let stack: Stack;
  let forwarder: RefusableForwarder;

  before(async () => {
    stack = await startStack({ loadRate: 150 });
    const [host, port] = stack.endpoints.haproxyRuntimeApi.split(':') as [string, string];
    forwarder = new RefusableForwarder({ host, port: Number(port) });
    await forwarder.open();
  });

  after(async () => {
    await forwarder?.close();
    await stack?.teardown();
  });

  test('the weight converges once the API is back and no request fails meanwhile', async (t: TestContext) => {
    const firstPhaseMs = 8_000;
    const spec = stack.spec({
      traffic: { runtimeApi: `127.0.0.1:${forwarder.port}` },
      warmup: { duration: '2s' },
      analysisInterval: '1s',
      trafficControl: {
        phases: [
          { name: 'initial_canary', percentage: 5, duration: `${firstPhaseMs / 1000}s`, errorThreshold: '0.5%', latencyThreshold: '300ms' },
          { name: 'expanded_canary', percentage: 20, duration: '6s', errorThreshold: '0.5%', latencyThreshold: '300ms' },
          { name: 'full_rollout', incrementSize: 40, intervalSeconds: 4, maxErrorRate: '1%' },
        ],
      },
    });
    const started = await stack.client.start(spec);

    // Close ~2 s before phase 1 ends, so the move to 20% falls inside the outage.
    await stack.waitForStatus(
      'phase 1 at 5% with about 2 s left',
      (s) => s.phase === 'initial_canary' && s.weight === 5 && s.phaseRemainingMs > 0 && s.phaseRemainingMs <= 2_500,
      90_000,
      100,
    );
    const before = await loadCounts(stack);
    const canaryBefore = (await stack.stats('canary')).total;
    const closedAt = Date.now();
    await forwarder.close();
    assert.ok(await portClosed(forwarder.port), 'the runtime API address refuses connections');

    // While refused: the rollout wants 20% but HAProxy (asked directly) still has the old split.
    const stuck = await stack.waitFor(
      'the rollout past phase 1 but unable to apply 20%',
      async () => {
        const s = await stack.status();
        return s.phase === 'expanded_canary' && s.weight === 5 ? s : undefined;
      },
      15_000,
      100,
    );
    assert.deepEqual(await stack.haproxyWeights(), { stable: 95, canary: 5 });
    await new Promise((r) => setTimeout(r, Math.max(0, closedAt + 6_000 - Date.now())));
    assert.deepEqual(await stack.haproxyWeights(), { stable: 95, canary: 5 }, 'nothing reached HAProxy while refused');
    const acceptedBefore = forwarder.accepted;
    await forwarder.open();
    const reopenedAt = Date.now();

    const converged = await stack.waitFor(
      'HAProxy at the planned 20% after the API came back',
      async () => {
        const w = await stack.haproxyWeights();
        return w.canary === 20 && w.stable === 80 ? w : undefined;
      },
      30_000,
      50,
    );
    const convergedAt = Date.now();
    // HAProxy changes before the workflow records the activity's result: wait for the workflow too.
    const status = await stack.waitFor(
      'the workflow to record 20%',
      async () => {
        const s = await stack.status();
        return s.weight === 20 ? s : undefined;
      },
      30_000,
      100,
    );
    const afterCounts = await loadCountsAfter(stack, convergedAt);
    const canaryAfter = (await stack.stats('canary')).total;
    const d = delta(before, afterCounts);
    t.diagnostic(
      `refused for ${reopenedAt - closedAt} ms (rollout stuck in ${stuck.phase} at ${stuck.weight}%); ` +
        `converged to ${converged.canary}% ${convergedAt - reopenedAt} ms after reopening (${forwarder.accepted - acceptedBefore} connections since); ` +
        `requests through HAProxy over the window: ${JSON.stringify(d)}; canary served ${canaryAfter - canaryBefore}`,
    );

    assert.equal(status.weight, 20);
    assert.ok(forwarder.accepted > acceptedBefore, 'the worker reconnected through the forwarder');
    const failed = Object.entries(d).filter(([k]) => !/^2\d\d$/.test(k) && k !== 'dropped');
    assert.deepEqual(failed, [], 'no request through HAProxy failed during the outage');
    assert.ok((d['200'] ?? 0) > 0, 'traffic flowed through HAProxy during the outage');
    assert.ok(canaryAfter > canaryBefore, 'the canary kept serving its share');

    const result = await stack.client.result(started.rolloutId);
    t.diagnostic(`outcome ${result.outcome}; timeline ${result.timeline.map((c) => c.weight).join(' → ')}`);
    assert.equal(result.outcome, 'promoted', `${result.outcome}: ${result.reason}`);
    assert.deepEqual(result.timeline.map((c) => c.weight), [...buildPlan(spec).map((s) => s.weight), 0]);
    const to20 = result.timeline.find((c) => c.weight === 20);
    assert.ok(to20 && Date.parse(to20.at) >= reopenedAt, 'the move to 20% was applied only after the API came back');
    assert.deepEqual(await stack.haproxyWeights(), { stable: 100, canary: 0 });
  });
});
