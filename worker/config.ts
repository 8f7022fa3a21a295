/**
 * The worker's configuration: the process environment validated once with zod, every problem
 * listed at once, and a frozen result. The only module of the worker that reads `process.env`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { z } from 'zod';
import { CatalogError, loadCatalog } from '../catalog/catalog';
import { WORKER_TUNING_ENV, type WorkerTuning } from './tuning';

/** A `host:port` listen address; `off` disables the listener. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** The validated worker configuration. */
export interface WorkerConfig {
  readonly temporal: {
    readonly address: string;
    readonly namespace: string;
    /** Connection options from @temporalio/envconfig (TLS, API key, gRPC metadata) with `address` resolved. */
    readonly connection: NativeConnectionOptions;
  };
  /** Where app metrics (prom-client) are served; `null` = disabled. */
  readonly metricsAddress: ListenAddress | null;
  /** Where the SDK's Prometheus exporter binds; `null` = disabled. */
  readonly sdkMetricsAddress: ListenAddress | null;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** Prebuilt workflow bundle (production); `undefined` = bundle `workflows/` at start-up. */
  readonly workflowBundlePath?: string;
  /** Keep the SDK's per-promise workflow stack traces (`PHOENIX_WORKFLOW_STACK_TRACES`, off: see worker/sandbox-preload.ts). */
  readonly workflowStackTraces: boolean;
  /**
   * Where rollout targets come from: the operator's catalog (`PHOENIX_CATALOG_DIR`, checked at
   * start) and whether inline specs may name their own (`PHOENIX_ALLOW_INLINE_TARGETS`, off).
   */
  readonly targets: { readonly catalogDir?: string; readonly allowInlineTargets: boolean };
  /** The workflow cache and task slots (worker/tuning.ts). */
  readonly tuning: WorkerTuning;
  /** The environment handed to activities: webhook secrets are looked up in it by name. */
  readonly activityEnv: Readonly<Record<string, string | undefined>>;
}

/** Thrown when the worker environment is invalid; the message lists every problem. */
export class WorkerConfigError extends Error {
  override readonly name = 'WorkerConfigError';
  constructor(readonly issues: readonly string[]) {
    super(`invalid worker configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
  }
}

// Unset and empty mean the same thing (as in t3-env's emptyStringAsUndefined).
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema.optional());

const hostPort = z.string().refine((v) => {
  const m = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
  const port = Number(m?.[1]);
  return m !== null && port >= 1 && port <= 65535;
}, 'must be host:port with a port from 1 to 65535 (e.g. 127.0.0.1:7233)');

const listen = z.union([z.literal('off'), hostPort]);

const count = (min: number) => z.coerce.number({ error: 'must be a whole number' }).int('must be a whole number').min(min, `must be at least ${min}`);

const envSchema = z.object({
  [WORKER_TUNING_ENV.maxCachedWorkflows]: optional(count(0)),
  [WORKER_TUNING_ENV.workflowTaskSlots]: optional(count(2)),
  [WORKER_TUNING_ENV.activitySlots]: optional(count(1)),
  [WORKER_TUNING_ENV.localActivitySlots]: optional(count(1)),
  TEMPORAL_ADDRESS: optional(hostPort),
  TEMPORAL_NAMESPACE: optional(z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a namespace name')),
  PHOENIX_METRICS_ADDR: optional(listen),
  PHOENIX_SDK_METRICS_ADDR: optional(listen),
  LOG_LEVEL: optional(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])),
  PHOENIX_CATALOG_DIR: optional(z.string().transform((p) => path.resolve(p))),
  PHOENIX_ALLOW_INLINE_TARGETS: optional(z.enum(['true', 'false', '1', '0'], { error: 'must be true or false' })),
  PHOENIX_WORKFLOW_STACK_TRACES: optional(z.enum(['true', 'false', '1', '0'], { error: 'must be true or false' })),
  PHOENIX_WORKFLOW_BUNDLE: optional(
    z
      .string()
      .refine((p) => existsSync(p), 'file does not exist')
      .transform((p) => path.resolve(p)),
  ),
});

function toListen(value: string | undefined, fallback: string): ListenAddress | null {
  const v = value ?? fallback;
  if (v === 'off') return null;
  const i = v.lastIndexOf(':');
  return { host: v.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(v.slice(i + 1)) };
}

/**
 * Validates `env` (default: `process.env`).
 * @throws WorkerConfigError listing every invalid variable.
 */
export function parseWorkerConfig(env: Readonly<Record<string, string | undefined>> = process.env): WorkerConfig {
  const issues: string[] = [];
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.join('.');
      issues.push(`${name}=${JSON.stringify(env[name] ?? '')}: ${issue.message}`);
    }
  }
  let connect: ReturnType<typeof loadClientConnectConfig> | undefined;
  try {
    // envconfig reads TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY / TEMPORAL_TLS_* and
    // the optional profile file (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE).
    const defined = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'));
    connect = loadClientConnectConfig({ overrideEnvVars: defined });
  } catch (err) {
    issues.push(`Temporal client configuration (TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE / TEMPORAL_TLS_*): ${(err as Error).message}`);
  }
  if (parsed.success && parsed.data.PHOENIX_CATALOG_DIR) {
    // A broken catalog is found now, not by the first rollout that needs it.
    try {
      loadCatalog(parsed.data.PHOENIX_CATALOG_DIR);
    } catch (err) {
      const listed = err instanceof CatalogError ? err.issues : [(err as Error).message];
      issues.push(...listed.map((i) => `PHOENIX_CATALOG_DIR: ${i}`));
    }
  }
  if (issues.length > 0 || !parsed.success || !connect) throw new WorkerConfigError(issues);

  const e = parsed.data;
  const address = e.TEMPORAL_ADDRESS ?? connect.connectionOptions.address ?? '127.0.0.1:7233';
  const config: WorkerConfig = {
    temporal: {
      address,
      namespace: e.TEMPORAL_NAMESPACE ?? connect.namespace ?? 'default',
      connection: { ...connect.connectionOptions, address },
    },
    metricsAddress: toListen(e.PHOENIX_METRICS_ADDR, '127.0.0.1:9464'),
    sdkMetricsAddress: toListen(e.PHOENIX_SDK_METRICS_ADDR, '127.0.0.1:9465'),
    logLevel: e.LOG_LEVEL ?? 'info',
    workflowBundlePath: e.PHOENIX_WORKFLOW_BUNDLE,
    workflowStackTraces: e.PHOENIX_WORKFLOW_STACK_TRACES === 'true' || e.PHOENIX_WORKFLOW_STACK_TRACES === '1',
    targets: {
      ...(e.PHOENIX_CATALOG_DIR ? { catalogDir: e.PHOENIX_CATALOG_DIR } : {}),
      allowInlineTargets: e.PHOENIX_ALLOW_INLINE_TARGETS === 'true' || e.PHOENIX_ALLOW_INLINE_TARGETS === '1',
    },
    tuning: {
      maxCachedWorkflows: e[WORKER_TUNING_ENV.maxCachedWorkflows],
      workflowTaskSlots: e[WORKER_TUNING_ENV.workflowTaskSlots],
      activitySlots: e[WORKER_TUNING_ENV.activitySlots],
      localActivitySlots: e[WORKER_TUNING_ENV.localActivitySlots],
    },
    activityEnv: Object.freeze({ ...env }),
  };
  return deepFreeze(config);
}

let loaded: WorkerConfig | undefined;

/** The process's configuration, parsed on first use. */
export function workerConfig(): WorkerConfig {
  loaded ??= parseWorkerConfig(process.env);
  return loaded;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value) && !ArrayBuffer.isView(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
