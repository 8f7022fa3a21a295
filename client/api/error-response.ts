/** Maps errors to HTTP responses with field-level `{ errors: [{ path, message }] }` bodies. */
import type { StoredResponse } from './idempotency';

/** One field-level error body. */
export function fieldErrors(path: string, message: string): { errors: { path: string; message: string }[] } {
  return { errors: [{ path, message }] };
}

const STATUS_BY_NAME: Record<string, { status: number; path: string }> = {
  RolloutNotFoundError: { status: 404, path: 'id' },
  RolloutAlreadyFinishedError: { status: 409, path: 'id' },
  RolloutAlreadyRunningError: { status: 409, path: 'service' },
  InvalidRolloutIdError: { status: 400, path: 'id' },
  OutOfScopeError: { status: 403, path: '(credentials)' },
  InvalidFilterError: { status: 400, path: '(query)' },
  IdempotencyKeyReusedError: { status: 422, path: 'Idempotency-Key' },
  SpecValidationError: { status: 400, path: '(body)' },
  ServerUnreachableError: { status: 503, path: '(server)' },
  RolloutNotRespondingError: { status: 503, path: '(server)' },
};

/**
 * The response for an error thrown by a route or the client. Known client errors keep their
 * message; anything else is a 500 whose details stay in the log, not in the response.
 */
export function errorResponse(err: unknown): StoredResponse {
  const e = err as Error & { statusCode?: number; code?: string; issues?: { path: string; message: string }[]; field?: string; rolloutId?: string; runId?: string };
  const known = e && typeof e.name === 'string' ? STATUS_BY_NAME[e.name] : undefined;
  if (known) {
    if (e.name === 'SpecValidationError' && Array.isArray(e.issues)) return { statusCode: 400, body: { errors: e.issues } };
    const path = e.name === 'InvalidFilterError' && e.field ? e.field : known.path;
    const body: Record<string, unknown> = fieldErrors(path, e.message);
    if (e.name === 'RolloutAlreadyRunningError') {
      body.rolloutId = e.rolloutId;
      if (e.runId) body.runId = e.runId;
    }
    return { statusCode: known.status, body };
  }
  // Errors fastify raises itself (413 body too large, 415 media type, 400 bad JSON) carry a status.
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const path = e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'Content-Type' : '(body)';
    return { statusCode: e.statusCode, body: fieldErrors(path, e.message) };
  }
  return { statusCode: 500, body: fieldErrors('(server)', 'internal error') };
}
