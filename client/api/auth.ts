/**
 * Request authentication for the HTTP API: bearer tokens checked against configured sha256
 * hashes, or HMAC-signed requests that cannot be replayed. Comparisons are constant-time;
 * plaintext tokens are never stored.
 *
 * A signed request carries four headers:
 *
 * - `X-Phoenix-Key-Id`: the principal whose HMAC key signed it;
 * - `X-Phoenix-Timestamp`: Unix seconds, within 5 minutes of the server's clock;
 * - `X-Phoenix-Nonce`: 16-128 of `[A-Za-z0-9_-]`, never used before by this key id;
 * - `X-Phoenix-Signature`: `sha256=` + hex HMAC-SHA256(key, canonical request), where the
 *   canonical request is `METHOD\npathWithQuery\ntimestamp\nnonce\nsha256hex(rawBody)`.
 *
 * Method and path are covered, so a signed `GET` cannot be replayed as `POST …/promote`; the
 * nonce is remembered for the skew window, so the same request cannot be sent twice.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Credential } from './credentials';
import { ReplayCache } from './replay-cache';

/** Signed requests older or newer than this are refused; their nonces are kept this long. */
export const MAX_SIGNATURE_SKEW_MS = 5 * 60 * 1000;

/** Header carrying `sha256=<hex>` of a signed request. */
export const SIGNATURE_HEADER = 'x-phoenix-signature';
/** Header carrying the Unix-seconds timestamp a signature covers. */
export const TIMESTAMP_HEADER = 'x-phoenix-timestamp';
/** Header naming the key (the principal) that signed the request. */
export const KEY_ID_HEADER = 'x-phoenix-key-id';
/** Header carrying the request's one-time nonce. */
export const NONCE_HEADER = 'x-phoenix-nonce';

/** Accepted nonces: 16-128 URL-safe characters (a random UUID or 16+ random bytes in base64url). */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

/** sha256 hex digest of a bearer token, the form in which tokens are configured. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** What a signature covers. */
export interface SignedRequestParts {
  method: string;
  /** Path with the query string, exactly as sent (`/v1/rollouts?state=paused`). */
  path: string;
  /** Unix seconds, as sent in `X-Phoenix-Timestamp`. */
  timestamp: string | number;
  nonce: string;
  /** The raw body; `''` (the default) for none. */
  body?: string | Buffer;
}

/** `METHOD\npathWithQuery\ntimestamp\nnonce\nsha256hex(rawBody)`: the string that is signed. */
export function canonicalRequest(parts: SignedRequestParts): string {
  const bodyHash = createHash('sha256').update(parts.body ?? '').digest('hex');
  return `${parts.method.toUpperCase()}\n${parts.path}\n${parts.timestamp}\n${parts.nonce}\n${bodyHash}`;
}

/** The `X-Phoenix-Signature` value for a request: `sha256=` + hex HMAC-SHA256(key, canonical request). */
export function signRequest(parts: SignedRequestParts & { key: string }): string {
  return `sha256=${createHmac('sha256', parts.key).update(canonicalRequest(parts), 'utf8').digest('hex')}`;
}

/** A fresh nonce for {@link signedHeaders}: 16 random bytes, base64url. */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * All four headers of a signed request, for clients: key id, timestamp (now), a fresh nonce and
 * the signature.
 */
export function signedHeaders(options: { keyId: string; key: string; method: string; path: string; body?: string | Buffer; now?: number; nonce?: string }): Record<string, string> {
  const timestamp = String(Math.floor((options.now ?? Date.now()) / 1000));
  const nonce = options.nonce ?? newNonce();
  return {
    [KEY_ID_HEADER]: options.keyId,
    [TIMESTAMP_HEADER]: timestamp,
    [NONCE_HEADER]: nonce,
    [SIGNATURE_HEADER]: signRequest({ key: options.key, method: options.method, path: options.path, timestamp, nonce, body: options.body }),
  };
}

/** The parts of a request that authentication looks at. */
export interface AuthRequest {
  authorization?: string;
  keyId?: string;
  timestamp?: string;
  nonce?: string;
  signature?: string;
  method: string;
  /** Path with query, as received. */
  url: string;
  rawBody: string;
}

/**
 * Who made the request, or why it was refused: 401 for bad credentials, 503 when the replay cache
 * has no room for another nonce (then `retryAfterS` says when it will).
 */
