/**
 * A complete rollout environment for client/CLI/API e2e tests: a real `temporal server start-dev`,
 * an in-process worker running the real `canaryRollout` workflow and the real activities, and two
 * tiny local HTTP servers standing in for the infrastructure the activities talk to — a traffic
 * webhook that echoes the weight it is asked for, and a Prometheus-compatible `/api/v1/query`
 * answering healthy numbers. The platform is `kind: command` with `true` for every step.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createActivities } from '../../activities';
import { RolloutClient } from '../../client/rollouts';
import type { ClientConfig } from '../../client/config';
import { TASK_QUEUE } from '../../workflows/contract';
import { METRIC_NAMES, type MetricName } from '../../rollout-spec/types';
import { startHttpServer, type TestHttpServer } from './http-servers';
import { startDevServer, type TestDevServer } from './temporal';
import { buildWorkflowBundle } from '../../worker/workflow-bundle';

const TRAFFIC_SECRET_ENV = 'PHOENIX_E2E_TRAFFIC_SECRET';

/** Healthy values per metric, in the units the validator expects (fractions, ms, cores, req/s). */
const HEALTHY: Record<MetricName, number> = {
  error_rate: 0.0001,
  success_rate: 0.9999,
  request_rate: 100,
  request_count: 1000,
  p95_latency: 40,
  p99_latency: 60,
  cpu_usage: 0.1,
  memory_usage: 0.3,
  task_success_rate: 0.999,
  cache_hit_rate: 0.95,
  agent_health_score: 0.99,
};

/**
 * Polls `probe` every `intervalMs` until `ok` accepts its value; fails the test after `timeoutMs`
 * naming `what` and the last value seen.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  { timeoutMs = 30_000, intervalMs = 300 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  assert.fail(`${what}: not reached within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

/** The running world {@link startRolloutWorld} returns. */
export interface RolloutWorld {
  server: TestDevServer;
  /** Env for CLI child processes and for `loadClientConfig`. */
  env: Record<string, string>;
  config: ClientConfig;
  rollouts: RolloutClient;
  prometheus: TestHttpServer;
  traffic: TestHttpServer;
  /** Weights the traffic webhook was asked to set, per service, in order. */
  weights: Map<string, number[]>;
  /**
   * A user-level spec (as written in a file) for `service`; by default it holds a 10-minute
   * warm-up, long enough to steer it. `overrides` replace top-level fields.
   */
  spec(service: string, overrides?: Record<string, unknown>): Record<string, unknown>;
  /** A spec whose whole plan takes a few seconds, for runs to completion. */
  quickSpec(service: string): Record<string, unknown>;
  /** The catalog the worker resolves requests against (the API tests read it too). */
  catalogDir: string;
  /**
   * Adds `service` to the catalog, with the targets and policy of `spec(service)` (or of
   * `quickSpec` with `quick`), and returns the rollout request a pipeline sends for it.
   */
  request(service: string, options?: { quick?: boolean; overrides?: Record<string, unknown> }): Record<string, unknown>;
  teardown(): Promise<void>;
}

