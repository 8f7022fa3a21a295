/**
 * The `phoenix` CLI in-process: argument parsing, exit codes and output, with a client double.
 * One test uses the real Temporal client against a closed port (unreachable server).
 */
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, type CliIO } from '../../client/cli';
import {
  OperatorActionRefusedError,
  RolloutAlreadyFinishedError,
  RolloutAlreadyRunningError,
  RolloutNotFoundError,
} from '../../client/errors';
import { formatCheck, formatCheckSummary, formatStatus, formatStatusLine, STATUS_LINE_WIDTH } from '../../client/render';
import type { RolloutClient } from '../../client/rollouts';
import { watchRollout } from '../../client/watch';
import type { CheckStatus, OperatorAck, OperatorEvent, RolloutResult, RolloutStatus } from '../../workflows/contract';

const GOOD = 'examples/demo-stack.yaml';

function status(over: Partial<RolloutStatus> = {}): RolloutStatus {
  return {
    rolloutId: 'rollout-checkout',
    service: 'checkout',
    stableVersion: 'v1',
    canaryVersion: 'v2',
    state: 'progressing',
    paused: false,
    phase: 'initial_canary',
    step: 1,
    weight: 5,
    phaseRemainingMs: 5000,
    phaseDurationMs: 20000,
    checks: [{ check: 'error_rate.critical', metric: 'error_rate', value: 0.002, threshold: 0.05, comparator: '>', outcome: 'pass', streak: 0, at: '2026-01-01T00:00:00Z' }],
    lastAnalysisAt: null,
    rollbackReason: null,
    rollbackAction: null,
    stuckReason: null,
    timeline: [],
    operatorEvents: [],
    startedAt: '2026-01-01T00:00:00Z',
    continuedAsNew: 0,
    targets: null,
    ...over,
  };
}

async function run(args: string[], client?: Partial<Record<keyof RolloutClient, unknown>>, env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  let connects = 0;
  const io: CliIO = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: { USER: 'tester', TEMPORAL_CONFIG_FILE: '/nonexistent.toml', ...env },
    stdoutIsTTY: false,
    watchIntervalMs: 5,
    connect: client
      ? async () => {
          connects++;
          return { close: async () => undefined, ...client } as unknown as RolloutClient;
        }
      : undefined,
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr, connects: () => connects };
}

test('validate: a good file exits 0 and says so', async () => {
  const r = await run(['validate', GOOD]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /valid \(checkout: v1 → v2\)/);
});

test('validate: a bad file exits 2 with one path: message line per problem', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-cli-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'service: "has space"\nstable: v1\ncanary: v1\ntraffic: {kind: carrier-pigeon}\n');
  const r = await run(['validate', file]);
  assert.equal(r.code, 2);
  const lines = r.stderr.trim().split('\n');
  assert.ok(lines.length >= 3, r.stderr);
  for (const line of lines) assert.match(line, /^[\w.[\]()]+: \S/, line);
  assert.ok(lines.some((l) => l.startsWith('service: ')));
  assert.ok(lines.some((l) => l.startsWith('traffic.kind: ')));
  assert.equal(r.stdout, '');
});

test('validate: a missing file exits 2 naming it', async () => {
  const r = await run(['validate', '/nonexistent/spec.yaml']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^\(file\): cannot read \/nonexistent\/spec.yaml: ENOENT\n$/);
});

