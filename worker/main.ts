/**
 * The Phoenix worker process: runs `canaryRollout` workflows and their activities on the
 * `phoenix-rollouts` task queue. Configured through the environment (see ./config).
 */
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createActivities } from '../activities';
import { TASK_QUEUE } from '../workflows/contract';
import { workerConfig, type WorkerConfig } from './config';
import { createRootLogger, PinoSdkLogger } from './logger';
import { startMetricsServer } from './metrics-server';
import { workerTuningOptions } from './tuning';
import { buildWorkflowBundle } from './workflow-bundle';

/** Runs the worker until SIGINT/SIGTERM; resolves after a graceful shutdown. */
export async function runWorker(config: WorkerConfig, logger: Logger): Promise<void> {
  const sdk = config.sdkMetricsAddress;
  Runtime.install({
    logger: new PinoSdkLogger(logger.child({ component: 'temporal' })),
    // The Runtime shuts workers down gracefully (finishing in-flight tasks) on these signals.
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    telemetryOptions: {
      logging: { forward: {}, filter: { core: 'WARN', other: 'WARN' } },
      metrics: sdk ? { prometheus: { bindAddress: `${sdk.host}:${sdk.port}` } } : undefined,
    },
  });

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = config.metricsAddress ? await startMetricsServer(registry, config.metricsAddress, logger) : undefined;

  const connection = await NativeConnection.connect(config.temporal.connection);
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: TASK_QUEUE,
      ...(config.workflowBundlePath
        ? { workflowBundle: { codePath: config.workflowBundlePath } }
        : {
            workflowBundle: await buildWorkflowBundle({
              stackTraces: config.workflowStackTraces,
              logger: new PinoSdkLogger(logger.child({ component: 'bundler' })),
            }),
          }),
      activities: createActivities({ logger, registry, env: config.activityEnv, targets: config.targets }),
      ...workerTuningOptions(config.tuning),
    });
    logger.info(
      {
        temporal: config.temporal.address,
        namespace: config.temporal.namespace,
        taskQueue: TASK_QUEUE,
        catalog: config.targets.catalogDir ?? 'none',
        inlineTargets: config.targets.allowInlineTargets ? 'allowed' : 'refused',
        appMetrics: metrics?.url ?? 'off',
        sdkMetrics: sdk ? `http://${sdk.host}:${sdk.port}/metrics` : 'off',
      },
      'worker started',
    );
    await worker.run();
    logger.info('worker stopped');
  } finally {
    await connection.close();
    await metrics?.close();
  }
}

if (require.main === module) {
  let logger: Logger | undefined;
  try {
    const config = workerConfig();
    logger = createRootLogger(config.logLevel);
    const root = logger;
    runWorker(config, root).then(
      () => process.exit(0),
      (err: unknown) => {
        root.fatal({ err }, 'worker failed');
        process.exit(1);
      },
    );
  } catch (err) {
    // Config errors happen before a logger exists; print them plainly for the operator.
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
