/**
 * The HTTP trigger API (fastify). `buildApiServer` wires routes to a `RolloutClient`; `main.ts`
 * starts it. Errors are `{ errors: [{ path, message }] }` with `path` naming the offending field.
 *
 * Every `/v1` request goes through one `preHandler` before its route runs:
 * 1. authentication (`./auth`): a bearer token or a replay-proof HMAC signature names a
 *    credential, whose principal is who acted (the workflow records `api:<principal>`);
 * 2. the rate limit (`@fastify/rate-limit`): per principal, or per IP while unauthenticated;
 * 3. 401 when authentication failed;
 * 4. authorization (`./scope`): each route declares its action in its config; a route without
 *    one is refused. Routes with a rollout id check the id's service here; `POST /v1/rollouts`
 *    checks the body's service once parsed, the list filters by scope, the Alertmanager receiver
 *    checks each alert's service. Out of scope is 403 and nothing reaches the rollout client.
 * Every response is logged with principal, action, service, rolloutId and outcome; state-changing
 * calls get an extra `audit: true` line saying whether they were allowed or refused.
 *
 * Idempotent starts (`Idempotency-Key` on `POST /v1/rollouts`) work on two levels:
 * 1. an in-memory TTL cache replays the first response for the same key and body, and answers 422
 *    for the same key with another body;
 * 2. the key and a hash of the body are stored in the workflow memo, and `RolloutClient.start`
 *    looks at the latest run before starting and again on a conflict. So a retry after an API
 *    restart (cache gone) still gets the original 201 instead of a 409 or a second rollout, even
 *    when the first rollout has already finished.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { OPERATOR_ACTIONS, ROLLOUT_STATES, type OperatorAck, type OperatorAction, type RolloutState } from '../../workflows/contract';
import { isOperatorActionRefused } from '../errors';
import { normalizeRolloutId, serviceOfRolloutId } from '../ids';
import type { RolloutClient } from '../rollouts';
import { emptyCatalog, type Catalog } from '../../catalog/catalog';
import { parseRolloutRequest, parseRolloutRequestText } from '../../catalog/request';
import { abortForAlerts, alertmanagerPayload } from './alertmanager';
import { createAuthenticator, KEY_ID_HEADER, NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './auth';
import { adminCredentials, mergeCredentials, type Credential } from './credentials';
import { registerDashboard, type DashboardOptions } from './dashboard';
import { sessionAuthorization } from './dashboard/session';
import { errorResponse, fieldErrors } from './error-response';
import { IdempotencyCache, type StoredResponse } from './idempotency';
import type { ReplayCache } from './replay-cache';
import { OutOfScopeError, type ApiAction, type Scope } from './scope';

/** What a route needs: an action of `./scope`, or `alertmanager` (`abort` per alert). */
export type RouteAction = ApiAction | 'alertmanager';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received, for HMAC verification and idempotency fingerprints. */
    rawBody: string;
    /** The rollout the request is about, once known; logged with the response. */
    rolloutId: string | undefined;
    /** The service the request acts on, once known; logged with the response. */
    service: string | undefined;
    /** Who authenticated (the credential's principal). */
    principal: string | undefined;
    /** What the principal may do; null until authenticated. */
    scope: Scope | null;
    /** Whether authorization let the request through; logged in the audit line. */
    decision: 'allowed' | 'refused' | undefined;
    /** Extra fields for the audit line (the Alertmanager receiver's per-alert outcome). */
    auditDetail: Record<string, unknown> | null;
  }
  interface FastifyContextConfig {
    /** The action a `/v1` route performs; `/v1` routes without one are refused. */
    action?: RouteAction;
  }
}

/** What the API needs from a `RolloutClient` (tests pass doubles of just this). */
export type RolloutOperations = Pick<
  RolloutClient,
  'startFromCatalog' | 'list' | 'status' | 'run' | 'pause' | 'resume' | 'abort' | 'promote'
>;

/** Dependencies and settings of the API app. */
export interface ApiServerOptions {
  rollouts: RolloutOperations;
  logger: Logger;
  /**
   * The service catalog starts are resolved against, read on every start so an edit applies to
   * the next rollout (default: none, every start is refused naming the service).
   */
  catalog?: () => Catalog;
  /** Accepted credentials (see `./credentials`). */
  credentials?: readonly Credential[];
  /** Admin bearer token hashes (all actions on all services), principal `token:<12 hex>`. */
  tokenHashes?: readonly string[];
  /** Admin HMAC key, key id and principal `hmac`. */
  hmacSecret?: string;
  /** Requests per minute per principal (per IP while unauthenticated); 0 = off; default 300. */
  rateLimitPerMin?: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  bodyLimitBytes?: number;
  idempotencyTtlMs?: number;
  /** Nonce memory of signed requests (tests pass a small one). */
  replayCache?: ReplayCache;
  /** Clock for signature skew checks, credential expiry and cache expiry (tests). */
  now?: () => number;
  /** Serve the dashboard (`./dashboard`) from this bundle; absent: no dashboard routes. */
  dashboard?: DashboardOptions;
}

