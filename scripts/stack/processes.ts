/**
 * Detached processes with pid files: each part runs in its own process group (so stopping it also
 * stops any children, e.g. tsx's), survives the CLI that started it, and writes to its own log.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** What to run for one part. */
export interface LaunchSpec {
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  pidFile: string;
  logFile: string;
}

/** Starts `spec` detached, writes its pid file and returns the pid. */
export async function launchDetached(spec: LaunchSpec): Promise<number> {
  await fs.mkdir(path.dirname(spec.pidFile), { recursive: true });
  await fs.mkdir(path.dirname(spec.logFile), { recursive: true });
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid as number));
      child.once('error', (err) => reject(new Error(`cannot start ${spec.command}: ${err.message}`)));
    });
    child.unref();
    await fs.writeFile(spec.pidFile, `${pid}\n`);
    return pid;
  } finally {
    closeSync(fd);
  }
}

/**
 * True when `pid` is a live process. Zombies count as dead: orphans are reparented to a pid 1
 * that may never reap them, and `kill(pid, 0)` succeeds on a zombie.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state letter follows the parenthesised command name, which may itself contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no procfs (not Linux): trust kill(0)
  }
}

/** The pid recorded in `pidFile` if that process is alive; stale files are removed. */
export async function runningPid(pidFile: string): Promise<number | undefined> {
  const text = await fs.readFile(pidFile, 'utf8').catch(() => '');
  const pid = Number.parseInt(text, 10);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return pid;
  if (text) await fs.rm(pidFile, { force: true });
  return undefined;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  // The group exists while any member does, zombies included; the leader decides here.
  return isAlive(pgid);
}

/**
 * Stops the process group led by the pid in `pidFile`: SIGTERM, then SIGKILL after `graceMs`.
 * Returns the pid it stopped, or undefined when nothing was running. Removes the pid file.
 */
export async function stopByPidFile(pidFile: string, graceMs = 10_000): Promise<number | undefined> {
  const pid = await runningPid(pidFile);
  if (pid === undefined) return undefined;
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (groupAlive(pid) && Date.now() < deadline) await sleep(100);
  if (groupAlive(pid)) {
    signalGroup(pid, 'SIGKILL');
    while (groupAlive(pid)) await sleep(50);
  }
  await fs.rm(pidFile, { force: true });
  return pid;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Not a group leader (e.g. started by someone else): signal the process alone.
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** The last `lines` lines of a log file, for failure messages. */
export async function tailLog(file: string, lines = 20): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Promise-based sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
