/**
 * The rollouts dashboard, served by the API process: the built page under `/dashboard/`, a login
 * that turns a bearer token into a session cookie (see `./session`), the page's data routes and
 * its live status as server-sent events. Operator actions need no route of their own: the page
 * calls `POST /v1/rollouts/:id/{pause,resume,abort,promote}`, the routes the CLI's client
 * functions and pipelines use, so validation, scope, audit and the workflow's update validators
 * are the same.
 *
 * | route | auth | what |
 * | --- | --- | --- |
 * | `GET /dashboard/*` | none | the page (files of the bundle; any other path is the page itself) |
 * | `POST /dashboard/login` | the token in the body | sets the session cookie; 401 for a refused token |
 * | `POST /dashboard/logout` | none | clears it |
 * | `GET /dashboard/api/session` | `read` | principal and what it may do |
 * | `GET /dashboard/api/rollouts` | `read` | running rollouts and those finished in the last `days` |
 * | `GET /dashboard/api/rollouts/:id` | `read` | status, check history, allowed actions |
 * | `GET /dashboard/api/rollouts/:id/events` | `read` | `status` events within a second of a change |
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ENDED_STATES, OPERATOR_ACTIONS, ROLLOUT_STATES, type RolloutState, type RolloutStatus } from '../../../workflows/contract';
import { describeCause, type RolloutSummary } from '../../rollouts';
import { serviceOfRolloutId, normalizeRolloutId } from '../../ids';
import type { AuthRequest, AuthResult } from '../auth';
import { errorResponse, fieldErrors } from '../error-response';
import { OutOfScopeError } from '../scope';
import type { RolloutOperations } from '../server';
import { loadBundle, type BundleFile } from './bundle';
import { CheckHistory } from './check-history';
import { dashboardRow, type DashboardRow } from './list-rows';
import { clearedSessionCookie, isCookieSafeToken, sessionCookie } from './session';
import { WatchHub, WatchLimitError, type WatchEvent } from './watch-hub';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Reachable without credentials (the dashboard's page and its login). */
    public?: boolean;
  }
}

/** Settings of the dashboard. */
export interface DashboardOptions {
  /** The built bundle (dist/dashboard); registering fails at once when it is missing. */
  assetsDir: string;
  /** Poll interval of the live status (ms; default 250). */
  liveIntervalMs?: number;
  /** Rollouts watched at once (default 50). */
  maxWatchedRollouts?: number;
  /** Viewers per rollout (default 20). */
  maxViewersPerRollout?: number;
  /** Failed logins per IP per minute before 429 (default 10). */
  maxLoginFailuresPerMin?: number;
}

/** What the dashboard needs from the API app that registers it. */
export interface DashboardDeps {
  rollouts: RolloutOperations;
  authenticate: (request: AuthRequest) => AuthResult;
  /** The API serves HTTPS: the cookie gets `Secure`. */
  secure: boolean;
  logger: Logger;
  now?: () => number;
}

/** Days of finished rollouts the list shows by default, and at most. */
export const DEFAULT_LIST_DAYS = 7;
export const MAX_LIST_DAYS = 30;
/** Rows of the list whose status is read (each is one query or one result fetch). */
const MAX_ROWS = 100;
/** Status reads at once while building the list. */
const LIST_CONCURRENCY = 6;
/** Keep-alive comment on idle event streams, so proxies do not cut them. */
const HEARTBEAT_MS = 15_000;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
};

