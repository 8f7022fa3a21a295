/**
 * Where the demo stack keeps its state and which ports its parts use. Defaults are fixed so the
 * demo URLs are predictable; every port can be overridden (tests pass free ports).
 *
 * Environment: PHOENIX_STACK_DIR (default `<repo>/.stack`), PHOENIX_STACK_PORTS (JSON, partial
 * port map), LOAD_RATE (requests/s of the load generator), PHOENIX_STACK_TEMPORAL (`dev` or
 * `postgres`). Flags of scripts/stack.ts win over env.
 */
import * as path from 'node:path';
import { z } from 'zod';

/** Repository root (this file lives in `<root>/scripts/stack/`). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** The demo's fixed default ports; all bound on 127.0.0.1. */
export const DEFAULT_PORTS = {
  temporal: 7233,
  temporalUi: 8233,
  prometheus: 9090,
  alertmanager: 9093,
  haproxyFrontend: 8080,
  haproxyRuntimeApi: 9999,
  stable: 8081,
  canary: 8082,
  /**
   * A fresh baseline of the stable version (judge.freshBaseline), HAProxy server `baseline` at
   * weight 0 until a rollout gives it a share; below the frontend so stable/canary pools never reach it.
   */
  baseline: 8079,
  workerMetrics: 9464,
  /** The Temporal SDK's own Prometheus exporter in the worker. */
  workerSdkMetrics: 9465,
} as const;

/** HAProxy backend and server names the rollout's traffic target refers to. */
export const HAPROXY_NAMES = { backend: 'checkout', stableServer: 'stable', canaryServer: 'canary', baselineServer: 'baseline' } as const;

/** Instances per version; more than one makes pools (servers `stable-1`... and `canary-1`...). */
export interface StackReplicas {
  stable: number;
  canary: number;
}

/** True when the stack runs pools rather than one instance per version. */
export function isPoolStack(config: Pick<StackConfig, 'replicas'>): boolean {
  return config.replicas.stable > 1 || config.replicas.canary > 1;
}

/** HAProxy server names and ports of one version's instances: `stable`/`canary` alone, `stable-1`... in pools. */
export function stackInstances(config: StackConfig, slot: 'stable' | 'canary'): { server: string; port: number }[] {
  const first = config.ports[slot];
  const count = config.replicas[slot];
  const name = slot === 'stable' ? HAPROXY_NAMES.stableServer : HAPROXY_NAMES.canaryServer;
  return Array.from({ length: count }, (_, i) => ({ server: isPoolStack(config) ? `${name}-${i + 1}` : name, port: first + i }));
}

/** Longest unix socket path we bind (sun_path is 108 bytes on Linux, including the NUL). */
export const MAX_SOCKET_PATH = 100;

/** Name of one of the stack's ports. */
export type PortName = keyof typeof DEFAULT_PORTS;
/** A full port map. */
export type StackPorts = Record<PortName, number>;

const port = z.number().int().min(1).max(65535);
const portsSchema = z
  .object(Object.fromEntries(Object.keys(DEFAULT_PORTS).map((k) => [k, port.optional()])) as Record<PortName, z.ZodOptional<typeof port>>)
  .strict();

/** Resolved stack settings. */
export interface StackConfig {
  readonly dir: string;
  readonly ports: Readonly<StackPorts>;
  readonly service: string;
  readonly stableVersion: string;
  readonly canaryVersion: string;
  readonly loadRate: number;
  /** Instances per version (instance i on `ports.stable + i` / `ports.canary + i`). */
  readonly replicas: Readonly<StackReplicas>;
  /** Start the worker (when worker/main.ts exists). */
  readonly worker: boolean;
  readonly load: boolean;
  /** Which Temporal runs: the dev server (SQLite, with UI) or a real server on PostgreSQL (no UI). */
  readonly temporal: StackTemporal;
}

/** The Temporal server kinds the stack can run. */
export const STACK_TEMPORAL_KINDS = ['dev', 'postgres'] as const;
/** One of {@link STACK_TEMPORAL_KINDS}. */
export type StackTemporal = (typeof STACK_TEMPORAL_KINDS)[number];

/** Thrown when a stack option is invalid; the message names the flag or variable. */
export class StackConfigError extends Error {
  override readonly name = 'StackConfigError';
}

/** Options as given on the command line (strings or absent). */
export interface StackFlags {
  dir?: string;
  ports?: string;
  loadRate?: string;
  /** `N` or `STABLE,CANARY` instances (env PHOENIX_STACK_REPLICAS). */
  replicas?: string;
  worker?: boolean;
  load?: boolean;
  /** `dev` or `postgres` (env PHOENIX_STACK_TEMPORAL). */
  temporal?: string;
}

