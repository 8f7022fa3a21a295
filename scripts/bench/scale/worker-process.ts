/**
 * The scale bench's one worker, as a child process of its own so its RSS and CPU are measured
 * apart from the bench: resolves once it polls (or, for the real worker, once its SDK metrics
 * answer), keeps the first line it wrote to stderr (or an error line of its stdout log) as the
 * first error it reported.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

/** A running worker child. */
export interface WorkerProcess {
  readonly pid: number;
  /** The first stderr line and when it came, or null. */
  firstError(): { at: number; line: string } | null;
  /** The last 4 KiB of its stderr. */
  stderrTail(): string;
  /** Exit code or signal once it exited, else null. */
  exited(): string | null;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `node --import tsx <script>` with `env` and waits until `ready()` or it exits. */
export async function startWorkerProcess(
  script: string,
  env: Record<string, string>,
  ready: (stdout: string) => Promise<boolean> | boolean,
  options: { timeoutMs?: number; errorLine?: (stdoutLine: string) => boolean } = {},
): Promise<WorkerProcess> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  // e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the worker (Node refuses it in NODE_OPTIONS).
  const nodeArgs = (process.env.PHOENIX_BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    cwd: path.join(__dirname, '..', '..', '..'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let first: { at: number; line: string } | null = null;
  // Held in an object: TypeScript would narrow a `let` set only in callbacks to null.
  const state: { exit: string | null } = { exit: null };
  child.stdout?.on('data', (d: Buffer) => {
    stdout = (stdout + d.toString()).slice(-8192);
    // A worker that logs JSON to stdout (pino) reports its errors there.
    const line = options.errorLine ? d.toString().split('\n').find((l) => options.errorLine?.(l)) : undefined;
    if (!first && line) first = { at: Date.now(), line: line.slice(0, 500) };
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4096);
    const line = d.toString().split('\n').find((l) => l.trim() !== '');
    if (!first && line) first = { at: Date.now(), line: line.slice(0, 500) };
  });
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      state.exit = signal ? `signal ${signal}` : `code ${code}`;
      resolve();
    }),
  );
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (state.exit) throw new Error(`worker exited before it was ready (${state.exit}): ${stderr.slice(-2000)}`);
    if (await ready(stdout)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`worker not ready within ${timeoutMs} ms: ${stderr.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    pid: child.pid as number,
    firstError: () => first,
    stderrTail: () => stderr,
    exited: () => state.exit,
    async stop(graceMs = 10_000) {
      process.removeListener('exit', killOnExit);
      if (state.exit) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
}
