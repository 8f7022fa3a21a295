/**
 * The parts of the demo stack: how each is started (detached), probed for readiness, found
 * running, and stopped. The order of {@link STACK_PARTS} is the start order; `down` reverses it.
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import {
  childEnv,
  isInstanceRunning,
  readInstanceState,
  startInstance,
  stateFileFor,
  stopInstance,
} from '../../activities/platform';
import { Connection } from '@temporalio/client';
import { TASK_QUEUE } from '../../workflows/contract';
import { postgresTemporalPaths, startPostgresTemporal, stopDetachedPostgresTemporal } from '../temporal-postgres';
import { startTemporalDevServer, stopDetachedDevServer, waitForDevServer } from '../temporal-server';
import type { StackBinaries } from './binaries';
import { REPO_ROOT, type StackConfig, type StackPaths } from './config';
import { DEMO_ADMIN_TOKEN_ENV, DEMO_PASS_ENV } from './demo-spec';
import { launchDetached, runningPid, stopByPidFile } from './processes';
import { haproxyCommand, httpOk, tcpOpen } from './readiness';

/** Everything a part needs to act. */
export interface StackContext {
  config: StackConfig;
  paths: StackPaths;
  /** Resolved lazily: `down` and `status` must work without the binaries installed. */
  binaries: () => StackBinaries;
  env: NodeJS.ProcessEnv;
  /**
   * Admin token of the demo instances (`up` picks it; `down` and `status` need none). The stable
   * instance gets it directly, the canary through the worker's environment and the spec's passEnv.
   */
  demoAdminToken?: string;
}

/** One part of the stack. */
export interface StackPart {
  name: string;
  /** Later stages start after every part of earlier stages is ready. */
  stage: number;
  /** The port that must be free before starting (so a foreign listener is reported clearly). */
  port?: (ctx: StackContext) => number;
  enabled(ctx: StackContext): boolean;
  logFile(ctx: StackContext): string;
  /** Pid when running, else undefined. */
  running(ctx: StackContext): Promise<number | undefined>;
  start(ctx: StackContext): Promise<void>;
  /** One readiness probe; throws with the reason when not ready. */
  probe(ctx: StackContext): Promise<void>;
  readyTimeoutMs: number;
  /** Stops the part; returns the pid it stopped, undefined when it was not running. */
  stop(ctx: StackContext): Promise<number | undefined>;
}

const HOST = '127.0.0.1';
const NODE_TSX = [process.execPath, '--import', 'tsx'];

/** A part run by {@link launchDetached} and tracked by `<dir>/pids/<name>.pid`. */
function detachedPart(
  name: string,
  stage: number,
  def: {
    port?: (ctx: StackContext) => number;
    enabled?: (ctx: StackContext) => boolean;
    command: (ctx: StackContext) => { command: string; args: string[]; env?: NodeJS.ProcessEnv };
    probe: (ctx: StackContext) => Promise<void>;
    readyTimeoutMs?: number;
  },
): StackPart {
  return {
    name,
    stage,
    ...(def.port ? { port: def.port } : {}),
    enabled: def.enabled ?? (() => true),
    logFile: (ctx) => ctx.paths.logFile(name),
    running: (ctx) => runningPid(ctx.paths.pidFile(name)),
    async start(ctx) {
      const { command, args, env } = def.command(ctx);
      await launchDetached({
        command,
        args,
        cwd: REPO_ROOT,
        env: env ?? ctx.env,
        pidFile: ctx.paths.pidFile(name),
        logFile: ctx.paths.logFile(name),
      });
    },
    probe: def.probe,
    readyTimeoutMs: def.readyTimeoutMs ?? 30_000,
    stop: (ctx) => stopByPidFile(ctx.paths.pidFile(name)),
  };
}

/** The pid files of `--temporal postgres`: the server shares the dev server's, PostgreSQL has its own. */
const postgresPidFiles = (ctx: StackContext) => ({ temporal: ctx.paths.pidFile('temporal'), postgres: ctx.paths.pidFile('postgres') });

