/**
 * `npm run bench -- --scale`: N concurrent rollouts of the real workflow on one worker and one dev
 * server, measured per N (issue 10 §2).
 *
 *   npm run bench -- --scale [--counts 100,1000] [--interval 30s] [--plan 10m]
 *                    [--activities doubles|real] [--deadline 25m] [--histories 50] [--ramp 0s]
 *                    [--workflows-ref <git ref>] [--json]
 *
 * Per N: a fresh `temporal server start-dev` (SQLite in a temp dir, 127.0.0.1, free ports) and ONE
 * worker as a child process running the prebuilt bundle of workflows/, with either cheap activity
 * doubles in the worker (`doubles`: Temporal + workflow cost only) or the real activities against a
 * real HAProxy and Prometheus (`real`). The spec is the seed's plan shape with its durations scaled
 * to `--plan`, analysis every `--interval`. All N rollouts are started at once; the run ends when all
 * ended or at the deadline (then the rest are recorded with their state and terminated). Prints a
 * table; `--json` prints one JSON object on the last line. `--workflows-ref` bundles workflows/ as
 * committed at a git ref instead of the working tree, so one checkout measures before and after.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { Command, InvalidArgumentError } from 'commander';
import { parseDuration } from '../../rollout-spec/units';
import { describeCause } from '../../client/rollouts';
import { WORKER_TUNING_ENV } from '../../worker/tuning';
import { buildWorkflowBundle } from '../../worker/workflow-bundle';
import { formatScaleTable } from './scale/report';
import { runScale, type ScaleRunReport } from './scale/run';
import { SEED_PLAN_MS } from './scale/spec';

interface ScaleFlags {
  counts: number[];
  interval: number;
  plan: number;
  activities: 'doubles' | 'real';
  serverDb: 'memory' | 'file';
  deadline?: number;
  histories: number;
  startConcurrency: number;
  ramp: number;
  workflowsRef?: string;
  json?: boolean;
}

const REPO_ROOT = path.join(__dirname, '..', '..');

/**
 * The workflows/ to bundle: the working tree's, or a ref's, exported with `git archive` into
 * `dir` (with this checkout's node_modules linked in, for webpack to resolve the SDK).
 */
function workflowsSource(dir: string, ref: string | undefined): { workflowsPath: string; label: string } {
  if (!ref) return { workflowsPath: require.resolve('../../workflows'), label: 'working tree' };
  const sha = execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--verify', '--end-of-options', `${ref}^{commit}`], {
    encoding: 'utf8',
  }).trim();
  const tree = path.join(dir, 'src');
  mkdirSync(tree, { recursive: true });
  const tar = execFileSync('git', ['-C', REPO_ROOT, 'archive', sha], { maxBuffer: 1 << 30 });
  execFileSync('tar', ['-x', '-C', tree], { input: tar });
  symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(tree, 'node_modules'));
  return { workflowsPath: path.join(tree, 'workflows'), label: `${ref} (${sha.slice(0, 12)})` };
}

