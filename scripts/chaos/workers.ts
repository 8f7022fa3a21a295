/**
 * The run's Phoenix workers: real `worker/main.ts` processes on one task queue, each in a slot
 * that can be SIGKILLed and started again with the same command line. Their JSON log lines are
 * read as they come, so a kill can be aimed at the worker that has just started a weight change.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from '../stack/config';

/** A worker log line, parsed. */
export type WorkerLogLine = Record<string, unknown>;

/** One worker slot. */
export interface WorkerSlot {
  readonly name: string;
  /** Pid of the running process; undefined while down or starting. */
  readonly pid: number | undefined;
  /** True once the current process logged `worker started` and has not exited. */
  ready(): boolean;
  /** Starts the process and waits for `worker started`. */
  start(): Promise<void>;
  /** SIGKILL, then waits until the process is gone; returns its pid. */
  kill(): Promise<number>;
  /** SIGTERM (graceful), bounded, then SIGKILL. */
  stop(): Promise<void>;
}

/** Two (or more) worker slots sharing a line listener. */
export interface WorkerPool {
  readonly slots: readonly WorkerSlot[];
  /** Calls `listener` with every log line of every worker (with the slot it came from). */
  onLine(listener: (line: WorkerLogLine, slot: WorkerSlot) => void): () => void;
  stopAll(): Promise<void>;
}

/** Creates `count` slots running the real worker with `env`; logs go to `<logDir>/<name>.log`. */
export function createWorkerPool(opts: { count: number; env: NodeJS.ProcessEnv; logDir: string; readyTimeoutMs?: number }): WorkerPool {
  const listeners = new Set<(line: WorkerLogLine, slot: WorkerSlot) => void>();
  const slots = Array.from({ length: opts.count }, (_, i) => createSlot(`worker-${i + 1}`));

  function createSlot(name: string): WorkerSlot {
    let child: ChildProcess | undefined;
    let isReady = false;
    let exited: Promise<void> = Promise.resolve();
    let log: WriteStream | undefined;
    const slot: WorkerSlot = {
      name,
      get pid() {
        return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
      },
      ready: () => isReady && slot.pid !== undefined,
      async start() {
        if (slot.pid !== undefined) throw new Error(`${name} already runs (pid ${slot.pid})`);
        log ??= createWriteStream(path.join(opts.logDir, `${name}.log`), { flags: 'a' });
        isReady = false;
        const proc = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
          cwd: REPO_ROOT,
          env: opts.env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child = proc;
        exited = new Promise((resolve) => proc.once('exit', () => resolve()));
        const started = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`${name} did not log "worker started" within ${opts.readyTimeoutMs ?? 120_000} ms`)), opts.readyTimeoutMs ?? 120_000);
          proc.once('exit', (code, signal) => {
            clearTimeout(timer);
            reject(new Error(`${name} exited during start-up (${signal ?? code})`));
          });
          createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (text) => {
            log?.write(`${text}\n`);
            let line: WorkerLogLine;
            try {
              line = JSON.parse(text) as WorkerLogLine;
            } catch {
              return;
            }
            if (line.msg === 'worker started' && child === proc) {
              isReady = true;
              clearTimeout(timer);
              resolve();
            }
            for (const l of listeners) l(line, slot);
          });
        });
        createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', (text) => log?.write(`[stderr] ${text}\n`));
        await started;
      },
      async kill() {
        const pid = slot.pid;
        if (pid === undefined || !child) throw new Error(`${name} is not running`);
        isReady = false;
        child.kill('SIGKILL');
        await exited;
        return pid;
      },
      async stop() {
        if (slot.pid === undefined || !child) return;
        isReady = false;
        const proc = child;
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      },
    };
    return slot;
  }

  return {
    slots,
    onLine(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stopAll() {
      await Promise.all(slots.map((s) => s.stop()));
    },
  };
}
