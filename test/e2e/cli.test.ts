/**
 * The `phoenix` CLI as a child process against a real Temporal dev server with a real worker
 * running the real workflow (see test/helpers/client-e2e-world.ts).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { freePort } from '../helpers/free-port';
import { eventually, startRolloutWorld, type RolloutWorld } from '../helpers/client-e2e-world';
import { pauseSignal, type RolloutStatus } from '../../workflows/contract';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'client', 'cli.ts');
/** Each CLI probe spawns a process, so poll less often than the in-process API tests. */
const CLI_POLL = { intervalMs: 500 };

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function phoenix(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', USER: 'e2e', ...env }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('phoenix CLI (real dev server + worker)', () => {
  let world: RolloutWorld;
  let dir: string;
  const specFile = (name: string, spec: Record<string, unknown>) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, stringify(spec));
    return file;
  };

  before(async () => {
    world = await startRolloutWorld();
    dir = mkdtempSync(join(tmpdir(), 'phoenix-cli-e2e-'));
  });
  after(async () => {
    await world?.teardown();
  });

  test('validate: good file 0, bad file 2 with path: message lines', async () => {
    const good = await phoenix(['validate', specFile('good', world.spec('validate-me'))], world.env);
    assert.equal(good.code, 0, good.stderr);
    const bad = await phoenix(['validate', specFile('bad', { ...world.spec('validate-me'), canary: 'v1', analysisInterval: 'often' })], world.env);
    assert.equal(bad.code, 2);
    assert.deepEqual(bad.stderr.trim().split('\n').map((l) => l.split(':')[0]).sort(), ['analysisInterval', 'canary']);
  });

  test('start → status → pause → paused → conflict → abort → aborted → finished', async () => {
    const file = specFile('steer', world.spec('cli-steer'));
    const started = await phoenix(['start', file], world.env);
    assert.equal(started.code, 0, started.stderr);
    assert.equal(started.stdout, 'rollout-cli-steer\n');

    const status = async (): Promise<RolloutStatus> => {
      const r = await phoenix(['status', 'cli-steer', '--json'], world.env);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as RolloutStatus;
    };
    const warming = await eventually('warming up', status, (s) => s.state === 'warming_up', CLI_POLL);
    assert.equal(warming.rolloutId, 'rollout-cli-steer');
    assert.equal(warming.canaryVersion, 'v2');

    const human = await phoenix(['status', 'rollout-cli-steer'], world.env);
    assert.match(human.stdout, /^rollout-cli-steer v1 → v2: warming_up/);

    const again = await phoenix(['start', file], world.env);
    assert.equal(again.code, 5);
    assert.match(again.stderr, /^phoenix: rollout rollout-cli-steer is already running \(run [\w-]+\)\n$/);

    const notPaused = await phoenix(['resume', 'cli-steer'], world.env);
    assert.equal(notPaused.code, 5, notPaused.stderr);
    assert.match(notPaused.stderr, /^refused: resume refused: .*not paused.*\n$/);
    assert.equal(notPaused.stdout, '');

    const paused = await phoenix(['pause', 'cli-steer', '--reason', 'checking dashboards'], world.env);
    assert.equal(paused.code, 0, paused.stderr);
    // Acknowledged once applied: the state in the answer is already paused.
    assert.match(paused.stdout, /^accepted: .+ \(state paused\)\n$/);
    const pausedStatus = await status();
    assert.equal(pausedStatus.state, 'paused');
    assert.ok(pausedStatus.paused);
    const refusedAgain = await phoenix(['pause', 'cli-steer'], world.env);
    assert.equal(refusedAgain.code, 5);
    assert.match(refusedAgain.stderr, /^refused: pause refused: already paused/);

    // `status` lists the operator actions: who, what, accepted or refused, and the message. A
    // refused update never reaches the workflow's history; a refused signal is recorded.
    await world.rollouts.handle('cli-steer').signal(pauseSignal, { reason: 'from the Temporal UI', by: 'ui:carol' });
    const audit = await eventually(
      'the refused signal in the audit trail',
      () => phoenix(['status', 'cli-steer'], world.env),
      (r) => r.stdout.includes('ui:carol'),
      CLI_POLL,
    );
    assert.match(
      audit.stdout,
      /\noperator actions:\n {2}\S+ pause by cli:e2e: accepted: [^\n]*\(reason: checking dashboards\)\n {2}\S+ pause by ui:carol: refused: pause refused: already paused \(reason: from the Temporal UI\)\n$/,
    );

    const listed = await eventually(
      'listed as paused',
      () => phoenix(['list', '--state', 'paused', '--json'], world.env),
      (r) => r.code === 0 && (JSON.parse(r.stdout) as { rolloutId: string }[]).some((x) => x.rolloutId === 'rollout-cli-steer'),
      CLI_POLL,
    );
    const rows = JSON.parse(listed.stdout) as { rolloutId: string; service: string; state: string }[];
    assert.ok(rows.every((r) => r.state === 'paused'), listed.stdout);
    const stuck = await phoenix(['list', '--state', 'stuck', '--json'], world.env);
    assert.equal(stuck.code, 0, stuck.stderr);
    assert.deepEqual(JSON.parse(stuck.stdout), []);
    const table = await phoenix(['list', '--service', 'cli-steer'], world.env);
    assert.match(table.stdout, /^ROLLOUT\s+STATE/);
    assert.match(table.stdout, /rollout-cli-steer\s+paused/);

    const noReason = await phoenix(['abort', 'cli-steer'], world.env);
    assert.equal(noReason.code, 2);
    const aborted = await phoenix(['abort', 'cli-steer', '--reason', 'e2e says no'], world.env);
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.match(aborted.stdout, /^accepted: .+ \(state \w+\)\n$/);
    const final = await eventually('aborted', status, (s) => s.state === 'aborted', CLI_POLL);
    assert.match(final.rollbackReason ?? '', /e2e says no/);

    const late = await phoenix(['resume', 'cli-steer'], world.env);
    assert.equal(late.code, 5, late.stderr);
    // Closed: Temporal says so; ended but not yet closed (final activities): the rollout refuses.
    assert.match(late.stderr, /^(phoenix: rollout rollout-cli-steer has already finished \(completed\)|refused: resume refused: .*ended.*)\n$/);
  });

  test('start --wait on a short plan exits 0 once promoted; the rollout can run again after', async () => {
    const file = specFile('quick', world.quickSpec('cli-quick'));
    const r = await phoenix(['start', file, '--wait'], world.env, 120_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^rollout-cli-quick\nrollout-cli-quick: promoted/);
    const weights = world.weights.get('cli-quick') ?? [];
    // 5% phase, then steps to 100%; after promotion the canary slot is drained (0).
    assert.ok(weights.includes(5) && weights.includes(100), `weights ${weights.join(',')}`);
    assert.ok(weights.indexOf(5) < weights.indexOf(100), `weights ${weights.join(',')}`);

    // A finished rollout can be started again (reuse policy ALLOW_DUPLICATE); watch it to the end.
    const started = await phoenix(['start', file], world.env);
    assert.equal(started.code, 0, started.stderr);
    const watched = await phoenix(['watch', 'cli-quick'], world.env, 120_000);
    assert.equal(watched.code, 0, watched.stderr);
    const lines = watched.stdout.trim().split('\n');
    assert.match(lines.at(-1)!, /rollout-cli-quick state=promoted/);
    assert.ok(lines.length >= 2, watched.stdout);
    // Checks are counted, never listed by index, and a line fits a terminal (issue 12).
    assert.ok(lines.some((l) => / checks \d+ ✓/.test(l)), watched.stdout);
    for (const line of lines) assert.ok([...line].length <= 120, `${[...line].length} columns: ${line}`);
    assert.doesNotMatch(watched.stdout, /trigger\[|:pass/);

    // The status query words every check; the human view prints the same words.
    const json = await phoenix(['status', 'cli-quick', '--json'], world.env);
    const checks = (JSON.parse(json.stdout) as RolloutStatus).checks;
    assert.ok(checks.length > 0, json.stdout);
    for (const c of checks) assert.ok(c.label && c.statement && !c.label.includes('trigger['), JSON.stringify(c));
    const human = await phoenix(['status', 'cli-quick'], world.env);
    for (const c of checks) assert.ok(human.stdout.includes(`${c.label}:`) && human.stdout.includes(c.statement ?? '?'), human.stdout);
  });

  test('unknown rollout exits 4 with one line', async () => {
    const r = await phoenix(['status', 'never-started'], world.env);
    assert.equal(r.code, 4);
    assert.equal(r.stderr, 'phoenix: rollout rollout-never-started not found\n');
    const p = await phoenix(['pause', 'never-started'], world.env);
    assert.equal(p.code, 4);
  });

  test('unreachable server exits 3 with one line, no stack trace', async () => {
    const port = await freePort();
    const r = await phoenix(['list'], { ...world.env, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, PHOENIX_CONNECT_TIMEOUT_MS: '1000' });
    assert.equal(r.code, 3);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^phoenix: cannot reach Temporal server at 127.0.0.1:${port}`));
  });
});