const temporal: StackPart = {
  name: 'temporal',
  stage: 1,
  port: (ctx) => ctx.config.ports.temporal,
  enabled: () => true,
  logFile: (ctx) => ctx.paths.logFile('temporal'),
  running: (ctx) => runningPid(ctx.paths.pidFile('temporal')),
  async start(ctx) {
    if (ctx.config.temporal === 'postgres') {
      // Starts PostgreSQL (schema on first use) and the server, and waits for the namespace and search attributes.
      await startPostgresTemporal({
        dir: ctx.paths.temporalPostgres,
        ports: { frontend: ctx.config.ports.temporal },
        detached: true,
        temporalLogFile: ctx.paths.logFile('temporal'),
        postgresLogFile: ctx.paths.logFile('postgres'),
        temporalPidFile: ctx.paths.pidFile('temporal'),
        postgresPidFile: ctx.paths.pidFile('postgres'),
        startTimeoutMs: 90_000,
        env: ctx.env,
      });
      return;
    }
    // Waits for the frontend and the search attributes itself.
    await startTemporalDevServer({
      port: ctx.config.ports.temporal,
      uiPort: ctx.config.ports.temporalUi,
      dbFile: ctx.paths.temporalDb,
      ip: HOST,
      detached: true,
      pidFile: ctx.paths.pidFile('temporal'),
      logFile: ctx.paths.logFile('temporal'),
      startTimeoutMs: 90_000,
    });
  },
  async probe(ctx) {
    await waitForDevServer(`${HOST}:${ctx.config.ports.temporal}`, { timeoutMs: 2_000 });
    // The UI comes with the dev server only.
    if (ctx.config.temporal === 'dev') await httpOk(`http://${HOST}:${ctx.config.ports.temporalUi}/`);
  },
  readyTimeoutMs: 90_000,
  stop: async (ctx) => {
    const pid = await runningPid(ctx.paths.pidFile('temporal'));
    await stopDetachedDevServer(ctx.paths.pidFile('temporal'));
    return pid;
  },
};

/**
 * PostgreSQL under `--temporal postgres`: started by the temporal part (it owns the schema and the
 * server config), listed here so `status` shows it and `down` stops it after the server, whatever
 * `--temporal` says then.
 */
const postgres: StackPart = {
  name: 'postgres',
  stage: 2,
  enabled: (ctx) => ctx.config.temporal === 'postgres',
  logFile: (ctx) => ctx.paths.logFile('postgres'),
  running: (ctx) => runningPid(ctx.paths.pidFile('postgres')),
  async start() {
    throw new Error('PostgreSQL is started with the Temporal server: run stack:down, then stack:up --temporal postgres');
  },
  probe: async (ctx) => {
    const { ports } = postgresTemporalPaths(ctx.paths.temporalPostgres);
    const saved = JSON.parse(await fs.readFile(ports, 'utf8')) as { postgres?: number };
    if (saved.postgres === undefined) throw new Error(`${ports} names no PostgreSQL port`);
    await tcpOpen(HOST, saved.postgres);
  },
  readyTimeoutMs: 10_000,
  stop: async (ctx) => {
    const pid = await runningPid(ctx.paths.pidFile('postgres'));
    const stopped = await stopDetachedPostgresTemporal(postgresPidFiles(ctx));
    return stopped.postgres ?? pid;
  },
};

const prometheus = detachedPart('prometheus', 1, {
  port: (ctx) => ctx.config.ports.prometheus,
  command: (ctx) => ({
    command: ctx.binaries().prometheus,
    args: [
      `--config.file=${path.join(ctx.paths.config, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(ctx.paths.data, 'prometheus')}`,
      '--storage.tsdb.retention.time=2d',
      `--web.listen-address=${HOST}:${ctx.config.ports.prometheus}`,
      '--web.enable-lifecycle',
    ],
  }),
  probe: (ctx) => httpOk(`http://${HOST}:${ctx.config.ports.prometheus}/-/ready`),
});

const alertmanager = detachedPart('alertmanager', 1, {
  port: (ctx) => ctx.config.ports.alertmanager,
  command: (ctx) => ({
    command: ctx.binaries().alertmanager,
    args: [
      `--config.file=${path.join(ctx.paths.config, 'alertmanager.yml')}`,
      `--storage.path=${path.join(ctx.paths.data, 'alertmanager')}`,
      `--web.listen-address=${HOST}:${ctx.config.ports.alertmanager}`,
      // A single local instance: no gossip port, nothing listening beyond the web port.
      '--cluster.listen-address=',
    ],
  }),
  probe: (ctx) => httpOk(`http://${HOST}:${ctx.config.ports.alertmanager}/-/ready`),
});

