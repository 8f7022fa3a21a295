/**
 * `npm run bench -- --replay`: the worker's CPU per workflow task, without a server or the load
 * of other processes: replays a recorded history (the seed's default plan, 652 events, 108
 * workflow tasks) through the workflow bundle as each sandbox set-up builds it, and reports CPU
 * time per workflow task. Replaying runs the same workflow code and SDK activation path as a
 * live worker, so what one set-up saves here it saves per live task (docs/scaling.md).
 *
 *   npm run bench -- --replay [--replays 20] [--batches 3] [--history <file>] [--json]
 *
 * The set-ups alternate batch by batch, so a machine that gets busier mid-run burdens them alike;
 * the report gives each one's median over its batches and the ratio to the SDK's defaults.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Command, InvalidArgumentError } from 'commander';
import { buildWorkflowBundle, type WorkflowBundleSettings } from '../../worker/workflow-bundle';

/** The sandbox set-ups compared: the SDK's defaults, then each of Phoenix's two changes added. */
export const REPLAY_SETUPS: readonly { name: string; settings: WorkflowBundleSettings }[] = [
  { name: 'SDK defaults (stack traces, modules per workflow)', settings: { stackTraces: true, shareModules: false } },
  { name: 'no per-promise stack traces', settings: { stackTraces: false, shareModules: false } },
  { name: 'Phoenix default (no stack traces, shared modules)', settings: {} },
];

export const DEFAULT_HISTORY = path.join(__dirname, '..', '..', 'test', 'workflows', 'histories', 'v5-default-plan-promoted.json');

export interface ReplayFlags {
  replays: number;
  batches: number;
  history: string;
  json?: boolean;
}

export interface ReplayReport {
  history: string;
  workflowTasks: number;
  replays: number;
  batches: number;
  setups: ReplaySetupReport[];
}

export interface ReplaySetupReport {
  name: string;
  /** CPU milliseconds per replayed history, one per batch. */
  cpuMsPerHistory: number[];
  medianCpuMsPerHistory: number;
  medianCpuMsPerWorkflowTask: number;
  /** This set-up's median over the SDK defaults' median. */
  ratioToSdkDefaults: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** CPU milliseconds this process spends replaying `history` `replays` times through `bundle`. */
async function replayBatch(bundle: WorkflowBundleWithSourceMap, history: unknown, replays: number): Promise<number> {
  const histories = Array.from({ length: replays }, (_, i) => ({ history: history as never, workflowId: `replay-${i}` }));
  const before = process.cpuUsage();
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
    if (result.error) throw new Error(`replay failed: ${String(result.error)}`);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number ≥ 1');
  return n;
}

export async function runReplayBench(argv: string[]): Promise<void> {
  const flags = new Command('bench --replay')
    .option('--replays <n>', 'replays per batch', positiveInt, 20)
    .option('--batches <n>', 'batches per set-up', positiveInt, 3)
    .option('--history <file>', 'recorded history (JSON)', DEFAULT_HISTORY)
    .option('--json', 'one JSON object on the last line')
    .parse(argv, { from: 'user' })
    .opts<ReplayFlags>();
  const log = (line: string): void => void (flags.json ? process.stderr : process.stdout).write(`${line}\n`);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const report = await measureReplay(flags, log);
  log('');
  log('| sandbox set-up | CPU per history (median) | CPU per workflow task | vs SDK defaults |');
  log('| --- | --- | --- | --- |');
  for (const r of report.setups) {
    log(`| ${r.name} | ${r.medianCpuMsPerHistory} ms | ${r.medianCpuMsPerWorkflowTask} ms | ×${r.ratioToSdkDefaults} |`);
  }
  if (flags.json) process.stdout.write(`${JSON.stringify({ replay: report })}\n`);
}

/** Replays `flags.history` through every set-up, batch by batch; `log` gets the progress. */
export async function measureReplay(flags: Omit<ReplayFlags, 'json'>, log: (line: string) => void): Promise<ReplayReport> {
  const history = JSON.parse(fs.readFileSync(flags.history, 'utf8')) as { events: { eventType?: string }[] };
  const workflowTasks = history.events.filter((e) => /WORKFLOW_TASK_COMPLETED/.test(String(e.eventType))).length;
  log(`history ${path.basename(flags.history)}: ${history.events.length} events, ${workflowTasks} workflow tasks`);
  const bundles = await Promise.all(REPLAY_SETUPS.map((s) => buildWorkflowBundle(s.settings)));
  // One replay each first: module compilation and JIT warm-up are not what is measured.
  for (const bundle of bundles) await replayBatch(bundle, history, 1);
  const perBatch: number[][] = REPLAY_SETUPS.map(() => []);
  for (let b = 0; b < flags.batches; b++) {
    for (const [i, bundle] of bundles.entries()) {
      const ms = await replayBatch(bundle, history, flags.replays);
      perBatch[i]?.push(ms / flags.replays);
      log(`batch ${b + 1}/${flags.batches}: ${REPLAY_SETUPS[i]?.name}: ${(ms / flags.replays).toFixed(0)} ms CPU per history`);
    }
  }
  const base = median(perBatch[0] ?? []);
  const setups = REPLAY_SETUPS.map((s, i): ReplaySetupReport => {
    const m = median(perBatch[i] ?? []);
    return {
      name: s.name,
      cpuMsPerHistory: (perBatch[i] ?? []).map((x) => Math.round(x)),
      medianCpuMsPerHistory: Math.round(m),
      medianCpuMsPerWorkflowTask: Math.round((m / workflowTasks) * 100) / 100,
      ratioToSdkDefaults: Math.round((m / base) * 100) / 100,
    };
  });
  return { history: flags.history, workflowTasks, replays: flags.replays, batches: flags.batches, setups };
}
