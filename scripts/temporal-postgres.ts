/**
 * A real Temporal server (not the dev server) on a private PostgreSQL instance, all on 127.0.0.1:
 *
 * 1. PostgreSQL (Debian's `/usr/lib/postgresql/<v>/bin`, or PHOENIX_POSTGRES_BIN_DIR): `initdb`
 *    into `<dir>/postgres` as the `postgres` user when we are root (PostgreSQL refuses to run as
 *    root), a random superuser password, TCP on 127.0.0.1 only, its unix socket in the private dir.
 * 2. The schema, with `temporal-sql-tool --plugin postgres12`: create, setup-schema -v 0.0,
 *    update-schema from the versioned dirs, for `temporal` and `temporal_visibility`.
 * 3. `temporal-server start` with a config generated from the module's development-postgres12.yaml,
 *    every listener on 127.0.0.1 on ports chosen here, then the namespace and Phoenix's search
 *    attributes through the gRPC API (SQL visibility registers custom attributes per namespace).
 *
 * Binaries come from scripts/provision.ts. Used by test/helpers/temporal-postgres.ts (attached:
 * children die with this process) and the stack's `--temporal postgres` (detached, with pid files).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal as proto } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../workflows/contract';
import { ensureTemporalPostgresSchema, ensureTemporalServer, ensureTemporalSqlTool, isExecutableFile } from './provision';
import { runCommand } from './run-command';
import { checkFrontend, freePorts } from './temporal-server';

const HOST = '127.0.0.1';
const OUTPUT_LIMIT = 64 * 1024;
const STOP_GRACE_MS = 10_000;

/** Thrown when PostgreSQL, the schema or the Temporal server cannot be set up; the message says which. */
export class PostgresTemporalError extends Error {
  override readonly name = 'PostgresTemporalError';
  constructor(
    message: string,
    /** Tail of the failing process's log, when there is one. */
    readonly output = '',
  ) {
    super(output ? `${message}\n--- output ---\n${output.slice(-4000)}` : message);
  }
}

/** Every port the setup listens on, all on 127.0.0.1. */
export interface PostgresTemporalPorts {
  postgres: number;
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
}

const PORT_NAMES: readonly (keyof PostgresTemporalPorts)[] = [
  'postgres',
  'frontend',
  'frontendHttp',
  'frontendMembership',
  'history',
  'historyMembership',
  'matching',
  'matchingMembership',
  'worker',
  'workerMembership',
];

/** Options of {@link startPostgresTemporal}. */
export interface PostgresTemporalOptions {
  /** State dir (database, config, logs); a fresh temp dir when omitted, and then removed by `stop()`. */
  dir?: string;
  /** Ports to use; the missing ones are chosen free. */
  ports?: Partial<PostgresTemporalPorts>;
  namespace?: string;
  /** Search attributes to register (name → type); default the project's SEARCH_ATTRIBUTES. */
  searchAttributes?: Readonly<Record<string, string>>;
  /** Survive this process (stack mode); pids go to `<dir>/pids/{postgres,temporal}.pid`. */
  detached?: boolean;
  /** Where the Temporal server's log goes; default `<dir>/logs/temporal.log`. */
  temporalLogFile?: string;
  /** Where PostgreSQL's log goes; default `<dir>/logs/postgres.log`. */
  postgresLogFile?: string;
  /** Pid file of the Temporal server; default `<dir>/pids/temporal.pid`. */
  temporalPidFile?: string;
  /** Pid file of PostgreSQL; default `<dir>/pids/postgres.pid`. */
  postgresPidFile?: string;
  /** Temporal's log level (debug, info, warn, error). */
  logLevel?: string;
  /** How long each of PostgreSQL and Temporal may take to become ready (ms). */
  startTimeoutMs?: number;
  /** Environment to read (PATH, PHOENIX_POSTGRES_BIN_DIR, provisioning variables). */
  env?: NodeJS.ProcessEnv;
}

