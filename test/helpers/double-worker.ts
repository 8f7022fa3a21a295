/**
 * Starts test/e2e/fixtures/double-worker.ts (the real workflow with recording activity doubles)
 * as a child process, so tests can SIGKILL a worker for real. Resolves once the worker polls.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { startDevServer, type TestDevServer } from './temporal';

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

/** One activity call as the fixture appends it to CALLS_FILE. */
export interface RecordedCall {
  activity: string;
  weight?: number;
  /** The worker process that ran it. */
  pid: number;
  at: number;
}

/** The calls recorded in `file` so far, in order; none while the file does not exist yet. */
export function readRecordedCalls(file: string): RecordedCall[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RecordedCall);
}

/** Polls `fn` every 100 ms until it is true; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, fn: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A dev server with a connected client, for tests that run double workers against it. */
export interface DoubleWorkerWorld {
  readonly server: TestDevServer;
  readonly client: Client;
  /** Starts a double worker on this server (TEMPORAL_ADDRESS is set); it is SIGKILLed after the file. */
  startWorker(env: Record<string, string>): Promise<ChildProcess>;
  /** A fresh CALLS_FILE path in its own dir under the server's temp dir. */
  newCallsFile(): string;
}

/**
 * Registers `before`/`after` hooks for the calling test file: starts a real dev server and connects
 * a client before the tests; afterwards kills every worker started through the world, closes the
 * connection and tears the server down. Read the fields inside tests, not at module load.
 */
export function useDoubleWorkerWorld(): DoubleWorkerWorld {
  let server: TestDevServer | undefined;
  let connection: Connection | undefined;
  let client: Client | undefined;
  const workers: ChildProcess[] = [];
  before(async () => {
    server = await startDevServer();
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection });
  });
  after(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await connection?.close();
    await server?.teardown();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the dev server is not started yet: use the world inside tests');
    return value;
  };
  return {
    get server() {
      return started(server);
    },
    get client() {
      return started(client);
    },
    async startWorker(env) {
      const child = await startDoubleWorker({ TEMPORAL_ADDRESS: started(server).address, ...env });
      workers.push(child);
      return child;
    },
    newCallsFile() {
      const dir = fs.mkdtempSync(path.join(started(server).dir, 'calls-'));
      return path.join(dir, 'calls.jsonl');
    },
  };
}
