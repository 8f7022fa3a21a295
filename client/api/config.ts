/**
 * Configuration of the HTTP trigger API, parsed once from the environment with zod:
 *
 * - `PHOENIX_API_ADDR` — `host:port` to listen on (default `127.0.0.1:8088`).
 * - `PHOENIX_API_CREDENTIALS_FILE` — YAML file of scoped credentials (see `./credentials`).
 * - `PHOENIX_API_TOKEN_HASHES` — comma-separated sha256 hex digests of admin bearer tokens.
 * - `PHOENIX_API_TOKENS_FILE` — file with one admin token hash per line (`#` starts a comment).
 * - `PHOENIX_API_HMAC_SECRET` — optional admin HMAC key, key id `hmac` (at least 16 chars).
 * - `PHOENIX_CATALOG_DIR` — the service catalog (the worker's); checked at start, re-read on every start request.
 * - `PHOENIX_API_RATE_LIMIT_PER_MIN` — requests per minute per principal (default 300, 0 = off).
 * - `PHOENIX_API_TLS_CERT_FILE` / `PHOENIX_API_TLS_KEY_FILE` — serve HTTPS (both or neither).
 * - `PHOENIX_API_BODY_LIMIT_BYTES` — largest accepted body (default 256 KiB).
 * - `PHOENIX_API_IDEMPOTENCY_TTL_MS` — how long idempotent responses are remembered (default 24 h).
 * - `PHOENIX_LOG_LEVEL` — pino level (default `info`).
 *
 * Plaintext tokens are never configured: only their hashes (`phoenix-api-token-hash TOKEN` or
 * `printf %s TOKEN | sha256sum` produce one).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import { CatalogError, loadCatalog } from '../../catalog/catalog';
import { adminCredentials, CredentialsFileError, mergeCredentials, parseCredentialsFile, type Credential } from './credentials';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Read-only settings of the API process. */
export interface ApiConfig {
  readonly host: string;
  /** Directory of the service catalog; undefined = no catalog (every start is refused). */
  readonly catalogDir: string | undefined;
  readonly port: number;
  /** Every accepted credential: the file's and the admin ones of the older variables. */
  readonly credentials: readonly Credential[];
  /** Admin token hashes (`PHOENIX_API_TOKEN_HASHES`, `PHOENIX_API_TOKENS_FILE`); also in `credentials`. */
  readonly tokenHashes: readonly string[];
  /** The admin HMAC key (`PHOENIX_API_HMAC_SECRET`); also in `credentials`. */
  readonly hmacSecret: string | undefined;
  /** Requests per minute per principal (unauthenticated: per IP); 0 = no limit. */
  readonly rateLimitPerMin: number;
  /** Certificate and key (PEM) when the API serves HTTPS. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  readonly bodyLimitBytes: number;
  readonly idempotencyTtlMs: number;
  readonly logLevel: string;
}

/** Thrown when the API's environment is invalid; lists every problem, one per variable. */
export class ApiConfigError extends Error {
  override readonly name = 'ApiConfigError';
  constructor(readonly issues: string[]) {
    super(`invalid API configuration:\n  ${issues.join('\n  ')}`);
  }
}

const addr = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8088')
  .transform((value) => {
    const at = value.lastIndexOf(':');
    return { host: value.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(value.slice(at + 1)) };
  })
  .refine((a) => a.port <= 65535, 'port must be at most 65535');

const hashList = z
  .string()
  .transform((value) => value.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean))
  .refine((hashes) => hashes.every((h) => SHA256_HEX.test(h)), 'every entry must be a sha256 hex digest (64 hex chars), not a token');

const apiEnv = z.object({
  PHOENIX_API_ADDR: addr.default({ host: '127.0.0.1', port: 8088 }),
  PHOENIX_API_CREDENTIALS_FILE: z.string().optional(),
  PHOENIX_API_TOKEN_HASHES: hashList.optional(),
  PHOENIX_API_TOKENS_FILE: z.string().optional(),
  PHOENIX_API_HMAC_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  PHOENIX_CATALOG_DIR: z.string().optional(),
  PHOENIX_API_RATE_LIMIT_PER_MIN: z.coerce.number().int().min(0).max(1_000_000).default(300),
  PHOENIX_API_TLS_CERT_FILE: z.string().optional(),
  PHOENIX_API_TLS_KEY_FILE: z.string().optional(),
  PHOENIX_API_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(256 * 1024),
  PHOENIX_API_IDEMPOTENCY_TTL_MS: z.coerce.number().int().positive().default(24 * 60 * 60 * 1000),
  PHOENIX_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Parses one hash per line; blank lines and `#` comments are ignored. */
export function parseTokenHashFile(text: string, fileName: string): string[] {
  const hashes: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim().toLowerCase();
    if (!line) return;
    if (!SHA256_HEX.test(line)) {
      throw new ApiConfigError([`PHOENIX_API_TOKENS_FILE: ${fileName}:${i + 1}: expected a sha256 hex digest, not a token`]);
    }
    hashes.push(line);
  });
  return hashes;
}

