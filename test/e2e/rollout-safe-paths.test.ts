/**
 * The rollout's safe paths on the real local stack (Temporal dev server, worker, Prometheus,
 * Alertmanager, HAProxy, demo services, load), with compressed timings. Every timing is printed
 * as a `measured:` line.
 *
 * 1. Stable DOWN while a failing canary must roll back: the stable demo service is stopped, so
 *    HAProxy's own health check marks it DOWN (the router's "server UP" wait fails) while the
 *    canary keeps serving; a canary error fault starts an immediate rollback. The rollout is
 *    `stuck` (status and PhoenixState), CanaryRollbackStuck is in Alertmanager, the canary is alive,
 *    keeps its traffic and is not terminated across several drain attempts (read from the
 *    workflow history). Stable restarted: the rollout drains, terminates the canary, rolled_back.
 * 2. The same stuck rollback ended by `abort --force` through the RolloutClient.
 * 3. Drift: at 20% the weights are reset behind Phoenix's back (`set weight` as a reload would);
 *    the next analysis re-applies 20% (read back from HAProxy), CanaryTrafficDrift goes out, and
 *    the rollout is promoted.
 * 4. Hung Prometheus: the rollout's prometheusUrl is a proxy this test controls; it forwards to
 *    the real Prometheus (pre-flight and the first analyses pass), then accepts and never answers.
 *    Every analysis ends within metrics.queryTimeout with `timeout` samples, and noData `rollback`
 *    rolls back after consecutiveLimit analyses: rolled_back, never failed.
 * 5. Abort timing in warm-up, in a traffic phase and during a gradual rollback: update ack →
 *    HAProxy canary weight 0 → canary process gone.
 *
 * Order matters: the promoted rollout (3) runs last, since promotion puts its canary version in the stable slot.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { tsToMs } from '@temporalio/common/lib/time';
import { preflightMetricQueries } from '../../activities/metrics/preflight';
import { OperatorActionRefusedError } from '../../client/errors';
import type { RolloutSpec } from '../../rollout-spec/types';
import type { RolloutResult, RolloutStatus } from '../../workflows/contract';
import { pidAlive, startStack, type SpecOverrides, type Stack } from '../helpers/stack';

const measured = (line: string): void => console.log(`measured: ${line}`);
const ms = (from: number, to: number): string => `${Math.round(to - from)} ms`;

let canaryVersions = 1;

/**
 * Timings shared by every rollout here (a short warm-up, an analysis every second) and a canary
 * version of its own: a canary of the same version as the previous rollout's has the same series
 * in Prometheus (same labels, same port), so the previous canary's faults would still be in the
 * next one's windows and roll it back.
 */
function fastSpec(stack: Stack, overrides: SpecOverrides): RolloutSpec {
  canaryVersions += 1;
  return stack.spec({ canary: `v${canaryVersions}`, warmup: { duration: '2s' }, analysisInterval: '1s', ...overrides });
}

/** A long first phase at 5%, so a rollback or an abort, not the phase clock, ends it. */
const LONG_5_PERCENT: SpecOverrides = {
  trafficControl: {
    phases: [
      { name: 'initial_canary', percentage: 5, duration: '90s', errorThreshold: '0.5%', latencyThreshold: '300ms' },
      { name: 'expanded_canary', percentage: 20, duration: '10s', errorThreshold: '0.5%', latencyThreshold: '300ms' },
      { name: 'full_rollout', incrementSize: 40, intervalSeconds: 4, maxErrorRate: '1%' },
    ],
  },
  // Stable stopped means no baseline series; only the canary's fault must decide here.
  noData: { action: 'rollback', consecutiveLimit: 30 },
};

/** Pre-flight needs the stable version's series; after a stable restart they take a scrape or two. */
async function startRollout(stack: Stack, spec: RolloutSpec): Promise<void> {
  await stack.waitFor(
    'pre-flight queries answered for stable',
    async () => (await preflightMetricQueries(spec, { prometheusUrl: stack.endpoints.prometheus })).length === 0 || undefined,
    30_000,
    500,
  );
  await stack.client.start(spec);
}