/** Merges flags, environment and defaults; fails naming the offending flag/variable. */
export function resolveStackConfig(flags: StackFlags, env: NodeJS.ProcessEnv): StackConfig {
  const dir = path.resolve(flags.dir || env.PHOENIX_STACK_DIR || path.join(REPO_ROOT, '.stack'));
  // The flag, when given, replaces the env map entirely.
  const override = flags.ports
    ? parsePorts(flags.ports, '--ports')
    : parsePorts(env.PHOENIX_STACK_PORTS, 'PHOENIX_STACK_PORTS');
  const replicas = parseReplicas(flags.replicas ?? env.PHOENIX_STACK_REPLICAS ?? '1');
  const ports: StackPorts = { ...DEFAULT_PORTS, ...override };
  // A stable pool on the default ports would run into the default canary port: the canary pool
  // then starts right after the stable one (8081-8083 stable, 8084-... canary), unless given.
  if (override.canary === undefined && replicas.stable > 1) ports.canary = ports.stable + replicas.stable;
  const clash = findClash(ports);
  if (clash) throw new StackConfigError(`ports: ${clash[0]} and ${clash[1]} both use port ${ports[clash[0]]}`);
  const rateText = flags.loadRate ?? env.LOAD_RATE ?? '50';
  const loadRate = Number(rateText);
  if (!(loadRate > 0)) throw new StackConfigError(`--load-rate (env LOAD_RATE): must be a positive number, got "${rateText}"`);
  const temporalText = flags.temporal ?? env.PHOENIX_STACK_TEMPORAL ?? 'dev';
  if (!(STACK_TEMPORAL_KINDS as readonly string[]).includes(temporalText)) {
    throw new StackConfigError(`--temporal (env PHOENIX_STACK_TEMPORAL): expected ${STACK_TEMPORAL_KINDS.join(' or ')}, got "${temporalText}"`);
  }
  const taken = new Map(Object.entries(ports).map(([name, value]) => [value, name]));
  for (const slot of ['stable', 'canary'] as const) {
    for (let i = 1; i < replicas[slot]; i++) {
      const other = taken.get(ports[slot] + i);
      if (other) throw new StackConfigError(`ports: ${slot} instance ${i + 1} would use port ${ports[slot] + i}, which ${other} uses`);
      taken.set(ports[slot] + i, `${slot} instance ${i + 1}`);
    }
  }
  return Object.freeze({
    dir,
    replicas: Object.freeze(replicas),
    ports: Object.freeze(ports),
    service: 'checkout',
    stableVersion: 'v1',
    canaryVersion: 'v2',
    loadRate,
    worker: flags.worker ?? true,
    load: flags.load ?? true,
    temporal: temporalText as StackTemporal,
  });
}

function parseReplicas(text: string): StackReplicas {
  const m = /^\s*(\d{1,2})\s*(?:,\s*(\d{1,2})\s*)?$/.exec(text);
  const stable = Number(m?.[1]);
  const canary = Number(m?.[2] ?? m?.[1]);
  if (!m || stable < 1 || canary < 1 || stable > 16 || canary > 16) {
    throw new StackConfigError(`--replicas (env PHOENIX_STACK_REPLICAS): expected N or STABLE,CANARY from 1 to 16, got "${text}"`);
  }
  return { stable, canary };
}

function parsePorts(text: string | undefined, source: string): Partial<StackPorts> {
  if (!text) return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new StackConfigError(`${source}: not valid JSON (expected e.g. {"haproxyFrontend": 18080})`);
  }
  const parsed = portsSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) =>
      i.code === 'unrecognized_keys' ? `unknown port name(s) ${i.keys.join(', ')}` : `${i.path.join('.')}: ${i.message}`,
    );
    throw new StackConfigError(`${source}: ${issues.join('; ')} (known: ${Object.keys(DEFAULT_PORTS).join(', ')})`);
  }
  return Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined));
}

function findClash(ports: StackPorts): [PortName, PortName] | undefined {
  const seen = new Map<number, PortName>();
  for (const [name, value] of Object.entries(ports) as [PortName, number][]) {
    const other = seen.get(value);
    if (other) return [other, name];
    seen.set(value, name);
  }
  return undefined;
}

/** File layout of a stack directory. */
export function stackPaths(dir: string) {
  return {
    dir,
    pids: path.join(dir, 'pids'),
    logs: path.join(dir, 'logs'),
    config: path.join(dir, 'config'),
    data: path.join(dir, 'data'),
    endpoints: path.join(dir, 'endpoints.json'),
    temporalDb: path.join(dir, 'temporal.db'),
    /** State of `--temporal postgres`: PostgreSQL's data, the server config, ports.json. */
    temporalPostgres: path.join(dir, 'data', 'temporal-postgres'),
    haproxySocket: path.join(dir, 'haproxy.sock'),
    loadStats: path.join(dir, 'load-stats.json'),
    /** Where the rollout's `process` platform keeps canary pids. */
    platformState: path.join(dir, 'platform'),
    demoSpec: path.join(dir, 'demo-stack.yaml'),
    pidFile: (part: string) => path.join(dir, 'pids', `${part}.pid`),
    logFile: (part: string) => path.join(dir, 'logs', `${part}.log`),
  };
}

/** File layout of a stack directory (see {@link stackPaths}). */
export type StackPaths = ReturnType<typeof stackPaths>;
