/**
 * Runs a program for the provisioning scripts (Go, Maven, pip, apt-get): output captured (the last
 * MiB of each stream), optionally relayed line by line, and a timeout that stops it (SIGTERM,
 * then SIGKILL) and says so in stderr.
 */
import { spawn } from 'node:child_process';

/** How a run ended. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Options of {@link runCommand}. */
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Stop the program after this long (ms); no limit when absent. */
  timeoutMs?: number;
  /** Each non-empty output line, ANSI colours removed (Maven prints them even in batch mode). */
  onOutput?: (line: string) => void;
}

const KEEP_BYTES = 1 << 20;

/** Runs `command`; rejects only when it cannot be started (ENOENT, EACCES). */
export function runCommand(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const relay = (chunk: Buffer): void => {
      if (!options.onOutput) return;
      for (const raw of chunk.toString().split('\n')) {
        // eslint-disable-next-line no-control-regex -- ANSI colour codes start with ESC; matching it is the point
        const line = raw.replace(/\x1b\[[0-9;]*m/g, '').trim();
        if (line) options.onOutput(line);
      }
    };
    child.stdout.on('data', (chunk: Buffer) => {
      stdout = (stdout + chunk.toString()).slice(-KEEP_BYTES);
      relay(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-KEEP_BYTES);
      relay(chunk);
    });
    let killer: NodeJS.Timeout | undefined;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            stderr += `\ntimed out after ${options.timeoutMs}ms`;
            child.kill('SIGTERM');
            killer = setTimeout(() => child.kill('SIGKILL'), 3_000);
          }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(killer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}