/** Starts the world; call `teardown()` in `after()`. Takes ~10-20 s (server start, workflow bundle). */
export async function startRolloutWorld(): Promise<RolloutWorld> {
  const server = await startDevServer();
  const catalogDir = await mkdtemp(path.join(tmpdir(), 'phoenix-e2e-catalog-'));
  const weights = new Map<string, number[]>();
  const traffic = await startHttpServer('', (_req, res, body) => {
    const { service, canaryWeight } = JSON.parse(body) as { service: string; canaryWeight: number };
    weights.set(service, [...(weights.get(service) ?? []), canaryWeight]);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ canaryWeight }));
  });
  const prometheus = await startHttpServer('', (req, res, body) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = url.searchParams.get('query') ?? new URLSearchParams(body).get('query') ?? '';
    const metric = METRIC_NAMES.find((m) => query.includes(`phoenix_e2e_${m}{`));
    const result = metric ? [{ metric: {}, value: [Date.now() / 1000, String(HEALTHY[metric])] }] : [];
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }),
    );
  });

  const workerConnection = await NativeConnection.connect({ address: server.address });
  const worker = await Worker.create({
    connection: workerConnection,
    namespace: server.namespace,
    taskQueue: TASK_QUEUE,
    workflowBundle: await buildWorkflowBundle(),
    activities: createActivities({
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      env: { [TRAFFIC_SECRET_ENV]: 'e2e-traffic-secret' },
      targets: { catalogDir, allowInlineTargets: true },
      healthIntervalMs: 100,
    }),
  });
  const workerDone = worker.run();

  const env = {
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: server.namespace,
    // Keep a developer's ~/.config/temporalio profile out of the tests.
    TEMPORAL_CONFIG_FILE: '/nonexistent/phoenix-e2e.toml',
    PHOENIX_CONNECT_TIMEOUT_MS: '5000',
  };
  const config: ClientConfig = {
    address: server.address,
    namespace: server.namespace,
    connection: { address: server.address, connectTimeout: 5000 },
  };
  const rollouts = await RolloutClient.connect(config);

  // Every template must range over the check's window; the stand-in Prometheus answers by metric name.
  const queries = Object.fromEntries(METRIC_NAMES.map((m) => [m, `avg_over_time(phoenix_e2e_${m}{version="{{version}}"}[{{window}}])`]));
  const spec = (service: string, overrides: Record<string, unknown> = {}) => ({
    service,
    stable: 'v1',
    canary: 'v2',
    traffic: { kind: 'webhook', url: `${traffic.url}/weights`, secretEnv: TRAFFIC_SECRET_ENV },
    platform: { kind: 'command', deploy: ['true'], healthCheck: ['true'], promote: ['true'], terminate: ['true'] },
    metrics: { prometheusUrl: prometheus.url, versionLabel: 'version', queries, defaultWindow: '10s', queryTimeout: '2s' },
    warmup: { duration: '10m' },
    analysisInterval: '1s',
    gradualRollback: { stepSize: 50, interval: '1s' },
    ...overrides,
  });
  const quickSpec = (service: string) =>
    spec(service, {
      warmup: { duration: '1s' },
      trafficControl: {
        phases: [
          { name: 'canary_5', percentage: 5, duration: '1s' },
          { name: 'full_rollout', incrementSize: 50, intervalSeconds: 1 },
        ],
      },
    });

  const targetNames = { router: 'e2e-traffic', platform: 'e2e-commands', metrics: 'e2e-prometheus' } as const;
  const base = spec('catalog-base');
  await writeFile(
    path.join(catalogDir, 'targets.yaml'),
    stringifyYaml({
      routers: { [targetNames.router]: base.traffic },
      platforms: { [targetNames.platform]: base.platform },
      metricSources: { [targetNames.metrics]: base.metrics },
    }),
  );
  const request = (service: string, options: { quick?: boolean; overrides?: Record<string, unknown> } = {}) => {
    const { service: _s, stable, canary, traffic: _t, platform: _p, metrics: _m, ...policy } = options.quick ? quickSpec(service) : spec(service);
    writeFileSync(
      path.join(catalogDir, `service-${service}.yaml`),
      stringifyYaml({ services: { [service]: { ...targetNames, stable, defaults: policy } } }),
    );
    return { service, canary, ...options.overrides };
  };

  return {
    server,
    env,
    catalogDir,
    request,
    config,
    rollouts,
    prometheus,
    traffic,
    weights,
    spec,
    quickSpec,
    async teardown() {
      await rollouts.close().catch(() => undefined);
      worker.shutdown();
      await workerDone.catch(() => undefined);
      await workerConnection.close().catch(() => undefined);
      await Promise.all([prometheus.stop(), traffic.stop()]);
      await server.teardown();
      await rm(catalogDir, { recursive: true, force: true });
    },
  };
}