/** Default of {@link ApiServerOptions.rateLimitPerMin}. */
export const DEFAULT_RATE_LIMIT_PER_MIN = 300;

/** Routes reachable without credentials: the API description and a liveness probe. */
const PUBLIC_ROUTES = new Set(['/openapi.json', '/healthz']);

const JSON_TYPES = ['application/json'];
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

const operatorBody = z
  .object({
    reason: z.string().max(1000, 'at most 1000 characters').optional(),
    /** Kept as a note in the reason: the workflow is told the authenticated principal instead. */
    by: z.string().max(200, 'at most 200 characters').optional(),
  })
  .strict();
const abortBody = operatorBody
  .extend({ force: z.boolean({ error: 'must be true or false' }).optional() })
  .strict();

/** Body of an operator action the rollout accepted (200). */
export interface AcceptedResponse extends OperatorAck {
  accepted: true;
}
/** Body of an operator action the rollout refused, or that came after it finished (409). */
export interface RefusedResponse {
  accepted: false;
  action: OperatorAction;
  reason: string;
  /** Present when the rollout has already finished, in the API's usual error shape. */
  errors?: { path: string; message: string }[];
}

/**
 * The reason the workflow records: the caller's reason, plus the `by` it claimed as a note. The
 * claim is not authenticated, so it is never passed as `by`.
 */
export function reasonWithClaimedBy(action: OperatorAction, reason: string | undefined, claimedBy: string | undefined): string | undefined {
  const claim = claimedBy?.trim();
  if (!claim) return reason;
  return `${reason ?? `${action} requested`} (on behalf of ${claim}, as stated by the caller)`;
}

const ROUTES = new WeakMap<FastifyInstance, { method: string; url: string }[]>();

/** Method and URL of every route the app registered (HEAD twins of GET routes left out). */
export function registeredRoutes(app: FastifyInstance): readonly { method: string; url: string }[] {
  return ROUTES.get(app) ?? [];
}

