/**
 * Entry point of the demo service:
 *   tsx demo/service.ts --service checkout --version v1 --port 8081 [--admin-port 9081]
 * Flags fall back to DEMO_* environment variables (see service-config.ts). Listens on 127.0.0.1
 * unless --host says otherwise. Admin routes (/admin/faults, /admin/stats) share the main port
 * unless --admin-port is given, and exist only with an admin token (DEMO_ADMIN_TOKEN, preferred
 * over --admin-token, which other users can read in the process list): callers send
 * `Authorization: Bearer <token>`.
 */
import pino from 'pino';
import { buildDemoApps } from './app';
import { DemoConfigError, loadDemoServiceConfig } from './service-config';

async function main(): Promise<void> {
  let config;
  try {
    config = loadDemoServiceConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof DemoConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel, base: { service: config.service, version: config.version, pid: process.pid } });
  const { app, adminApp } = buildDemoApps(config, logger);
  await app.listen({ host: config.host, port: config.port });
  if (adminApp) await adminApp.listen({ host: config.host, port: config.adminPort ?? 0 });
  logger.info(
    { port: config.port, adminPort: config.adminPort, admin: config.adminToken !== undefined, faults: config.initialFaults },
    'demo service listening',
  );

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'demo service stopping');
    void Promise.allSettled([app.close(), adminApp?.close()]).then(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`demo service failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
