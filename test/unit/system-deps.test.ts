/**
 * scripts/system-deps.mjs (the pretest/predemo hook): with everything present it passes silently;
 * with programs missing and no way to install them it stops at once, naming each program and the
 * Debian package that brings it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'system-deps.mjs');

test('a machine that lacks Prometheus and Chromium is told what to install, in seconds', () => {
  const started = Date.now();
  // Only sbin dirs are searched beyond PATH: haproxy (/usr/sbin) is found, everything in /usr/bin is not.
  const r = spawnSync(process.execPath, [SCRIPT, 'test'], {
    encoding: 'utf8',
    env: { PATH: '/nonexistent', PHOENIX_SYSTEM_DEPS: 'check', PHOENIX_EXTRA_GO_DIRS: '' },
  });
  assert.equal(r.status, 1, r.stderr);
  assert.ok(Date.now() - started < 10_000);
  assert.match(r.stderr, /prometheus \(Debian package prometheus\)/);
  assert.match(r.stderr, /chromium \(Debian package chromium\)/);
  assert.match(r.stderr, /apt-get install [^\n]*prometheus-alertmanager/);
  assert.doesNotMatch(r.stderr, /haproxy \(Debian package/);
});

test('the demo needs fewer programs than the tests', () => {
  const r = spawnSync(process.execPath, [SCRIPT, 'demo'], { encoding: 'utf8', env: { PATH: '/nonexistent', PHOENIX_SYSTEM_DEPS: 'check' } });
  assert.equal(r.status, 1);
  assert.doesNotMatch(r.stderr, /chromium|maven/);
});

test('everything present (this machine after the pretest hook ran): exits 0 without a word', () => {
  const r = spawnSync(process.execPath, [SCRIPT, 'test'], { encoding: 'utf8', env: { ...process.env, PHOENIX_SYSTEM_DEPS: 'check' } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
});

test('PHOENIX_SYSTEM_DEPS=skip skips', () => {
  const r = spawnSync(process.execPath, [SCRIPT, 'test'], { encoding: 'utf8', env: { PATH: '/nonexistent', PHOENIX_SYSTEM_DEPS: 'skip' } });
  assert.equal(r.status, 0);
});
