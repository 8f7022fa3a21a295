/**
 * `npm run bench`: how fast a bad canary is taken out of traffic on the real local stack, and how
 * many history events a rollout of the seed's default plan costs.
 *
 *   npm run bench [-- --runs 5] [--json] [--keep] [--load-rate 200] [--dir .stack-bench] [--ports JSON]
 *
 * The bench runs its own stack (default `.stack-bench/`, every default port + 20000) so it never
 * touches a demo stack. Each run starts a rollout, waits until the canary serves traffic in phase
 * 1, injects a 5% error fault on it and times fault → canary weight 0 as read back from HAProxy.
 * The stack is stopped at the end unless --keep. `--json` prints one JSON object on the last line.
 */
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { describeCause } from '../client/rollouts';
import type { RolloutSpec } from '../rollout-spec/types';
import { measureDefaultPlanHistory, type DefaultPlanHistory } from './bench/history-events';
import { ensureNoRollout, measureFaultToStable, type FaultRun } from './bench/fault-to-stable';
import { DEFAULT_PORTS, REPO_ROOT, resolveStackConfig, StackConfigError, type StackPorts } from './stack/config';
import type { StackEndpoints } from './stack/endpoints';
import { stackDown, stackUp } from './stack/lifecycle';
import { connectToStack, renderSpecForStack } from './stack-rollouts';

/** Added to every default port so the bench stack runs beside a demo stack. */
export const BENCH_PORT_OFFSET = 20_000;

/** The fault of every run: 5% of the canary's requests fail. */
export const BENCH_FAULT = { errorRate: 0.05 } as const;

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
  const runs: FaultRun[] = [];
  const failures: string[] = [];
  let spec: RolloutSpec;
  let history: DefaultPlanHistory | null = null;
  try {
    spec = (await renderSpecForStack(path.join(REPO_ROOT, 'examples', 'demo-stack.yaml'), endpoints, BENCH_SPEC_OVERRIDES)).spec;
    await ensureNoRollout(client, spec.service);
    for (let i = 1; i <= flags.runs; i++) {
      try {
        const run = await measureFaultToStable(client, endpoints, spec, BENCH_FAULT);
        runs.push(run);
        log(
          `run ${i}/${flags.runs}: fault → stable ${run.faultToStableMs} ms (recorded in the timeline after ~${run.faultToRecordedMs ?? '?'} ms; ` +
            `${run.outcome}: ${run.reason})`,
        );
        if (run.outcome !== 'rolled_back') failures.push(`run ${i}: outcome ${run.outcome} (${run.reason})`);
      } catch (err) {
        failures.push(`run ${i}: ${describeCause(err)}`);
        log(`run ${i}/${flags.runs}: FAILED: ${describeCause(err)}`);
        await ensureNoRollout(client, spec.service).catch(() => undefined);
      }
    }
    if (flags.history) {
      log('default plan on the time-skipping test server (activity doubles) ...');
      history = await measureDefaultPlanHistory();
    }
    const times = runs.map((r) => r.faultToStableMs);
    const trigger = spec.rollbackTriggers.find((t) => t.metric === 'error_rate');
    const report = {
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
      log('fault → stable (5% errors on the canary → HAProxy canary weight 0)');
      row('runs measured', `${times.length} of ${flags.runs}`);
      row('median', report.faultToStableMs ? `${report.faultToStableMs.median} ms` : '-');
      row('max', report.faultToStableMs ? `${report.faultToStableMs.max} ms` : '-');
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

program.action(async (flags: Flags) => main(flags));
program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as Error;
  process.stderr.write(`bench: ${e instanceof StackConfigError ? e.message : describeCause(err)}\n`);
  process.exit(1);
});
