/**
 * The shared end-to-end fixture: the real local demo stack (Temporal dev server, Prometheus,
 * Alertmanager, HAProxy, stable demo service, load generator, the real worker) brought up in a
 * fresh temp dir on free ports, plus the probes rollout tests need: a connected RolloutClient,
 * the rendered demo spec with overrides, faults and served-request counts of the demo instances,
 * HAProxy weights read back through the runtime API, Alertmanager alerts, and stopping/killing/
 * restarting single parts. `teardown()` always runs `stack down` and kills stray canaries.
 *
 *   const stack = await startStack({ loadRate: 150 });
 *   try { ... } finally { await stack.teardown(); }
 */
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDocument, isMap, type Document } from 'yaml';
import { RolloutClient } from '../../client/rollouts';
import { loadClientConfig } from '../../client/config';
import { parseRolloutSpecText } from '../../rollout-spec/parse';
import type { RolloutSpec } from '../../rollout-spec/types';
import type { RolloutStatus } from '../../workflows/contract';
import { isInstanceRunning, readInstanceState, stateFileFor, stopInstance } from '../../activities/platform';
import { ensureStackBinaries, type StackBinaries } from '../../scripts/stack/binaries';
import { DEFAULT_PORTS, resolveStackConfig, stackPaths, type StackConfig, type StackPorts } from '../../scripts/stack/config';
import type { StackEndpoints } from '../../scripts/stack/endpoints';
import { stackDown, stackUp } from '../../scripts/stack/lifecycle';
import { STACK_PARTS, type StackContext } from '../../scripts/stack/parts';
import { isAlive, runningPid, tailLog } from '../../scripts/stack/processes';
import { haproxyCommand } from '../../scripts/stack/readiness';
import { demoAdminFetch } from '../../scripts/stack-rollouts';
import { describeServerState, parseServersStateAnswer, serverState } from '../../activities/traffic/haproxy-server-state';
import { freePorts } from '../../scripts/temporal-server';
import { freePortRange } from './free-port';

/** Parts that can be stopped, killed and started again on their own. */

/**
 * Stops the instances a process platform started in `stateDir` and never retired (a test failed
 * mid-rollout): no test leaves a canary process behind.
 */
export async function stopLeftoverInstances(stateDir: string): Promise<void> {
  const files = await fs.readdir(stateDir).catch(() => [] as string[]);
  for (const f of files.filter((f) => f.endsWith('.json'))) {
    const state = await readInstanceState(path.join(stateDir, f)).catch(() => undefined);
    if (state && (await isInstanceRunning(state))) await stopInstance(state, 2_000).catch(() => undefined);
  }
}

export type StackPartName = 'temporal' | 'prometheus' | 'alertmanager' | 'stable' | 'haproxy' | 'worker' | 'load';

/** A demo instance slot. */
export type DemoInstance = 'stable' | 'canary';

/** What `POST /admin/faults` accepts (see demo/faults.ts); `{}` clears every fault. */
export interface DemoFault {
  errorRate?: number;
  latencyMs?: number;
  cpuBurnMs?: number;
  taskSuccessRate?: number;
  cacheHitRate?: number;
  agentHealthScore?: number;
  memoryUsageRatio?: number;
  unhealthy?: boolean;
}

/** `GET /admin/stats` of a demo instance: application requests served, by HTTP status. */
export interface DemoStats {
  service: string;
  version: string;
  served: Record<string, number>;
  total: number;
}

/** One alert of Alertmanager's `GET /api/v2/alerts`. */
export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

/** Weights HAProxy currently applies to the two servers of the rollout backend. */
export interface HaproxyWeights {
  stable: number;
  canary: number;
}

/** Overrides merged into the demo spec's YAML: objects merge key by key, arrays and scalars replace. */
export type SpecOverrides = Record<string, unknown>;

export interface StartStackOptions {
  /** Requests per second of the load generator (default 150). */
  loadRate?: number;
  /** Start the load generator (default true). */
  load?: boolean;
  /** Start the worker (default true). */
  worker?: boolean;
  /** Instances per version (default one each): pools behind HAProxy, on consecutive free ports. */
  replicas?: { stable: number; canary: number };
  /** Progress lines of `stack up`/`down` (default: collected, shown only in errors). */
  log?: (line: string) => void;
  /** Keep the temp dir after teardown (default: env PHOENIX_E2E_KEEP=1). */
  keepDir?: boolean;
}

/** Rollout states after which no phase is reached any more. */
const ENDED_STATES: readonly string[] = ['rolled_back', 'aborted', 'failed', 'promoted'];