test('usage errors exit 2 with one line and never connect', async () => {
  const client = { abort: async () => assert.fail('must not be called') };
  for (const args of [['abort', 'checkout'], ['frobnicate'], ['status'], ['list', '--state', 'sleepy'], ['pause', 'bad id'], ['abort', 'x', '--reason', '  '], []]) {
    const r = await run(args, client);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.connects(), 0, args.join(' '));
    if (args.length > 0) assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('--help exits 0 and documents the exit codes', async () => {
  const r = await run(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Exit codes: 0 ok/);
  assert.match(r.stdout, /"refused: <reason>" on stderr and exit 5/);
  assert.match(r.stdout, /5 refused, already finished or already running/);
});

test('client errors map to exit codes 4 and 5 with one line on stderr', async () => {
  const cases: [Error, number][] = [
    [new RolloutNotFoundError('rollout-checkout'), 4],
    [new RolloutAlreadyFinishedError('rollout-checkout', 'COMPLETED'), 5],
    [new RolloutAlreadyRunningError('rollout-checkout', 'run-1'), 5],
    [new Error('something odd'), 6],
  ];
  for (const [error, code] of cases) {
    const r = await run(['pause', 'checkout'], { pause: async () => Promise.reject(error) });
    assert.equal(r.code, code, error.name);
    assert.equal(r.stderr, `phoenix: ${error.message}\n`);
  }
});

test('operator actions accept a bare service name, pass reason and operator, and print the ack', async () => {
  const calls: unknown[][] = [];
  const answer = (action: OperatorAck['action'], ...a: unknown[]): OperatorAck => {
    calls.push([action, ...a]);
    return { action, state: action === 'abort' ? 'rolling_back' : 'paused', message: `${action} applied` };
  };
  const client = {
    pause: async (...a: unknown[]) => answer('pause', ...a),
    promote: async (...a: unknown[]) => answer('promote', ...a),
    abort: async (...a: unknown[]) => answer('abort', ...a),
  };
  const paused = await run(['pause', 'checkout', '--reason', 'lunch'], client);
  assert.equal(paused.code, 0);
  assert.equal(paused.stdout, 'accepted: pause applied (state paused)\n');
  assert.equal((await run(['promote', 'rollout-checkout'], client)).code, 0);
  const r = await run(['abort', 'checkout', '--reason', 'bad canary'], client);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'accepted: abort applied (state rolling_back)\n');
  assert.equal(r.stderr, '');
  const forced = await run(['abort', 'checkout', '--reason', 'stable is down', '--force'], client);
  assert.equal(forced.code, 0);
  assert.deepEqual(calls, [
    ['pause', 'rollout-checkout', { by: 'cli:tester', reason: 'lunch' }],
    ['promote', 'rollout-checkout', { by: 'cli:tester' }],
    ['abort', 'rollout-checkout', 'bad canary', 'cli:tester', {}],
    ['abort', 'rollout-checkout', 'stable is down', 'cli:tester', { force: true }],
  ]);
});

test('a refused action prints "refused: <reason>" on stderr and exits 5', async () => {
  const reason = 'promote refused: a rollback is in progress (error_rate > 1%)';
  const client = { promote: async () => Promise.reject(new OperatorActionRefusedError('rollout-checkout', 'promote', reason)) };
  const r = await run(['promote', 'checkout'], client);
  assert.equal(r.code, 5);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `refused: ${reason}\n`);
});

test("list --state takes every state of the contract, 'stuck' included", async () => {
  const filters: unknown[] = [];
  const client = { list: async (f: unknown) => (filters.push(f), []) };
  const r = await run(['list', '--state', 'stuck'], client);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'no rollouts\n');
  assert.deepEqual(filters, [{ state: 'stuck', service: undefined }]);
});

test('status shows why a rollout is stuck and its latest operator actions', async () => {
  const events: OperatorEvent[] = Array.from({ length: 7 }, (_, i) => ({
    at: `2026-01-01T00:0${i}:00Z`,
    action: 'pause',
    by: 'cli:bob',
    reason: `try ${i}`,
    accepted: false,
    message: 'pause refused: already paused',
  }));
  events.push({ at: '2026-01-01T00:09:00Z', action: 'abort', by: 'api:token:0123456789ab', reason: 'stable down', accepted: true, message: 'aborting with force: draining to stable although it is not serving' });
  const client = { status: async () => status({ state: 'stuck', stuckReason: 'stable server is not UP (DOWN)', operatorEvents: events }) };
  const r = await run(['status', 'checkout'], client);
  assert.equal(r.code, 0);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /: stuck$/);
  assert.ok(lines.includes('stuck: stable server is not UP (DOWN)'), r.stdout);
  const at = lines.indexOf('operator actions (latest 5 of 8):');
  assert.ok(at > 0, r.stdout);
  assert.deepEqual(lines.slice(at + 1), [
    '  2026-01-01T00:03:00Z pause by cli:bob: refused: pause refused: already paused (reason: try 3)',
    '  2026-01-01T00:04:00Z pause by cli:bob: refused: pause refused: already paused (reason: try 4)',
    '  2026-01-01T00:05:00Z pause by cli:bob: refused: pause refused: already paused (reason: try 5)',
    '  2026-01-01T00:06:00Z pause by cli:bob: refused: pause refused: already paused (reason: try 6)',
    '  2026-01-01T00:09:00Z abort by api:token:0123456789ab: accepted: aborting with force: draining to stable although it is not serving (reason: stable down)',
  ]);
  // Without either, nothing extra is printed.
  const plain = await run(['status', 'checkout'], { status: async () => status() });
  assert.doesNotMatch(plain.stdout, /stuck:|operator actions/);
});

