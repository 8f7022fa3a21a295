#!/usr/bin/env node
/**
 * Runs `npm ci` when node_modules is missing or older than package-lock.json, so that on a fresh
 * clone `npm run demo` and `npm test` (whose pre-scripts call this) need no separate install step.
 * Plain JavaScript: it must run before any dependency exists.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lock = path.join(root, 'package-lock.json');
// npm writes this file at the end of every install: its age says when node_modules last matched.
const installed = path.join(root, 'node_modules', '.package-lock.json');

const stale = !existsSync(installed) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(installed).mtimeMs);
if (stale) {
  process.stderr.write('node_modules is missing or older than package-lock.json: running npm ci\n');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // A registry hiccup on a fresh machine should not fail the whole run: three attempts.
  let result;
  for (let attempt = 1; attempt <= 3; attempt++) {
    result = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
    if (result.status === 0) break;
    if (attempt < 3) process.stderr.write(`npm ci failed (attempt ${attempt} of 3); retrying\n`);
  }
  if (result.status !== 0) {
    process.stderr.write('npm ci failed; install the dependencies with `npm ci` and try again\n');
    process.exit(result.status ?? 1);
  }
}
