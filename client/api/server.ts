/**
 * The HTTP trigger API (fastify). `buildApiServer` wires routes to a `RolloutClient`; `main.ts`
 * starts it. Every `/v1` route requires a bearer token or an HMAC signature (see `./auth`). Errors
 * are `{ errors: [{ path, message }] }` with `path` naming the offending field.
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
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { OPERATOR_ACTIONS, ROLLOUT_STATES, type OperatorAck, type OperatorAction, type RolloutState } from '../../workflows/contract';
import { isOperatorActionRefused } from '../errors';
import { normalizeRolloutId } from '../ids';
import type { RolloutClient } from '../rollouts';
import { parseSpecInput } from '../spec-input';
import { createAuthenticator, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './auth';
import { errorResponse, fieldErrors } from './error-response';
import { IdempotencyCache, type StoredResponse } from './idempotency';
import { abortForAlerts, alertmanagerPayload } from './alertmanager';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received, for HMAC verification and idempotency fingerprints. */
    rawBody: string;
    /** The rollout the request is about, once known; logged with the response. */
    rolloutId: string | undefined;
    principal: string | undefined;
  }
}

/** What the API needs from a `RolloutClient` (tests pass doubles of just this). */
export type RolloutOperations = Pick<
  RolloutClient,
  'start' | 'list' | 'status' | 'run' | 'pause' | 'resume' | 'abort' | 'promote'
>;

/** Dependencies and settings of the API app. */
export interface ApiServerOptions {
  rollouts: RolloutOperations;
  logger: Logger;
  tokenHashes: readonly string[];
  hmacSecret?: string;
  bodyLimitBytes?: number;
  idempotencyTtlMs?: number;
  /** Clock for signature skew checks and cache expiry (tests). */
  now?: () => number;
}

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

/** Builds the fastify app; call `listen` on it (or `inject` in tests). */
export function buildApiServer(options: ApiServerOptions): FastifyInstance {
  const { rollouts } = options;
  // Typed as fastify's base logger so the app is a plain FastifyInstance; it is still pino.
  const loggerInstance: FastifyBaseLogger = options.logger;
  const app = Fastify({
    loggerInstance,
    disableRequestLogging: true,
    bodyLimit: options.bodyLimitBytes ?? 256 * 1024,
  });
  const authenticate = createAuthenticator({
    tokenHashes: options.tokenHashes,
    hmacSecret: options.hmacSecret,
    now: options.now,
  });
  const idempotency = new IdempotencyCache(options.idempotencyTtlMs ?? 24 * 60 * 60 * 1000, options.now);
  const openapi = loadOpenApiDocument();

  const routes: { method: string; url: string }[] = [];
  ROUTES.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });

  app.decorateRequest('rawBody', '');
  app.decorateRequest('rolloutId', undefined);
  app.decorateRequest('principal', undefined);

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
    if (PUBLIC_ROUTES.has(request.routeOptions.url ?? '')) return;
    const header = (name: string): string | undefined => {
      const value = request.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const result = authenticate({
      authorization: header('authorization'),
      signature: header(SIGNATURE_HEADER),
      timestamp: header(TIMESTAMP_HEADER),
      rawBody: request.rawBody,
    });
    if (!result.ok) {
      reply.header('www-authenticate', 'Bearer realm="phoenix"');
      return reply.code(401).send(fieldErrors('Authorization', result.reason));
    }
    request.principal = result.principal;
  });

  app.addHook('onResponse', async (request, reply) => {
    const line = {
      rolloutId: request.rolloutId,
      method: request.method,
      url: request.url,
      statusCode: reply.statusCode,
      responseTimeMs: Math.round(reply.elapsedTime),
      principal: request.principal,
    };
    if (reply.statusCode >= 500) request.log.error(line, 'request failed');
    else request.log.info(line, 'request handled');
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

  app.post('/v1/rollouts', async (request, reply) => {
    const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const rawKey = request.headers['idempotency-key'];
    const key = Array.isArray(rawKey) ? rawKey[0] : rawKey;
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      return reply.code(400).send(fieldErrors('Idempotency-Key', 'must be 1-255 visible ASCII characters'));
    }
    const fingerprint = sha256(request.rawBody);

    const startRollout = async (): Promise<StoredResponse> => {
      if (request.body === undefined) return { statusCode: 400, body: fieldErrors('(body)', 'a rollout spec is required') };
      const parsed = parseSpecInput(request.body, YAML_TYPES.includes(contentType) ? 'yaml' : 'json');
      if (!parsed.success) return { statusCode: 400, body: { errors: parsed.issues } };
      request.rolloutId = normalizeRolloutId(parsed.spec.service);
      try {
        const started = await rollouts.start(parsed.spec, { idempotencyKey: key, requestHash: key ? fingerprint : undefined });
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

  app.get('/v1/rollouts', async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const state = query.state || undefined;
    if (state !== undefined && !ROLLOUT_STATES.includes(state as RolloutState)) {
      return reply.code(400).send(fieldErrors('state', `must be one of ${ROLLOUT_STATES.join(', ')}`));
    }
    const list = await rollouts.list({
      state: state as RolloutState | undefined,
      service: query.service || undefined,
    });
    return { rollouts: list };
  });

  app.get('/v1/rollouts/:id', async (request) => {
    const id = rolloutIdParam(request);
    return rollouts.status(id);
  });

  for (const action of OPERATOR_ACTIONS) {
    app.post(`/v1/rollouts/:id/${action}`, async (request, reply) => {
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

  app.post('/v1/alertmanager', async (request, reply) => {
    const parsed = alertmanagerPayload.safeParse(request.body);
    if (!parsed.success) {
      return reply.code(400).send({
        errors: parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message })),
      });
    }
    const outcome = await abortForAlerts(rollouts, parsed.data, request.log);
    return reply.code(200).send(outcome);
  });

  return app;
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
