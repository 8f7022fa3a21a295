/**
 * `npm run bench`: how fast a bad canary is taken out of traffic on the real local stack, and how
 * many history events a rollout of the seed's default plan costs. `npm run bench -- --scale` runs
 * the scale bench instead (scripts/bench/scale.ts: N concurrent rollouts on one worker), and
 * `npm run bench -- --replay` the worker's CPU per workflow task by sandbox set-up (scripts/bench/replay.ts).
 *
 *   npm run bench [-- --runs 5] [--json] [--keep] [--load-rate 200] [--dir .stack-bench] [--ports JSON]
 *
 * The bench runs its own stack (default `.stack-bench/`, every default port + 20000) so it never
 * touches a demo stack. Each run starts a rollout, waits until the canary serves traffic in phase
 * 1, injects an error fault on it and times fault → canary weight 0 as read back from HAProxy.
 * Two faults: a subtle one (5% of the canary's requests fail) and a hard one (50% fail). For each
 * it does `--runs` runs with the HAProxy fast guard off (Prometheus analysis only) and as many
 * with it on (`fastGuard.enabled`), alternating, and compares the two. The stack is stopped at the
 * end unless --keep. `--json` prints one JSON object on the last line.
 */
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { describeCause } from '../client/rollouts';
import type { RolloutSpec } from '../rollout-spec/types';
import { measureDefaultPlanHistory, type DefaultPlanHistory } from './bench/history-events';
import { ensureNoRollout, measureFaultToStable, type FaultRun } from './bench/fault-to-stable';
import { runReplayBench } from './bench/replay';
import { runScaleBench } from './bench/scale';
import { DEFAULT_PORTS, REPO_ROOT, resolveStackConfig, StackConfigError, type StackPorts } from './stack/config';
import type { StackEndpoints } from './stack/endpoints';
import { stackDown, stackUp } from './stack/lifecycle';
import { connectToStack, renderSpecForStack } from './stack-rollouts';

/** Added to every default port so the bench stack runs beside a demo stack. */
export const BENCH_PORT_OFFSET = 20_000;

/**
 * The faults measured: a subtle one near the trigger level, where the time to the first failing
 * response dominates at a 5% canary (about 0.5 errors/s at 200 req/s), and a hard one (a broken
 * release), where the sensors' own delay shows.
 */
export const BENCH_FAULTS = [
  { name: '5% errors', fault: { errorRate: 0.05 } },
  { name: '50% errors', fault: { errorRate: 0.5 } },
] as const;

/** The first fault, under its earlier name (reports keep its figures at the top level). */
export const BENCH_FAULT = BENCH_FAULTS[0].fault;

type FaultName = (typeof BENCH_FAULTS)[number]['name'];

/**
 * The bench spec: the demo spec with the analysis tuned for fast detection. Nothing is weakened:
 * thresholds, triggers and the no-data policy stay; windows and intervals get shorter, and phase
 * 1 is long so the fault always lands in it.
 */
export const BENCH_SPEC_OVERRIDES: [(string | number)[], unknown][] = [
  [['warmup', 'duration'], '2s'],
  [['analysisInterval'], '500ms'],
  [['metrics', 'queryTimeout'], '1s'],
  [['trafficControl', 'phases', 0, 'duration'], '5m'],
  [['rollback_triggers', 0, 'window'], '5s'],
  [['rollback_triggers', 1, 'window'], '5s'],
];

/** The two ways a fault is caught: the Prometheus analysis alone, and with the HAProxy fast guard beside it. */
export const BENCH_MODES = [
  { name: 'guard off', overrides: [] as [(string | number)[], unknown][] },
  { name: 'guard on', overrides: [[['fastGuard'], { enabled: true }]] as [(string | number)[], unknown][] },
] as const;

type ModeName = (typeof BENCH_MODES)[number]['name'];

interface ModeReport {
  faultToStableMs: { median: number; max: number; min: number; runs: number } | null;
  faultToFirstErrorMs: { median: number; max: number } | null;
  fastGuard: RolloutSpec['fastGuard'] | null;
  perRun: FaultRun[];
}

interface Flags {
  runs: number;
  json?: boolean;
  keep?: boolean;
  loadRate: string;
  dir?: string;
  ports?: string;
  history: boolean;
}

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
};

const program = new Command('bench')
  .description('Measure fault → stable time on the real local stack and history size of a default rollout')
  .option('--runs <n>', 'rollouts to measure', positiveInt, 5)
  .option('--json', 'print the results as one JSON object on the last line')
  .option('--keep', 'leave the bench stack running afterwards')
  .option('--load-rate <n>', 'requests per second of the load generator', '200')
  .option('--dir <dir>', 'bench stack directory (default .stack-bench)')
  .option('--ports <json>', 'port overrides as JSON (default: every default port + 20000)')
  .option('--no-history', 'skip the default-plan history measurement (time-skipping server)')
  .showHelpAfterError();

function benchPorts(): StackPorts {
  return Object.fromEntries(Object.entries(DEFAULT_PORTS).map(([k, v]) => [k, v + BENCH_PORT_OFFSET])) as StackPorts;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : Math.round(((s[mid - 1] as number) + (s[mid] as number)) / 2);
}

