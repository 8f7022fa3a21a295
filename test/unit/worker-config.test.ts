/** Worker configuration: defaults, envconfig integration, and every problem listed at once. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseWorkerConfig, WorkerConfigError } from '../../worker/config';
import { workerTuningOptions } from '../../worker/tuning';

const EMPTY = '[profile.default]\n';

// An empty config file keeps the developer's ~/.config/temporalio profile out of the tests.
async function withConfigFile<T>(toml: string, fn: (file: string) => T): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'phoenix-worker-config-'));
  const file = path.join(dir, 'temporal.toml');
  await writeFile(file, toml);
  try {
    return fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('parseWorkerConfig', () => {
  it('reads the worker tuning and hands it to Worker.create; unset keeps the SDK defaults', async () => {
    const config = await withConfigFile(EMPTY, (f) =>
      parseWorkerConfig({
        TEMPORAL_CONFIG_FILE: f,
        PHOENIX_WORKER_MAX_CACHED_WORKFLOWS: '1200',
        PHOENIX_WORKER_WORKFLOW_TASK_SLOTS: '8',
        PHOENIX_WORKER_LOCAL_ACTIVITY_SLOTS: ' ',
      }),
    );
    assert.deepEqual(workerTuningOptions(config.tuning), {
      maxHeartbeatThrottleInterval: '1s',
      maxCachedWorkflows: 1200,
      maxConcurrentWorkflowTaskExecutions: 8,
    });
  });

  it('refuses a tuning value that is not a whole number in range, naming the variable', async () => {
    await withConfigFile(EMPTY, (f) => {
      assert.throws(
        () => parseWorkerConfig({ TEMPORAL_CONFIG_FILE: f, PHOENIX_WORKER_WORKFLOW_TASK_SLOTS: '1', PHOENIX_WORKER_ACTIVITY_SLOTS: 'lots' }),
        (err: unknown) =>
          err instanceof WorkerConfigError &&
          err.issues.some((i) => i.startsWith('PHOENIX_WORKER_WORKFLOW_TASK_SLOTS="1": must be at least 2')) &&
          err.issues.some((i) => i.startsWith('PHOENIX_WORKER_ACTIVITY_SLOTS="lots"')),
      );
    });
  });

  it('defaults to loopback everywhere', async () => {
    const config = await withConfigFile(EMPTY, (f) => parseWorkerConfig({ TEMPORAL_CONFIG_FILE: f }));
    assert.equal(config.temporal.address, '127.0.0.1:7233');
    assert.equal(config.temporal.connection.address, '127.0.0.1:7233');
    assert.equal(config.temporal.namespace, 'default');
    assert.deepEqual(config.metricsAddress, { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(config.sdkMetricsAddress, { host: '127.0.0.1', port: 9465 });
    assert.equal(config.logLevel, 'info');
    assert.equal(config.workflowBundlePath, undefined);
    assert.equal(config.workflowStackTraces, false, 'workflow stack traces off (worker/sandbox-preload.ts)');
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.temporal), 'read-only');
  });

  it('reads overrides, treats empty as unset, and turns listeners off', async () => {
    const config = await withConfigFile(EMPTY, (f) =>
      parseWorkerConfig({
        TEMPORAL_CONFIG_FILE: f,
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        TEMPORAL_NAMESPACE: 'rollouts',
        PHOENIX_METRICS_ADDR: 'off',
        PHOENIX_SDK_METRICS_ADDR: '[::1]:9999',
        LOG_LEVEL: '',
        PHOENIX_HOOK_SECRET: 'x',
        PHOENIX_WORKFLOW_STACK_TRACES: 'true',
      }),
    );
    assert.equal(config.workflowStackTraces, true);
    assert.equal(config.temporal.address, 'temporal.internal:7233');
    assert.equal(config.temporal.namespace, 'rollouts');
    assert.equal(config.metricsAddress, null);
    assert.deepEqual(config.sdkMetricsAddress, { host: '::1', port: 9999 });
    assert.equal(config.logLevel, 'info');
    assert.equal(config.activityEnv.PHOENIX_HOOK_SECRET, 'x', 'activities see the env for webhook secrets');
  });

  it('takes address, namespace and API key from an envconfig profile', async () => {
    const toml = '[profile.default]\naddress = "cloud.example:7233"\nnamespace = "ns1"\napi_key = "k-123"\n';
    const config = await withConfigFile(toml, (f) => parseWorkerConfig({ TEMPORAL_CONFIG_FILE: f }));
    assert.equal(config.temporal.address, 'cloud.example:7233');
    assert.equal(config.temporal.namespace, 'ns1');
    assert.equal(config.temporal.connection.apiKey, 'k-123');
  });

  it('lists every invalid variable by name', async () => {
    await withConfigFile(EMPTY, (f) => {
      assert.throws(
        () =>
          parseWorkerConfig({
            TEMPORAL_CONFIG_FILE: f,
            TEMPORAL_ADDRESS: 'no-port',
            PHOENIX_METRICS_ADDR: '127.0.0.1:70000',
            LOG_LEVEL: 'loud',
            PHOENIX_WORKFLOW_BUNDLE: '/nonexistent/bundle.js',
          }),
        (err: unknown) => {
          assert.ok(err instanceof WorkerConfigError);
          assert.equal(err.issues.length, 4, err.message);
          for (const name of ['TEMPORAL_ADDRESS', 'PHOENIX_METRICS_ADDR', 'LOG_LEVEL', 'PHOENIX_WORKFLOW_BUNDLE']) {
            assert.match(err.message, new RegExp(name));
          }
          return true;
        },
      );
    });
  });
});
