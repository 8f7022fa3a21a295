/**
 * Connection settings for the rollout client. Temporal's own variables (TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_TLS_CLIENT_CERT_PATH/KEY_PATH,
 * TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_GRPC_META_*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE)
 * are read by `@temporalio/envconfig`; the few Phoenix-specific ones are parsed here with zod.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { ConnectionOptions } from '@temporalio/client';
import { z } from 'zod';

/** Where the client connects when nothing is configured: the local dev server. */
export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';
/** Namespace used when none is configured. */
export const DEFAULT_NAMESPACE = 'default';

const phoenixClientEnv = z.object({
  /** How long to wait for the server before giving up (ms). */
  PHOENIX_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().max(300_000).default(5_000),
});

/** Read-only connection settings resolved from the environment. */
export interface ClientConfig {
  readonly address: string;
  readonly namespace: string;
  readonly connection: ConnectionOptions;
}

/** Thrown when an environment variable that configures the client is invalid; lists every problem. */
export class ClientConfigError extends Error {
  override readonly name = 'ClientConfigError';
  constructor(readonly issues: string[]) {
    super(`invalid client configuration: ${issues.join('; ')}`);
  }
}

/**
 * Resolves the connection settings once. `env` defaults to `process.env`; tests pass their own.
 * Empty strings count as unset so `TEMPORAL_ADDRESS=` in a shell does not mean "connect to ''".
 */
export function loadClientConfig(env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const cleaned: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') cleaned[key] = value;

  const parsed = phoenixClientEnv.safeParse(cleaned);
  if (!parsed.success) {
    throw new ClientConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  let temporal;
  try {
    temporal = loadClientConnectConfig({ overrideEnvVars: cleaned });
  } catch (err) {
    throw new ClientConfigError([`Temporal client config: ${err instanceof Error ? err.message : String(err)}`]);
  }
  const address = temporal.connectionOptions.address ?? DEFAULT_TEMPORAL_ADDRESS;
  const namespace = temporal.namespace ?? DEFAULT_NAMESPACE;
  const { address: _ignored, ...rest } = temporal.connectionOptions;
  return Object.freeze({
    address,
    namespace,
    connection: Object.freeze({
      ...(rest as Omit<ConnectionOptions, 'address'>),
      address,
      connectTimeout: parsed.data.PHOENIX_CONNECT_TIMEOUT_MS,
    }),
  });
}