/** A running PostgreSQL-backed Temporal server. */
export interface PostgresTemporalHandle {
  /** `127.0.0.1:PORT` of the frontend. */
  readonly address: string;
  readonly namespace: string;
  readonly dir: string;
  readonly ports: Readonly<PostgresTemporalPorts>;
  /** Pid of the current Temporal server process. */
  readonly temporalPid: number;
  readonly postgresPid: number;
  /** SIGKILLs the Temporal server (as a crash would) and starts it again on the same ports and database. */
  restart(): Promise<void>;
  /** Stops Temporal, then PostgreSQL; removes the dir when it was a temp dir made here. Safe to call twice. */
  stop(): Promise<void>;
  /** Recent output of the Temporal server, for failure messages. */
  output(): string;
}

/** Timings of the last start, for reports. */
export interface StartTimings {
  postgresMs: number;
  schemaMs: number;
  temporalMs: number;
}

/** The paths of a state dir. */
export function postgresTemporalPaths(dir: string) {
  return {
    dir,
    /** Owned by the postgres user; holds the data dir, the unix socket and the password file. */
    postgresRoot: path.join(dir, 'postgres'),
    postgresData: path.join(dir, 'postgres', 'data'),
    postgresPassword: path.join(dir, 'postgres', 'password'),
    /** `--root` of the Temporal server; it reads `config/development.yaml` below it. */
    temporalRoot: path.join(dir, 'temporal'),
    temporalConfig: path.join(dir, 'temporal', 'config', 'development.yaml'),
    dynamicConfig: path.join(dir, 'temporal', 'dynamicconfig.yaml'),
    ports: path.join(dir, 'ports.json'),
    logs: path.join(dir, 'logs'),
    pids: path.join(dir, 'pids'),
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** The directory holding `initdb`, `postgres`: PHOENIX_POSTGRES_BIN_DIR or the newest /usr/lib/postgresql/<v>/bin. */
export async function findPostgresBinDir(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const explicit = env.PHOENIX_POSTGRES_BIN_DIR?.trim();
  const candidates: string[] = [];
  if (explicit) candidates.push(explicit);
  else {
    const versions = await fs.readdir('/usr/lib/postgresql').catch(() => [] as string[]);
    versions.sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => path.join('/usr/lib/postgresql', v, 'bin')));
  }
  for (const dir of candidates) {
    if ((await isExecutableFile(path.join(dir, 'initdb'))) && (await isExecutableFile(path.join(dir, 'postgres')))) return dir;
  }
  throw new PostgresTemporalError(
    `PostgreSQL's \`initdb\` and \`postgres\` not found in ${explicit ? `PHOENIX_POSTGRES_BIN_DIR=${explicit}` : '/usr/lib/postgresql/*/bin'}: ` +
      'install Debian\'s `postgresql` package (`apt-get install postgresql`; scripts/system-deps.mjs does it as root) ' +
      'or set PHOENIX_POSTGRES_BIN_DIR',
  );
}

/** uid/gid to run PostgreSQL as: the `postgres` user when we are root (it refuses root), else ourselves. */
function postgresIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new PostgresTemporalError('running as root but there is no `postgres` user to run PostgreSQL as (Debian\'s postgresql package creates it)');
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** Makes `dir` (and what initdb needs) ready for the postgres user; returns the superuser password. */
async function preparePostgresRoot(paths: ReturnType<typeof postgresTemporalPaths>): Promise<string> {
  const who = postgresIdentity();
  await fs.mkdir(paths.postgresRoot, { recursive: true, mode: 0o700 });
  // The postgres user must be able to reach its own dir through ours.
  await fs.chmod(paths.dir, 0o711);
  const password = randomBytes(18).toString('base64url');
  await fs.writeFile(paths.postgresPassword, `${password}\n`, { mode: 0o600 });
  if (who) {
    await fs.chown(paths.postgresRoot, who.uid, who.gid);
    await fs.chown(paths.postgresPassword, who.uid, who.gid);
  }
  return password;
}

function spawnAsPostgres(
  command: string,
  args: string[],
  options: { stdio: ('ignore' | 'pipe' | number)[]; detached?: boolean },
): ChildProcess {
  const who = postgresIdentity();
  return spawn(command, args, {
    stdio: options.stdio,
    detached: options.detached ?? false,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
    ...(who ? { uid: who.uid, gid: who.gid } : {}),
  });
}

