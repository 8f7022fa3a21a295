/**
 * Local service instances as detached process groups, tracked by pid files so that a restarted
 * worker finds (and can stop) what an earlier worker started.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { ConfigError, ProcessControlError } from '../errors';
import { delay, heartbeatingDelay, WAIT_HEARTBEAT_MS } from './poll-health';

/** What a pid file records about one instance. */
export interface InstanceState {
  pid: number;
  version: string;
  port: number;
  argv: string[];
  startedAt: string;
  /** Kernel start time of the process (clock ticks since boot), to detect pid reuse. */
  procStart?: string;
  logFile: string;
}

/** Reads a pid file; `undefined` when absent or unreadable (an unreadable file tracks nothing). */
export async function readInstanceState(file: string): Promise<InstanceState | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ProcessControlError(`cannot read pid file ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const state = JSON.parse(text) as InstanceState;
    return Number.isInteger(state.pid) && state.pid > 1 ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Writes a pid file atomically (write + rename) so a crash never leaves half a file. */
export async function writeInstanceState(file: string, state: InstanceState): Promise<void> {
  await writeAtomically(file, state);
}

async function writeAtomically(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, file);
}

/**
 * The variable every instance is started with: a worker killed between the spawn and the pid
 * file leaves only this to find the process by (see {@link reapUnrecordedLaunch}).
 */
export const INSTANCE_ID_ENV = 'PHOENIX_INSTANCE_ID';

/** Written before a spawn, removed once the pid file records the process. */
export interface LaunchRecord {
  instanceId: string;
  port: number;
  startedAt: string;
}

/** Where the launch record of `stateFile`'s instance is kept. */
export function launchRecordFile(stateFile: string): string {
  return `${stateFile}.launch`;
}

export async function writeLaunchRecord(stateFile: string, record: LaunchRecord): Promise<void> {
  await writeAtomically(launchRecordFile(stateFile), record);
}

/** Process-group leaders whose environment carries `INSTANCE_ID_ENV=<instanceId>` (Linux /proc). */
async function groupLeadersWithInstanceId(instanceId: string): Promise<number[]> {
  const needle = `${INSTANCE_ID_ENV}=${instanceId}`;
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
      if (!environ.includes(needle)) continue;
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      // Field 5 (after the command name) is the process group; the leader is the spawned instance.
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp === pid) found.push(pid);
    } catch {
      /* gone meanwhile, or not ours to read */
    }
  }
  return found;
}

/**
 * A launch record with no pid file means a worker died between spawning an instance and
 * recording it: the process may be running, holding the port, tracked by nobody. Stop it, found by
 * its instance id, so the retried start can take the port (a deploy starts afresh anyway).
 * @returns the pids stopped.
 */
export async function reapUnrecordedLaunch(stateFile: string, graceMs = 2000, wait: StopWaitOptions = {}): Promise<number[]> {
  const file = launchRecordFile(stateFile);
  let record: LaunchRecord;
  try {
    record = JSON.parse(await readFile(file, 'utf8')) as LaunchRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    await rm(file, { force: true }); // half a record tracks nothing
    return [];
  }
  const recorded = await readInstanceState(stateFile);
  const stopped: number[] = [];
  if (typeof record.instanceId === 'string' && record.instanceId.length > 0) {
    for (const pid of await groupLeadersWithInstanceId(record.instanceId)) {
      if (recorded?.pid === pid) continue; // recorded after all: the pid file's owner handles it
      const stat = await procStat(pid);
      await stopInstance({ pid, version: '?', port: record.port, argv: [], startedAt: record.startedAt, procStart: stat?.start, logFile: '' }, graceMs, wait);
      stopped.push(pid);
    }
  }
  await rm(file, { force: true });
  return stopped;
}

/** Reads `/proc/<pid>/stat`: the process state letter and start time; `undefined` if gone or not Linux. */
async function procStat(pid: number): Promise<{ state: string; start: string } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', start: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

/** True when the recorded process is still running (not a zombie, not a reused pid). */
export async function isInstanceRunning(state: InstanceState): Promise<boolean> {
  try {
    process.kill(state.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = await procStat(state.pid);
  if (!stat) return process.platform !== 'linux';
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return state.procStart === undefined || state.procStart === stat.start;
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function isPortInUse(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (inUse: boolean): void => {
      socket.destroy();
      resolve(inUse);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** How to start one instance. */
export interface StartInstanceOptions {
  argv: string[];
  version: string;
  port: number;
  cwd?: string;
  /** The instance's whole environment (nothing is inherited from the worker); see `childEnv`. */
  env: Record<string, string | undefined>;
  stateFile: string;
  logFile: string;
  /** How long to watch for an immediate crash before declaring the start successful. */
  settleMs?: number;
  /** How long to wait for the port to become free before giving up. */
  portWaitMs?: number;
  /**
   * Cancellation (the activity's): the port wait and the settle wait stop at once and reject with
   * its reason. A process already spawned stays recorded in `stateFile`, so terminating finds it.
   */
  signal?: AbortSignal;
  /** Called at least every 500 ms while waiting. */
  heartbeat?: (details?: unknown) => void;
}

/**
 * Starts a detached process group, records it in `stateFile`, and checks it survives `settleMs`.
 * @throws ConfigError when the executable does not exist; ProcessControlError when the port is
 * taken or the process dies straight away (with the tail of its log).
 */
export async function startInstance(opts: StartInstanceOptions): Promise<InstanceState> {
  const wait = { signal: opts.signal ?? new AbortController().signal, heartbeat: opts.heartbeat ?? (() => undefined) };
  await reapUnrecordedLaunch(opts.stateFile, 2000, wait);
  // A just-stopped instance's port can stay busy for a moment (its children exiting), so wait a bit.
  const portFreeBy = Date.now() + (opts.portWaitMs ?? 3000);
  let lastBeat = Date.now();
  while ((await isPortInUse(opts.port)) && Date.now() < portFreeBy) {
    await delay(100, wait.signal);
    if (Date.now() - lastBeat >= WAIT_HEARTBEAT_MS) {
      wait.heartbeat({ waitingForPort: opts.port });
      lastBeat = Date.now();
    }
  }
  wait.signal.throwIfAborted();
  if (await isPortInUse(opts.port)) {
    throw new ProcessControlError(
      `port ${opts.port} is already in use by a process Phoenix does not track; stop it or change the port`,
    );
  }
  await mkdir(path.dirname(opts.logFile), { recursive: true });
  const logFd = openSync(opts.logFile, 'a');
  const [command, ...args] = opts.argv as [string, ...string[]];
  const instanceId = randomUUID();
  let child;
  try {
    await writeLaunchRecord(opts.stateFile, { instanceId, port: opts.port, startedAt: new Date().toISOString() });
    // detached: the instance leads its own process group, so stopping it reaches its children and
    // it outlives a worker restart.
    const env = { ...opts.env, [INSTANCE_ID_ENV]: instanceId };
    child = spawn(command, args, { cwd: opts.cwd, env, detached: true, stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  let exitCode: number | null | undefined;
  let exitSignal: NodeJS.Signals | null = null;
  child.on('exit', (code, signal) => {
    exitCode = code;
    exitSignal = signal;
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EACCES') {
        reject(new ConfigError(`platform.command: cannot run ${JSON.stringify(command)}: ${err.message}`, 'platform.command', { cause: err }));
      } else {
        reject(new ProcessControlError(`cannot start ${JSON.stringify(command)}: ${err.message}`, { cause: err }));
      }
    });
  });
  child.unref();
  const pid = child.pid as number;
  const state: InstanceState = {
    pid,
    version: opts.version,
    port: opts.port,
    argv: opts.argv,
    startedAt: new Date().toISOString(),
    procStart: (await procStat(pid))?.start,
    logFile: opts.logFile,
  };
  await writeInstanceState(opts.stateFile, state);
  await rm(launchRecordFile(opts.stateFile), { force: true });
  await heartbeatingDelay(opts.settleMs ?? 300, wait, { started: pid, settling: true });
  if (exitCode !== undefined) {
    await rm(opts.stateFile, { force: true });
    throw new ProcessControlError(
      `instance ${opts.version} exited right after start (code ${exitCode}, signal ${exitSignal}); log tail: ${await logTail(opts.logFile)}`,
    );
  }
  return state;
}

/** What a stop may be interrupted by, and how it reports that it is alive. */
export interface StopWaitOptions {
  /** Cancellation: the wait for the exit stops and rejects with its reason (the signal was sent). */
  signal?: AbortSignal;
  /** Called at least every 500 ms while waiting for the exit. */
  heartbeat?: (details?: unknown) => void;
}

/**
 * Stops an instance's process group: SIGTERM, then SIGKILL after `graceMs`. Harmless when it is gone.
 * @throws ProcessControlError when it survives SIGKILL.
 */
export async function stopInstance(
  state: InstanceState,
  graceMs = 5000,
  wait: StopWaitOptions = {},
): Promise<'stopped' | 'not_running'> {
  if (!(await isInstanceRunning(state))) return 'not_running';
  signalGroup(state.pid, 'SIGTERM');
  if (await waitForExit(state, graceMs, wait)) return 'stopped';
  signalGroup(state.pid, 'SIGKILL');
  if (await waitForExit(state, 2000, wait)) return 'stopped';
  throw new ProcessControlError(`process ${state.pid} survived SIGKILL`);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal); // not a group leader (started by someone else): the process alone
    } catch {
      /* already gone */
    }
  }
}

async function waitForExit(state: InstanceState, timeoutMs: number, wait: StopWaitOptions): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  let lastBeat = Date.now();
  while (Date.now() < until) {
    if (!(await isInstanceRunning(state))) return true;
    await delay(50, wait.signal);
    if (Date.now() - lastBeat >= WAIT_HEARTBEAT_MS) {
      wait.heartbeat?.({ stopping: state.pid });
      lastBeat = Date.now();
    }
  }
  return !(await isInstanceRunning(state));
}

/** The last `bytes` of a log file, for error messages. */
export async function logTail(file: string, bytes = 1000): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return JSON.stringify(text.slice(-bytes));
  } catch {
    return '(no log)';
  }
}
