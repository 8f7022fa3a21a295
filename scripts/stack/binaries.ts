/**
 * Locates the third-party servers of the stack. On Debian, as root, missing ones are installed
 * with apt-get; anywhere else the error says what to install. PROMETHEUS_BIN, ALERTMANAGER_BIN
 * and HAPROXY_BIN override the lookup.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import * as path from 'node:path';

/** Absolute paths of the server binaries the stack runs. */
export interface StackBinaries {
  prometheus: string;
  alertmanager: string;
  haproxy: string;
}

interface Wanted {
  key: keyof StackBinaries;
  envVar: string;
  names: string[];
  debianPackage: string;
}

const WANTED: Wanted[] = [
  { key: 'prometheus', envVar: 'PROMETHEUS_BIN', names: ['prometheus'], debianPackage: 'prometheus' },
  {
    key: 'alertmanager',
    envVar: 'ALERTMANAGER_BIN',
    // Debian renames the binary; upstream tarballs call it alertmanager.
    names: ['prometheus-alertmanager', 'alertmanager'],
    debianPackage: 'prometheus-alertmanager',
  },
  { key: 'haproxy', envVar: 'HAPROXY_BIN', names: ['haproxy'], debianPackage: 'haproxy' },
];

/** Thrown when a server binary is missing and cannot be installed here. */
export class MissingBinaryError extends Error {
  override readonly name = 'MissingBinaryError';
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function lookup(w: Wanted, env: NodeJS.ProcessEnv): string | undefined {
  const explicit = env[w.envVar];
  if (explicit) {
    if (executable(explicit)) return path.resolve(explicit);
    throw new MissingBinaryError(`${w.envVar}=${explicit} is not an executable file`);
  }
  // sbin is searched too: haproxy lives in /usr/sbin, often not on a non-root PATH.
  const dirs = [...(env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const name of w.names) {
    for (const dir of dirs) {
      if (dir && executable(path.join(dir, name))) return path.join(dir, name);
    }
  }
  return undefined;
}

/**
 * Finds every binary, installing missing Debian packages when running as root on Debian.
 * `log` receives a line before an install starts.
 */
export function ensureStackBinaries(env: NodeJS.ProcessEnv, log: (line: string) => void): StackBinaries {
  let missing = WANTED.filter((w) => !lookup(w, env));
  if (missing.length > 0) {
    const packages = missing.map((w) => w.debianPackage);
    const canInstall = process.getuid?.() === 0 && existsSync('/etc/debian_version');
    if (!canInstall) {
      throw new MissingBinaryError(
        `missing ${missing.map((w) => w.names[0]).join(', ')}: install them (Debian/Ubuntu: ` +
          `\`sudo apt-get install -y ${packages.join(' ')}\`; macOS: \`brew install prometheus alertmanager haproxy\`) ` +
          `or point ${missing.map((w) => w.envVar).join(', ')} at the binaries`,
      );
    }
    log(`installing ${packages.join(' ')} with apt-get`);
    const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let res = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: 'inherit', env: aptEnv });
    if (res.status !== 0) {
      spawnSync('apt-get', ['update'], { stdio: 'inherit', env: aptEnv });
      res = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: 'inherit', env: aptEnv });
    }
    missing = WANTED.filter((w) => !lookup(w, env));
    if (res.status !== 0 || missing.length > 0) {
      throw new MissingBinaryError(`apt-get install ${packages.join(' ')} failed (exit ${res.status ?? 'signal'})`);
    }
  }
  return Object.fromEntries(WANTED.map((w) => [w.key, lookup(w, env) as string])) as unknown as StackBinaries;
}