async function initdb(binDir: string, paths: ReturnType<typeof postgresTemporalPaths>): Promise<void> {
  const child = spawnAsPostgres(
    path.join(binDir, 'initdb'),
    [
      '-D',
      paths.postgresData,
      '-U',
      'postgres',
      `--pwfile=${paths.postgresPassword}`,
      '--auth=scram-sha-256',
      '-E',
      'UTF8',
      '--no-locale',
      // A test database: durability against power loss is not worth the fsyncs on a shared disk.
      '--no-sync',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const { code, output } = await collect(child);
  if (code !== '0') throw new PostgresTemporalError(`initdb -D ${paths.postgresData} failed (${code})`, output);
}

function collect(child: ChildProcess): Promise<{ code: string; output: string }> {
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-OUTPUT_LIMIT)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-OUTPUT_LIMIT)));
  return new Promise((resolve) => {
    child.once('error', (err) => resolve({ code: `spawn error: ${err.message}`, output }));
    child.once('close', (code, signal) => resolve({ code: signal ? `signal ${signal}` : String(code), output }));
  });
}

/** A process started here, with its exit observable. */
interface Running {
  readonly pid: number;
  readonly exited: Promise<string>;
  hasExited(): boolean;
  output(): Promise<string>;
  /** Sends `signal`, SIGKILL after the grace period; resolves once the process is gone. */
  stop(signal: NodeJS.Signals): Promise<void>;
}

async function launch(
  start: (stdio: ('ignore' | number)[]) => ChildProcess,
  what: string,
  logFile: string,
  detached: boolean,
  pidFile: string,
): Promise<Running> {
  await fs.mkdir(path.dirname(logFile), { recursive: true });
  await fs.mkdir(path.dirname(pidFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = start(['ignore', fd, fd]);
  } finally {
    closeSync(fd);
  }
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve(signal ? `signal ${signal}` : `exit code ${code}`);
    });
    child.once('error', (err) => {
      done = true;
      resolve(`spawn error: ${err.message}`);
    });
  });
  const output = async (): Promise<string> => (await fs.readFile(logFile, 'utf8').catch(() => '')).slice(-OUTPUT_LIMIT);
  if (child.pid === undefined) throw new PostgresTemporalError(`could not start ${what}: ${await exited}`, await output());
  const pid = child.pid;
  if (detached) child.unref();
  else {
    // An attached child must not outlive its owner (a test file that crashed before teardown).
    const killOnExit = (): void => void child.kill('SIGKILL');
    process.once('exit', killOnExit);
    void exited.then(() => process.removeListener('exit', killOnExit));
  }
  await fs.writeFile(pidFile, `${pid}\n`);
  return {
    pid,
    exited,
    hasExited: () => done,
    output,
    async stop(signal) {
      if (!done) {
        child.kill(signal);
        const grace = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(grace);
      }
      await fs.rm(pidFile, { force: true });
    },
  };
}

async function startPostgres(
  binDir: string,
  paths: ReturnType<typeof postgresTemporalPaths>,
  port: number,
  options: { detached: boolean; logFile: string; pidFile: string },
): Promise<Running> {
  return launch(
    (stdio) =>
      spawnAsPostgres(
        path.join(binDir, 'postgres'),
        [
          '-D',
          paths.postgresData,
          '-p',
          String(port),
          '-c',
          `listen_addresses=${HOST}`,
          // No socket in /var/run/postgresql (not ours, maybe not even there): ours sits in the private dir.
          '-c',
          `unix_socket_directories=${paths.postgresRoot}`,
          '-c',
          'fsync=off',
          '-c',
          'synchronous_commit=off',
          '-c',
          'full_page_writes=off',
          '-c',
          'max_connections=100',
        ],
        { stdio, detached: options.detached },
      ),
    'postgres',
    options.logFile,
    options.detached,
    options.pidFile,
  );
}

/** Waits until PostgreSQL accepts TCP connections and answers a startup packet. */
async function awaitPostgres(running: Running, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (running.hasExited()) throw new PostgresTemporalError(`postgres exited before accepting connections (${await running.exited})`, await running.output());
    // "ready to accept connections" is logged once the startup process finished recovery.
    if ((await running.output()).includes('ready to accept connections') && (await tcpOpen(port))) return;
    await sleep(100);
  }
  throw new PostgresTemporalError(`postgres on ${HOST}:${port} not ready after ${timeoutMs} ms`, await running.output());
}

