#!/usr/bin/env node
/**
 * The one test command (`npm test`). Typechecks, lints, provisions the Temporal binaries, then runs the
 * `*.test.ts` files with Node's built-in runner: unit and workflow tests concurrently, e2e tests
 * (real servers on few cores) one file at a time. Exit code is non-zero if anything failed.
 *
 *   npm test                         everything under test/
 *   npm test -- test/unit            a directory
 *   npm test -- test/e2e/x.test.ts   files
 *   npm test -- --test-name-pattern=restart test/e2e   extra flags go to `node --test`
 *   npm test -- --no-typecheck       skip the typecheck and the lint (quick iterations)
 *   npm test -- --no-lint            skip only the lint
 *
 * Env: PHOENIX_TEST_CONCURRENCY (files at once for unit+workflow, default max(2, cores)),
 *      PHOENIX_TEST_TIMEOUT_MS (per test, default 600000).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();

const args = process.argv.slice(2);
const OWN_FLAGS = ['--no-typecheck', '--no-lint'];
const typecheck = !args.includes('--no-typecheck');
const lint = typecheck && !args.includes('--no-lint');
const nodeFlags = args.filter((a) => a.startsWith('--') && !OWN_FLAGS.includes(a));
const targets = args.filter((a) => !a.startsWith('--'));

/** Recursively lists `*.test.ts` under `dir` (Node 20's --test does not glob TypeScript). */
function collect(target) {
  const abs = path.resolve(ROOT, target);
  if (!existsSync(abs)) {
    process.stderr.write(`npm test: no such file or directory: ${target}\n`);
    process.exit(2);
  }
  if (statSync(abs).isFile()) return [abs];
  const found = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const child = path.join(abs, entry.name);
    if (entry.isDirectory()) found.push(...collect(child));
    else if (entry.name.endsWith('.test.ts')) found.push(child);
  }
  return found.sort();
}

function run(command, commandArgs, { capture = false, env = process.env } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, commandArgs, { cwd: ROOT, env, stdio: ['ignore', capture ? 'pipe' : 'inherit', capture ? 'pipe' : 'inherit'] });
    let output = '';
    if (capture) {
      // Echo while keeping a copy, so the summary can be computed from the reporter's own lines.
      child.stdout.on('data', (chunk) => {
        process.stdout.write(chunk);
        output += chunk;
      });
      child.stderr.on('data', (chunk) => {
        process.stderr.write(chunk);
        output += chunk;
      });
    }
    child.on('error', (err) => resolve({ code: 127, output: `${err.message}\n` }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }));
  });
}

function banner(text) {
  process.stdout.write(`\n=== ${text} ===\n`);
}

const files = [...new Set((targets.length ? targets : ['test']).flatMap(collect))];
const isE2e = (file) => path.relative(ROOT, file).split(path.sep).includes('e2e');
const groups = [
  { name: 'unit + workflow tests', files: files.filter((f) => !isE2e(f)), concurrency: Number(process.env.PHOENIX_TEST_CONCURRENCY) || Math.max(2, availableParallelism()) },
  { name: 'e2e tests (serial)', files: files.filter(isE2e), concurrency: 1 },
].filter((g) => g.files.length > 0);

if (files.length === 0) {
  process.stderr.write(`npm test: no *.test.ts files under ${targets.join(', ') || 'test'}\n`);
  process.exit(2);
}

const problems = [];

if (typecheck) {
  banner('typecheck');
  const result = await run('npm', ['run', '--silent', 'typecheck']);
  if (result.code !== 0) problems.push('typecheck failed');
  else process.stdout.write('typecheck ok\n');
}

if (lint) {
  banner('lint');
  const result = await run('npm', ['run', '--silent', 'lint']);
  if (result.code !== 0) problems.push('lint failed');
  else process.stdout.write('lint ok\n');
}

banner('provision Temporal binaries');
const provision = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'provision.ts'), '--skip-temporal-server'], { capture: true });
if (provision.code !== 0) problems.push('provisioning failed (tests needing Temporal will fail too)');
// The PostgreSQL-backed Temporal server (its e2e test and the chaos run): built once (minutes, cached by
// version) here, for the same reason as the Kubernetes binaries below.
if (files.some((f) => /^(temporal-postgres|chaos)/.test(path.basename(f)))) {
  banner('provision the Temporal server for PostgreSQL');
  const server = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'provision.ts'), '--temporal-server'], { capture: true });
  if (server.code !== 0) problems.push('Temporal server provisioning failed (the PostgreSQL-backed tests will fail too)');
  provision.output += server.output;
}
// The Kubernetes e2e tests need kube-apiserver and etcd: built here (cached by version) so a cold
// build shows up as provisioning, with its own output, rather than inside a test's timeout.
if (files.some((f) => path.basename(f).startsWith('kubernetes'))) {
  banner('provision Kubernetes test binaries');
  const kube = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'kube-binaries.ts')], { capture: true });
  if (kube.code !== 0) problems.push('Kubernetes provisioning failed (the Kubernetes tests will fail too)');
}
const testEnv = { ...process.env };
// Hand the resolved paths down so every test process uses the same binaries without searching again.
for (const [label, variable] of [
  ['temporal CLI:', 'TEMPORAL_CLI_PATH'],
  ['time-skipping server:', 'TEMPORAL_TEST_SERVER_PATH'],
  ['temporal server:', 'TEMPORAL_SERVER_PATH'],
  ['temporal-sql-tool:', 'TEMPORAL_SQL_TOOL_PATH'],
  ['postgresql schema:', 'TEMPORAL_SCHEMA_DIR'],
]) {
  const line = provision.output.split('\n').find((l) => l.startsWith(label));
  if (line && !testEnv[variable]) testEnv[variable] = line.slice(label.length).trim();
}

const totals = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
const timeoutMs = Number(process.env.PHOENIX_TEST_TIMEOUT_MS) || 600_000;
for (const group of groups) {
  banner(`${group.name}: ${group.files.length} file(s)`);
  const result = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-reporter=spec',
      `--test-concurrency=${group.concurrency}`,
      `--test-timeout=${timeoutMs}`,
      // A file whose tests are done exits even if a failed set-up left a handle open (a server
      // started before the binary it waited for turned out missing): it fails, it never hangs.
      '--test-force-exit',
      ...nodeFlags,
      ...group.files.map((f) => path.relative(ROOT, f)),
    ],
    { capture: true, env: testEnv },
  );
  const counts = {};
  for (const key of Object.keys(totals)) {
    // The spec reporter ends with "ℹ pass 12"; the tap reporter with "# pass 12".
    const matches = [...result.output.matchAll(new RegExp(`^(?:ℹ|#) ${key} (\\d+)$`, 'gm'))];
    const last = matches.at(-1);
    counts[key] = last ? Number(last[1]) : 0;
    totals[key] += counts[key];
  }
  if (result.code !== 0) problems.push(`${group.name} failed (exit ${result.code}, ${counts.fail} failing)`);
}

const seconds = ((Date.now() - started) / 1000).toFixed(1);
banner('summary');
for (const [key, value] of Object.entries(totals)) process.stdout.write(`# ${key} ${value}\n`);
process.stdout.write(`# files ${files.length}\n# duration ${seconds}s\n`);
if (problems.length) {
  process.stdout.write(`FAILED: ${problems.join('; ')}\n`);
  process.exit(1);
}
process.stdout.write('OK\n');