/** One activity the workflow scheduled, from its history. */
interface ScheduledActivity {
  id: string;
  name: string;
  input: Record<string, unknown>;
  scheduledAtMs: number;
  startedAtMs?: number;
  completedAtMs?: number;
  result?: unknown;
}

/** A JSON payload's value; undefined for `binary/null` (a void result) and other empty payloads. */
function decodePayload(data: Uint8Array | null | undefined): unknown {
  return data && data.length > 0 ? JSON.parse(Buffer.from(data).toString('utf8')) : undefined;
}

/** A local activity's marker data (the SDK core's LocalActivityMarkerData, JSON). */
interface LocalActivityMarker {
  seq: number;
  activity_type: string;
  complete_time?: { seconds: number; nanos: number };
  original_schedule_time?: { seconds: number; nanos: number };
}

const protoMs = (t: { seconds: number; nanos: number } | undefined): number | undefined =>
  t === undefined ? undefined : t.seconds * 1000 + Math.round(t.nanos / 1e6);

/**
 * Every activity of the rollout's current run, in schedule order, with its times and result;
 * analysis rounds are local activities, read from their markers.
 */
async function activities(stack: Stack): Promise<ScheduledActivity[]> {
  const history = await stack.client.handle(stack.service).fetchHistory();
  const byEventId = new Map<string, ScheduledActivity>();
  for (const e of history.events ?? []) {
    const id = String(e.eventId);
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name) {
      byEventId.set(id, {
        id,
        name: scheduled.activityType.name,
        input: (decodePayload(scheduled.input?.payloads?.[0]?.data) ?? {}) as Record<string, unknown>,
        scheduledAtMs: tsToMs(e.eventTime),
      });
    }
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_local_activity') {
      const data = decodePayload(marker.details?.data?.payloads?.[0]?.data) as LocalActivityMarker;
      byEventId.set(id, {
        id,
        name: data.activity_type,
        input: {},
        // A local activity runs as soon as it is scheduled, inside the workflow task.
        scheduledAtMs: protoMs(data.original_schedule_time) ?? tsToMs(e.eventTime),
        startedAtMs: protoMs(data.original_schedule_time),
        completedAtMs: protoMs(data.complete_time),
        result: decodePayload(marker.details?.result?.payloads?.[0]?.data),
      });
    }
    const started = e.activityTaskStartedEventAttributes;
    const startedOf = started && byEventId.get(String(started.scheduledEventId));
    if (startedOf) startedOf.startedAtMs = tsToMs(e.eventTime);
    const completed = e.activityTaskCompletedEventAttributes;
    const completedOf = completed && byEventId.get(String(completed.scheduledEventId));
    if (completedOf) {
      completedOf.completedAtMs = tsToMs(e.eventTime);
      completedOf.result = decodePayload(completed.result?.payloads?.[0]?.data);
    }
  }
  return [...byEventId.values()];
}

/** The rollback's moves to stable: only they pass `serverUpTimeoutMs`. */
const drains = (acts: ScheduledActivity[]) =>
  acts.filter((a) => a.name === 'setCanaryWeight' && a.input.weight === 0 && a.input.serverUpTimeoutMs !== undefined);

