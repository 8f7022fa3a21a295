/**
 * API credentials: who a caller is (the principal, recorded in the audit trail and as `by` in the
 * workflow) and what it may do (its {@link Scope}).
 *
 * `PHOENIX_API_CREDENTIALS_FILE` is YAML:
 *
 * ```yaml
 * credentials:
 *   - principal: ci-checkout             # [A-Za-z0-9._@:-]+, unique
 *     tokenSha256: <64 hex>              # a bearer token, as its sha256; or:
 *     # hmacKeyEnv: PHOENIX_HMAC_CI      # HMAC key read from this env variable (>= 32 chars)
 *     services: ["checkout", "checkout-*"]
 *     actions: [read, start, pause, resume, abort]   # or ["*"]
 *     expires: 2027-01-01T00:00:00Z      # optional
 * ```
 *
 * The older variables stay: every hash of `PHOENIX_API_TOKEN_HASHES` / `PHOENIX_API_TOKENS_FILE`
 * is an admin credential (all actions on all services) with principal `token:<first 12 hex>`, and
 * `PHOENIX_API_HMAC_SECRET` is an admin HMAC key with principal (and key id) `hmac`.
 */
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { API_ACTIONS, compileScope, FULL_SCOPE, SERVICE_GLOB, SERVICE_GLOB_RULE, type Scope } from './scope';

/** Principal names (also HMAC key ids). */
export const PRINCIPAL_PATTERN = /^[A-Za-z0-9._@:-]{1,128}$/;
/** Shortest HMAC key accepted from a credentials file. */
export const MIN_HMAC_KEY_LENGTH = 32;
/** Principal of the legacy `PHOENIX_API_HMAC_SECRET` key. */
export const LEGACY_HMAC_PRINCIPAL = 'hmac';

const SHA256_HEX = /^[0-9a-f]{64}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** One accepted credential: a bearer token hash or an HMAC key, never both. */
export interface Credential {
  readonly principal: string;
  /** sha256 hex of the bearer token (lower case). */
  readonly tokenSha256?: string;
  /** The HMAC key itself (from the environment, never from the file). */
  readonly hmacKey?: string;
  readonly scope: Scope;
  /** Epoch ms after which the credential is refused (401 `credential expired`). */
  readonly expiresAt?: number;
  /** Where it was configured, for error messages: a file name or an env variable. */
  readonly source: string;
}

/** The principal of a legacy admin token: `token:` + the first 12 hex of its hash. */
export function tokenPrincipal(tokenSha256: string): string {
  return `token:${tokenSha256.slice(0, 12)}`;
}

/** Admin credentials of the older variables (all actions on all services). */
export function adminCredentials(tokenHashes: readonly string[], hmacSecret: string | undefined): Credential[] {
  const credentials: Credential[] = [...new Set(tokenHashes.map((h) => h.toLowerCase()))].map((hash) =>
    Object.freeze({ principal: tokenPrincipal(hash), tokenSha256: hash, scope: FULL_SCOPE, source: 'PHOENIX_API_TOKEN_HASHES / PHOENIX_API_TOKENS_FILE' }),
  );
  if (hmacSecret) credentials.push(Object.freeze({ principal: LEGACY_HMAC_PRINCIPAL, hmacKey: hmacSecret, scope: FULL_SCOPE, source: 'PHOENIX_API_HMAC_SECRET' }));
  return credentials;
}

/** A zod error callback: `required` when the field is missing, `otherwise` when of the wrong type. */
const req = (otherwise: string) => (issue: { input?: unknown }) => (issue.input === undefined ? 'required' : otherwise);

const actionValues = [...API_ACTIONS, '*'] as const;
const isoTime = z.union([z.iso.datetime({ offset: true }), z.iso.date()], {
  error: () => 'must be an ISO time with a zone, e.g. 2027-01-01T00:00:00Z',
});

const entrySchema = z
  .object({
    principal: z.string({ error: req('must be a string') }).regex(PRINCIPAL_PATTERN, 'must be 1-128 of [A-Za-z0-9._@:-]'),
    tokenSha256: z
      .string({ error: req('must be a string') })
      .transform((h) => h.trim().toLowerCase())
      .refine((h) => SHA256_HEX.test(h), 'must be the sha256 hex digest of the token (64 hex characters), not the token')
      .optional(),
    hmacKeyEnv: z.string({ error: req('must be a string') }).regex(ENV_NAME, 'must be an environment variable name').optional(),
    services: z
      .array(z.string({ error: req('must be a string') }).regex(SERVICE_GLOB, SERVICE_GLOB_RULE), { error: req('must be a list of service names or globs') })
      .min(1, 'must not be empty'),
    actions: z
      .array(z.enum(actionValues, { error: () => `must be one of ${actionValues.join(', ')}` }), { error: req('must be a list of actions') })
      .min(1, 'must not be empty'),
    expires: z.preprocess((v) => (v instanceof Date ? v.toISOString() : v), isoTime).optional(),
  })
  .strict();

const fileSchema = z
  .object({
    credentials: z.array(z.unknown(), { error: req('must be a list of credentials') }).min(1, 'must list at least one credential'),
  })
  .strict();

