/**
 * Starts test/e2e/fixtures/double-worker.ts (the real workflow with recording activity doubles)
 * as a child process, so tests can SIGKILL a worker for real. Resolves once the worker polls.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const FIXTURE = path.join(__dirname, '..', 'e2e', 'fixtures', 'double-worker.ts');

/**
 * `env` reaches the fixture: TEMPORAL_ADDRESS, TASK_QUEUE, CALLS_FILE and the fixture's optional
 * SDK_METRICS_ADDR / FAKE_METRICS.
 */
export function startDoubleWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('worker ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited early (${code}): ${stderr.slice(-2000)}`)));
  });
}
