/**
 * `up`, `down` and `status` of the demo stack. `up` is idempotent: running parts are left alone,
 * missing ones are started, and every part must pass its readiness probe. A part that does not
 * come up is named, with the tail of its log.
 */
import * as fs from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { ensureStackBinaries, type StackBinaries } from './binaries';
import { alertmanagerConfig, haproxyConfig, prometheusConfig } from './config-files';
import { stackPaths, type StackConfig } from './config';
import { renderDemoSpec } from './demo-spec';
import { readEndpoints, stackEndpoints, writeEndpoints, type StackEndpoints } from './endpoints';
import { STACK_PARTS, type StackContext, type StackPart } from './parts';
import { tailLog } from './processes';
import { tcpOpen, waitUntil } from './readiness';
import { waitForScrapes } from './prometheus-scraped';

/** Thrown when one or more parts fail to start; names each with its log tail. */
export class StackStartError extends Error {
  override readonly name = 'StackStartError';
  constructor(
    message: string,
    readonly parts: string[],
  ) {
    super(message);
  }
}

/** Where progress lines go (the CLI prints them; tests may collect them). */
export type Reporter = (line: string) => void;

function context(config: StackConfig, env: NodeJS.ProcessEnv, log: Reporter, demoAdminToken?: string): StackContext {
  let binaries: StackBinaries | undefined;
  return {
    config,
    paths: stackPaths(config.dir),
    env,
    binaries: () => (binaries ??= ensureStackBinaries(env, log)),
    ...(demoAdminToken !== undefined ? { demoAdminToken } : {}),
  };
}

/** A fresh admin token for the demo instances: 32 url-safe characters, 192 random bits. */
export function newDemoAdminToken(): string {
  return randomBytes(24).toString('base64url');
}

async function anyRunning(ctx: StackContext): Promise<boolean> {
  for (const part of STACK_PARTS) if (await part.running(ctx)) return true;
  return false;
}

/**
 * Starts every enabled part that is not running and waits until all are ready. When parts of a
 * previous `up` still run, that run's ports and demo admin token are kept (mixing them would break
 * the stack); otherwise the demo instances get a new random admin token.
 */
export async function stackUp(requested: StackConfig, env: NodeJS.ProcessEnv, log: Reporter): Promise<StackEndpoints> {
  let config = requested;
  const paths = stackPaths(config.dir);
  const previous = await readEndpoints(paths.endpoints);
  let demoAdminToken: string | undefined;
  if (previous && (await anyRunning(context({ ...config, ports: previous.ports }, env, log)))) {
    if (JSON.stringify(previous.ports) !== JSON.stringify(config.ports)) {
      log(`stack in ${paths.dir} already runs with other ports; keeping them (run stack:down to change ports)`);
    }
    const runningKind = previous.temporalKind ?? 'dev';
    if (runningKind !== config.temporal) {
      log(`stack in ${paths.dir} already runs the ${runningKind} Temporal server; keeping it (run stack:down to change --temporal)`);
    }
    config = { ...config, ports: previous.ports, temporal: runningKind };
    demoAdminToken = previous.demo?.stable?.adminToken;
    if (demoAdminToken === undefined) {
      log('running demo instances were started without an admin token: their /admin routes stay off until stack:down and up');
    }
  }
  demoAdminToken ??= newDemoAdminToken();
  const ctx = context(config, env, log, demoAdminToken);
  for (const dir of [paths.dir, paths.pids, paths.logs, paths.config, paths.data, paths.platformState]) {
    await fs.mkdir(dir, { recursive: true });
  }
  const binaries = ctx.binaries();
  await writeConfigFiles(ctx, binaries);
  const endpoints = stackEndpoints(config, paths, demoAdminToken);
  await writeEndpoints(paths.endpoints, endpoints);
  await fs.writeFile(paths.demoSpec, await renderDemoSpec(config, paths));

  const parts = STACK_PARTS.filter((p) => p.enabled(ctx));
  const stages = [...new Set(parts.map((p) => p.stage))].sort((a, b) => a - b);
  for (const stage of stages) {
    const results = await Promise.allSettled(parts.filter((p) => p.stage === stage).map((p) => bringUp(ctx, p, log)));
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (failed.length > 0) {
      throw new StackStartError(
        `${failed.map((e) => e.message).join('\n\n')}\n\nParts that did start keep running; \`stack down\` stops them.`,
        failed.map((e) => (e as Error & { part?: string }).part ?? '?'),
      );
    }
  }
  if (parts.some((p) => p.name === 'prometheus') && parts.some((p) => p.name === 'stable')) {
    await waitForScrapes(endpoints.prometheus, '{track="stable"}');
  }
  return endpoints;
}