/** Resolves the API settings from `env` (default `process.env`); fails listing every issue. */
export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const cleaned: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') cleaned[key] = value;
  const parsed = apiEnv.safeParse(cleaned);
  if (!parsed.success) {
    throw new ApiConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const tokenHashes = [...(e.PHOENIX_API_TOKEN_HASHES ?? [])];
  if (e.PHOENIX_API_TOKENS_FILE) {
    let text: string;
    try {
      text = readFileSync(e.PHOENIX_API_TOKENS_FILE, 'utf8');
    } catch (err) {
      throw new ApiConfigError([`PHOENIX_API_TOKENS_FILE: cannot read ${e.PHOENIX_API_TOKENS_FILE}: ${(err as Error).message}`]);
    }
    tokenHashes.push(...parseTokenHashFile(text, e.PHOENIX_API_TOKENS_FILE));
  }
  let fileCredentials: Credential[] = [];
  if (e.PHOENIX_API_CREDENTIALS_FILE) {
    let text: string;
    try {
      text = readFileSync(e.PHOENIX_API_CREDENTIALS_FILE, 'utf8');
    } catch (err) {
      throw new ApiConfigError([`PHOENIX_API_CREDENTIALS_FILE: cannot read ${e.PHOENIX_API_CREDENTIALS_FILE}: ${(err as Error).message}`]);
    }
    try {
      fileCredentials = parseCredentialsFile(text, e.PHOENIX_API_CREDENTIALS_FILE, env);
    } catch (err) {
      if (err instanceof CredentialsFileError) throw new ApiConfigError(err.issues);
      throw err;
    }
  }
  let credentials: Credential[];
  try {
    credentials = mergeCredentials(fileCredentials, adminCredentials(tokenHashes, e.PHOENIX_API_HMAC_SECRET));
  } catch (err) {
    if (err instanceof CredentialsFileError) throw new ApiConfigError(err.issues);
    throw err;
  }
  if (credentials.length === 0) {
    // An API that nobody can call is a misconfiguration, not a secure default worth starting.
    throw new ApiConfigError([
      'PHOENIX_API_CREDENTIALS_FILE / PHOENIX_API_TOKEN_HASHES / PHOENIX_API_TOKENS_FILE / PHOENIX_API_HMAC_SECRET: configure at least one way to authenticate',
    ]);
  }
  if (e.PHOENIX_CATALOG_DIR) {
    // A broken catalog is found at start, listing every problem, not by the first pipeline.
    try {
      loadCatalog(e.PHOENIX_CATALOG_DIR);
    } catch (err) {
      if (err instanceof CatalogError) throw new ApiConfigError(err.issues.map((i) => `PHOENIX_CATALOG_DIR: ${i}`));
      throw err;
    }
  }
  return Object.freeze({
    host: e.PHOENIX_API_ADDR.host,
    port: e.PHOENIX_API_ADDR.port,
    credentials: Object.freeze(credentials),
    tokenHashes: Object.freeze([...new Set(tokenHashes)]),
    hmacSecret: e.PHOENIX_API_HMAC_SECRET,
    rateLimitPerMin: e.PHOENIX_API_RATE_LIMIT_PER_MIN,
    catalogDir: e.PHOENIX_CATALOG_DIR,
    tls: loadTls(e.PHOENIX_API_TLS_CERT_FILE, e.PHOENIX_API_TLS_KEY_FILE),
    bodyLimitBytes: e.PHOENIX_API_BODY_LIMIT_BYTES,
    idempotencyTtlMs: e.PHOENIX_API_IDEMPOTENCY_TTL_MS,
    logLevel: e.PHOENIX_LOG_LEVEL,
  });
}

/** Reads the TLS certificate and key; both or neither must be set, and they must fit together. */
function loadTls(certFile: string | undefined, keyFile: string | undefined): ApiConfig['tls'] {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    const [set, unset] = certFile === undefined ? ['PHOENIX_API_TLS_KEY_FILE', 'PHOENIX_API_TLS_CERT_FILE'] : ['PHOENIX_API_TLS_CERT_FILE', 'PHOENIX_API_TLS_KEY_FILE'];
    throw new ApiConfigError([`${unset}: required when ${set} is set (set both to serve HTTPS, or neither)`]);
  }
  const issues: string[] = [];
  const read = (variable: string, file: string): Buffer | undefined => {
    try {
      return readFileSync(file);
    } catch (err) {
      issues.push(`${variable}: cannot read ${file}: ${(err as Error).message}`);
      return undefined;
    }
  };
  const cert = read('PHOENIX_API_TLS_CERT_FILE', certFile);
  const key = read('PHOENIX_API_TLS_KEY_FILE', keyFile);
  if (!cert || !key) throw new ApiConfigError(issues);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new ApiConfigError([`PHOENIX_API_TLS_CERT_FILE / PHOENIX_API_TLS_KEY_FILE: not a usable PEM certificate and key: ${(err as Error).message}`]);
  }
  return Object.freeze({ cert, key });
}