/** A running stack and the probes tests use on it. */
export interface Stack {
  dir: string;
  config: StackConfig;
  endpoints: StackEndpoints;
  /** Connected to the stack's Temporal; closed by teardown. */
  client: RolloutClient;
  /** The service the demo spec rolls out (`checkout`). */
  service: string;
  /** The rendered demo spec text with `overrides` merged at the YAML level. */
  specText(overrides?: SpecOverrides): string;
  /** The rendered demo spec, parsed by the real parser; throws naming every invalid field. */
  spec(overrides?: SpecOverrides): RolloutSpec;
  /** Live status of the stack's rollout (the `status` query, or the result once closed). */
  status(): Promise<RolloutStatus>;
  /** POST /admin/faults on one instance directly, with the stack's admin token. */
  setFault(instance: DemoInstance, fault: DemoFault): Promise<void>;
  /** GET /admin/stats of one instance, with the stack's admin token. */
  stats(instance: DemoInstance): Promise<DemoStats>;
  haproxyWeights(): Promise<HaproxyWeights>;
  /** Sends one command to HAProxy's runtime API (admin level) and returns its answer, e.g. `set weight checkout/canary 0`. */
  haproxy(command: string): Promise<string>;
  /** HAProxy's state of an instance's server as `show servers state` has it: `UP`, `DOWN`, `UP, MAINT (admin_state 1)`... */
  haproxyServerState(instance: DemoInstance): Promise<string>;
  /** Polls `probe` until it returns something other than undefined/false; throws with log tails on timeout. */
  waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs?: number, intervalMs?: number): Promise<T>;
  /**
   * Polls the rollout's status until `accept` takes it. A status that has already ended (rolled
   * back, aborted, failed or promoted) is kept as the last error, so a timeout says how it ended.
   */
  waitForStatus(what: string, accept: (status: RolloutStatus) => boolean, timeoutMs?: number, intervalMs?: number): Promise<RolloutStatus>;
  /** Alertmanager's alerts, optionally filtered by label matchers like `alertname="X"`. */
  alerts(...matchers: string[]): Promise<AlertmanagerAlert[]>;
  /** Pid of a part (or of the canary instance), undefined when it does not run. */
  pid(name: StackPartName | 'canary'): Promise<number | undefined>;
  /** Stops one part gracefully (SIGTERM, then SIGKILL). */
  stopPart(name: StackPartName): Promise<void>;
  /** Sends `signal` to one part's process (not its group) and waits until it is gone. */
  killPart(name: StackPartName, signal?: NodeJS.Signals): Promise<number>;
  /** Starts every stopped part again with the same command line and waits until it is ready. */
  startPart(name: StackPartName): Promise<void>;
  /** Last lines of a part's log (`worker`, `temporal`, ...) or of the canary. */
  logTail(name: StackPartName | 'canary', lines?: number): Promise<string>;
  /** Stops everything (idempotent); always call it, in `after`/`finally`. */
  teardown(): Promise<void>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Merges `overrides` into `doc` leaf by leaf so the comments and the rest of each block stay. */
function mergeInto(doc: Document, at: (string | number)[], overrides: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(overrides)) {
    const p = [...at, key];
    if (isPlainObject(value) && isMap(doc.getIn(p, true))) mergeInto(doc, p, value);
    else if (value === undefined) doc.deleteIn(p);
    else doc.setIn(p, doc.createNode(value));
  }
}

/** Applies `overrides` to a spec text (exported for tests of this fixture). */
export function overrideSpecText(text: string, overrides: SpecOverrides = {}): string {
  const doc = parseDocument(text);
  mergeInto(doc, [], overrides);
  return doc.toString();
}

const LOG_PARTS: (StackPartName | 'canary')[] = ['worker', 'temporal', 'haproxy', 'load', 'stable', 'canary'];

/**
 * Brings the demo stack up in a fresh temp dir on free ports. On failure everything that did
 * start is stopped again and the error carries the stack's progress lines and log tails.
 */
