/**
 * The dashboard's session: the bearer token a person typed into the login form, kept by the
 * browser in an HttpOnly, SameSite=Strict cookie and checked on every request exactly as an
 * `Authorization: Bearer` header would be (same credentials, scopes, expiry and rate limit).
 * Page scripts cannot read it (HttpOnly) and other sites cannot send it (SameSite=Strict); as a
 * second guard against cross-site requests, a state-changing request authenticated by the cookie
 * must also carry {@link DASHBOARD_REQUEST_HEADER}, which a cross-origin form cannot set.
 */

/** Name of the session cookie. */
export const SESSION_COOKIE = 'phoenix_dashboard';
/** Header the dashboard sends with every call; required for cookie-authenticated non-GET requests. */
export const DASHBOARD_REQUEST_HEADER = 'x-phoenix-dashboard';
/** How long the browser keeps the cookie; the credential's own expiry still applies on every request. */
export const SESSION_MAX_AGE_S = 12 * 60 * 60;

const TOKEN_CHARS = /^[\x21-\x7e]{1,512}$/;

/** Whether `token` can be carried in the cookie (visible ASCII, no separators that need quoting). */
export function isCookieSafeToken(token: string): boolean {
  return TOKEN_CHARS.test(token) && !/[;,"\\]/.test(token);
}

/** The `Set-Cookie` value that starts a session. `secure` when the API serves HTTPS. */
export function sessionCookie(token: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MAX_AGE_S}${secure ? '; Secure' : ''}`;
}

/** The `Set-Cookie` value that ends a session. */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}

/** The value of cookie `name` in a `Cookie` header, if present. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at < 0) continue;
    if (part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

/** What {@link sessionAuthorization} looks at in a request. */
export interface SessionRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * The `Authorization` value the session cookie stands for, or undefined when the request has no
 * session cookie, or is a state-changing request without {@link DASHBOARD_REQUEST_HEADER}
 * (then it is unauthenticated, and refused like any request without credentials).
 */
export function sessionAuthorization(request: SessionRequest): string | undefined {
  const raw = request.headers.cookie;
  const token = readCookie(Array.isArray(raw) ? raw.join('; ') : raw, SESSION_COOKIE);
  if (!token || !isCookieSafeToken(token)) return undefined;
  const safe = request.method === 'GET' || request.method === 'HEAD';
  if (!safe && request.headers[DASHBOARD_REQUEST_HEADER] !== '1') return undefined;
  return `Bearer ${token}`;
}