/** The stable demo argv, the same command line the demo spec's `process` platform uses. */
export function demoServiceArgv(ctx: StackContext, version: string, port: number): string[] {
  return [...NODE_TSX, 'demo/service.ts', '--service', ctx.config.service, '--version', version, '--port', String(port)];
}

/** Pid files of one version's instances, as the `process` platform names them. */
const stateFiles = (ctx: StackContext, slot: 'stable' | 'canary') =>
  Array.from({ length: ctx.config.replicas[slot] }, (_, i) => stateFileFor(ctx.paths.platformState, ctx.config.service, slot, i));

/** Running pid recorded in a `process` platform state file. */
async function platformPid(file: string): Promise<number | undefined> {
  const state = await readInstanceState(file);
  return state && (await isInstanceRunning(state)) ? state.pid : undefined;
}

async function stopPlatformInstance(file: string): Promise<number | undefined> {
  const state = await readInstanceState(file);
  if (!state) return undefined;
  const outcome = await stopInstance(state, 10_000);
  await fs.rm(file, { force: true });
  return outcome === 'stopped' ? state.pid : undefined;
}

/** Stops every instance of a pool; returns the first pid it stopped. */
async function stopPlatformInstances(files: string[]): Promise<number | undefined> {
  let first: number | undefined;
  for (const file of files) first ??= await stopPlatformInstance(file);
  return first;
}

/** Running when every instance of the pool runs; the first instance's pid stands for it. */
async function poolPid(files: string[]): Promise<number | undefined> {
  const pids = await Promise.all(files.map(platformPid));
  return pids.every((pid) => pid !== undefined) ? pids[0] : undefined;
}

/**
 * The stable instances are recorded in the `process` platform's own state files, so a rollout's
 * promotion can stop them and start the new version on the stable ports.
 */
const stable: StackPart = {
  name: 'stable',
  stage: 1,
  port: (ctx) => ctx.config.ports.stable,
  enabled: () => true,
  logFile: (ctx) => ctx.paths.logFile('stable'),
  running: (ctx) => poolPid(stateFiles(ctx, 'stable')),
  async start(ctx) {
    for (const [i, stateFile] of stateFiles(ctx, 'stable').entries()) {
      if (await platformPid(stateFile)) continue;
      const port = ctx.config.ports.stable + i;
      await startInstance({
        argv: demoServiceArgv(ctx, ctx.config.stableVersion, port),
        version: ctx.config.stableVersion,
        port,
        cwd: REPO_ROOT,
        // The environment the worker's `process` platform gives the instances it starts (a promoted
        // stable, the canary), so the stack's own stable is no different.
        env: childEnv({ workerEnv: workerEnv(ctx), passEnv: DEMO_PASS_ENV, field: 'platform' }),
        stateFile,
        logFile: i === 0 ? ctx.paths.logFile('stable') : ctx.paths.logFile(`stable-${i + 1}`),
      });
    }
  },
  probe: async (ctx) => {
    await Promise.all(stateFiles(ctx, 'stable').map((_, i) => httpOk(`http://${HOST}:${ctx.config.ports.stable + i}/healthz`)));
  },
  readyTimeoutMs: 30_000,
  stop: (ctx) => stopPlatformInstances(stateFiles(ctx, 'stable')),
};

/** The canary is started by rollouts, never by `up`; `down` and `status` still cover it. */
const canary: StackPart = {
  name: 'canary',
  stage: 1,
  enabled: () => false,
  logFile: (ctx) => path.join(ctx.paths.platformState, `${ctx.config.service}-canary.log`),
  running: (ctx) => platformPid(stateFiles(ctx, 'canary')[0] as string),
  async start() {
    throw new Error('the canary is started by a rollout, not by the stack');
  },
  probe: (ctx) => httpOk(`http://${HOST}:${ctx.config.ports.canary}/healthz`),
  readyTimeoutMs: 0,
  // A fresh baseline (judge.freshBaseline) lives and goes with the canary.
  stop: (ctx) => stopPlatformInstances([...stateFiles(ctx, 'canary'), stateFileFor(ctx.paths.platformState, ctx.config.service, 'baseline')]),
};

