/**
 * Starts and stops a real `temporal server start-dev` as a child process, with the project's custom
 * search attributes registered, bound to 127.0.0.1, optionally persisted to a SQLite file so it
 * survives restarts. Used by e2e tests (test/helpers/temporal.ts) and the demo stack (detached mode).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/contract';
import { ensureTemporalCli } from './provision';

/** Options of {@link startTemporalDevServer}. */
export interface DevServerOptions {
  /** Frontend gRPC port. */
  port: number;
  /** Web UI port; omit (or null) to run headless. */
  uiPort?: number | null;
  /**
   * HTTP API and metrics ports. When omitted they are chosen here, together with the others: the
   * CLI's own "random free port" can pick the very port just chosen for the UI, and then fails.
   */
  httpPort?: number;
  metricsPort?: number;
  /** SQLite file for persistence across restarts; omit for an in-memory server. */
  dbFile?: string;
  /** Namespace to create at start (`default` always exists). */
  namespace?: string;
  /** Bind address of frontend and UI. */
  ip?: string;
  /** Server log level: debug, info, warn, error, never. */
  logLevel?: string;
  /** Search attributes to register (name → type); default the project's SEARCH_ATTRIBUTES. */
  searchAttributes?: Readonly<Record<string, string>>;
  /** Path of the `temporal` CLI; default from ensureTemporalCli(). */
  cliPath?: string;
  /** How long to wait for the frontend to accept calls (ms). */
  startTimeoutMs?: number;
  /**
   * Run in its own process group, survive this process, and write the pid to `pidFile`
   * (for `npm run stack:up`). Output goes to `logFile` (required then).
   */
  detached?: boolean;
  pidFile?: string;
  /** Where server stdout/stderr go; without it and not detached, output is kept in memory (last 64 KiB). */
  logFile?: string;
}

/** A running dev server. */
export interface DevServerHandle {
  /** `127.0.0.1:PORT`, ready for `Connection.connect({ address })`. */
  readonly address: string;
  /** `http://127.0.0.1:UIPORT`, or null when headless. */
  readonly uiUrl: string | null;
  readonly namespace: string;
  /** Pid of the current server process. */
  readonly pid: number;
  /** Graceful stop (SIGTERM, then SIGKILL after a grace period); resolves once the process exited. */
  stop(): Promise<void>;
  /** Hard kill (SIGKILL), as a crash would; resolves once the process exited. */
  kill(): Promise<void>;
  /** Stops (gracefully) and starts again with the same options, ports and db file. */
  restart(): Promise<void>;
  /** The server's recent output, for failure messages. */
  output(): string;
}

/** Thrown when the dev server exits early or does not become ready in time. */
export class DevServerError extends Error {
  override readonly name = 'DevServerError';
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(output ? `${message}\n--- server output ---\n${output.slice(-4000)}` : message);
  }
}

const OUTPUT_LIMIT = 64 * 1024;
const STOP_GRACE_MS = 10_000;

/** Builds the `temporal server start-dev` argument list for `options` (exported for tests). */
export function devServerArgs(options: DevServerOptions): string[] {
  const ip = options.ip ?? '127.0.0.1';
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(options.port)];
  if (options.uiPort === undefined || options.uiPort === null) args.push('--headless');
  else args.push('--ui-port', String(options.uiPort), '--ui-ip', ip);
  if (options.httpPort !== undefined) args.push('--http-port', String(options.httpPort));
  if (options.metricsPort !== undefined) args.push('--metrics-port', String(options.metricsPort));
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  const namespace = options.namespace ?? 'default';
  if (namespace !== 'default') args.push('--namespace', namespace);
  for (const [name, type] of Object.entries(options.searchAttributes ?? SEARCH_ATTRIBUTES)) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  args.push('--log-level', options.logLevel ?? 'warn', '--log-format', 'json');
  return args;
}

function validate(options: DevServerOptions): void {
  const isPort = (value: unknown): boolean => Number.isInteger(value) && (value as number) > 0 && (value as number) < 65536;
  if (!isPort(options.port)) throw new TypeError(`port must be an integer in 1..65535, got ${String(options.port)}`);
  if (options.uiPort !== undefined && options.uiPort !== null && !isPort(options.uiPort)) {
    throw new TypeError(`uiPort must be an integer in 1..65535 or null, got ${String(options.uiPort)}`);
  }
  if (options.detached && !options.logFile) throw new TypeError('logFile is required when detached is true');
}