type Issue = z.core.$ZodIssue;

function issueLines(prefix: (string | number)[], issues: readonly Issue[]): string[] {
  return issues.flatMap((issue) => {
    const at = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `${[...at, key].join('.')}: unknown key`);
    return [`${at.join('.') || '(root)'}: ${issue.message}`];
  });
}

/** Thrown with one `file: path: message` line per problem of a credentials file. */
export class CredentialsFileError extends Error {
  override readonly name = 'CredentialsFileError';
  constructor(readonly issues: string[]) {
    super(`invalid credentials file:\n  ${issues.join('\n  ')}`);
  }
}

/**
 * Parses a credentials file. `fileName` prefixes every problem (`creds.yaml: credentials.1.services:
 * required`); HMAC keys are read from `env` by the names the file gives.
 * @throws CredentialsFileError listing every problem.
 */
export function parseCredentialsFile(text: string, fileName: string, env: Readonly<Record<string, string | undefined>>): Credential[] {
  const problems: string[] = [];
  const add = (line: string): void => void problems.push(`${fileName}: ${line}`);
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const err of doc.errors) {
      const message = (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      add(`line ${err.linePos?.[0]?.line ?? '?'}: ${message}`);
    }
    throw new CredentialsFileError(problems);
  }
  const data: unknown = doc.toJS();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    add('(root): must be a mapping with a `credentials` list');
    throw new CredentialsFileError(problems);
  }
  const file = fileSchema.safeParse(data);
  if (!file.success) {
    issueLines([], file.error.issues).forEach(add);
    throw new CredentialsFileError(problems);
  }

  const credentials: Credential[] = [];
  const byPrincipal = new Map<string, number>();
  const byToken = new Map<string, number>();
  file.data.credentials.forEach((raw, i) => {
    const at = `credentials.${i}`;
    const parsed = entrySchema.safeParse(raw);
    if (!parsed.success) {
      issueLines(['credentials', i], parsed.error.issues).forEach(add);
      return;
    }
    const entry = parsed.data;
    let ok = true;
    const fail = (line: string): void => {
      ok = false;
      add(line);
    };
    const earlier = byPrincipal.get(entry.principal);
    if (earlier !== undefined) fail(`${at}.principal: duplicate principal ${entry.principal} (also credentials.${earlier})`);
    else byPrincipal.set(entry.principal, i);
    if ((entry.tokenSha256 === undefined) === (entry.hmacKeyEnv === undefined)) {
      fail(`${at}: exactly one of tokenSha256 / hmacKeyEnv is required`);
    }
    if (entry.tokenSha256 !== undefined) {
      const same = byToken.get(entry.tokenSha256);
      if (same !== undefined) fail(`${at}.tokenSha256: same token as credentials.${same}`);
      else byToken.set(entry.tokenSha256, i);
    }
    let hmacKey: string | undefined;
    if (entry.hmacKeyEnv !== undefined) {
      hmacKey = env[entry.hmacKeyEnv];
      if (!hmacKey) fail(`${at}.hmacKeyEnv: environment variable ${entry.hmacKeyEnv} is not set on the API process`);
      else if (hmacKey.length < MIN_HMAC_KEY_LENGTH) {
        fail(`${at}.hmacKeyEnv: the key in ${entry.hmacKeyEnv} must be at least ${MIN_HMAC_KEY_LENGTH} characters (it has ${hmacKey.length})`);
      }
    }
    if (!ok) return;
    credentials.push(
      Object.freeze({
        principal: entry.principal,
        ...(entry.tokenSha256 !== undefined ? { tokenSha256: entry.tokenSha256 } : {}),
        ...(hmacKey !== undefined ? { hmacKey } : {}),
        scope: compileScope(entry.services, entry.actions),
        ...(entry.expires !== undefined ? { expiresAt: Date.parse(entry.expires) } : {}),
        source: fileName,
      }),
    );
  });
  if (problems.length > 0) throw new CredentialsFileError(problems);
  return credentials;
}

/**
 * Joins credentials of several sources; a principal or a token configured twice is an error,
 * since it would be ambiguous who a caller is or what it may do.
 * @throws CredentialsFileError naming both sources.
 */
export function mergeCredentials(...groups: readonly (readonly Credential[])[]): Credential[] {
  const all: Credential[] = [];
  const problems: string[] = [];
  const principals = new Map<string, Credential>();
  const tokens = new Map<string, Credential>();
  for (const credential of groups.flat()) {
    const samePrincipal = principals.get(credential.principal);
    if (samePrincipal) {
      problems.push(`${credential.source}: principal ${credential.principal} is also configured by ${samePrincipal.source}`);
      continue;
    }
    const sameToken = credential.tokenSha256 !== undefined ? tokens.get(credential.tokenSha256) : undefined;
    if (sameToken) {
      problems.push(`${credential.source}: the token of ${credential.principal} is also configured by ${sameToken.source} (as ${sameToken.principal})`);
      continue;
    }
    principals.set(credential.principal, credential);
    if (credential.tokenSha256 !== undefined) tokens.set(credential.tokenSha256, credential);
    all.push(credential);
  }
  if (problems.length > 0) throw new CredentialsFileError(problems);
  return all;
}
