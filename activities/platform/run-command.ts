/** Runs one argv (no shell) with a timeout, heartbeating while it runs. */
import { spawn } from 'node:child_process';
import { ConfigError, PlatformCommandError } from '../errors';

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  timeoutMs: number;
  /**
   * The command's whole environment (required: an absent env would make it inherit the worker's,
   * secrets included). Build it with `childEnv`.
   */
  env: Record<string, string | undefined>;
  signal?: AbortSignal;
  heartbeat?: (details?: unknown) => void;
  heartbeatEveryMs?: number;
  /** Field named in errors, e.g. `platform.deploy`. */
  field: string;
}

/** What a finished command produced. */
export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderrTail: string;
  timedOut: boolean;
}

const TAIL = 4000;

/**
 * Runs `argv` to completion. Never throws for a non-zero exit (see {@link runCommandOrThrow});
 * rejects with ConfigError when the executable cannot be run, and with the signal's reason on cancel.
 */
export function runCommand(argv: string[], opts: RunCommandOptions): Promise<CommandResult> {
  const [command, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    // detached: the command leads its own process group so a timeout kills its children too.
    const child = spawn(command, args, { env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout = (stdout + d.toString('utf8')).slice(-64_000);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-TAIL);
    });
    const kill = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    const beat = setInterval(() => opts.heartbeat?.({ running: argv[0] }), opts.heartbeatEveryMs ?? 5000);
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      kill('SIGTERM');
      killTimer = setTimeout(() => kill('SIGKILL'), 2000);
    }, opts.timeoutMs);
    const onAbort = (): void => kill('SIGTERM');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      clearInterval(beat);
      clearTimeout(timer);
      clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      cleanup();
      reject(new ConfigError(`${opts.field}: cannot run ${JSON.stringify(command)}: ${err.message}`, opts.field, { cause: err }));
    });
    child.once('close', (exitCode, signal) => {
      cleanup();
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      resolve({ exitCode, signal, stdout, stderrTail: stderr, timedOut });
    });
  });
}

/**
 * Runs `argv` and requires exit code 0.
 * @throws PlatformCommandError (retryable) with the stderr tail on a non-zero exit or timeout.
 */
export async function runCommandOrThrow(argv: string[], opts: RunCommandOptions): Promise<CommandResult> {
  const result = await runCommand(argv, opts);
  if (result.timedOut) {
    throw new PlatformCommandError(
      `${opts.field} timed out after ${opts.timeoutMs} ms: ${argv.join(' ')}; stderr: ${result.stderrTail.slice(-500)}`,
      argv,
      result.exitCode,
      result.stderrTail,
    );
  }
  if (result.exitCode !== 0) {
    throw new PlatformCommandError(
      `${opts.field} exited with ${result.exitCode ?? result.signal}: ${argv.join(' ')}; stderr: ${result.stderrTail.slice(-500)}`,
      argv,
      result.exitCode,
      result.stderrTail,
    );
  }
  return result;
}
