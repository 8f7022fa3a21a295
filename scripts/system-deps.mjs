#!/usr/bin/env node
/**
 * Finds the system programs `npm test` and `npm run demo` need (Prometheus, Alertmanager, HAProxy,
 * Chromium, Java and Maven, docker-compose, Go) and, on Debian as root, installs the missing ones
 * with apt-get; anywhere else it stops at once with one message naming what to install. So a
 * fresh machine needs no step of its own before the README's two commands, and `.ci/run` needs
 * none either.
 *
 *   node scripts/system-deps.mjs test|demo     (the pretest / predemo hooks)
 *
 * PHOENIX_SYSTEM_DEPS=check only checks (never installs); =skip skips everything.
 * Plain JavaScript: it runs before any npm dependency may exist.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A program, the names it goes by, and the Debian package that brings it. */
const TOOLS = [
  { tool: 'prometheus', names: ['prometheus'], pkg: 'prometheus', for: ['test', 'demo'] },
  { tool: 'promtool', names: ['promtool'], pkg: 'prometheus', for: ['test'] },
  // Debian renames the binary; upstream tarballs call it alertmanager.
  { tool: 'alertmanager', names: ['prometheus-alertmanager', 'alertmanager'], pkg: 'prometheus-alertmanager', for: ['test', 'demo'] },
  { tool: 'amtool', names: ['amtool'], pkg: 'prometheus-alertmanager', for: ['test'] },
  { tool: 'haproxy', names: ['haproxy'], pkg: 'haproxy', for: ['test', 'demo'] },
  { tool: 'chromium', names: ['chromium'], pkg: 'chromium', for: ['test'] },
  { tool: 'java', names: ['java'], pkg: 'openjdk-17-jre-headless', for: ['test'] },
  { tool: 'mvn', names: ['mvn'], pkg: 'maven', for: ['test'] },
  { tool: 'docker-compose', names: ['docker-compose'], pkg: 'docker-compose', for: ['test'] },
  { tool: 'python3', names: ['python3'], pkg: 'python3-venv', for: ['test'] },
  // The PostgreSQL-backed Temporal server's tests (scripts/temporal-postgres.ts) run a private instance.
  { tool: 'initdb', names: ['initdb'], pkg: 'postgresql', for: ['test'], dirs: postgresBinDirs },
];

/** Debian keeps PostgreSQL's server programs off PATH, in /usr/lib/postgresql/<major>/bin. */
function postgresBinDirs() {
  try {
    return readdirSync('/usr/lib/postgresql').map((v) => path.join('/usr/lib/postgresql', v, 'bin'));
  } catch {
    return [];
  }
}

/** Oldest Go that builds the pinned Temporal CLI and the Kubernetes test binaries (it fetches newer toolchains itself). */
const MIN_GO = [1, 22];
/** Where Debian's backported Go and the upstream tarball put `go`; scripts/provision.ts looks there too. */
export const EXTRA_GO_DIRS = ['/usr/lib/go-1.23/bin', '/usr/local/go/bin'];

function executable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function find(names, extraDirs = []) {
  // sbin is searched too: haproxy lives in /usr/sbin, often not on a non-root PATH.
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin', ...extraDirs];
  for (const name of names) {
    for (const dir of dirs) {
      if (dir && executable(path.join(dir, name))) return path.join(dir, name);
    }
  }
  return undefined;
}

function goIsRecent(go) {
  const out = spawnSync(go, ['version'], { encoding: 'utf8' }).stdout ?? '';
  const m = /go(\d+)\.(\d+)/.exec(out);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > MIN_GO[0] || (major === MIN_GO[0] && minor >= MIN_GO[1]);
}

function hasRecentGo() {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), ...EXTRA_GO_DIRS]) {
    const go = dir && path.join(dir, 'go');
    if (go && executable(go) && goIsRecent(go)) return true;
  }
  return false;
}

function say(line) {
  process.stderr.write(`system-deps: ${line}\n`);
}

function canInstall() {
  return process.platform === 'linux' && typeof process.getuid === 'function' && process.getuid() === 0 && executable('/usr/bin/apt-get');
}

function apt(args) {
  const r = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

const purpose = process.argv[2] === 'demo' ? 'demo' : 'test';
const mode = process.env.PHOENIX_SYSTEM_DEPS ?? 'install';
if (mode === 'skip') process.exit(0);

const missing = TOOLS.filter((t) => t.for.includes(purpose) && !find(t.names, t.dirs?.() ?? []));
const packages = [...new Set(missing.map((t) => t.pkg))];
const needGo = !hasRecentGo();

if (packages.length === 0 && !needGo) process.exit(0);

const what = [
  ...missing.map((t) => `${t.tool} (Debian package ${t.pkg})`),
  ...(needGo ? [`Go >= ${MIN_GO.join('.')} (Debian 12: golang-1.23-go from bookworm-backports)`] : []),
];
if (mode === 'check' || !canInstall()) {
  say(`npm ${purpose === 'demo' ? 'run demo' : 'test'} needs ${what.join(', ')}.`);
  say(
    `install them (Debian: apt-get install ${[...packages, ...(needGo ? ['-t bookworm-backports golang-1.23-go'] : [])].join(' ')}), ` +
      `or run as root on Debian to let this script install them; PHOENIX_SYSTEM_DEPS=skip runs anyway.`,
  );
  process.exit(1);
}

say(`installing with apt-get: ${what.join(', ')}`);
if (!apt(['update', '-q'])) {
  say('apt-get update failed');
  process.exit(1);
}
if (packages.length > 0 && !apt(['install', '-y', '-q', '--no-install-recommends', ...packages])) {
  say(`apt-get install ${packages.join(' ')} failed`);
  process.exit(1);
}
if (needGo) {
  const list = '/etc/apt/sources.list.d/phoenix-bookworm-backports.list';
  if (!existsSync(list)) writeFileSync(list, 'deb http://deb.debian.org/debian bookworm-backports main\n');
  if (!apt(['update', '-q']) || !apt(['install', '-y', '-q', '--no-install-recommends', '-t', 'bookworm-backports', 'golang-1.23-go'])) {
    say('installing golang-1.23-go from bookworm-backports failed');
    process.exit(1);
  }
}
const still = TOOLS.filter((t) => t.for.includes(purpose) && !find(t.names, t.dirs?.() ?? []));
if (still.length > 0 || !hasRecentGo()) {
  say(`still missing after apt-get: ${[...still.map((t) => t.tool), ...(hasRecentGo() ? [] : ['go'])].join(', ')}`);
  process.exit(1);
}
say('installed');