/**
 * Starts `temporal server start-dev` and resolves once the frontend answers and the search attributes
 * are registered. Rejects with {@link DevServerError} (including the server's output) otherwise.
 */
export async function startTemporalDevServer(requested: DevServerOptions): Promise<DevServerHandle> {
  validate(requested);
  const autoPorts = requested.httpPort === undefined || requested.metricsPort === undefined;
  for (let attempt = 1; ; attempt++) {
    const options = await withAuxiliaryPorts(requested);
    try {
      return await startWithPorts(options);
    } catch (err) {
      // Ports picked here can be taken by someone else before the server binds them: pick again.
      const raced = err instanceof DevServerError && /address already in use/.test(err.output);
      if (!autoPorts || !raced || attempt >= 3) throw err;
    }
  }
}

/** Fills in free HTTP API and metrics ports that differ from the frontend and UI ports. */
async function withAuxiliaryPorts(options: DevServerOptions): Promise<DevServerOptions> {
  if (options.httpPort !== undefined && options.metricsPort !== undefined) return options;
  const taken = [options.port, options.uiPort].filter((p): p is number => typeof p === 'number');
  const [httpPort, metricsPort] = await freePorts(2, options.ip ?? '127.0.0.1', taken);
  return { ...options, httpPort: options.httpPort ?? httpPort, metricsPort: options.metricsPort ?? metricsPort };
}

async function startWithPorts(options: DevServerOptions): Promise<DevServerHandle> {
  const cliPath = options.cliPath ?? (await ensureTemporalCli());
  const ip = options.ip ?? '127.0.0.1';
  const namespace = options.namespace ?? 'default';
  const address = `${ip}:${options.port}`;
  const uiUrl = options.uiPort === undefined || options.uiPort === null ? null : `http://${ip}:${options.uiPort}`;
  const args = devServerArgs(options);
  // Without this, readiness checks would happily talk to whatever server already owns the port.
  for (const port of [options.port, options.uiPort]) {
    if (typeof port === 'number' && (await portOpen(`${ip}:${port}`))) {
      throw new DevServerError(`cannot start temporal server start-dev: port ${port} on ${ip} is already in use`, '');
    }
  }

  let current: Running = await launch(cliPath, args, options);
  await awaitReady(current, address, namespace, Object.keys(options.searchAttributes ?? SEARCH_ATTRIBUTES), options);

  const handle: DevServerHandle = {
    address,
    uiUrl,
    namespace,
    get pid() {
      return current.pid;
    },
    stop: () => current.stop('SIGTERM'),
    kill: () => current.stop('SIGKILL'),
    async restart() {
      await current.stop('SIGTERM');
      await waitPortFree(address);
      current = await launch(cliPath, args, options);
      await awaitReady(current, address, namespace, Object.keys(options.searchAttributes ?? SEARCH_ATTRIBUTES), options);
    },
    output: () => current.output(),
  };
  return handle;
}

interface Running {
  pid: number;
  /** Resolves with the exit code/signal when the process ends. */
  exited: Promise<string>;
  hasExited(): boolean;
  stop(signal: NodeJS.Signals): Promise<void>;
  output(): string;
}

async function launch(cliPath: string, args: string[], options: DevServerOptions): Promise<Running> {
  let buffer = '';
  let child: ChildProcess;
  let logFd: number | undefined;
  if (options.logFile) {
    await fs.mkdir(path.dirname(options.logFile), { recursive: true });
    logFd = openSync(options.logFile, 'a');
  }
  try {
    child = spawn(cliPath, args, {
      detached: options.detached ?? false,
      stdio: ['ignore', logFd ?? 'pipe', logFd ?? 'pipe'],
    });
  } finally {
    if (logFd !== undefined) closeSync(logFd);
  }
  const keep = (chunk: Buffer): void => {
    buffer = (buffer + chunk.toString()).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exitedFlag = false;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedFlag = true;
      resolve(signal ? `signal ${signal}` : `exit code ${code}`);
    });
    child.once('error', (err) => {
      exitedFlag = true;
      buffer += `\n${err.message}`;
      resolve(`spawn error: ${err.message}`);
    });
  });
  if (child.pid === undefined) {
    const why = await exited;
    throw new DevServerError(`could not start ${cliPath}: ${why}`, buffer);
  }
  const pid = child.pid;
  if (!options.detached) {
    // An attached server must not outlive its owner (e.g. a test file that crashed before teardown).
    const killOnExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    void exited.then(() => process.removeListener('exit', killOnExit));
  }
  if (options.detached) {
    child.unref();
    if (options.pidFile) {
      await fs.mkdir(path.dirname(options.pidFile), { recursive: true });
      await fs.writeFile(options.pidFile, `${pid}\n`);
    }
  }
  const readOutput = async (): Promise<string> =>
    options.logFile ? (await fs.readFile(options.logFile, 'utf8').catch(() => '')).slice(-OUTPUT_LIMIT) : buffer;
  let lastFileOutput = '';
  return {
    pid,
    exited,
    hasExited: () => exitedFlag,
    output: () => (options.logFile ? lastFileOutput : buffer),
    async stop(signal) {
      if (!exitedFlag) {
        child.kill(signal);
        const grace = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(grace);
      }
      lastFileOutput = await readOutput();
      if (options.pidFile) await fs.rm(options.pidFile, { force: true });
    },
  };
}