async function bringUp(ctx: StackContext, part: StackPart, log: Reporter): Promise<void> {
  const fail = async (why: string): Promise<never> => {
    const tail = await tailLog(part.logFile(ctx));
    const err = new Error(
      `${part.name} did not start: ${why}\n--- last lines of ${part.logFile(ctx)} ---\n${tail || '(empty)'}`,
    ) as Error & { part: string };
    err.part = part.name;
    throw err;
  };
  let pid = await part.running(ctx);
  if (pid) {
    log(`${part.name}: already running (pid ${pid})`);
  } else {
    const port = part.port?.(ctx);
    if (port !== undefined && (await tcpOpen('127.0.0.1', port, 500).then(() => true, () => false))) {
      return fail(`port ${port} is already in use by another process`);
    }
    log(`${part.name}: starting`);
    try {
      await part.start(ctx);
    } catch (err) {
      return fail((err as Error).message);
    }
    pid = await part.running(ctx);
  }
  try {
    await waitUntil(() => part.probe(ctx), {
      timeoutMs: part.readyTimeoutMs,
      stillRunning: async () => (await part.running(ctx)) !== undefined,
    });
  } catch (err) {
    return fail((err as Error).message);
  }
  log(`${part.name}: ready${pid ? ` (pid ${pid})` : ''}`);
}

async function writeConfigFiles(ctx: StackContext, binaries: StackBinaries): Promise<void> {
  const dir = ctx.paths.config;
  const haproxyFile = path.join(dir, 'haproxy.cfg');
  await fs.writeFile(haproxyFile, haproxyConfig(ctx.config, ctx.paths));
  await fs.writeFile(path.join(dir, 'prometheus.yml'), prometheusConfig(ctx.config));
  await fs.writeFile(path.join(dir, 'alertmanager.yml'), alertmanagerConfig(ctx.env.PHOENIX_ALERT_WEBHOOK_URL || undefined));
  // Catch a bad generated config here, with HAProxy's own message, rather than as a dead process.
  const check = spawnSync(binaries.haproxy, ['-c', '-q', '-f', haproxyFile], { encoding: 'utf8' });
  if (check.status !== 0) {
    throw new StackStartError(`haproxy did not start: ${haproxyFile} is invalid:\n${check.stderr || check.stdout}`, ['haproxy']);
  }
}

/** Stops every part (reverse start order, canary included); returns the names it stopped. */
export async function stackDown(config: StackConfig, env: NodeJS.ProcessEnv, log: Reporter): Promise<string[]> {
  const ctx = context(config, env, log);
  const stopped: string[] = [];
  const errors: string[] = [];
  for (const part of [...STACK_PARTS].reverse()) {
    try {
      const pid = await part.stop(ctx);
      if (pid) {
        stopped.push(part.name);
        log(`${part.name}: stopped (pid ${pid})`);
      }
    } catch (err) {
      errors.push(`${part.name}: ${(err as Error).message}`);
    }
  }
  await fs.rm(ctx.paths.haproxySocket, { force: true });
  if (errors.length > 0) throw new Error(`could not stop every part:\n${errors.join('\n')}`);
  if (stopped.length === 0) log(`nothing running in ${ctx.paths.dir}`);
  return stopped;
}

/** One row of `status`. */
export interface PartStatus {
  part: string;
  pid: number | null;
  running: boolean;
  /** False for parts `up` does not start (the canary) or that are disabled. */
  managed: boolean;
}

/** Which parts run, plus the endpoints document if the stack was ever brought up here. */
export async function stackStatus(
  config: StackConfig,
  env: NodeJS.ProcessEnv,
): Promise<{ parts: PartStatus[]; endpoints: StackEndpoints | undefined }> {
  const paths = stackPaths(config.dir);
  const endpoints = await readEndpoints(paths.endpoints);
  const ctx = context(endpoints ? { ...config, ports: endpoints.ports, temporal: endpoints.temporalKind ?? 'dev' } : config, env, () => {});
  const parts: PartStatus[] = [];
  for (const part of STACK_PARTS) {
    const pid = await part.running(ctx);
    parts.push({ part: part.name, pid: pid ?? null, running: pid !== undefined, managed: part.enabled(ctx) });
  }
  return { parts, endpoints };
}