/** Loads the checked-in OpenAPI document (works from the sources and from `dist/`). */
export function loadOpenApiDocument(): Record<string, unknown> {
  const candidates = [
    path.resolve(__dirname, '../../openapi/openapi.yaml'),
    path.resolve(__dirname, '../../../openapi/openapi.yaml'),
  ];
  for (const file of candidates) {
    try {
      return parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw new Error(`openapi/openapi.yaml not found (looked in ${candidates.join(', ')})`);
}

function send(reply: FastifyReply, response: StoredResponse): FastifyReply {
  return reply.code(response.statusCode).send(response.body);
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** How a response is summed up in the log line. */
export function outcomeOf(statusCode: number): string {
  if (statusCode < 400) return 'ok';
  if (statusCode === 401) return 'unauthenticated';
  if (statusCode === 403) return 'out_of_scope';
  if (statusCode === 429) return 'rate_limited';
  return statusCode < 500 ? 'rejected' : 'error';
}

/** Builds the fastify app; call `listen` on it (or `inject` in tests). */
export function buildApiServer(options: ApiServerOptions): FastifyInstance {
  const { rollouts } = options;
  const currentCatalog = options.catalog ?? emptyCatalog;
  // Typed as fastify's base logger so the app is a plain FastifyInstance; it is still pino.
  const loggerInstance: FastifyBaseLogger = options.logger;
  const settings = { loggerInstance, disableRequestLogging: true, bodyLimit: options.bodyLimitBytes ?? 256 * 1024 };
  // An HTTPS app is typed with https.Server; routes, hooks and inject are the same either way.
  const app = (options.tls ? Fastify({ ...settings, https: { cert: options.tls.cert, key: options.tls.key } }) : Fastify(settings)) as unknown as FastifyInstance;
  const credentials = mergeCredentials(options.credentials ?? [], adminCredentials(options.tokenHashes ?? [], options.hmacSecret));
  const authenticate = createAuthenticator({ credentials, now: options.now, replayCache: options.replayCache });
  const idempotency = new IdempotencyCache(options.idempotencyTtlMs ?? 24 * 60 * 60 * 1000, options.now);
  const openapi = loadOpenApiDocument();
  const perMinute = options.rateLimitPerMin ?? DEFAULT_RATE_LIMIT_PER_MIN;

  const routes: { method: string; url: string }[] = [];
  ROUTES.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });

  app.decorateRequest('rawBody', '');
  app.decorateRequest('rolloutId', undefined);
  app.decorateRequest('service', undefined);
  app.decorateRequest('principal', undefined);
  app.decorateRequest('scope', null);
  app.decorateRequest('decision', undefined);
  app.decorateRequest('auditDetail', null);

  // The limiter is only asked (it does not reply itself), so it can run after authentication and
  // still count unauthenticated requests, by IP, before they get their 401.
  if (perMinute > 0) app.register(rateLimit, { global: false });
  let limiter: ReturnType<FastifyInstance['createRateLimit']> | undefined;
  const limit = (request: FastifyRequest) => {
    limiter ??= app.createRateLimit({
      max: perMinute,
      timeWindow: 60_000,
      keyGenerator: (req) => (req.principal !== undefined ? `principal:${req.principal}` : `ip:${req.ip}`),
    });
    return limiter(request);
  };

  // Bodies are read as text so the exact bytes can be signed and fingerprinted.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPES, { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    if ((body as string).trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(body as string));
    } catch (err) {
      const error = new Error(`body: invalid JSON: ${(err as Error).message}`) as Error & { statusCode: number };
      error.statusCode = 400;
      done(error, undefined);
    }
  });
  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    done(null, body);
  });

  app.addHook('preHandler', async (request, reply) => {
    if (PUBLIC_ROUTES.has(request.routeOptions.url ?? '') || request.routeOptions.config?.public === true) return;
    const header = (name: string): string | undefined => {
      const value = request.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    // 1. Who is it?
    const result = authenticate({
      // The dashboard's session cookie stands for a bearer token when the request brings no credentials of its own.
      authorization: header('authorization') ?? (header(KEY_ID_HEADER) === undefined ? sessionAuthorization(request) : undefined),
      keyId: header(KEY_ID_HEADER),
      timestamp: header(TIMESTAMP_HEADER),
      nonce: header(NONCE_HEADER),
      signature: header(SIGNATURE_HEADER),
      method: request.method,
      url: request.url,
      rawBody: request.rawBody,
    });
    if (result.ok) {
      request.principal = result.credential.principal;
      request.scope = result.credential.scope;
    }
    // 2. Too many requests from this principal (or, unauthenticated, from this IP)?
    if (perMinute > 0) {
      const verdict = await limit(request);
      if (!verdict.isAllowed && verdict.isExceeded) {
        request.decision = 'refused';
        reply.header('retry-after', String(verdict.ttlInSeconds));
        reply.header('x-ratelimit-limit', String(verdict.max));
        reply.header('x-ratelimit-remaining', '0');
        reply.header('x-ratelimit-reset', String(verdict.ttlInSeconds));
        const who = request.principal !== undefined ? `principal ${request.principal}` : `unauthenticated requests from ${request.ip}`;
        return reply
          .code(429)
          .send(fieldErrors('(rate)', `rate limit exceeded: at most ${verdict.max} requests per minute for ${who}; retry in ${verdict.ttlInSeconds} s`));
      }
    }
    // 3. Refuse the unauthenticated.
    if (!result.ok) {
      request.decision = 'refused';
      if (result.status === 503) {
        reply.header('retry-after', String(result.retryAfterS));
        return reply.code(503).send(fieldErrors('(server)', result.reason));
      }
      reply.header('www-authenticate', 'Bearer realm="phoenix"');
      return reply.code(401).send(fieldErrors('Authorization', result.reason));
    }
    // Unknown URLs answer 404 to the authenticated, and need no action.
    if (request.is404) return;
    // 4. May it do this? Deny by default: every route must declare its action.
    const action = request.routeOptions.config.action;
    if (action === undefined) {
      request.decision = 'refused';
      return reply.code(403).send(fieldErrors('(credentials)', `route ${request.method} ${request.routeOptions.url} declares no action`));
    }
    const needed: ApiAction = action === 'alertmanager' ? 'abort' : action;
    const rolloutId = rolloutIdOfParams(request.params);
    if (rolloutId !== undefined) {
      request.rolloutId = rolloutId;
      const refusal = scopeRefusal(request, needed, serviceOfRolloutId(rolloutId));
      if (refusal) return send(reply, refusal);
    } else if (!result.credential.scope.grants(needed)) {
      // The service comes later (body, query, alerts) or the id is invalid: refuse now when the
      // action is granted on no service at all.
      request.decision = 'refused';
      return send(reply, errorResponse(new OutOfScopeError(result.credential.principal, needed, undefined)));
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    const action = request.routeOptions.config?.action;
    const line = {
      principal: request.principal,
      action,
      service: request.service,
      rolloutId: request.rolloutId,
      outcome: outcomeOf(reply.statusCode),
      method: request.method,
      url: request.url,
      statusCode: reply.statusCode,
      responseTimeMs: Math.round(reply.elapsedTime),
    };
    if (reply.statusCode >= 500) request.log.error(line, 'request failed');
    else request.log.info(line, 'request handled');
    if (action !== undefined && action !== 'read') {
      const decision = request.decision ?? (reply.statusCode === 401 || reply.statusCode === 403 || reply.statusCode === 429 ? 'refused' : 'allowed');
      request.log.info({ audit: true, decision, ...line, ...(request.auditDetail ?? {}) }, `audit: ${action} ${decision}`);
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const response = errorResponse(error);
    if (response.statusCode >= 500) request.log.error({ rolloutId: request.rolloutId, err: error }, 'request error');
    return send(reply, response);
  });

  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send(fieldErrors('(url)', `no route ${request.method} ${request.url.split('?')[0]}`));
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/openapi.json', async () => openapi);

  app.post('/v1/rollouts', { config: { action: 'start' } }, async (request, reply) => {
    const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const rawKey = request.headers['idempotency-key'];
    const key = Array.isArray(rawKey) ? rawKey[0] : rawKey;
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      return reply.code(400).send(fieldErrors('Idempotency-Key', 'must be 1-255 visible ASCII characters'));
    }
    const fingerprint = sha256(request.rawBody);

    const startRollout = async (): Promise<StoredResponse> => {
      if (request.body === undefined) {
        return { statusCode: 400, body: fieldErrors('(body)', 'a rollout request is required: {service, canary}') };
      }
      // Targets are operator-owned: the body names a catalog service, never commands or URLs.
      // YAML bodies arrive as text (their parser keeps them raw); JSON ones already parsed.
      const parsed =
        typeof request.body === 'string'
          ? parseRolloutRequestText(request.body, YAML_TYPES.includes(contentType) ? 'yaml' : 'json')
          : parseRolloutRequest(request.body);
      if (!parsed.success) return { statusCode: 400, body: { errors: parsed.issues } };
      const refusal = scopeRefusal(request, 'start', parsed.request.service);
      if (refusal) return refusal;
      try {
        const started = await rollouts.startFromCatalog(parsed.request, currentCatalog(), {
          idempotencyKey: key,
          requestHash: key ? fingerprint : undefined,
        });
        return { statusCode: 201, body: { rolloutId: started.rolloutId, runId: started.runId } };
      } catch (err) {
        return errorResponse(err);
      }
    };

    if (key === undefined) {
      const response = await startRollout();
      return send(withLocation(reply, response), response);
    }
    const outcome = await idempotency.run(`${request.principal}\n${key}`, fingerprint, startRollout);
    if (outcome.kind === 'mismatch') {
      return reply.code(422).send(fieldErrors('Idempotency-Key', 'already used with a different request body'));
    }
    if (outcome.kind === 'replay') reply.header('idempotent-replayed', 'true');
    const body = outcome.response.body as { rolloutId?: string };
    request.rolloutId ??= body.rolloutId;
    return send(withLocation(reply, outcome.response), outcome.response);
  });

  app.get('/v1/rollouts', { config: { action: 'read' } }, async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const state = query.state || undefined;
    if (state !== undefined && !ROLLOUT_STATES.includes(state as RolloutState)) {
      return reply.code(400).send(fieldErrors('state', `must be one of ${ROLLOUT_STATES.join(', ')}`));
    }
    const service = query.service || undefined;
    if (service !== undefined) {
      const refusal = scopeRefusal(request, 'read', service);
      if (refusal) return send(reply, refusal);
    }
    const scope = request.scope!;
    const list = await rollouts.list({ state: state as RolloutState | undefined, service });
    // Only the services the principal may read; a filter outside the scope was refused above.
    return { rollouts: list.filter((r) => scope.allows('read', r.service || serviceOfRolloutId(r.rolloutId))) };
  });

  app.get('/v1/rollouts/:id', { config: { action: 'read' } }, async (request) => {
    const id = rolloutIdParam(request);
    return rollouts.status(id);
  });

  for (const action of OPERATOR_ACTIONS) {
    app.post(`/v1/rollouts/:id/${action}`, { config: { action } }, async (request, reply) => {
      const id = rolloutIdParam(request);
      const parsed = (action === 'abort' ? abortBody : operatorBody).safeParse(request.body ?? {});
      if (!parsed.success) {
        return reply.code(400).send({
          errors: parsed.error.issues.map((i) => ({
            path: i.path.join('.') || (i.code === 'unrecognized_keys' ? i.keys.join(', ') : '(body)'),
            message: i.code === 'unrecognized_keys' && i.keys.includes('force') ? 'only abort accepts force' : i.message,
          })),
        });
      }
      const given = parsed.data.reason?.trim() || undefined;
      if (action === 'abort' && !given) return reply.code(400).send(fieldErrors('reason', 'required to abort a rollout'));
      // The workflow records who acted; that is who authenticated, never what the body claims.
      const by = `api:${request.principal}`;
      const reason = reasonWithClaimedBy(action, given, parsed.data.by);
      try {
        let ack: OperatorAck;
        if (action === 'abort') {
          const force = (parsed.data as z.infer<typeof abortBody>).force === true;
          ack = await rollouts.abort(id, reason ?? '', by, force ? { force } : {});
        } else {
          ack = await rollouts[action](id, reason ? { reason, by } : { by });
        }
        const body: AcceptedResponse = { accepted: true, action: ack.action, state: ack.state, message: ack.message };
        return reply.code(200).send(body);
      } catch (err) {
        if (isOperatorActionRefused(err)) {
          const body: RefusedResponse = { accepted: false, action, reason: err.reason };
          return reply.code(409).send(body);
        }
        if (err instanceof Error && err.name === 'RolloutAlreadyFinishedError') {
          const body: RefusedResponse = { accepted: false, action, reason: err.message, ...fieldErrors('id', err.message) };
          return reply.code(409).send(body);
        }
        throw err;
      }
    });
  }

  app.post('/v1/alertmanager', { config: { action: 'alertmanager' } }, async (request, reply) => {
    const parsed = alertmanagerPayload.safeParse(request.body);
    if (!parsed.success) {
      return reply.code(400).send({
        errors: parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message })),
      });
    }
    const principal = request.principal!;
    const scope = request.scope!;
    request.decision = 'allowed';
    const outOfScope: string[] = [];
    const outcome = await abortForAlerts(rollouts, parsed.data, request.log, {
      outOfScope: (rolloutId) => {
        const service = serviceOfRolloutId(rolloutId);
        if (scope.allows('abort', service)) return null;
        outOfScope.push(rolloutId);
        return new OutOfScopeError(principal, 'abort', service).message;
      },
    });
    request.auditDetail = { aborted: outcome.aborted.map((a) => a.rolloutId), outOfScope };
    return reply.code(200).send(outcome);
  });

  if (options.dashboard) {
    registerDashboard(app, options.dashboard, { rollouts, authenticate, secure: options.tls !== undefined, logger: options.logger, now: options.now });
  }

  return app;
}

