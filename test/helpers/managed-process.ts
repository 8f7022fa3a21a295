/** Starts a server binary for a test, waits until it is ready, and stops it (whole group) afterwards. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** A running server process. */
export interface ManagedProcess {
  readonly pid: number;
  /** Combined stdout/stderr so far (last 20 kB), for failure messages. */
  output(): string;
  /** True once the process has exited. */
  exited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** How to start and probe a server. */
export interface StartProcessOptions {
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolves true once the server answers. Polled every 100 ms. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
}

/** Thrown when a server exits or does not become ready; carries its output. */
export class ProcessStartError extends Error {
  override readonly name = 'ProcessStartError';
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(`${message}\n--- output ---\n${output.slice(-4000)}`);
  }
}

/** Spawns the server in its own process group and waits for `ready`. */
export async function startManagedProcess(opts: StartProcessOptions): Promise<ManagedProcess> {
  const child: ChildProcess = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  const append = (d: Buffer): void => {
    out = (out + d.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let hasExited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      hasExited = true;
      resolve();
    });
  });
  const spawnError = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', resolve);
  });
  if (spawnError) throw new ProcessStartError(`${opts.name}: cannot start ${opts.command}: ${spawnError.message}`, out);

  const signalGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-(child.pid as number), sig);
    } catch {
      /* gone */
    }
  };
  let stopping: Promise<void> | undefined;
  const handle: ManagedProcess = {
    pid: child.pid as number,
    output: () => out,
    exited: () => hasExited,
    stop(graceMs = 5000) {
      stopping ??= (async () => {
        if (hasExited) return;
        signalGroup('SIGTERM');
        const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
        await exitedPromise;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };

  const until = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  while (Date.now() < until) {
    if (hasExited) throw new ProcessStartError(`${opts.name} exited during startup (code ${child.exitCode})`, out);
    if (await opts.ready().catch(() => false)) return handle;
    await new Promise((r) => setTimeout(r, 100));
  }
  await handle.stop();
  throw new ProcessStartError(`${opts.name} was not ready within ${opts.readyTimeoutMs ?? 20_000} ms`, out);
}

/** True when `GET url` answers 200. */
export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await res.body?.cancel();
  return res.status === 200;
}

/**
 * Runs `start` up to `attempts` times while it fails with a {@link ProcessStartError} whose output
 * matches `clash`: free ports are picked before the server binds them, so another test can take one
 * in between, and a fresh attempt picks new ports.
 */
export async function retryOnPortClash<T>(
  start: () => Promise<T>,
  clash: RegExp = /address already in use/i,
  attempts = 3,
): Promise<T> {
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      return await start();
    } catch (err) {
      lastError = err;
      if (!(err instanceof ProcessStartError && clash.test(err.output))) throw err;
    }
  }
  throw lastError;
}

/** What {@link startInTempDir} returns: the fixture's own fields plus its dir and a `stop()`. */
export type TempDirServer<T> = T & {
  dir: string;
  /** Stops the process, then removes the temp dir. */
  stop(): Promise<void>;
};

/**
 * Creates a temp dir (`<tmpdir>/<prefix>XXXXXX`) for a server's config and data and runs `start`
 * in it. The dir is removed when `start` fails, and otherwise by `stop()` once the process is gone.
 */
export async function startInTempDir<T extends object>(
  prefix: string,
  start: (dir: string) => Promise<{ process: ManagedProcess; fields: T }>,
): Promise<TempDirServer<T>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  try {
    const { process: proc, fields } = await start(dir);
    return {
      ...fields,
      dir,
      async stop() {
        await proc.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