async function scrapeIntervalMs(endpoints: StackEndpoints): Promise<number> {
  const res = await fetch(`${endpoints.prometheus}/api/v1/status/config`, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { data?: { yaml?: string } };
  const m = /scrape_interval:\s*(\d+)(ms|s|m)\b/.exec(body.data?.yaml ?? '');
  if (!m) throw new Error('cannot read scrape_interval from Prometheus /api/v1/status/config');
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm']);
}

async function main(flags: Flags): Promise<void> {
  const log = (line: string): void => void (flags.json ? process.stderr : process.stdout).write(`${line}\n`);
  const config = resolveStackConfig(
    {
      dir: flags.dir ?? path.join(REPO_ROOT, '.stack-bench'),
      ports: flags.ports ?? JSON.stringify(benchPorts()),
      loadRate: flags.loadRate,
    },
    process.env,
  );
  log(`bench stack in ${config.dir} (load ${config.loadRate} req/s)`);
  const endpoints = await stackUp(config, process.env, (line) => log(`  ${line}`));
  const client = await connectToStack(endpoints);
  const runsBy = new Map<string, FaultRun[]>();
  const key = (fault: FaultName, mode: ModeName): string => `${fault} / ${mode}`;
  const specs = new Map<ModeName, RolloutSpec>();
  const failures: string[] = [];
  let spec: RolloutSpec;
  let history: DefaultPlanHistory | null = null;
  try {
    const template = path.join(REPO_ROOT, 'examples', 'demo-stack.yaml');
    for (const mode of BENCH_MODES) {
      specs.set(mode.name, (await renderSpecForStack(template, endpoints, [...BENCH_SPEC_OVERRIDES, ...mode.overrides])).spec);
    }
    spec = specs.get('guard off') as RolloutSpec;
    await ensureNoRollout(client, spec.service);
    // Alternating, so a slow stretch of the machine hits both modes alike.
    for (const { name: faultName, fault } of BENCH_FAULTS) {
      for (let i = 1; i <= flags.runs; i++) {
        for (const mode of BENCH_MODES) {
          const label = `${faultName}, ${mode.name} run ${i}/${flags.runs}`;
          try {
            const run = await measureFaultToStable(client, endpoints, specs.get(mode.name) as RolloutSpec, fault);
            runsBy.set(key(faultName, mode.name), [...(runsBy.get(key(faultName, mode.name)) ?? []), run]);
            log(
              `${label}: fault → stable ${run.faultToStableMs} ms (first canary 5xx after ${run.faultToFirstErrorMs ?? '?'} ms; ` +
                `recorded in the timeline after ~${run.faultToRecordedMs ?? '?'} ms; ${run.outcome}: ${run.reason})`,
            );
            if (run.outcome !== 'rolled_back') failures.push(`${label}: outcome ${run.outcome} (${run.reason})`);
            if (mode.name === 'guard on' && !run.reason.startsWith('fast guard')) {
              log(`${label}: rolled back by the Prometheus analysis, not the guard`);
            }
          } catch (err) {
            failures.push(`${label}: ${describeCause(err)}`);
            log(`${label}: FAILED: ${describeCause(err)}`);
            await ensureNoRollout(client, spec.service).catch(() => undefined);
          }
        }
      }
    }
    const runsByMode = new Map<ModeName, FaultRun[]>(BENCH_MODES.map((m) => [m.name, runsBy.get(key(BENCH_FAULTS[0].name, m.name)) ?? []]));
    const runs = runsByMode.get('guard off') ?? [];
    if (flags.history) {
      log('default plan on the time-skipping test server (activity doubles) ...');
      history = await measureDefaultPlanHistory();
    }
    const times = runs.map((r) => r.faultToStableMs);
    const trigger = spec.rollbackTriggers.find((t) => t.metric === 'error_rate');
    const modes = Object.fromEntries(
      BENCH_MODES.map((m) => [m.name, modeReport(runsByMode.get(m.name) ?? [], specs.get(m.name)?.fastGuard ?? null)]),
    ) as Record<ModeName, ModeReport>;
    const speedup = (m: Record<ModeName, ModeReport>): number | null => {
      const off = m['guard off'].faultToStableMs;
      const on = m['guard on'].faultToStableMs;
      return off && on && on.median > 0 ? Math.round((off.median / on.median) * 100) / 100 : null;
    };
    const byFault = Object.fromEntries(
      BENCH_FAULTS.map(({ name, fault }) => {
        const m = Object.fromEntries(
          BENCH_MODES.map((mode) => [mode.name, modeReport(runsBy.get(key(name, mode.name)) ?? [], specs.get(mode.name)?.fastGuard ?? null)]),
        ) as Record<ModeName, ModeReport>;
        return [name, { fault, modes: m, guardSpeedup: speedup(m) }];
      }),
    );
    const report = {
      /** Per fault: each mode's figures and the guard's speed-up. */
      byFault,
      // The first fault's figures, under the names earlier bench reports used.
      modes,
      /** Median fault → 0% without the guard over the median with it. */
      guardSpeedup: speedup(modes),
      // The guard-off figures, under the names earlier bench reports used.
      faultToStableMs: times.length ? { median: median(times), max: Math.max(...times), min: Math.min(...times), runs: times.length } : null,
      runsRequested: flags.runs,
      failures,
      scrapeIntervalMs: await scrapeIntervalMs(endpoints),
      analysisIntervalMs: spec.analysisIntervalMs,
      triggerWindowMs: trigger?.windowMs ?? null,
      triggerCondition: trigger?.condition ?? null,
      fault: BENCH_FAULT,
      loadRatePerSecond: config.loadRate,
      canaryWeightAtFault: runs[0]?.weightAtFault ?? null,
      perRun: runs,
      historyEventsDefaultPlan: history?.events ?? null,
      historyRunsDefaultPlan: history?.runs ?? null,
      defaultPlanOutcome: history?.outcome ?? null,
      defaultPlanSimulatedMs: history?.simulatedMs ?? null,
    };
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`);
    } else {
      const row = (k: string, v: string): void => log(`  ${k.padEnd(30)} ${v}`);
      log('');
      log('fault → stable (error fault on the canary → HAProxy canary weight 0)');
      log('');
      log('| fault | mode | runs | median fault → 0% | max fault → 0% | median fault → first canary 5xx |');
      log('| --- | --- | --- | --- | --- | --- |');
      const ms = (v: number | undefined): string => (v === undefined ? '-' : `${v} ms`);
      for (const { name } of BENCH_FAULTS) {
        for (const m of BENCH_MODES) {
          const r = (byFault[name] as { modes: Record<ModeName, ModeReport> }).modes[m.name];
          log(
            `| ${name} | ${m.name} | ${r.faultToStableMs?.runs ?? 0} of ${flags.runs} | ${ms(r.faultToStableMs?.median)} | ` +
              `${ms(r.faultToStableMs?.max)} | ${ms(r.faultToFirstErrorMs?.median)} |`,
          );
        }
      }
      log('');
      for (const { name } of BENCH_FAULTS) {
        const up = (byFault[name] as { guardSpeedup: number | null }).guardSpeedup;
        row(`speed-up, ${name} (off / on)`, up === null ? '-' : `${up}×`);
      }
      const guard = modes['guard on'].fastGuard;
      if (guard) {
        row('fast guard', `every ${guard.intervalMs} ms, ${guard.windowMs} ms window, ≥ ${guard.maxErrorRate * 100}% of ≥ ${guard.minRequests} requests`);
      }
      row('scrape interval', `${report.scrapeIntervalMs} ms`);
      row('analysis interval', `${report.analysisIntervalMs} ms`);
      row('trigger window', `${report.triggerWindowMs ?? '-'} ms (${report.triggerCondition ?? '-'})`);
      row('load / canary weight', `${config.loadRate} req/s / ${report.canaryWeightAtFault ?? '-'}%`);
      if (history) {
        row('history events, default plan', `${history.events} in ${history.runs} run(s) (${history.outcome}, ${Math.round(history.simulatedMs / 60_000)} simulated min)`);
      }
      for (const f of failures) log(`  FAILED ${f}`);
    }
    if (failures.length > 0) process.exitCode = 1;
  } finally {
    await client.close();
    if (!flags.keep) await stackDown(config, process.env, (line) => log(`  ${line}`));
    else log(`bench stack left running in ${config.dir} (npm run stack:down -- --dir ${config.dir})`);
  }
}

function modeReport(runs: FaultRun[], fastGuard: RolloutSpec['fastGuard'] | null): ModeReport {
  const times = runs.map((r) => r.faultToStableMs);
  const firsts = runs.flatMap((r) => (r.faultToFirstErrorMs === null ? [] : [r.faultToFirstErrorMs]));
  return {
    faultToStableMs: times.length ? { median: median(times), max: Math.max(...times), min: Math.min(...times), runs: times.length } : null,
    faultToFirstErrorMs: firsts.length ? { median: median(firsts), max: Math.max(...firsts) } : null,
    fastGuard: fastGuard ?? null,
    perRun: runs,
  };
}

program.action(async (flags: Flags) => main(flags));
if (process.argv.includes('--scale')) {
  // `--scale` is a different bench (scripts/bench/scale.ts) with its own flags.
  void runScaleBench(process.argv.slice(2).filter((a) => a !== '--scale'));
} else if (process.argv.includes('--replay')) {
  // `--replay`: the worker's CPU per workflow task by sandbox set-up (scripts/bench/replay.ts).
  runReplayBench(process.argv.slice(2).filter((a) => a !== '--replay')).catch((err: unknown) => {
    process.stderr.write(`bench --replay failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
} else {
  program.parseAsync(process.argv).catch((err: unknown) => {
    const e = err as Error;
    process.stderr.write(`bench: ${e instanceof StackConfigError ? e.message : describeCause(err)}\n`);
    process.exit(1);
  });
}