/**
 * The scope check of a request that acts on one service: null when the principal may `action`
 * it (the request is then marked allowed), else the 403 to send. Records the service for the log.
 */
function scopeRefusal(request: FastifyRequest, action: ApiAction, service: string): StoredResponse | null {
  request.service = service;
  request.rolloutId ??= rolloutIdOrUndefined(service);
  if (request.scope?.allows(action, service) && request.principal !== undefined) {
    request.decision = 'allowed';
    return null;
  }
  request.decision = 'refused';
  return errorResponse(new OutOfScopeError(request.principal ?? '(none)', action, service));
}

/** The normalized `:id` of a route, if it has one and it is a valid rollout id. */
function rolloutIdOfParams(params: unknown): string | undefined {
  const id = (params as { id?: unknown } | undefined)?.id;
  if (typeof id !== 'string') return undefined;
  try {
    return normalizeRolloutId(id);
  } catch {
    // Not a rollout id: the route answers 400 before it calls anything.
    return undefined;
  }
}

function rolloutIdOrUndefined(service: string): string | undefined {
  try {
    return normalizeRolloutId(`rollout-${service}`);
  } catch {
    return undefined;
  }
}

function withLocation(reply: FastifyReply, response: StoredResponse): FastifyReply {
  const body = response.body as { rolloutId?: string };
  return response.statusCode === 201 && body.rolloutId ? reply.header('location', `/v1/rollouts/${body.rolloutId}`) : reply;
}

function rolloutIdParam(request: FastifyRequest): string {
  const id = normalizeRolloutId((request.params as { id: string }).id);
  request.rolloutId = id;
  return id;
}
