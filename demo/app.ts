/**
 * The demo service's HTTP routes. Application traffic (`GET /`) is what faults act on and what
 * metrics and `/admin/stats` count; health checks, scrapes and admin calls are not counted so that
 * measured traffic splits are not skewed by probes.
 *
 * `/admin/*` requires `Authorization: Bearer <adminToken>` (compared in constant time) and answers
 * 401 without it; with no admin token configured the admin routes do not exist (404).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { InvalidFaultsError, parseFaults, type Faults } from './faults';
import { createDemoMetrics, type DemoMetrics } from './metrics';
import type { DemoServiceConfig } from './service-config';

/** The running state of one instance, shared by its routes. */
export interface DemoState {
  faults: Faults;
  /** Application responses served by this instance, by HTTP status code. */
  served: Record<string, number>;
}

/** What `buildDemoApps` returns: the main app and, if configured, a separate admin app. */
export interface DemoApps {
  app: FastifyInstance;
  adminApp?: FastifyInstance;
  state: DemoState;
  metrics: DemoMetrics;
}

type AppConfig = Pick<
  DemoServiceConfig,
  'service' | 'version' | 'memoryLimitBytes' | 'baseLatencyMs' | 'initialFaults' | 'adminPort' | 'adminToken'
>;

/** Builds (does not listen) the fastify apps. `random` is injectable for deterministic tests. */
export function buildDemoApps(config: AppConfig, logger: Logger, random: () => number = Math.random): DemoApps {
  const state: DemoState = { faults: { ...config.initialFaults }, served: {} };
  const metrics = createDemoMetrics({
    service: config.service,
    version: config.version,
    memoryLimitBytes: config.memoryLimitBytes,
    faults: () => state.faults,
    random,
  });
  const app = newFastify(logger);
  registerServiceRoutes(app, config, state, metrics, random);
  let adminApp: FastifyInstance | undefined;
  if (config.adminPort !== undefined) adminApp = newFastify(logger.child({ admin: true }));
  if (config.adminToken !== undefined) {
    registerAdminRoutes(adminApp ?? app, config, config.adminToken, state, logger);
  } else {
    logger.warn('no admin token (DEMO_ADMIN_TOKEN / --admin-token): the /admin routes are disabled');
  }
  return { app, ...(adminApp ? { adminApp } : {}), state, metrics };
}

function newFastify(logger: Logger): FastifyInstance {
  // Per-request logs at 50 req/s would drown the interesting lines.
  return Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;
}

function registerServiceRoutes(
  app: FastifyInstance,
  config: AppConfig,
  state: DemoState,
  metrics: DemoMetrics,
  random: () => number,
): void {
  app.get('/', async (_req, reply) => {
    const start = performance.now();
    const f = state.faults;
    const delay = config.baseLatencyMs * (0.5 + random()) + (f.latencyMs ?? 0);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (f.cpuBurnMs) burnCpu(f.cpuBurnMs);
    const failed = (f.errorRate ?? 0) > 0 && random() < (f.errorRate ?? 0);
    const status = failed ? 500 : 200;
    const label = String(status);
    metrics.requests.inc({ status: label });
    metrics.duration.observe({ status: label }, (performance.now() - start) / 1000);
    state.served[label] = (state.served[label] ?? 0) + 1;
    reply.code(status);
    return failed
      ? { error: 'injected fault', service: config.service, version: config.version }
      : { service: config.service, version: config.version, ok: true };
  });

  app.get('/healthz', async (_req, reply) => {
    if (state.faults.unhealthy) {
      reply.code(503);
      return { status: 'unhealthy', version: config.version };
    }
    return { status: 'ok', version: config.version };
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

/** sha256 of both sides: equal lengths for timingSafeEqual, and no early exit on the length. */
function tokenMatches(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token of an `Authorization: Bearer <token>` header; undefined for anything else. */
function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header ?? '');
  return m?.[1];
}

function registerAdminRoutes(app: FastifyInstance, config: AppConfig, token: string, state: DemoState, logger: Logger): void {
  // An encapsulated plugin: the hook guards exactly the routes registered inside it.
  void app.register(async (admin) => {
    admin.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      const given = bearerToken(req.headers.authorization);
      if (given === undefined || !tokenMatches(given, token)) {
        // `return reply` ends the request here: the route handler does not run.
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="demo-admin"')
          .send({ error: 'admin routes need Authorization: Bearer <DEMO_ADMIN_TOKEN>' });
      }
    });
    adminRoutes(admin, config, state, logger);
  });
}

function adminRoutes(app: FastifyInstance, config: AppConfig, state: DemoState, logger: Logger): void {
  app.get('/admin/faults', async () => state.faults);

  app.post('/admin/faults', async (req, reply) => {
    try {
      state.faults = parseFaults(req.body);
    } catch (err) {
      if (!(err instanceof InvalidFaultsError)) throw err;
      reply.code(400);
      return { error: err.message, fields: err.fields };
    }
    logger.info({ faults: state.faults }, 'faults set');
    return state.faults;
  });

  app.delete('/admin/faults', async () => {
    state.faults = {};
    logger.info({ faults: state.faults }, 'faults set');
    return state.faults;
  });

  app.get('/admin/stats', async () => {
    const total = Object.values(state.served).reduce((a, b) => a + b, 0);
    return { service: config.service, version: config.version, served: state.served, total };
  });
}

function burnCpu(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Deliberate busy wait: the fault exists to raise process CPU usage.
  }
}