export type AuthResult =
  | { ok: true; credential: Credential }
  | { ok: false; status: 401; reason: string }
  | { ok: false; status: 503; reason: string; retryAfterS: number };

/** Accepted credentials; `now` is for tests. */
export interface AuthenticatorOptions {
  credentials: readonly Credential[];
  now?: () => number;
  /** Remembers nonces; by default one for the skew window, 100 000 nonces per key id. */
  replayCache?: ReplayCache;
}

function equalHex(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  // Lengths of hex digests are public; only the content comparison must be constant-time.
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}

const SIGNED_HEADERS = [
  ['keyId', 'X-Phoenix-Key-Id'],
  ['timestamp', 'X-Phoenix-Timestamp'],
  ['nonce', 'X-Phoenix-Nonce'],
  ['signature', 'X-Phoenix-Signature'],
] as const;

/** A key no configured principal has, so an unknown key id costs the same HMAC as a known one. */
const DECOY_KEY = randomBytes(32).toString('hex');

/** Builds the check every protected route runs before doing anything. */
export function createAuthenticator(options: AuthenticatorOptions): (req: AuthRequest) => AuthResult {
  const now = options.now ?? Date.now;
  const tokens = options.credentials.filter((c) => c.tokenSha256 !== undefined);
  const keys = new Map(options.credentials.filter((c) => c.hmacKey !== undefined).map((c) => [c.principal, c]));
  const replays = options.replayCache ?? new ReplayCache({ windowMs: MAX_SIGNATURE_SKEW_MS, now });
  const refuse = (reason: string): AuthResult => ({ ok: false, status: 401, reason });
  const expired = (c: Credential): boolean => c.expiresAt !== undefined && now() > c.expiresAt;

  return (req) => {
    if (req.authorization !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(req.authorization);
      if (!match?.[1]) return refuse('malformed Authorization header, expected "Bearer <token>"');
      const digest = hashToken(match[1]);
      // Compare against every hash so timing does not reveal which entry matched.
      let found: Credential | undefined;
      for (const c of tokens) if (equalHex(digest, c.tokenSha256!) && found === undefined) found = c;
      if (!found) return refuse('unknown bearer token');
      if (expired(found)) return refuse('credential expired');
      return { ok: true, credential: found };
    }
    if (SIGNED_HEADERS.some(([field]) => req[field] !== undefined)) {
      if (keys.size === 0) return refuse('signed requests are not enabled');
      const missing = SIGNED_HEADERS.filter(([field]) => !req[field]).map(([, header]) => header);
      if (missing.length > 0) {
        return refuse(`signed requests need X-Phoenix-Key-Id, X-Phoenix-Timestamp, X-Phoenix-Nonce and X-Phoenix-Signature; missing ${missing.join(', ')}`);
      }
      const { keyId, timestamp, nonce, signature } = req as Required<AuthRequest>;
      if (!/^\d{1,12}$/.test(timestamp)) return refuse('X-Phoenix-Timestamp must be Unix seconds');
      if (!NONCE_PATTERN.test(nonce)) return refuse('X-Phoenix-Nonce must be 16-128 of [A-Za-z0-9_-]');
      const sent = /^sha256=([0-9a-fA-F]{64})$/.exec(signature);
      if (!sent?.[1]) return refuse('X-Phoenix-Signature must be sha256=<hex>');
      const timestampMs = Number(timestamp) * 1000;
      if (Math.abs(now() - timestampMs) > MAX_SIGNATURE_SKEW_MS) return refuse('X-Phoenix-Timestamp is more than 5 minutes off');
      const credential = keys.get(keyId);
      const expected = signRequest({ key: credential?.hmacKey ?? DECOY_KEY, method: req.method, path: req.url, timestamp, nonce, body: req.rawBody });
      // An unknown key id and a wrong signature get the same answer, so key ids cannot be probed.
      if (!equalHex(sent[1].toLowerCase(), expected.slice('sha256='.length)) || !credential) return refuse('bad signature');
      if (expired(credential)) return refuse('credential expired');
      const verdict = replays.record(keyId, nonce, timestampMs);
      if (verdict.kind === 'replayed') return refuse('nonce already used');
      if (verdict.kind === 'full') {
        return { ok: false, status: 503, reason: 'too many signed requests to remember their nonces; retry later', retryAfterS: Math.ceil(verdict.retryAfterMs / 1000) };
      }
      return { ok: true, credential };
    }
    return refuse('missing credentials: send Authorization: Bearer <token> or a signed request');
  };
}