/** Sends `n` requests through HAProxy's frontend, one after another; counts them by status and version. */
async function requestsThroughHaproxy(stack: Stack, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    let key: string;
    try {
      const res = await fetch(`${stack.endpoints.haproxyFrontend}/`, { signal: AbortSignal.timeout(5_000) });
      const body = (await res.json().catch(() => ({}))) as { version?: string };
      key = `${res.status}${body.version ? ` ${body.version}` : ''}`;
    } catch (err) {
      key = `error ${(err as Error).message}`;
    }
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

async function waitForServerState(stack: Stack, instance: 'stable' | 'canary', state: RegExp, timeoutMs = 15_000): Promise<number> {
  return stack.waitFor(
    `HAProxy reports ${instance} ${state.source}`,
    async () => (state.test(await stack.haproxyServerState(instance)) ? performance.now() : undefined),
    timeoutMs,
    50,
  );
}

async function waitForCanaryWeight(stack: Stack, weight: number, timeoutMs = 30_000): Promise<number> {
  return stack.waitFor(
    `HAProxy canary weight ${weight}`,
    async () => ((await stack.haproxyWeights()).canary === weight ? performance.now() : undefined),
    timeoutMs,
    25,
  );
}

async function waitForProcessGone(stack: Stack, pid: number, timeoutMs = 30_000): Promise<number> {
  return stack.waitFor(`canary process ${pid} gone`, () => (!pidAlive(pid) ? performance.now() : undefined), timeoutMs, 25);
}

async function waitForAlert(stack: Stack, name: string, timeoutMs = 30_000) {
  return stack.waitFor(
    `${name} alert in Alertmanager`,
    async () => {
      const found = await stack.alerts(`alertname="${name}"`, `rollout_id="rollout-${stack.service}"`);
      return found.length > 0 ? { alert: found[0] as (typeof found)[number], at: performance.now() } : undefined;
    },
    timeoutMs,
    100,
  );
}

interface StuckRollout {
  canaryPid: number;
  stuck: RolloutStatus;
  rollbackSeenAt: number;
}

/**
 * Starts a rollout, stops stable once the canary has 5%, injects 5% canary errors, and returns
 * once the rollout is `stuck` with CanaryRollbackStuck in Alertmanager. The fault is cleared
 * again (the rollback is decided), so requests the canary serves succeed.
 */
async function driveIntoStuck(stack: Stack, label: string): Promise<StuckRollout> {
  await startRollout(stack, fastSpec(stack, LONG_5_PERCENT));
  await stack.waitForStatus('the 5% phase', (s) => s.phase === 'initial_canary' && s.weight === 5, 90_000, 100);
  assert.deepEqual(await stack.haproxyWeights(), { stable: 95, canary: 5 });
  const canaryPid = await stack.pid('canary');
  assert.ok(canaryPid, 'canary not running at 5%');

  const stoppingAt = performance.now();
  await stack.stopPart('stable');
  const downAt = await waitForServerState(stack, 'stable', /^DOWN/);
  assert.equal(await stack.haproxyServerState('canary'), 'UP');
  measured(`[${label}] stable stopped → HAProxy stable DOWN: ${ms(stoppingAt, downAt)}`);

  await stack.setFault('canary', { errorRate: 0.05 });
  const faultAt = performance.now();
  const rollingBack = await stack.waitForStatus('the rollback decided', (s) => s.rollbackReason !== null, 30_000, 100);
  const rollbackSeenAt = performance.now();
  assert.equal(rollingBack.rollbackAction, 'immediate_rollback');
  assert.match(rollingBack.rollbackReason ?? '', /error_rate/);
  const { alert, at: alertAt } = await waitForAlert(stack, 'CanaryRollbackStuck');
  const stuck = await stack.waitForStatus('state stuck', (s) => s.state === 'stuck' && s.stuckReason !== null, 30_000, 100);
  const stuckAt = performance.now();
  measured(`[${label}] canary fault → rollback decided (status): ${ms(faultAt, rollbackSeenAt)}`);
  measured(`[${label}] rollback decided → CanaryRollbackStuck in Alertmanager: ${ms(rollbackSeenAt, alertAt)}`);
  measured(`[${label}] rollback decided → status state stuck: ${ms(rollbackSeenAt, stuckAt)}`);
  console.log(`[${label}] stuckReason: ${stuck.stuckReason}`);
  assert.equal(alert.labels.severity, 'critical');
  assert.match(alert.annotations.reason ?? '', /rollback stuck/);
  assert.match(stuck.stuckReason ?? '', /stable/);
  assert.match(stuck.stuckReason ?? '', /DOWN/);
  assert.equal(stuck.weight, 5, 'the canary keeps its traffic while stuck');
  // On the server's and the worker's clock (same host): the first move back to stable → the alert.
  const firstDrain = drains(await activities(stack))[0];
  assert.ok(firstDrain, 'a drain was scheduled');
  measured(`[${label}] first drain scheduled → CanaryRollbackStuck startsAt: ${ms(firstDrain.scheduledAtMs, Date.parse(alert.startsAt))}`);
  await stack.setFault('canary', {});
  return { canaryPid, stuck, rollbackSeenAt };
}

/** Resolves with the rollout's result, or rejects after `timeoutMs`. */
async function resultWithin(stack: Stack, timeoutMs: number): Promise<RolloutResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      stack.client.result(stack.service),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`rollout not finished within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A TCP proxy in front of Prometheus that can start hanging: it then accepts and never answers. */
class HangingProxy {
  private server: net.Server | undefined;
  private readonly conversations = new Set<{ client: net.Socket; upstream: net.Socket | undefined }>();
  port = 0;
  hanging = false;
  forwarded = 0;
  /** Connections accepted (or kept open) since it hangs, none of them answered. */
  hungConnections = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      const c = { client, upstream: undefined as net.Socket | undefined };
      this.conversations.add(c);
      client.on('close', () => this.conversations.delete(c));
      client.on('error', () => client.destroy());
      if (this.hanging) {
        this.hungConnections++;
        client.resume(); // read and drop the request, never answer
        return;
      }
      this.forwarded++;
      const upstream = net.connect(this.target);
      c.upstream = upstream;
      upstream.on('error', () => {
        upstream.destroy();
        client.destroy();
      });
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** From now on nothing is answered, also on kept-alive connections already open. */
  hang(): void {
    this.hanging = true;
    for (const c of this.conversations) {
      if (!c.upstream) continue;
      c.upstream.unpipe(c.client);
      c.client.unpipe(c.upstream);
      c.upstream.destroy();
      c.upstream = undefined;
      c.client.resume();
      this.hungConnections++;
    }
  }

  async stop(): Promise<void> {
    for (const c of this.conversations) {
      c.upstream?.destroy();
      c.client.destroy();
    }
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('safe paths on the real stack', { timeout: 420_000 }, () => {
  let stack: Stack;

  before(async () => {
    const t0 = performance.now();
    stack = await startStack({ loadRate: 150 });
    measured(`stack up: ${ms(t0, performance.now())}`);
  });

  after(async () => {
    await stack?.teardown();
  });

  afterEach(async () => {
    // A failed test may leave stable stopped or its rollout running: put the stack back for the next.
    if ((await stack.pid('stable')) === undefined) await stack.startPart('stable');
    const run = await stack.client.run(stack.service).catch(() => undefined);
    if (run?.executionStatus === 'RUNNING') {
      await stack.client.handle(stack.service).cancel();
      await resultWithin(stack, 60_000).catch(() => undefined);
    }
  });

  test('stable DOWN during an immediate rollback: stuck, alert, canary keeps serving; converges once stable is UP', { timeout: 150_000 }, async () => {
    const { canaryPid, rollbackSeenAt } = await driveIntoStuck(stack, 'stuck');

    // The search attribute says so too (`phoenix list --state stuck`); visibility lags a little.
    const listedFrom = performance.now();
    await stack.waitFor(
      'rollout listed with PhoenixState=stuck',
      async () => (await stack.client.list({ state: 'stuck', service: stack.service })).some((r) => r.rolloutId === `rollout-${stack.service}`) || undefined,
      15_000,
      200,
    );
    measured(`[stuck] status stuck → listed with PhoenixState=stuck: ≤ ${ms(listedFrom, performance.now())}`);

    // Stuck means: the canary serves, and keeps doing so across further drain attempts.
    const servedBefore = (await stack.stats('canary')).total;
    const through = await requestsThroughHaproxy(stack, 20);
    const canaryVersion = (await stack.status()).canaryVersion;
    assert.deepEqual(through, { [`200 ${canaryVersion}`]: 20 }, 'requests through HAProxy are served by the canary while stuck');
    const attempts = await stack.waitFor(
      'three drain attempts while stable is DOWN',
      async () => {
        const acts = await activities(stack);
        return drains(acts).length >= 3 ? acts : undefined;
      },
      60_000,
      250,
    );
    const retriedAt = performance.now();
    measured(`[stuck] rollback decided → third drain attempt scheduled: ${ms(rollbackSeenAt, retriedAt)}`);
    assert.equal(attempts.filter((a) => a.name === 'terminateCanary').length, 0, 'terminateCanary never scheduled while stuck');
    assert.ok(pidAlive(canaryPid), 'the canary process is alive while stuck');
    assert.deepEqual(await stack.haproxyWeights(), { stable: 95, canary: 5 }, 'weights untouched while stable is DOWN');
    const stillStuck = await stack.status();
    assert.equal(stillStuck.state, 'stuck');
    assert.deepEqual(await requestsThroughHaproxy(stack, 10), { [`200 ${canaryVersion}`]: 10 });
    const servedAfter = (await stack.stats('canary')).total;
    assert.ok(servedAfter > servedBefore, 'the canary kept serving the load');
    measured(`[stuck] canary served ${servedAfter - servedBefore} requests while stuck`);

    // Stable back: the next drain attempt finds it UP, moves the traffic, and only then the canary goes.
    const restartWallMs = Date.now();
    const restartAt = performance.now();
    await stack.startPart('stable');
    const upAt = await waitForServerState(stack, 'stable', /^UP$/);
    const zeroAt = await waitForCanaryWeight(stack, 0, 60_000);
    const goneAt = await waitForProcessGone(stack, canaryPid);
    const result = await resultWithin(stack, 30_000);
    const endAt = performance.now();
    measured(`[stuck] stable restart → HAProxy stable UP: ${ms(restartAt, upAt)}`);
    measured(`[stuck] stable UP → HAProxy canary weight 0: ${ms(upAt, zeroAt)}`);
    measured(`[stuck] stable UP → canary process gone: ${ms(upAt, goneAt)}`);
    measured(`[stuck] stable UP → result rolled_back: ${ms(upAt, endAt)}`);

    assert.equal(result.outcome, 'rolled_back', `${result.outcome}: ${result.reason}`);
    assert.match(result.reason, /error_rate/);
    assert.equal(result.finalWeight, 0);
    assert.deepEqual(await stack.haproxyWeights(), { stable: 100, canary: 0 });
    const last = result.timeline.at(-1);
    assert.ok(last);
    assert.equal(last.weight, 0);
    assert.ok(Date.parse(last.at) >= restartWallMs, 'traffic moved only after stable was restarted');
    const acts = await activities(stack);
    const terminate = acts.find((a) => a.name === 'terminateCanary');
    const allDrains = drains(acts);
    const lastDrain = allDrains.at(-1);
    const first = allDrains[0]?.scheduledAtMs ?? 0;
    measured(
      `[stuck] drain activities (2 attempts of ≤2 s each) scheduled at +s: ${allDrains.map((d) => ((d.scheduledAtMs - first) / 1000).toFixed(1)).join(', ')}` +
        `; the last one completed ${lastDrain?.completedAtMs !== undefined ? ms(first, lastDrain.completedAtMs) : 'never'} after the first`,
    );
    assert.ok(terminate && lastDrain && terminate.scheduledAtMs >= (lastDrain.completedAtMs ?? Infinity), 'canary terminated after the drain succeeded');
    await waitForAlert(stack, 'CanaryRolledBack');
    // The stuck alert is resolved at the end; the rolled-back one stays for operators.
    await stack.waitFor(
      'CanaryRollbackStuck resolved',
      async () => (await stack.alerts('alertname="CanaryRollbackStuck"', `rollout_id="rollout-${stack.service}"`)).length === 0 || undefined,
      15_000,
      200,
    );
  });

  test('stuck rollback ended by abort --force through the RolloutClient', { timeout: 150_000 }, async () => {
    const { canaryPid } = await driveIntoStuck(stack, 'force');
    await assert.rejects(
      stack.client.pause(stack.service, { reason: 'e2e: pause while stuck' }),
      (err: unknown) => err instanceof OperatorActionRefusedError && /stuck/.test(err.message),
    );

    const sentAt = performance.now();
    const ack = await stack.client.abort(stack.service, 'e2e: stable is gone, drain anyway', 'e2e-operator', { force: true });
    const ackAt = performance.now();
    assert.equal(ack.action, 'abort');
    assert.match(ack.message, /force/);
    const zeroAt = await waitForCanaryWeight(stack, 0);
    const goneAt = await waitForProcessGone(stack, canaryPid);
    const result = await resultWithin(stack, 30_000);
    const endAt = performance.now();
    measured(`[force] abort --force sent → ack: ${ms(sentAt, ackAt)}`);
    measured(`[force] ack → HAProxy canary weight 0: ${ms(ackAt, zeroAt)}`);
    measured(`[force] ack → canary process gone: ${ms(ackAt, goneAt)}`);
    measured(`[force] ack → result: ${ms(ackAt, endAt)}`);

    // An abort during a rollback keeps the rollback's outcome; the reason tells who forced it.
    assert.equal(result.outcome, 'rolled_back', `${result.outcome}: ${result.reason}`);
    assert.match(result.reason, /forced by operator: e2e: stable is gone, drain anyway \(by e2e-operator\)/);
    assert.equal(result.finalWeight, 0);
    assert.match(result.timeline.at(-1)?.reason ?? '', /^forced drain: /);
    assert.deepEqual(await stack.haproxyWeights(), { stable: 100, canary: 0 });
    const acts = await activities(stack);
    assert.ok(acts.some((a) => a.name === 'setCanaryWeight' && a.input.weight === 0 && a.input.force === true), 'a forced move was made');
    assert.ok(acts.some((a) => a.name === 'terminateCanary'));
    // The risk the operator took: stable is still DOWN, so HAProxy has no server to send to.
    assert.match(await stack.haproxyServerState('stable'), /^DOWN/);
    measured(`[force] requests through HAProxy after the forced drain (stable still DOWN): ${JSON.stringify(await requestsThroughHaproxy(stack, 5))}`);

    const restartAt = performance.now();
    await stack.startPart('stable');
    const upAt = await waitForServerState(stack, 'stable', /^UP$/);
    measured(`[force] stable restart → HAProxy stable UP: ${ms(restartAt, upAt)}`);
    assert.deepEqual(await requestsThroughHaproxy(stack, 5), { '200 v1': 5 });
  });

  test('hung Prometheus: every analysis ends in queryTimeout with timeout samples; noData rollback, never failed', { timeout: 150_000 }, async () => {
    const queryTimeoutMs = 1_000;
    const limit = 3;
    const prom = new URL(stack.endpoints.prometheus);
    const proxy = new HangingProxy({ host: prom.hostname, port: Number(prom.port) });
    await proxy.start();
    try {
      const spec = fastSpec(stack, {
        ...LONG_5_PERCENT,
        metrics: { prometheusUrl: `http://127.0.0.1:${proxy.port}`, queryTimeout: `${queryTimeoutMs / 1000}s` },
        noData: { action: 'rollback', consecutiveLimit: limit },
      });
      assert.equal(spec.metrics.queryTimeoutMs, queryTimeoutMs);
      await startRollout(stack, spec);
      await stack.waitForStatus(
        'an analysis at 5% in which every check passed (through the proxy)',
        (s) => s.weight === 5 && s.checks.length > 0 && s.checks.every((c) => c.outcome === 'pass'),
        90_000,
        100,
      );
      const canaryPid = await stack.pid('canary');
      assert.ok(canaryPid);
      assert.ok(proxy.forwarded > 0, 'pre-flight and the first analyses went through the proxy');

      const hangWallMs = Date.now();
      const hangAt = performance.now();
      proxy.hang();
      const result = await resultWithin(stack, 60_000);
      const endAt = performance.now();

      assert.equal(result.outcome, 'rolled_back', `${result.outcome}: ${result.reason}`);
      assert.match(result.reason, new RegExp(`for ${limit} consecutive analyses`));
      assert.ok(result.checks.length > 0 && result.checks.every((c) => c.outcome === 'no_data'), JSON.stringify(result.checks));
      for (const c of result.checks) assert.match(c.detail ?? '', new RegExp(`timeout: no answer within ${queryTimeoutMs} ms`), `${c.check}: ${c.detail}`);
      assert.equal(result.finalWeight, 0);
      assert.deepEqual(await stack.haproxyWeights(), { stable: 100, canary: 0 });
      await waitForProcessGone(stack, canaryPid);
      assert.ok(proxy.hungConnections > 0, 'the worker reached the hung server');

      // Each analysis after the hang, from the history: its samples and how long it took.
      const hungRounds = (await activities(stack)).filter((a) => a.name === 'analyseCanary' && (a.startedAtMs ?? 0) > hangWallMs);
      assert.ok(hungRounds.length >= limit, `expected ≥ ${limit} analyses after the hang, saw ${hungRounds.length}`);
      const durations = hungRounds.map((a) => {
        assert.ok(a.startedAtMs !== undefined && a.completedAtMs !== undefined, 'every analysis completed (none failed or timed out)');
        const samples = (a.result as { samples: { status: string; detail?: string }[] }).samples;
        assert.ok(samples.length > 0);
        for (const s of samples) assert.equal(s.status, 'timeout', JSON.stringify(s));
        return a.completedAtMs - a.startedAtMs;
      });
      for (const d of durations) assert.ok(d >= queryTimeoutMs - 50 && d < queryTimeoutMs + 1_500, `an analysis took ${d} ms`);
      measured(`[hung prometheus] hang → rolled_back: ${ms(hangAt, endAt)} (${hungRounds.length} analyses, noData limit ${limit})`);
      measured(`[hung prometheus] analysis activity durations while hung: ${durations.join(', ')} ms (queryTimeout ${queryTimeoutMs} ms)`);
      measured(`[hung prometheus] connections held open unanswered: ${proxy.hungConnections}`);
    } finally {
      await proxy.stop();
    }
  });

  test('abort timing in warm-up, in a traffic phase and during a gradual rollback', { timeout: 180_000 }, async () => {
    const rows: { state: string; ack: number; zero: number; gone: number; outcome: string }[] = [];
    const abortAndMeasure = async (state: string): Promise<RolloutResult> => {
      const pid = await stack.pid('canary');
      assert.ok(pid, `canary running in ${state}`);
      const sentAt = performance.now();
      const ack = await stack.client.abort(stack.service, `e2e: abort in ${state}`, 'e2e');
      const ackAt = performance.now();
      assert.equal(ack.action, 'abort');
      const zeroAt = await waitForCanaryWeight(stack, 0);
      const goneAt = await waitForProcessGone(stack, pid);
      const result = await resultWithin(stack, 30_000);
      rows.push({ state, ack: ackAt - sentAt, zero: zeroAt - ackAt, gone: goneAt - ackAt, outcome: result.outcome });
      assert.equal(result.outcome, 'aborted', `${result.outcome}: ${result.reason}`);
      assert.match(result.reason, new RegExp(`e2e: abort in ${state} \\(by e2e\\)`));
      assert.deepEqual(await stack.haproxyWeights(), { stable: 100, canary: 0 });
      return result;
    };

    // Warm-up: deployed, 0% already; what the abort has to do is retire the canary.
    await startRollout(stack, fastSpec(stack, { warmup: { duration: '60s' } }));
    await stack.waitForStatus('warm-up', (s) => s.state === 'warming_up', 60_000, 100);
    await abortAndMeasure('warm-up');

    // A traffic phase at 5%.
    await startRollout(stack, fastSpec(stack, LONG_5_PERCENT));
    await stack.waitForStatus('the 5% phase', (s) => s.phase === 'initial_canary' && s.weight === 5, 60_000, 100);
    await waitForCanaryWeight(stack, 5, 10_000);
    await abortAndMeasure('traffic phase 5%');

    // A gradual rollback from 40%, caught at 30% with a long step interval.
    await startRollout(
      stack,
      fastSpec(stack, {
        trafficControl: {
          phases: [
            { name: 'forty', percentage: 40, duration: '90s', errorThreshold: '1%', latencyThreshold: '300ms' },
            { name: 'full_rollout', incrementSize: 30, intervalSeconds: 4, maxErrorRate: '1%' },
          ],
        },
        gradualRollback: { stepSize: 10, interval: '30s' },
      }),
    );
    await stack.waitForStatus('the 40% phase', (s) => s.phase === 'forty' && s.weight === 40, 60_000, 100);
    await stack.setFault('canary', { taskSuccessRate: 0.5 });
    const gradual = await stack.waitForStatus(
      'a gradual rollback one step down',
      (s) => s.state === 'rolling_back' && s.rollbackAction === 'gradual_rollback' && s.weight === 30,
      60_000,
      100,
    );
    assert.match(gradual.rollbackReason ?? '', /task_success_rate/);
    assert.deepEqual(await stack.haproxyWeights(), { stable: 70, canary: 30 });
    const result = await abortAndMeasure('gradual rollback at 30%');
    assert.deepEqual(result.timeline.map((c) => c.weight), [0, 40, 30, 0]);

    measured('abort timing per state (ack = update round trip; weight 0 and process gone counted from the ack):');
    for (const r of rows) {
      measured(
        `  ${r.state.padEnd(24)} ack ${String(Math.round(r.ack)).padStart(5)} ms | HAProxy canary 0 ${String(Math.round(r.zero)).padStart(5)} ms | ` +
          `canary gone ${String(Math.round(r.gone)).padStart(5)} ms | outcome ${r.outcome}`,
      );
    }
  });

  test('traffic drift at 20%: planned weight re-applied, CanaryTrafficDrift alert, promoted in the end', { timeout: 150_000 }, async () => {
    const spec = fastSpec(stack, {
      trafficControl: {
        phases: [
          { name: 'initial_canary', percentage: 5, duration: '3s', errorThreshold: '0.5%', latencyThreshold: '300ms' },
          { name: 'expanded_canary', percentage: 20, duration: '15s', errorThreshold: '0.5%', latencyThreshold: '300ms' },
          { name: 'full_rollout', incrementSize: 40, intervalSeconds: 3, maxErrorRate: '1%' },
        ],
      },
    });
    await startRollout(stack, spec);
    await stack.waitForStatus('the 20% phase', (s) => s.phase === 'expanded_canary' && s.weight === 20, 90_000, 100);
    await waitForCanaryWeight(stack, 20, 10_000);
    const { backend, stableServer, canaryServer } = stack.endpoints.haproxyBackend;

    // What a reload does to the runtime weights, typed by hand.
    const driftAt = performance.now();
    assert.equal((await stack.haproxy(`set weight ${backend}/${canaryServer} 0`)).trim(), '');
    assert.equal((await stack.haproxy(`set weight ${backend}/${stableServer} 100`)).trim(), '');
    const drifted = await stack.haproxyWeights();
    const reappliedAt = await stack.waitFor(
      'HAProxy back at the planned 20%',
      async () => {
        const w = await stack.haproxyWeights();
        return w.canary === 20 && w.stable === 80 ? performance.now() : undefined;
      },
      15_000,
      25,
    );
    const { alert, at: alertAt } = await waitForAlert(stack, 'CanaryTrafficDrift');
    measured(`[drift] weights set behind Phoenix's back (read ${JSON.stringify(drifted)}) → planned 20% read back: ${ms(driftAt, reappliedAt)}`);
    measured(`[drift] drift → CanaryTrafficDrift in Alertmanager: ${ms(driftAt, alertAt)}`);
    // Detected at the next analysis (every 1 s, within the 2 s query deadline), then re-applied.
    assert.ok(reappliedAt - driftAt < 6_000, `re-applied after ${Math.round(reappliedAt - driftAt)} ms`);
    assert.equal(alert.labels.severity, 'warning');
    assert.match(alert.annotations.reason ?? '', /drifted.*re-applied canary 20%/);
    const status = await stack.status();
    const entry = status.timeline.find((c) => c.reason.startsWith('drift re-applied'));
    assert.ok(entry, `a timeline entry for the drift: ${JSON.stringify(status.timeline)}`);
    assert.equal(entry.weight, 20);
    console.log(`[drift] timeline entry: ${entry.reason}`);

    const result = await resultWithin(stack, 90_000);
    assert.equal(result.outcome, 'promoted', `${result.outcome}: ${result.reason}`);
    assert.deepEqual(
      result.timeline.filter((c) => !c.reason.startsWith('drift re-applied')).map((c) => c.weight),
      [0, 5, 20, 60, 100, 0],
    );
    assert.equal(result.timeline.filter((c) => c.reason.startsWith('drift re-applied')).length, 1, 'one drift, re-applied once');
    assert.deepEqual(await stack.haproxyWeights(), { stable: 100, canary: 0 });
    assert.equal((await stack.stats('stable')).version, spec.canary.version, 'the stable slot runs the promoted version');
    // A promoted rollout resolves its alerts.
    await stack.waitFor(
      'CanaryTrafficDrift resolved after promotion',
      async () => (await stack.alerts('alertname="CanaryTrafficDrift"', `rollout_id="rollout-${stack.service}"`)).length === 0 || undefined,
      15_000,
      200,
    );
  });
});
