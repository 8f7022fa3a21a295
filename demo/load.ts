/**
 * Entry point of the demo load generator:
 *   tsx demo/load.ts [--url http://127.0.0.1:8080/] [--rate 50] [--stats-file path]
 * Flags fall back to LOAD_URL, LOAD_RATE, LOAD_STATS_FILE. Writes its counts to the stats file
 * once a second (atomically) and logs a summary every 30 s and on exit; stops cleanly on SIGTERM.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { z } from 'zod';
import { startLoadGenerator } from './load-generator';

const schema = z.object({
  url: z.url({ protocol: /^http$/ }),
  rate: z.coerce.number().positive().max(10_000),
  'stats-file': z.string().min(1).optional(),
  'max-in-flight': z.coerce.number().int().positive(),
});

function loadConfig() {
  let values: Partial<Record<'url' | 'rate' | 'stats-file' | 'max-in-flight', string>>;
  try {
    ({ values } = parseArgs({
      options: {
        url: { type: 'string' },
        rate: { type: 'string' },
        'stats-file': { type: 'string' },
        'max-in-flight': { type: 'string' },
      },
    }));
  } catch (err) {
    process.stderr.write(`invalid load generator arguments: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const env = process.env;
  const parsed = schema.safeParse({
    url: values.url ?? env.LOAD_URL ?? 'http://127.0.0.1:8080/',
    rate: values.rate ?? env.LOAD_RATE ?? '50',
    'stats-file': values['stats-file'] ?? (env.LOAD_STATS_FILE || undefined),
    'max-in-flight': values['max-in-flight'] ?? env.LOAD_MAX_IN_FLIGHT ?? '200',
  });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`);
    process.stderr.write(`invalid load generator configuration:\n  ${lines.join('\n  ')}\n`);
    process.exit(2);
  }
  return parsed.data;
}

const config = loadConfig();
const logger = pino({ base: { component: 'load', pid: process.pid } });
const generator = startLoadGenerator({
  url: config.url,
  ratePerSecond: config.rate,
  maxInFlight: config['max-in-flight'],
});
logger.info({ url: config.url, rate: config.rate }, 'load generator started');

const writeStats = () => {
  const file = config['stats-file'];
  if (!file) return;
  // Write-then-rename so readers never see a half-written file.
  writeFileSync(`${file}.tmp`, JSON.stringify({ ...generator.stats(), updatedAt: new Date().toISOString() }));
  renameSync(`${file}.tmp`, file);
};
const statsTimer = setInterval(writeStats, 1_000);
const summaryTimer = setInterval(() => logger.info({ stats: generator.stats() }, 'load summary'), 30_000);

const stop = async (signal: string) => {
  clearInterval(statsTimer);
  clearInterval(summaryTimer);
  const stats = await generator.stop();
  writeStats();
  logger.info({ signal, stats }, 'load generator stopped');
  process.exit(0);
};
process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));
