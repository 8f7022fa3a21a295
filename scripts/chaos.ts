/**
 * `npm run chaos`: the chaos run of issue 10 §4. Ten concurrent rollouts on real HAProxy,
 * Prometheus and Temporal with two real workers, while 20 worker SIGKILLs, 3 Temporal restarts,
 * 2 HAProxy reloads and a Prometheus outage hit them; prints one table and exits non-zero on any
 * anomaly. See docs/chaos.md.
 *
 *   npm run chaos                       # full run, PostgreSQL-backed Temporal, random seed
 *   npm run chaos -- --seed 42 --temporal dev
 *   npm run chaos -- --short            # the npm-test sized run
 */
import { parseArgs } from 'node:util';
import { FULL_RUN, SHORT_RUN } from './chaos/presets';
import { randomSeed } from './chaos/rng';
import { runChaos } from './chaos/scenario';
import { CHAOS_TEMPORAL_KINDS, type ChaosTemporalKind } from './chaos/temporal';

const USAGE = 'usage: npm run chaos -- [--seed N] [--temporal dev|postgres] [--short] [--keep]';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      temporal: { type: 'string', default: 'postgres' },
      short: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const temporal = values.temporal as ChaosTemporalKind;
  if (!CHAOS_TEMPORAL_KINDS.includes(temporal)) throw new Error(`--temporal must be dev or postgres, got ${values.temporal}\n${USAGE}`);
  const seed = values.seed !== undefined ? Number(values.seed) : randomSeed();
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got ${values.seed}`);
  const started = Date.now();
  const stamp = () => `[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s]`;
  const outcome = await runChaos({
    seed,
    temporal,
    size: values.short ? SHORT_RUN : FULL_RUN,
    keepDir: values.keep,
    log: (line) => process.stderr.write(`${stamp()} ${line}\n`),
  });
  process.stdout.write(`\n${outcome.table}\n\nreproduce: npm run chaos -- --seed ${seed} --temporal ${temporal}${values.short ? ' --short' : ''}\n`);
  if (values.keep) process.stdout.write(`logs and configs kept in ${outcome.dir}\n`);
  return outcome.report.anomalies.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos run failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