// ---------------------------------------------------------------------------------------------
// schema

/** Creates both databases and brings their schema to the version shipped with the server. */
async function setupSchema(sqlTool: string, schemaDir: string, port: number, password: string, env: NodeJS.ProcessEnv): Promise<void> {
  const base = ['--plugin', 'postgres12', '--ep', HOST, '-p', String(port), '-u', 'postgres'];
  // The password travels in the environment (the tool reads SQL_PASSWORD), not on a command line.
  const toolEnv = { ...env, SQL_PASSWORD: password };
  const step = async (args: string[]): Promise<void> => {
    const result = await runCommand(sqlTool, [...base, ...args], { env: toolEnv, timeoutMs: 120_000 });
    if (result.code !== 0) throw new PostgresTemporalError(`temporal-sql-tool ${args.join(' ')} failed (exit ${result.code})`, result.stdout + result.stderr);
  };
  for (const [db, sub] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ] as const) {
    await step(['--db', db, 'create']);
    await step(['--db', db, 'setup-schema', '-v', '0.0']);
    await step(['--db', db, 'update-schema', '-d', path.join(schemaDir, sub, 'versioned')]);
  }
}

// ---------------------------------------------------------------------------------------------
// Temporal server

/**
 * The server config: the module's config/development-postgres12.yaml with our ports, our database
 * credentials, every listener on 127.0.0.1 and no pprof, metrics or archival listeners.
 */
export function temporalServerConfig(ports: PostgresTemporalPorts, password: string, dynamicConfigFile: string, logLevel = 'warn'): string {
  const store = (db: string, maxConns: number): string[] => [
    '      sql:',
    '        pluginName: "postgres12"',
    `        databaseName: "${db}"`,
    `        connectAddr: "${HOST}:${ports.postgres}"`,
    '        connectProtocol: "tcp"',
    '        user: "postgres"',
    `        password: "${password}"`,
    `        maxConns: ${maxConns}`,
    `        maxIdleConns: ${maxConns}`,
    '        maxConnLifetime: "1h"',
  ];
  const service = (name: string, grpc: number, membership: number, http?: number): string[] => [
    `  ${name}:`,
    '    rpc:',
    `      grpcPort: ${grpc}`,
    `      membershipPort: ${membership}`,
    '      bindOnIP: "127.0.0.1"',
    ...(http !== undefined ? [`      httpPort: ${http}`] : []),
  ];
  return [
    '# Generated by scripts/temporal-postgres.ts from go.temporal.io/server config/development-postgres12.yaml.',
    'log:',
    '  stdout: true',
    `  level: ${logLevel}`,
    '  format: json',
    'persistence:',
    '  defaultStore: postgres-default',
    '  visibilityStore: postgres-visibility',
    '  numHistoryShards: 4',
    '  datastores:',
    '    postgres-default:',
    ...store('temporal', 20),
    '    postgres-visibility:',
    ...store('temporal_visibility', 4),
    'global:',
    '  membership:',
    '    maxJoinDuration: 30s',
    `    broadcastAddress: "${HOST}"`,
    'services:',
    ...service('frontend', ports.frontend, ports.frontendMembership, ports.frontendHttp),
    ...service('matching', ports.matching, ports.matchingMembership),
    ...service('history', ports.history, ports.historyMembership),
    ...service('worker', ports.worker, ports.workerMembership),
    'clusterMetadata:',
    '  enableGlobalNamespace: false',
    '  failoverVersionIncrement: 10',
    '  masterClusterName: "active"',
    '  currentClusterName: "active"',
    '  clusterInformation:',
    '    active:',
    '      enabled: true',
    '      initialFailoverVersion: 1',
    '      rpcName: "frontend"',
    `      rpcAddress: "${HOST}:${ports.frontend}"`,
    `      httpAddress: "${HOST}:${ports.frontendHttp}"`,
    'dcRedirectionPolicy:',
    '  policy: "noop"',
    'dynamicConfigClient:',
    `  filepath: "${dynamicConfigFile}"`,
    '  pollInterval: "10s"',
    '',
  ].join('\n');
}

