/**
 * Configuration of one demo service instance, from command-line flags with environment fallbacks.
 * Parsed once at startup; every problem is reported with the flag/variable name.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseFaults, type Faults } from './faults';

/** The validated, read-only configuration of a demo service process. */
export interface DemoServiceConfig {
  readonly service: string;
  readonly version: string;
  readonly host: string;
  readonly port: number;
  /** Separate port for /admin/*; when absent the admin routes share the main port. */
  readonly adminPort?: number;
  /**
   * Bearer token the /admin/* routes require (`Authorization: Bearer <token>`). Absent: the admin
   * routes are not registered at all (404), so an instance nobody configured cannot be steered.
   */
  readonly adminToken?: string;
  /** Denominator of `memory_usage_ratio` (bytes). */
  readonly memoryLimitBytes: number;
  /** Typical latency of a healthy request (ms); each request takes 0.5x..1.5x of it. */
  readonly baseLatencyMs: number;
  readonly initialFaults: Faults;
  readonly logLevel: string;
}

const port = z.coerce.number().int().min(0).max(65535);

const schema = z.object({
  service: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes'),
  version: z.string().min(1),
  host: z.string().min(1),
  port,
  'admin-port': port.optional(),
  'admin-token': z
    .string()
    .min(16, 'must be at least 16 characters (e.g. openssl rand -hex 24)')
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces (it travels in an HTTP header)')
    .optional(),
  'memory-limit-mb': z.coerce.number().positive(),
  'base-latency-ms': z.coerce.number().min(0),
  faults: z.string().optional(),
  'log-level': z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
});

const ENV: Record<string, string> = {
  service: 'DEMO_SERVICE',
  version: 'DEMO_VERSION',
  host: 'DEMO_HOST',
  port: 'DEMO_PORT',
  'admin-port': 'DEMO_ADMIN_PORT',
  'admin-token': 'DEMO_ADMIN_TOKEN',
  'memory-limit-mb': 'DEMO_MEMORY_LIMIT_MB',
  'base-latency-ms': 'DEMO_BASE_LATENCY_MS',
  faults: 'DEMO_FAULTS',
  'log-level': 'LOG_LEVEL',
};

const DEFAULTS: Record<string, string> = {
  service: 'checkout',
  host: '127.0.0.1',
  'memory-limit-mb': '512',
  'base-latency-ms': '20',
  'log-level': 'info',
};

/** Thrown when flags or environment do not form a valid configuration. */
export class DemoConfigError extends Error {
  override readonly name = 'DemoConfigError';
}

/** Reads flags (`--service`, `--version`, `--port`, ...) falling back to env, then defaults. */
export function loadDemoServiceConfig(argv: string[], env: NodeJS.ProcessEnv): DemoServiceConfig {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.keys(ENV).map((k) => [k, { type: 'string' as const }])),
      strict: true,
    }));
  } catch (err) {
    throw new DemoConfigError(`invalid demo service arguments: ${(err as Error).message}`);
  }
  const raw: Record<string, string | undefined> = {};
  for (const [key, envName] of Object.entries(ENV)) {
    const flag = values[key];
    raw[key] = (typeof flag === 'string' ? flag : undefined) ?? emptyAsUndefined(env[envName]) ?? DEFAULTS[key];
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = String(i.path[0]);
      return `--${key} (env ${ENV[key]}): ${i.message}`;
    });
    throw new DemoConfigError(`invalid demo service configuration:\n  ${lines.join('\n  ')}`);
  }
  const v = parsed.data;
  let initialFaults: Faults = {};
  if (v.faults !== undefined) {
    try {
      initialFaults = parseFaults(JSON.parse(v.faults));
    } catch (err) {
      throw new DemoConfigError(`--faults (env DEMO_FAULTS): ${(err as Error).message}`);
    }
  }
  return Object.freeze({
    service: v.service,
    version: v.version,
    host: v.host,
    port: v.port,
    ...(v['admin-port'] !== undefined ? { adminPort: v['admin-port'] } : {}),
    ...(v['admin-token'] !== undefined ? { adminToken: v['admin-token'] } : {}),
    memoryLimitBytes: Math.round(v['memory-limit-mb'] * 1024 * 1024),
    baseLatencyMs: v['base-latency-ms'],
    initialFaults,
    logLevel: v['log-level'],
  });
}

function emptyAsUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