export async function startStack(opts: StartStackOptions = {}): Promise<Stack> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'phoenix-e2e-'));
  const names = Object.keys(DEFAULT_PORTS) as (keyof StackPorts)[];
  const free = await freePorts(names.length);
  const ports = Object.fromEntries(names.map((n, i) => [n, free[i]])) as StackPorts;
  if (opts.replicas) {
    // Pools listen on consecutive ports: ranges clear of every other port.
    const others = new Set(Object.values(ports));
    for (const slot of ['stable', 'canary'] as const) {
      for (;;) {
        const first = await freePortRange(opts.replicas[slot]);
        const range = Array.from({ length: opts.replicas[slot] }, (_, i) => first + i);
        if (range.some((port) => others.has(port))) continue;
        ports[slot] = first;
        range.forEach((port) => others.add(port));
        break;
      }
    }
  }
  const env: NodeJS.ProcessEnv = { ...process.env, PHOENIX_STACK_PORTS: JSON.stringify(ports) };
  const config = resolveStackConfig(
    {
      dir,
      loadRate: String(opts.loadRate ?? 150),
      ...(opts.replicas ? { replicas: `${opts.replicas.stable},${opts.replicas.canary}` } : {}),
      ...(opts.load !== undefined ? { load: opts.load } : {}),
      ...(opts.worker !== undefined ? { worker: opts.worker } : {}),
    },
    env,
  );
  const progress: string[] = [];
  const log = (line: string): void => {
    progress.push(line);
    opts.log?.(line);
  };
  const paths = stackPaths(dir);
  let binaries: StackBinaries | undefined;
  const ctx: StackContext = { config, paths, env, binaries: () => (binaries ??= ensureStackBinaries(env, log)) };
  const keep = opts.keepDir ?? process.env.PHOENIX_E2E_KEEP === '1';
  const service = config.service;
  const canaryState = stateFileFor(paths.platformState, service, 'canary');

  const partOf = (name: StackPartName) => {
    const part = STACK_PARTS.find((p) => p.name === name);
    if (!part) throw new Error(`stack has no part named ${name}`);
    return part;
  };

  const logTail = async (name: StackPartName | 'canary', lines = 30): Promise<string> => {
    const file = name === 'canary' ? path.join(paths.platformState, `${service}-canary.log`) : paths.logFile(name);
    return tailLog(file, lines);
  };

  const allTails = async (lines = 15): Promise<string> => {
    const out: string[] = [];
    for (const name of LOG_PARTS) {
      const tail = await logTail(name, lines).catch(() => '');
      if (tail) out.push(`--- ${name} (last ${lines} lines) ---\n${tail}`);
    }
    return out.join('\n');
  };

  let client: RolloutClient | undefined;
  let tornDown = false;

  const teardown = async (): Promise<void> => {
    if (tornDown) return;
    tornDown = true;
    await client?.close().catch(() => undefined);
    const errors: string[] = [];
    await stackDown(config, env, log).catch((err: Error) => errors.push(err.message));
    await stopLeftoverInstances(paths.platformState);
    if (!keep) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    if (errors.length > 0) throw new Error(`stack teardown: ${errors.join('; ')}`);
  };

  try {
    await stackUp(config, env, log);
  } catch (err) {
    const tails = await allTails();
    tornDown = false;
    await teardown().catch(() => undefined);
    throw new Error(`stack up failed in ${dir}: ${(err as Error).message}\n--- stack up progress ---\n${progress.join('\n')}\n${tails}`, {
      cause: err,
    });
  }
  const endpoints = JSON.parse(await fs.readFile(paths.endpoints, 'utf8')) as StackEndpoints;
  const baseSpec = await fs.readFile(paths.demoSpec, 'utf8');
  try {
    client = await RolloutClient.connect(loadClientConfig({ TEMPORAL_ADDRESS: endpoints.temporal, TEMPORAL_NAMESPACE: 'default' }));
  } catch (err) {
    await teardown().catch(() => undefined);
    throw err;
  }

  const specText = (overrides?: SpecOverrides): string => overrideSpecText(baseSpec, overrides);
  const spec = (overrides?: SpecOverrides): RolloutSpec => {
    const parsed = parseRolloutSpecText(specText(overrides));
    if (!parsed.success) {
      throw new Error(`demo spec with overrides is invalid: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    }
    return parsed.spec;
  };

  const admin = (instance: DemoInstance) => endpoints.demo[instance].admin;

  // The demo instances' admin routes need the stack's admin token (endpoints.json).
  const setFault = async (instance: DemoInstance, fault: DemoFault): Promise<void> => {
    const res = await demoAdminFetch(endpoints.demo[instance], '/faults', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(fault),
      signal: AbortSignal.timeout(5_000),
    });
    const body = await res.text();
    if (!res.ok) throw new Error(`setting fault ${JSON.stringify(fault)} on ${instance} failed: ${res.status} ${body}`);
  };

  const stats = async (instance: DemoInstance): Promise<DemoStats> => {
    const res = await demoAdminFetch(endpoints.demo[instance], '/stats', { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`${admin(instance)}/stats answered ${res.status}`);
    return (await res.json()) as DemoStats;
  };

  const [rtHost, rtPort] = endpoints.haproxyRuntimeApi.split(':') as [string, string];
  const { backend, stableServer, canaryServer } = endpoints.haproxyBackend;
  const getWeight = async (server: string): Promise<number> => {
    const answer = (await haproxyCommand(rtHost, Number(rtPort), `get weight ${backend}/${server}`)).trim();
    const m = /^(\d+) \(initial \d+\)$/.exec(answer);
    if (!m) throw new Error(`HAProxy answered "get weight ${backend}/${server}" with ${JSON.stringify(answer)}`);
    return Number(m[1]);
  };
  const haproxyWeights = async (): Promise<HaproxyWeights> => {
    const [stable, canary] = await Promise.all([getWeight(stableServer), getWeight(canaryServer)]);
    return { stable, canary };
  };

  const haproxy = (command: string): Promise<string> => haproxyCommand(rtHost, Number(rtPort), command);
  const haproxyServerState = async (instance: DemoInstance): Promise<string> => {
    const command = `show servers state ${backend}`;
    const states = parseServersStateAnswer(command, backend, await haproxy(command));
    return describeServerState(serverState(states, backend, instance === 'stable' ? stableServer : canaryServer));
  };

  const waitFor = async <T>(
    what: string,
    probe: () => T | undefined | false | Promise<T | undefined | false>,
    timeoutMs = 60_000,
    intervalMs = 250,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await probe();
        if (v !== undefined && v !== false) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() >= deadline) {
        const why = last ? ` (last error: ${(last as Error).message})` : '';
        throw new Error(`${what}: not seen within ${timeoutMs} ms${why}\n${await allTails()}`);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  };

  const waitForStatus = async (
    what: string,
    accept: (status: RolloutStatus) => boolean,
    timeoutMs?: number,
    intervalMs?: number,
  ): Promise<RolloutStatus> => {
    let seen: RolloutStatus | undefined;
    try {
      return await waitFor(
        what,
        async () => {
          const s = await client.status(service);
          seen = s;
          // Not a final answer: right after a start the service's previous rollout may still be the one seen.
          if (ENDED_STATES.includes(s.state)) throw new Error(`rollout ended early: ${s.state} ${s.rollbackReason}`);
          return accept(s) ? s : undefined;
        },
        timeoutMs,
        intervalMs,
      );
    } catch (err) {
      // Say what the rollout looked like when the wait gave up: which checks kept it from matching.
      if (seen === undefined) throw err;
      const checks = seen.checks
        .filter((c) => c.outcome !== 'pass')
        .map((c) => `${c.check}=${c.outcome}${c.value === null ? '' : `(${c.value})`}${c.detail ? ` ${c.detail}` : ''}`);
      const last = `last status: ${seen.state} phase ${seen.phase} weight ${seen.weight}%, ${seen.checks.length} checks, not passing: ${checks.join('; ') || 'none'}`;
      (err as Error).message = `${(err as Error).message.split('\n')[0]}\n${last}\n${(err as Error).message.split('\n').slice(1).join('\n')}`;
      throw err;
    }
  };

  const alerts = async (...matchers: string[]): Promise<AlertmanagerAlert[]> => {
    const query = matchers.map((m) => `filter=${encodeURIComponent(m)}`).join('&');
    const res = await fetch(`${endpoints.alertmanager}/api/v2/alerts${query ? `?${query}` : ''}`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`Alertmanager answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as AlertmanagerAlert[];
  };

  const pid = async (name: StackPartName | 'canary'): Promise<number | undefined> => {
    if (name === 'canary') {
      const state = await readInstanceState(canaryState);
      return state && (await isInstanceRunning(state)) ? state.pid : undefined;
    }
    return partOf(name).running(ctx);
  };

  const stopPart = async (name: StackPartName): Promise<void> => {
    await partOf(name).stop(ctx);
  };

  const killPart = async (name: StackPartName, signal: NodeJS.Signals = 'SIGKILL'): Promise<number> => {
    const p = await pid(name);
    if (p === undefined) throw new Error(`cannot kill ${name}: it is not running`);
    process.kill(p, signal);
    await waitFor(`${name} (pid ${p}) gone after ${signal}`, async () => ((await pid(name)) === undefined ? true : undefined), 30_000, 50);
    return p;
  };

  const startPart = async (name: StackPartName): Promise<void> => {
    partOf(name);
    // `up` is idempotent: it starts exactly the parts that are not running, with their usual command line.
    try {
      await stackUp(config, env, log);
    } catch (err) {
      throw new Error(`restarting ${name} failed: ${(err as Error).message}\n${await allTails()}`, { cause: err });
    }
  };

  return {
    dir,
    config,
    endpoints,
    client,
    service,
    specText,
    spec,
    status: () => client.status(service),
    setFault,
    stats,
    haproxyWeights,
    haproxy,
    haproxyServerState,
    waitFor,
    waitForStatus,
    alerts,
    pid,
    stopPart,
    killPart,
    startPart,
    logTail,
    teardown,
  };
}

/** True when nothing accepts connections on 127.0.0.1:`port`. */
export function portClosed(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(timeoutMs);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** True when `pid` is a live process (zombies count as dead); the stack scripts' own check. */
export const pidAlive = isAlive;

/** The pid recorded in a pid file if alive (re-exported for tests that track their own processes). */
export { runningPid };