const haproxy = detachedPart('haproxy', 2, {
  port: (ctx) => ctx.config.ports.haproxyFrontend,
  command: (ctx) => ({
    command: ctx.binaries().haproxy,
    // -db: stay in the foreground, so the recorded pid is the process to stop.
    args: ['-db', '-f', path.join(ctx.paths.config, 'haproxy.cfg')],
  }),
  async probe(ctx) {
    await tcpOpen(HOST, ctx.config.ports.haproxyFrontend);
    const info = await haproxyCommand(HOST, ctx.config.ports.haproxyRuntimeApi, 'show info');
    if (!/^Name: HAProxy/m.test(info)) throw new Error(`runtime API answered unexpectedly: ${info.slice(0, 200)}`);
  },
});

/**
 * Environment of the worker (see worker/config.ts): the stack's Temporal and metrics ports, and the
 * demo admin token, which the demo spec's `passEnv` hands on to the instances the worker starts.
 */
export function workerEnv(ctx: StackContext): NodeJS.ProcessEnv {
  const p = ctx.config.ports;
  return {
    ...ctx.env,
    TEMPORAL_ADDRESS: `${HOST}:${p.temporal}`,
    TEMPORAL_NAMESPACE: 'default',
    PHOENIX_METRICS_ADDR: `${HOST}:${p.workerMetrics}`,
    PHOENIX_SDK_METRICS_ADDR: `${HOST}:${p.workerSdkMetrics}`,
    // The demo starts inline specs (examples/demo-stack.yaml) from the CLI; a production worker
    // runs catalog services only (see README, "Who configures what").
    PHOENIX_ALLOW_INLINE_TARGETS: 'true',
    ...(ctx.demoAdminToken !== undefined ? { [DEMO_ADMIN_TOKEN_ENV]: ctx.demoAdminToken } : {}),
  };
}

/** Throws unless a worker polls the rollout task queue of the stack's Temporal. */
async function workerPolling(ctx: StackContext): Promise<void> {
  const connection = await Connection.connect({ address: `${HOST}:${ctx.config.ports.temporal}`, connectTimeout: 2_000 });
  try {
    const { pollers } = await connection.workflowService.describeTaskQueue({
      namespace: 'default',
      // Type unspecified means the workflow task queue.
      taskQueue: { name: TASK_QUEUE },
    });
    if (!pollers?.length) throw new Error(`no poller on task queue ${TASK_QUEUE} yet`);
  } finally {
    await connection.close();
  }
}

const worker = detachedPart('worker', 3, {
  port: (ctx) => ctx.config.ports.workerMetrics,
  enabled: (ctx) => ctx.config.worker && existsSync(path.join(REPO_ROOT, 'worker', 'main.ts')),
  command: (ctx) => ({ command: NODE_TSX[0] as string, args: [...NODE_TSX.slice(1), 'worker/main.ts'], env: workerEnv(ctx) }),
  async probe(ctx) {
    await httpOk(`http://${HOST}:${ctx.config.ports.workerMetrics}/metrics`);
    await workerPolling(ctx);
  },
  // The worker bundles the workflow code before it polls: slow on a small machine.
  readyTimeoutMs: 120_000,
});

const loadBase = detachedPart('load', 3, {
  enabled: (ctx) => ctx.config.load,
  command: (ctx) => ({
    command: NODE_TSX[0] as string,
    args: [
      ...NODE_TSX.slice(1),
      'demo/load.ts',
      '--url',
      `http://${HOST}:${ctx.config.ports.haproxyFrontend}/`,
      '--rate',
      String(ctx.config.loadRate),
      '--stats-file',
      ctx.paths.loadStats,
    ],
  }),
  async probe(ctx) {
    // Ready once a request went all the way through HAProxy to the stable instance.
    const text = await fs.readFile(ctx.paths.loadStats, 'utf8').catch(() => '{}');
    const stats = JSON.parse(text) as { counts?: Record<string, number>; updatedAt?: string };
    if (!stats.counts?.['200']) throw new Error(`no successful request yet (counts ${JSON.stringify(stats.counts ?? {})})`);
  },
});

const load: StackPart = {
  ...loadBase,
  async start(ctx) {
    // A stats file left by an earlier run would make the new generator look ready at once.
    await fs.rm(ctx.paths.loadStats, { force: true });
    await loadBase.start(ctx);
  },
};

/** Every part, in start order. */
export const STACK_PARTS: readonly StackPart[] = [postgres, temporal, prometheus, alertmanager, stable, canary, haproxy, worker, load];