async function awaitReady(
  running: Running,
  address: string,
  namespace: string,
  attributes: string[],
  options: DevServerOptions,
): Promise<void> {
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  let lastError = 'not tried yet';
  while (Date.now() < deadline) {
    if (running.hasExited()) {
      const why = await running.exited;
      await running.stop('SIGKILL');
      throw new DevServerError(`temporal server start-dev exited before becoming ready (${why})`, running.output());
    }
    try {
      if (await portOpen(address)) {
        await checkFrontend(address, namespace, attributes);
        return;
      }
      lastError = `nothing listening on ${address}`;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 250)), running.exited]);
  }
  await running.stop('SIGKILL');
  throw new DevServerError(
    `temporal server start-dev on ${address} not ready after ${options.startTimeoutMs ?? 60_000}ms: ${lastError}`,
    running.output(),
  );
}

function portOpen(address: string): Promise<boolean> {
  const { host, port } = splitAddress(address);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A stopped server's port can linger briefly; starting too early would hit the check above. */
async function waitPortFree(address: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await portOpen(address)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
}

function splitAddress(address: string): { host: string; port: number } {
  const index = address.lastIndexOf(':');
  return { host: address.slice(0, index), port: Number(address.slice(index + 1)) };
}

/** Ready means: the namespace exists and our search attributes are registered on it. */
export async function checkFrontend(address: string, namespace: string, attributes: string[]): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 });
  try {
    await connection.workflowService.describeNamespace({ namespace });
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = attributes.filter((name) => !(customAttributes && name in customAttributes));
    if (missing.length > 0) throw new Error(`search attributes not registered yet: ${missing.join(', ')}`);
  } finally {
    await connection.close();
  }
}

/** Waits until a server is ready at `address` (e.g. one started detached by another process). */
export async function waitForDevServer(
  address: string,
  options: { namespace?: string; timeoutMs?: number; searchAttributes?: Readonly<Record<string, string>> } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      await checkFrontend(address, options.namespace ?? 'default', Object.keys(options.searchAttributes ?? SEARCH_ATTRIBUTES));
      return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new DevServerError(`Temporal at ${address} not ready: ${lastError}`, '');
}

/**
 * Stops a detached server by its pid file (SIGTERM, SIGKILL after a grace period) and removes the file.
 * Returns false when no server was running.
 */
export async function stopDetachedDevServer(pidFile: string, graceMs = STOP_GRACE_MS): Promise<boolean> {
  const text = await fs.readFile(pidFile, 'utf8').catch(() => '');
  const pid = Number.parseInt(text, 10);
  if (!Number.isInteger(pid) || pid <= 0) {
    await fs.rm(pidFile, { force: true });
    return false;
  }
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) {
    await fs.rm(pidFile, { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (alive()) process.kill(pid, 'SIGKILL');
  while (alive()) await new Promise((resolve) => setTimeout(resolve, 50));
  await fs.rm(pidFile, { force: true });
  return true;
}

/**
 * Asks the OS for `count` distinct free TCP ports on `host`, none of them in `exclude`: all are held
 * open at once, so they cannot repeat each other.
 */
export async function freePorts(count: number, host = '127.0.0.1', exclude: number[] = []): Promise<number[]> {
  const held: net.Server[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < count) {
      const server = net.createServer();
      server.unref();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => resolve());
      });
      held.push(server);
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      if (!exclude.includes(port)) ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** Asks the OS for a free TCP port on `host` (listen on 0, read it, close). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