const counts = (v: string): number[] => {
  const list = v.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1 || n > 20_000)) {
    throw new InvalidArgumentError('expected whole numbers 1..20000, comma-separated (e.g. 100,1000)');
  }
  return list;
};
const duration = (v: string): number => {
  try {
    return parseDuration(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};
const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
};

const loadAverage = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

/** Default deadline: twice the plan plus 2 minutes, so a run that falls behind is still bounded. */
export function defaultDeadlineMs(planMs: number): number {
  return 2 * planMs + 120_000;
}

/**
 * Ctrl-C (or SIGTERM) stops the current run and tears down what it started; a second one exits at
 * once. The SDK runtime is installed here without its own shutdown signals, which would otherwise
 * swallow SIGINT/SIGTERM in this process (it has no worker to shut down).
 */
function interruptible(log: (line: string) => void): AbortSignal {
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    log(`${signal}: stopping the run and tearing down (again to exit at once)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}

async function main(flags: ScaleFlags): Promise<void> {
  const log = (line: string): void => void (flags.json ? process.stderr : process.stdout).write(`${line}\n`);
  const signal = interruptible(log);
  if (flags.plan > SEED_PLAN_MS) throw new InvalidArgumentError(`--plan longer than the seed's own plan (${SEED_PLAN_MS / 60_000} min)`);
  // A busy machine shows up as schedule-to-start latency that is not Phoenix's: say how busy it was.
  const loadBefore = loadAverage();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'phoenix-scale-bundle-'));
  const reports: ScaleRunReport[] = [];
  let workflows = '';
  try {
    // Bundled here, once: webpack in the worker would inflate the RSS being measured.
    const bundlePath = path.join(dir, 'workflow-bundle.js');
    const source = workflowsSource(dir, flags.workflowsRef);
    workflows = source.label;
    log(`workflow bundle from ${workflows}`);
    const { code } = await buildWorkflowBundle({
      workflowsPath: source.workflowsPath,
      stackTraces: ['true', '1'].includes(process.env.PHOENIX_WORKFLOW_STACK_TRACES ?? ''),
      logger: { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => log(m), log: () => undefined },
    });
    await fs.writeFile(bundlePath, code);
    for (const n of flags.counts) {
      if (signal.aborted) break;
      const report = await runScale({
        n,
        intervalMs: flags.interval,
        planMs: flags.plan,
        activities: flags.activities,
        serverDb: flags.serverDb,
        deadlineMs: flags.deadline ?? defaultDeadlineMs(flags.plan) + flags.ramp,
        histories: flags.histories,
        startConcurrency: flags.startConcurrency,
        rampMs: flags.ramp,
        bundlePath,
        signal,
        progress: log,
      });
      reports.push(report);
      log(`N=${n}: done in ${Math.round(report.elapsedMs / 1000)} s`);
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  log('');
  const loadAfter = loadAverage();
  // The worker (either mode) takes its capacity from these; unset = the SDK's defaults.
  const tuning = Object.fromEntries(Object.values(WORKER_TUNING_ENV).flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])));
  log(`workflows: ${workflows}; load average (1, 5, 15 min) before ${loadBefore}, after ${loadAfter}`);
  log(`worker tuning: ${Object.entries(tuning).map(([k, v]) => `${k}=${v}`).join(' ') || 'SDK defaults'}`);
  log(formatScaleTable(reports));
  if (flags.json) process.stdout.write(`${JSON.stringify({ workflows, workerTuning: tuning, loadBefore, loadAfter, scale: reports })}\n`);
  if (reports.some((r) => r.firstError)) process.exitCode = 1;
}

/** Parses `argv` (without `--scale`) and runs the scale bench. */
export async function runScaleBench(argv: string[]): Promise<void> {
  const program = new Command('bench --scale')
    .description('N concurrent rollouts on one worker and the dev server (issue 10 §2)')
    .option('--counts <list>', 'rollout counts to run, one after another', counts, [100, 1000])
    .option('--interval <duration>', 'analysis interval (the seed: 30s)', duration, 30_000)
    .option('--plan <duration>', 'what the scaled plan lasts, warm-up to the last step', duration, 600_000)
    .option('--activities <mode>', 'doubles (in-process) or real (HAProxy + Prometheus)', 'doubles')
    .option('--server-db <where>', "the dev server's SQLite: memory (its default) or file (fsync per commit)", 'memory')
    .option('--deadline <duration>', 'hard limit per N from the first start (default 2 × plan + 2m + the ramp)', duration)
    .option('--histories <n>', 'histories to read at the end per N', positiveInt, 50)
    .option('--start-concurrency <n>', 'workflow starts in flight at once', positiveInt, 50)
    .option('--ramp <duration>', 'spread the starts evenly over this long (default 0s: all at once)', duration, 0)
    .option('--workflows-ref <ref>', 'bundle workflows/ as committed at this git ref (default: the working tree)')
    .option('--json', 'print the results as one JSON object on the last line')
    .showHelpAfterError();
  program.action(async (flags: ScaleFlags) => {
    if (flags.activities !== 'doubles' && flags.activities !== 'real') {
      throw new InvalidArgumentError(`--activities must be doubles or real, got ${String(flags.activities)}`);
    }
    if (flags.serverDb !== 'memory' && flags.serverDb !== 'file') {
      throw new InvalidArgumentError(`--server-db must be memory or file, got ${String(flags.serverDb)}`);
    }
    await main(flags);
  });
  await program.parseAsync(argv, { from: 'user' }).catch((err: unknown) => {
    process.stderr.write(`bench --scale: ${describeCause(err)}\n`);
    process.exit(1);
  });
}