/**
 * Dynamic config: a 1 s namespace cache refresh, so a namespace or search attribute registered
 * after start is usable within a second instead of the default 10 s.
 */
export const DYNAMIC_CONFIG = [
  'system.namespaceCacheRefreshInterval:',
  '  - value: 1s',
  'limit.maxIDLength:',
  '  - value: 255',
  'frontend.enableExecuteMultiOperation:',
  '  - value: true',
  '',
].join('\n');

function startTemporalProcess(
  serverBin: string,
  paths: ReturnType<typeof postgresTemporalPaths>,
  options: { detached: boolean; logFile: string; pidFile: string; env: NodeJS.ProcessEnv },
): Promise<Running> {
  return launch(
    (stdio) =>
      spawn(serverBin, ['--root', paths.temporalRoot, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'], {
        stdio,
        detached: options.detached,
        // Only what a Go program needs: the server must not see the caller's secrets, nor read
        // TEMPORAL_* settings meant for clients.
        env: pickEnv(options.env, ['PATH', 'HOME', 'LANG', 'TZ']),
      }),
    'temporal-server',
    options.logFile,
    options.detached,
    options.pidFile,
  );
}

const INDEXED_VALUE_TYPES: Record<string, proto.api.enums.v1.IndexedValueType> = {
  Text: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  Keyword: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  Double: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  Bool: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  Datetime: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KeywordList: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** gRPC status codes the setup tolerates. */
const ALREADY_EXISTS = 6;

/**
 * Creates `namespace` if missing and registers the search attributes the server lacks. Idempotent,
 * so a restarted server (same database) goes through it as a no-op.
 */
async function ensureNamespace(address: string, namespace: string, attributes: Readonly<Record<string, string>>): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 });
  try {
    const service = connection.workflowService;
    try {
      await service.describeNamespace({ namespace });
    } catch {
      try {
        await service.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
      } catch (err) {
        if ((err as { code?: number }).code !== ALREADY_EXISTS) throw err;
      }
    }
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = Object.entries(attributes).filter(([name]) => !(customAttributes && name in customAttributes));
    if (missing.length === 0) return;
    const searchAttributes: Record<string, proto.api.enums.v1.IndexedValueType> = {};
    for (const [name, type] of missing) {
      const indexed = INDEXED_VALUE_TYPES[type];
      if (indexed === undefined) throw new TypeError(`search attribute ${name}: unknown type ${type}`);
      searchAttributes[name] = indexed;
    }
    try {
      await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
    } catch (err) {
      if ((err as { code?: number }).code !== ALREADY_EXISTS) throw err;
    }
  } finally {
    await connection.close();
  }
}

