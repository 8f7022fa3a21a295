/**
 * Starts the HTTP trigger API: `npm run api`. Configuration: see `./config` (API) and
 * `../config` (Temporal connection). Exits 2 on bad configuration, 3 when Temporal is unreachable.
 */
import pino from 'pino';
import { loadClientConfig } from '../config';
import { ExitCode } from '../exit-codes';
import { RolloutClient } from '../rollouts';
import { REDACT_PATHS } from '../../worker/logger';
import { loadCatalog } from '../../catalog/catalog';
import { loadApiConfig } from './config';
import { defaultDashboardDir } from './dashboard/bundle';
import { buildApiServer } from './server';

async function main(): Promise<number> {
  let apiConfig;
  let clientConfig;
  try {
    apiConfig = loadApiConfig();
    clientConfig = loadClientConfig();
  } catch (err) {
    process.stderr.write(`phoenix-api: ${(err as Error).message}\n`);
    return ExitCode.InvalidInput;
  }
  const logger = pino({
    level: apiConfig.logLevel,
    base: { component: 'phoenix-api' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  });
  let rollouts: RolloutClient;
  try {
    rollouts = await RolloutClient.connect(clientConfig, logger);
  } catch (err) {
    logger.fatal({ err }, 'cannot connect to Temporal');
    return ExitCode.ServerUnreachable;
  }
  const app = buildApiServer({
    rollouts,
    logger,
    credentials: apiConfig.credentials,
    // Re-read on every start: an edit applies to the next rollout. A catalog broken after start
    // fails those starts (500, details in the log) rather than using a half-read one.
    catalog: apiConfig.catalogDir ? () => loadCatalog(apiConfig.catalogDir!) : undefined,
    rateLimitPerMin: apiConfig.rateLimitPerMin,
    tls: apiConfig.tls,
    bodyLimitBytes: apiConfig.bodyLimitBytes,
    idempotencyTtlMs: apiConfig.idempotencyTtlMs,
    // Fails at start, naming the build command, when the bundle is missing.
    dashboard: { assetsDir: defaultDashboardDir() },
  });
  const address = await app.listen({ host: apiConfig.host, port: apiConfig.port });
  logger.info(
    {
      address,
      tls: apiConfig.tls !== undefined,
      principals: apiConfig.credentials.map((c) => c.principal),
      rateLimitPerMin: apiConfig.rateLimitPerMin,
      catalog: apiConfig.catalogDir ?? 'none',
      temporal: clientConfig.address,
      namespace: clientConfig.namespace,
    },
    'phoenix API listening',
  );
  const expired = apiConfig.credentials.filter((c) => c.expiresAt !== undefined && c.expiresAt < Date.now());
  if (expired.length > 0) logger.warn({ principals: expired.map((c) => c.principal) }, 'credentials already expired: they are refused');

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  try {
    await app.close();
  } finally {
    await rollouts.close();
  }
  return ExitCode.Ok;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`phoenix-api: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = ExitCode.Internal;
  },
);
