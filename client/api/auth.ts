/**
 * Request authentication for the HTTP API: bearer tokens checked against configured sha256
 * hashes, or HMAC-signed requests. Comparisons are constant-time; plaintext tokens are never
 * stored.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Signed requests older or newer than this are refused, which bounds replays. */
export const MAX_SIGNATURE_SKEW_MS = 5 * 60 * 1000;

/** Header carrying `sha256=<hex>` of a signed request. */
export const SIGNATURE_HEADER = 'x-phoenix-signature';
/** Header carrying the Unix-seconds timestamp a signature covers. */
export const TIMESTAMP_HEADER = 'x-phoenix-timestamp';

/** sha256 hex digest of a bearer token, the form in which tokens are configured. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * The signature a client sends: `sha256=` + hex HMAC-SHA256 over `timestamp + "." + rawBody`,
 * where `timestamp` is the `X-Phoenix-Timestamp` header value (Unix seconds).
 */
export function signRequest(secret: string, timestamp: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`, 'utf8').digest('hex')}`;
}

/** The parts of a request that authentication looks at. */
export interface AuthRequest {
  authorization?: string;
  signature?: string;
  timestamp?: string;
  rawBody: string;
}

/** Who made the request, or why it was refused (the reason goes into the 401 body). */
export type AuthResult = { ok: true; principal: string } | { ok: false; reason: string };

/** Accepted credentials; `now` is for tests. */
export interface AuthenticatorOptions {
  tokenHashes: readonly string[];
  hmacSecret?: string;
  now?: () => number;
}

function equalHex(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  // Lengths of hex digests are public; only the content comparison must be constant-time.
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}

/** Builds the check every protected route runs before doing anything. */
export function createAuthenticator(options: AuthenticatorOptions): (req: AuthRequest) => AuthResult {
  const hashes = options.tokenHashes.map((h) => h.toLowerCase());
  const now = options.now ?? Date.now;

  return (req) => {
    if (req.authorization !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(req.authorization);
      if (!match?.[1]) return { ok: false, reason: 'malformed Authorization header, expected "Bearer <token>"' };
      const digest = hashToken(match[1]);
      // Compare against every hash so timing does not reveal which entry matched.
      let index = -1;
      hashes.forEach((h, i) => {
        if (equalHex(digest, h) && index === -1) index = i;
      });
      if (index === -1) return { ok: false, reason: 'unknown bearer token' };
      return { ok: true, principal: `token:${digest.slice(0, 12)}` };
    }
    if (req.signature !== undefined || req.timestamp !== undefined) {
      if (!options.hmacSecret) return { ok: false, reason: 'signed requests are not enabled' };
      if (!req.signature || !req.timestamp) {
        return { ok: false, reason: `both ${SIGNATURE_HEADER} and ${TIMESTAMP_HEADER} are required` };
      }
      if (!/^\d{1,12}$/.test(req.timestamp)) return { ok: false, reason: `${TIMESTAMP_HEADER} must be Unix seconds` };
      const skew = Math.abs(now() - Number(req.timestamp) * 1000);
      if (skew > MAX_SIGNATURE_SKEW_MS) return { ok: false, reason: `${TIMESTAMP_HEADER} is more than 5 minutes off` };
      const sent = /^sha256=([0-9a-fA-F]{64})$/.exec(req.signature);
      if (!sent?.[1]) return { ok: false, reason: `${SIGNATURE_HEADER} must be sha256=<hex>` };
      const expected = signRequest(options.hmacSecret, req.timestamp, req.rawBody).slice('sha256='.length);
      if (!equalHex(sent[1].toLowerCase(), expected)) return { ok: false, reason: 'bad signature' };
      return { ok: true, principal: 'hmac' };
    }
    return { ok: false, reason: 'missing credentials: send Authorization: Bearer <token> or a signed request' };
  };
}