test('status prints a readable view, --json the raw status', async () => {
  const client = { status: async () => status() };
  const text = await run(['status', 'checkout'], client);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /rollout-checkout v1 → v2: progressing/);
  assert.match(text.stdout, /weight: 5%/);
  assert.match(text.stdout, /\[#{18}-{6}\] 75%/);
  assert.match(text.stdout, /\n {2}error_rate > 5%: 0\.2% ≤ 5% ✓ {3}critical level \(rolls back\)\n/);
  const json = await run(['status', 'checkout', '--json'], client);
  assert.deepEqual(JSON.parse(json.stdout), status());
});

test('start prints the id; --wait exits 0 when promoted and 1 otherwise', async () => {
  const started: unknown[] = [];
  const client = (outcome: RolloutResult['outcome']) => ({
    start: async (spec: { service: string }, opts: unknown) => {
      started.push([spec.service, opts]);
      return { rolloutId: 'rollout-checkout', runId: 'r1', reused: false };
    },
    result: async (): Promise<RolloutResult> => ({ outcome, reason: outcome === 'promoted' ? '' : 'error_rate > 1%', finalWeight: 0, timeline: [], checks: [], continuedAsNew: 0 }),
  });
  const plain = await run(['start', GOOD, '--idempotency-key', 'k1'], client('promoted'));
  assert.equal(plain.code, 0);
  assert.equal(plain.stdout, 'rollout-checkout\n');
  assert.deepEqual(started[0], ['checkout', { idempotencyKey: 'k1' }]);
  const ok = await run(['start', GOOD, '--wait'], client('promoted'));
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /rollout-checkout: promoted/);
  const bad = await run(['start', GOOD, '--wait'], client('rolled_back'));
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /rollout-checkout: rolled_back \(error_rate > 1%\)/);
});

test('watch (not a TTY) prints a line per change until the end, exit by outcome', async () => {
  const frames = [status(), status({ phaseRemainingMs: 4000 }), status({ weight: 20, phase: 'expanded_canary' }), status({ state: 'aborted', weight: 0 })];
  let i = 0;
  const r = await run(['watch', 'checkout'], { status: async () => frames[Math.min(i++, frames.length - 1)] });
  assert.equal(r.code, 1);
  const lines = r.stdout.trim().split('\n');
  // The countdown alone does not produce a line.
  assert.equal(lines.length, 3, r.stdout);
  assert.match(lines[0]!, /rollout-checkout state=progressing phase=initial_canary weight=5% left=5s checks 1 ✓$/);
  assert.match(lines[2]!, /state=aborted/);
});

/** A seed-sized set of checks (14), one breaching with a long label and a long no-data reason. */
function manyChecks(): CheckStatus[] {
  const at = '2026-01-01T00:00:00Z';
  const pass = (): CheckStatus => ({
    check: 'memory_usage.threshold', metric: 'memory_usage', value: 0.4, threshold: 0.85, comparator: '>', outcome: 'pass', streak: 0, at, windowMs: 300_000,
  });
  return [
    ...Array.from({ length: 11 }, pass),
    { check: 'p95_latency.threshold', metric: 'p95_latency', value: 620, threshold: 500, comparator: '>', outcome: 'breach', streak: 2, at, windowMs: 300_000 },
    { check: 'baseline.p99_latency', metric: 'p99_latency', value: 700, threshold: 540, comparator: '>', outcome: 'warning', streak: 1, at, windowMs: 300_000, baseline: { mode: 'ratio', margin: 0.2, value: 450 } },
    { check: 'cache_hit_rate.min', metric: 'cache_hit_rate', value: null, threshold: 0.9, comparator: '<', outcome: 'no_data', streak: 4, at, windowMs: 300_000, detail: `error: HTTP 503: ${'unavailable '.repeat(30)}` },
  ];
}

test('a non-TTY line counts the checks, names only those that did not pass, and stays within the width', () => {
  const line = formatStatusLine(status({ checks: manyChecks() }));
  assert.ok([...line].length <= STATUS_LINE_WIDTH, `${[...line].length} columns: ${line}`);
  assert.match(line, /weight=5% left=5s checks 11 ✓ 2 ✗ 1 no data \(p95_latency; p99_latency; \+1 more\)$/);
  assert.doesNotMatch(line, /memory_usage/);
  assert.match(formatStatusLine(status({ checks: manyChecks().slice(0, 11) })), /left=5s checks 11 ✓$/);
  // As much detail as fits: rule and statement, then metric and statement, then names.
  const one = manyChecks().slice(0, 12);
  const full = 'checks 11 ✓ 1 ✗ (p95_latency > 500 ms over 5m: 620 ms > 500 ms ✗)';
  assert.equal(formatCheckSummary(one), full);
  assert.equal(formatCheckSummary(one, full.length), full);
  assert.equal(formatCheckSummary(one, full.length - 1), 'checks 11 ✓ 1 ✗ (p95_latency: 620 ms > 500 ms ✗)');
  assert.equal(formatCheckSummary(one, 40), 'checks 11 ✓ 1 ✗ (p95_latency)');
  assert.equal(formatCheckSummary(one, 20), 'checks 11 ✓ 1 ✗');
  // Most severe first: a critical check before a breach, a breach before no data.
  const mixed = [manyChecks()[13]!, manyChecks()[11]!, { ...manyChecks()[11]!, metric: 'error_rate' as const, outcome: 'critical' as const }];
  assert.equal(formatCheckSummary(mixed, 60), 'checks 0 ✓ 2 ✗ 1 no data (error_rate; p95_latency; +1 more)');
  assert.equal(formatCheckSummary(one, 10), 'checks 11…');
});