async function awaitTemporal(
  running: Running,
  address: string,
  namespace: string,
  attributes: Readonly<Record<string, string>>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not tried yet';
  while (Date.now() < deadline) {
    if (running.hasExited()) {
      throw new PostgresTemporalError(`temporal-server exited before serving (${await running.exited})`, await running.output());
    }
    try {
      if (await tcpOpen(Number(address.slice(address.lastIndexOf(':') + 1)))) {
        await ensureNamespace(address, namespace, attributes);
        await checkFrontend(address, namespace, Object.keys(attributes));
        return;
      }
      last = `nothing listening on ${address}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await Promise.race([sleep(200), running.exited]);
  }
  throw new PostgresTemporalError(`temporal-server on ${address} not serving after ${timeoutMs} ms: ${last}`, await running.output());
}

// ---------------------------------------------------------------------------------------------
// the whole setup

let lastTimings: StartTimings | undefined;

/** How long the parts of the last {@link startPostgresTemporal} in this process took. */
export function lastStartTimings(): StartTimings | undefined {
  return lastTimings;
}

/**
 * Starts PostgreSQL, sets up the schema (first start of a dir only) and starts the Temporal server;
 * resolves once the namespace and search attributes are usable. A dir that already holds a database
 * is reused with its ports (`ports.json`), so a stack brought down and up keeps its rollouts.
 */
export async function startPostgresTemporal(options: PostgresTemporalOptions = {}): Promise<PostgresTemporalHandle> {
  const env = options.env ?? process.env;
  // Looked up first, so a missing binary fails in well under a second, naming it.
  const binDir = await findPostgresBinDir(env);
  const [serverBin, sqlTool, schemaDir] = [await ensureTemporalServer({ env }), await ensureTemporalSqlTool({ env }), await ensureTemporalPostgresSchema({ env })];
  const ownDir = options.dir === undefined;
  const dir = options.dir !== undefined ? path.resolve(options.dir) : await fs.mkdtemp(path.join(os.tmpdir(), 'phoenix-pg-temporal-'));
  const paths = postgresTemporalPaths(dir);
  const detached = options.detached ?? false;
  const namespace = options.namespace ?? 'default';
  const attributes = options.searchAttributes ?? SEARCH_ATTRIBUTES;
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const logs = {
    temporal: options.temporalLogFile ?? path.join(paths.logs, 'temporal.log'),
    postgres: options.postgresLogFile ?? path.join(paths.logs, 'postgres.log'),
  };
  const pidFiles = {
    temporal: options.temporalPidFile ?? path.join(paths.pids, 'temporal.pid'),
    postgres: options.postgresPidFile ?? path.join(paths.pids, 'postgres.pid'),
  };
  let postgres: Running | undefined;
  let server: Running | undefined;
  const cleanUp = async (): Promise<void> => {
    await server?.stop('SIGKILL');
    await postgres?.stop('SIGINT');
    if (ownDir) await fs.rm(dir, { recursive: true, force: true });
  };
  // A test process that dies before stop() leaves no database behind in /tmp (its children are SIGKILLed on exit too).
  const removeOnExit = (): void => rmSync(dir, { recursive: true, force: true });
  if (ownDir && !detached) process.once('exit', removeOnExit);
  try {
    await fs.mkdir(dir, { recursive: true });
    const fresh = !(await exists(path.join(paths.postgresData, 'PG_VERSION')));
    const ports = fresh ? await choosePorts(options.ports) : await readPorts(paths.ports, options.ports);
    await fs.writeFile(paths.ports, `${JSON.stringify(ports, null, 2)}\n`);
    let password: string;
    const started = Date.now();
    if (fresh) {
      password = await preparePostgresRoot(paths);
      await initdb(binDir, paths);
    } else {
      password = (await fs.readFile(paths.postgresPassword, 'utf8')).trim();
    }
    postgres = await startPostgres(binDir, paths, ports.postgres, { detached, logFile: logs.postgres, pidFile: pidFiles.postgres });
    await awaitPostgres(postgres, ports.postgres, timeoutMs);
    const postgresMs = Date.now() - started;
    const schemaStarted = Date.now();
    if (fresh) await setupSchema(sqlTool, schemaDir, ports.postgres, password, env);
    const schemaMs = Date.now() - schemaStarted;

    await fs.mkdir(path.dirname(paths.temporalConfig), { recursive: true });
    await fs.writeFile(paths.temporalConfig, temporalServerConfig(ports, password, paths.dynamicConfig, options.logLevel), { mode: 0o600 });
    await fs.writeFile(paths.dynamicConfig, DYNAMIC_CONFIG);
    const address = `${HOST}:${ports.frontend}`;
    const launchServer = async (): Promise<Running> => {
      const running = await startTemporalProcess(serverBin, paths, { detached, logFile: logs.temporal, pidFile: pidFiles.temporal, env });
      server = running;
      await awaitTemporal(running, address, namespace, attributes, timeoutMs);
      return running;
    };
    const temporalStarted = Date.now();
    let current = await launchServer();
    lastTimings = { postgresMs, schemaMs, temporalMs: Date.now() - temporalStarted };
    const pg = postgres;
    let stopped = false;
    return {
      address,
      namespace,
      dir,
      ports,
      get temporalPid() {
        return current.pid;
      },
      postgresPid: pg.pid,
      async restart() {
        await current.stop('SIGKILL');
        current = await launchServer();
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await current.stop('SIGTERM');
        // SIGINT is PostgreSQL's fast shutdown: clients are disconnected, no waiting for them.
        await pg.stop('SIGINT');
        if (ownDir) await fs.rm(dir, { recursive: true, force: true });
        process.removeListener('exit', removeOnExit);
      },
      output: () => readFileSync(logs.temporal, 'utf8').slice(-OUTPUT_LIMIT),
    };
  } catch (err) {
    await cleanUp().catch(() => {});
    process.removeListener('exit', removeOnExit);
    throw err;
  }
}

/**
 * Stops a detached setup by its pid files: Temporal (SIGTERM), then PostgreSQL (SIGINT, its fast
 * shutdown), each SIGKILLed after a grace period. Returns the pids it stopped.
 */
export async function stopDetachedPostgresTemporal(pidFiles: { temporal: string; postgres: string }): Promise<{ temporal?: number; postgres?: number }> {
  const temporal = await stopPid(pidFiles.temporal, 'SIGTERM');
  const postgres = await stopPid(pidFiles.postgres, 'SIGINT');
  return { ...(temporal !== undefined ? { temporal } : {}), ...(postgres !== undefined ? { postgres } : {}) };
}

async function stopPid(pidFile: string, signal: NodeJS.Signals): Promise<number | undefined> {
  const pid = Number.parseInt(await fs.readFile(pidFile, 'utf8').catch(() => ''), 10);
  await fs.rm(pidFile, { force: true }).catch(() => {});
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
  process.kill(pid, signal);
  const deadline = Date.now() + STOP_GRACE_MS;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(50);
  return pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Temporal stores membership ports in a PostgreSQL smallint: they must be below 32768, under the OS's ephemeral range. */
const MEMBERSHIP_PORTS: readonly (keyof PostgresTemporalPorts)[] = ['frontendMembership', 'historyMembership', 'matchingMembership', 'workerMembership'];
const LOW_PORT_RANGE = [20_000, 32_000] as const;

async function choosePorts(given: Partial<PostgresTemporalPorts> = {}): Promise<PostgresTemporalPorts> {
  const taken = Object.values(given).filter((p): p is number => typeof p === 'number');
  const missing = PORT_NAMES.filter((name) => given[name] === undefined);
  const high = missing.filter((name) => !MEMBERSHIP_PORTS.includes(name));
  const low = missing.filter((name) => MEMBERSHIP_PORTS.includes(name));
  const freeHigh = await freePorts(high.length, HOST, taken);
  const freeLow = await freeLowPorts(low.length, [...taken, ...freeHigh]);
  const ports = { ...given } as PostgresTemporalPorts;
  for (const [i, name] of high.entries()) ports[name] = freeHigh[i] as number;
  for (const [i, name] of low.entries()) ports[name] = freeLow[i] as number;
  for (const name of MEMBERSHIP_PORTS) {
    if (ports[name] > 32_767) throw new PostgresTemporalError(`${name} port ${ports[name]} is above 32767, which Temporal's membership table cannot store`);
  }
  return ports;
}

/** `count` distinct ports in {@link LOW_PORT_RANGE} that can be bound on 127.0.0.1 now, held open together while chosen. */
async function freeLowPorts(count: number, exclude: number[]): Promise<number[]> {
  const held: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let attempt = 0; ports.length < count; attempt++) {
      if (attempt > 200) throw new PostgresTemporalError(`no ${count} free ports between ${LOW_PORT_RANGE[0]} and ${LOW_PORT_RANGE[1]} on ${HOST}`);
      const port = LOW_PORT_RANGE[0] + Math.floor(Math.random() * (LOW_PORT_RANGE[1] - LOW_PORT_RANGE[0]));
      if (exclude.includes(port) || ports.includes(port)) continue;
      const server = net.createServer();
      const bound = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, HOST, () => resolve(true));
      });
      if (!bound) continue;
      held.push(server);
      ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

async function readPorts(file: string, given: Partial<PostgresTemporalPorts> = {}): Promise<PostgresTemporalPorts> {
  const saved = JSON.parse(await fs.readFile(file, 'utf8').catch(() => '{}')) as Partial<PostgresTemporalPorts>;
  // The database remembers nothing about ports but membership rows expire; new given ports win.
  return choosePorts({ ...saved, ...given });
}

function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function pickEnv(env: NodeJS.ProcessEnv, names: readonly string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(names.flatMap((name) => (env[name] !== undefined ? [[name, env[name]]] : [])));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
