/**
 * The scale bench's worker process in `doubles` mode: the real workflow bundle with the cheap
 * activity doubles of ./doubles, so its RSS and CPU are Temporal's and the workflow's alone. Worker
 * options are worker/main.ts's: worker/tuning.ts from the same PHOENIX_WORKER_* variables. Each analysis and weight change is appended to CALLS_FILE as one
 * JSON line. SDK_METRICS_ADDR (host:port) is where the SDK's Prometheus exporter binds.
 */
import * as fs from 'node:fs';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { parseWorkerConfig } from '../../../worker/config';
import { workerTuningOptions } from '../../../worker/tuning';
import { TASK_QUEUE } from '../../../workflows/contract';
import { createScaleDoubles } from './doubles';

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}

async function main(): Promise<void> {
  const address = required('TEMPORAL_ADDRESS');
  const callsFile = required('CALLS_FILE');
  const bundle = required('WORKFLOW_BUNDLE');
  const sdkMetrics = required('SDK_METRICS_ADDR');
  const { tuning } = parseWorkerConfig(process.env);
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    telemetryOptions: { metrics: { prometheus: { bindAddress: sdkMetrics } } },
  });
  // One descriptor, synchronous appends: a line is on disk before its activity completes, and
  // at ~30 analyses/s the writes cost nothing next to the workflow tasks measured.
  const fd = fs.openSync(callsFile, 'a');
  const activities = createScaleDoubles((call) => fs.writeSync(fd, `${JSON.stringify(call)}\n`));
  const connection = await NativeConnection.connect({ address });
  try {
    const worker = await Worker.create({
      connection,
      taskQueue: TASK_QUEUE,
      workflowBundle: { codePath: bundle },
      activities,
      ...workerTuningOptions(tuning),
    });
    process.stdout.write('worker ready\n');
    await worker.run();
  } finally {
    fs.closeSync(fd);
    await connection.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);
