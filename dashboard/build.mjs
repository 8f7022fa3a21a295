// @ts-check
/**
 * Builds the dashboard bundle into dist/dashboard when it is missing or older than its sources:
 * `npm run api` and `npm test` call it first (`preapi`, `pretest`), so a fresh clone needs no
 * extra step and an unchanged checkout costs one directory walk. `--force` rebuilds regardless.
 * Prints one line saying what it did.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const outDir = path.join(repo, 'dist', 'dashboard');
const stamp = path.join(outDir, '.built');

/** Everything the bundle is made from: its own folder and the pure modules it imports from the repo. */
const SOURCES = [
  here,
  path.join(repo, 'workflows', 'contract.ts'),
  path.join(repo, 'workflows', 'check-wording.ts'),
  path.join(repo, 'activities', 'judge', 'types.ts'),
  path.join(repo, 'package-lock.json'),
];

/** Newest modification time under `entry` (0 when it does not exist). */
function newest(entry) {
  let stat;
  try {
    stat = fs.statSync(entry);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let max = stat.mtimeMs;
  for (const name of fs.readdirSync(entry)) {
    if (name === 'node_modules') continue;
    max = Math.max(max, newest(path.join(entry, name)));
  }
  return max;
}

const force = process.argv.includes('--force');
const builtAt = fs.existsSync(path.join(outDir, 'index.html')) ? newest(stamp) : 0;
const sourcesAt = Math.max(...SOURCES.map(newest));
if (!force && builtAt > 0 && builtAt >= sourcesAt) {
  process.stdout.write('dashboard: bundle up to date (dist/dashboard)\n');
} else {
  const started = Date.now();
  const { build } = await import('vite');
  await build({ configFile: path.join(here, 'vite.config.mjs') });
  fs.writeFileSync(stamp, new Date().toISOString() + '\n');
  process.stdout.write(`dashboard: built dist/dashboard in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
