/**
 * HMAC-signed JSON webhooks, shared by the webhook traffic router and the webhook platform.
 *
 * Every attempt carries three headers:
 * - `X-Phoenix-Timestamp`: send time in Unix seconds;
 * - `X-Phoenix-Delivery`: a random UUID, new for every attempt (a retry is a new delivery);
 * - `X-Phoenix-Signature`: `sha256=` + hex HMAC-SHA256(secret, `${timestamp}.${deliveryId}.${rawBody}`).
 *
 * A receiver recomputes the signature over the exact bytes it received, compares in constant
 * time, rejects a timestamp more than 5 minutes off and a delivery id it has seen before (README,
 * "Receiving Phoenix webhooks"), so a captured delivery cannot be replayed.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { ConfigError, WebhookRejectedError, WebhookUnavailableError } from './errors';

/** Header carrying `sha256=<hex HMAC of timestamp.deliveryId.rawBody>`. */
export const SIGNATURE_HEADER = 'X-Phoenix-Signature';
/** Header carrying the send time in Unix seconds, so receivers can reject stale deliveries. */
export const TIMESTAMP_HEADER = 'X-Phoenix-Timestamp';
/** Header carrying the delivery's unique id, so receivers can reject a delivery seen before. */
export const DELIVERY_HEADER = 'X-Phoenix-Delivery';

/** The `X-Phoenix-Signature` value: `sha256=` + hex HMAC-SHA256(secret, `${timestamp}.${deliveryId}.${rawBody}`). */
export function signDelivery(secret: string, timestamp: string, deliveryId: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${deliveryId}.${rawBody}`, 'utf8').digest('hex')}`;
}

/**
 * @deprecated The body-only signature is gone; this is {@link signDelivery} under its old name,
 * kept for the re-export in `./index`.
 */
export const signBody = signDelivery;

/**
 * Reads the HMAC secret from the worker environment.
 * @throws ConfigError naming the variable when it is unset or empty.
 */
export function readSecret(env: Readonly<Record<string, string | undefined>>, secretEnv: string, field: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(secretEnv)) {
    throw new ConfigError(`${field} must be an environment variable name, got ${JSON.stringify(secretEnv)}`, field);
  }
  const secret = env[secretEnv];
  if (!secret) {
    throw new ConfigError(
      `environment variable ${secretEnv} (named by ${field}) is not set on the worker; it must hold the webhook HMAC secret`,
      secretEnv,
    );
  }
  return secret;
}

/** One signed delivery. */
export interface SignedPostOptions {
  url: string;
  secret: string;
  body: unknown;
  timeoutMs: number;
  fetch: typeof fetch;
  signal?: AbortSignal;
  now?: () => number;
  /** Delivery id generator (tests); default a random UUID per attempt. */
  newDeliveryId?: () => string;
}

/**
 * POSTs `body` as JSON with signature headers and returns the parsed JSON answer (`{}` when empty).
 * 4xx (except 408/429, which are about timing) → WebhookRejectedError (non-retryable);
 * 5xx, 408, 429, network errors, timeouts and non-JSON answers → WebhookUnavailableError (retryable).
 */
export async function postSignedJson(opts: SignedPostOptions): Promise<unknown> {
  const raw = JSON.stringify(opts.body);
  const timestamp = String(Math.floor((opts.now ?? Date.now)() / 1000));
  const deliveryId = (opts.newDeliveryId ?? randomUUID)();
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await opts.fetch(opts.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [TIMESTAMP_HEADER]: timestamp,
        [DELIVERY_HEADER]: deliveryId,
        [SIGNATURE_HEADER]: signDelivery(opts.secret, timestamp, deliveryId, raw),
      },
      body: raw,
      signal,
    });
  } catch (err) {
    const why = timeout.aborted ? `timed out after ${opts.timeoutMs} ms` : `failed: ${(err as Error).message}`;
    throw new WebhookUnavailableError(`webhook POST ${opts.url} ${why}`, opts.url, undefined, { cause: err });
  }
  const text = await res.text().catch(() => '');
  if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
    throw new WebhookRejectedError(`webhook ${opts.url} rejected the request: HTTP ${res.status} ${text.slice(0, 200)}`, opts.url, res.status);
  }
  if (!res.ok) {
    throw new WebhookUnavailableError(`webhook ${opts.url} answered HTTP ${res.status} ${text.slice(0, 200)}`, opts.url, res.status);
  }
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new WebhookUnavailableError(`webhook ${opts.url} answered non-JSON: ${text.slice(0, 200)}`, opts.url, res.status, { cause: err });
  }
}