test('watch (not a TTY): each printed line, timestamp and id included, stays within the width', async () => {
  const frames = [status({ checks: manyChecks() }), status({ state: 'rolled_back', weight: 0, checks: manyChecks() })];
  let out = '';
  await watchRollout(async () => frames.shift() ?? status({ state: 'rolled_back' }), { write: (t) => void (out += t), tty: false, intervalMs: 1 });
  const lines = out.trim().split('\n');
  assert.equal(lines.length, 2, out);
  for (const line of lines) assert.ok([...line].length <= STATUS_LINE_WIDTH, `${[...line].length} columns: ${line}`);
});

test('status (TTY) lists every check by its rule with a true statement; older statuses are worded by the client', () => {
  const lines = formatStatus(status({ checks: manyChecks() }));
  const checks = lines.slice(lines.indexOf('checks:') + 1, lines.indexOf('checks:') + 15);
  assert.equal(checks.length, 14);
  assert.match(checks[0]!, /^ {2}memory_usage > 85% over 5m: +40% ≤ 85% ✓ +threshold \(holds\)$/);
  assert.match(checks[11]!, /^ {2}p95_latency > 500 ms over 5m: +620 ms > 500 ms ✗ breach ×2 +threshold \(holds\)$/);
  assert.match(checks[12]!, /^ {2}p99_latency > baseline \+ 20% over 5m: +700 ms > 540 ms \(baseline 450 ms \+ 20%\) ✗ warning +baseline comparison \(warns\)$/);
  assert.match(checks[13]!, /^ {2}cache_hit_rate < 90% over 5m: +no data \(query failed: HTTP 503: unavailable .*…\) ×4 +threshold \(holds\)$/);
  // The role column lines up.
  assert.equal(new Set(checks.map((l) => l.search(/(threshold|baseline comparison) \(/))).size, 1, checks.join('\n'));
  // The workflow's own wording wins over the client's.
  const worded: CheckStatus = { ...manyChecks()[0]!, label: 'from the workflow', statement: 'as the workflow said' };
  assert.equal(formatCheck(worded), 'from the workflow: as the workflow said');
  assert.ok(!lines.some((l) => /trigger\[|:pass|\.threshold/.test(l)), lines.join('\n'));
});

test('an unreachable server exits 3 with one line (real client, closed port)', async () => {
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
  const r = await run(['status', 'checkout'], undefined, { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, PHOENIX_CONNECT_TIMEOUT_MS: '1000' });
  assert.equal(r.code, 3);
  assert.match(r.stderr, new RegExp(`^phoenix: cannot reach Temporal server at 127.0.0.1:${port}: .+\\n$`));
});

test('watch on a TTY redraws in place: cursor up over the previous frame', async () => {
  const frames = [status(), status({ state: 'promoted', weight: 100 })];
  let i = 0;
  let out = '';
  const final = await watchRollout(async () => frames[i++]!, { write: (t: string) => void (out += t), tty: true, intervalMs: 1 });
  assert.equal(final.state, 'promoted');
  const firstFrameLines = formatStatus(frames[0]!).length;
  assert.ok(firstFrameLines >= 4);
  assert.ok(out.includes(`\x1b[${firstFrameLines}A\r\x1b[J`), JSON.stringify(out));
  assert.match(out, /rollout-checkout v1 → v2: promoted/);
});

test('status shows a pool share that differs from the weight, from the last weight change', () => {
  const at = '2026-01-01T00:00:00Z';
  const withShare = status({ weight: 5, timeline: [{ at, weight: 5, phase: 'initial_canary', reason: 'phase', share: 4.7619 }] });
  assert.match(formatStatus(withShare)[1] ?? '', /weight: 5% \(pool share 4\.76%\)$/);
  const exact = status({ weight: 20, timeline: [{ at, weight: 20, phase: 'expanded_canary', reason: 'phase', share: 20 }] });
  assert.match(formatStatus(exact)[1] ?? '', /weight: 20%$/);
  const single = status({ weight: 20, timeline: [{ at, weight: 20, phase: 'expanded_canary', reason: 'phase' }] });
  assert.match(formatStatus(single)[1] ?? '', /weight: 20%$/);
});