/** Registers the dashboard's routes on `app` (inside `buildApiServer`, after its hooks). */
export function registerDashboard(app: FastifyInstance, options: DashboardOptions, deps: DashboardDeps): void {
  const files = loadBundle(options.assetsDir);
  const index = files.get('index.html') as BundleFile;
  const now = deps.now ?? Date.now;
  const history = new CheckHistory();
  const hub = new WatchHub({
    status: (id) => deps.rollouts.status(id),
    intervalMs: options.liveIntervalMs,
    maxRollouts: options.maxWatchedRollouts,
    maxSubscribers: options.maxViewersPerRollout,
    onStatus: (status) => history.record(status),
    logger: deps.logger,
  });
  // A finished rollout's status never changes: read it once per run.
  const closedStatuses = new Map<string, RolloutStatus>();
  const failures = new Map<string, { count: number; resetAt: number }>();
  const maxFailures = options.maxLoginFailuresPerMin ?? 10;
  const streams = new Set<FastifyReply>();

  // An accepted operator action (from this page, the CLI's API client or a pipeline) is looked at
  // at once, not at the next tick.
  app.addHook('onResponse', async (request, reply) => {
    const action = request.routeOptions.config?.action;
    if (reply.statusCode === 200 && request.rolloutId && (OPERATOR_ACTIONS as readonly string[]).includes(action ?? '')) hub.refresh(request.rolloutId);
  });

  // Open event streams would keep server.close() waiting for ever.
  app.addHook('preClose', async () => {
    hub.close();
    for (const reply of streams) reply.raw.end();
  });

  const sendFile = (reply: FastifyReply, file: BundleFile): FastifyReply =>
    reply
      .headers(SECURITY_HEADERS)
      .header('content-type', file.contentType)
      .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .send(file.body);

  app.get('/dashboard', { config: { public: true } }, async (_request, reply) => reply.redirect('/dashboard/'));
  app.get('/dashboard/*', { config: { public: true } }, async (request, reply) => {
    const rel = ((request.params as { '*': string })['*'] ?? '').split('?')[0] ?? '';
    const file = files.get(rel);
    if (file) return sendFile(reply, file);
    // Unknown files and API paths are errors; every other path is a page of the app (client-side routes).
    if (rel.startsWith('assets/') || rel.startsWith('api/')) return reply.code(404).send(fieldErrors('(url)', `no file /dashboard/${rel}`));
    return sendFile(reply, index);
  });

  app.post('/dashboard/login', { config: { public: true } }, async (request, reply) => {
    const ip = request.ip;
    const seen = failures.get(ip);
    if (seen && seen.resetAt > now() && seen.count >= maxFailures) {
      reply.header('retry-after', String(Math.ceil((seen.resetAt - now()) / 1000)));
      return reply.code(429).send(fieldErrors('token', `too many failed logins from ${ip}; retry in a minute`));
    }
    const token = (request.body as { token?: unknown } | undefined)?.token;
    const refuse = (message: string) => {
      const entry = seen && seen.resetAt > now() ? seen : { count: 0, resetAt: now() + 60_000 };
      entry.count += 1;
      failures.set(ip, entry);
      request.log.info({ ip, outcome: 'unauthenticated' }, 'dashboard login refused');
      return reply.code(401).send(fieldErrors('token', message));
    };
    if (typeof token !== 'string' || !token.trim()) return refuse('a token is required');
    if (!isCookieSafeToken(token.trim())) return refuse('unknown bearer token');
    const result = deps.authenticate({ authorization: `Bearer ${token.trim()}`, method: 'POST', url: request.url, rawBody: '' });
    if (!result.ok) return refuse(result.reason);
    failures.delete(ip);
    request.log.info({ principal: result.credential.principal }, 'dashboard login');
    return reply
      .header('set-cookie', sessionCookie(token.trim(), deps.secure))
      .header('cache-control', 'no-store')
      .send(sessionBody(result.credential.principal, result.credential.scope));
  });

  app.post('/dashboard/logout', { config: { public: true } }, async (_request, reply) =>
    reply.header('set-cookie', clearedSessionCookie(deps.secure)).send({ ok: true }),
  );

  app.get('/dashboard/api/session', { config: { action: 'read' } }, async (request) => sessionBody(request.principal!, request.scope!));

  app.get('/dashboard/api/rollouts', { config: { action: 'read' } }, async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const state = query.state || undefined;
    if (state !== undefined && !ROLLOUT_STATES.includes(state as RolloutState)) {
      return reply.code(400).send(fieldErrors('state', `must be one of ${ROLLOUT_STATES.join(', ')}`));
    }
    const days = query.days === undefined || query.days === '' ? DEFAULT_LIST_DAYS : Number(query.days);
    if (!Number.isInteger(days) || days < 1 || days > MAX_LIST_DAYS) {
      return reply.code(400).send(fieldErrors('days', `must be a whole number of days from 1 to ${MAX_LIST_DAYS}`));
    }
    const service = query.service?.trim() || undefined;
    const scope = request.scope!;
    if (service !== undefined) {
      request.service = service;
      if (!scope.allows('read', service)) {
        const refusal = errorResponse(new OutOfScopeError(request.principal!, 'read', service));
        return reply.code(refusal.statusCode).send(refusal.body);
      }
    }
    const since = now() - days * 24 * 60 * 60 * 1000;
    let list: RolloutSummary[];
    try {
      list = await deps.rollouts.list({ state: state as RolloutState | undefined, service, limit: 500 });
    } catch (err) {
      const response = errorResponse(err);
      return reply.code(response.statusCode).send(response.body);
    }
    // One rollout continued as new is one row (its latest run); older rollouts of a service are
    // rows of their own, shown from visibility only, since the status query reads the latest run.
    const seen = new Set<string>();
    const summaries = list
      .filter((r) => r.executionStatus !== 'CONTINUED_AS_NEW')
      .filter((r) => scope.allows('read', r.service || serviceOfRolloutId(r.rolloutId)))
      .filter((r) => r.closedAt === null || Date.parse(r.closedAt) >= since)
      .slice(0, MAX_ROWS)
      .map((summary) => {
        const latest = !seen.has(summary.rolloutId);
        seen.add(summary.rolloutId);
        return { summary, latest };
      });
    const rows = await mapLimited(summaries, LIST_CONCURRENCY, async ({ summary, latest }): Promise<DashboardRow> => {
      if (!latest) return dashboardRow(summary, null, null, now(), false);
      try {
        return dashboardRow(summary, await statusOf(summary), null, now(), true);
      } catch (err) {
        return dashboardRow(summary, null, describeCause(err), now(), true);
      }
    });
    return { rollouts: rows, days };
  });

  const statusOf = async (summary: RolloutSummary): Promise<RolloutStatus> => {
    if (summary.closedAt === null) return deps.rollouts.status(summary.rolloutId);
    const key = `${summary.rolloutId}/${summary.runId}`;
    const cached = closedStatuses.get(key);
    if (cached) return cached;
    const status = await deps.rollouts.status(summary.rolloutId);
    if ((ENDED_STATES as readonly RolloutState[]).includes(status.state)) {
      closedStatuses.set(key, status);
      if (closedStatuses.size > 500) closedStatuses.delete(closedStatuses.keys().next().value as string);
    }
    return status;
  };

  app.get('/dashboard/api/rollouts/:id', { config: { action: 'read' } }, async (request) => {
    const id = normalizeRolloutId((request.params as { id: string }).id);
    const status = await deps.rollouts.status(id);
    history.record(status);
    const service = serviceOfRolloutId(id);
    return {
      status,
      checkHistory: history.series(id),
      principal: request.principal,
      allowedActions: OPERATOR_ACTIONS.filter((a) => request.scope!.allows(a, service)),
    };
  });

  app.get('/dashboard/api/rollouts/:id/events', { config: { action: 'read' } }, async (request, reply) => {
    const id = normalizeRolloutId((request.params as { id: string }).id);
    const write = (event: WatchEvent): void => {
      const data = event.type === 'status' ? event.status : { message: event.message };
      reply.raw.write(`event: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    let unsubscribe: () => void;
    const pending: WatchEvent[] = [];
    let open = false;
    try {
      // The hub may answer at once with the latest status; it is written once the stream is open.
      unsubscribe = hub.subscribe(id, (event) => (open ? write(event) : pending.push(event)));
    } catch (err) {
      if (err instanceof WatchLimitError) {
        reply.header('retry-after', '5');
        return reply.code(503).send(fieldErrors('(server)', err.message));
      }
      throw err;
    }
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    reply.raw.write('retry: 2000\n\n');
    open = true;
    for (const event of pending.splice(0)) write(event);
    streams.add(reply);
    const heartbeat = setInterval(() => reply.raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
    request.log.info({ principal: request.principal, rolloutId: id, viewers: hub.subscribers(id) }, 'dashboard: live status opened');
    request.raw.on('close', () => {
      clearInterval(heartbeat);
      streams.delete(reply);
      unsubscribe();
      request.log.info({ principal: request.principal, rolloutId: id }, 'dashboard: live status closed');
    });
  });
}

function sessionBody(principal: string, scope: NonNullable<FastifyRequest['scope']>) {
  return { principal, services: scope.services, actions: scope.actions === '*' ? ['*'] : scope.actions };
}

/** `fn` over `items` with at most `limit` calls at once, results in input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
