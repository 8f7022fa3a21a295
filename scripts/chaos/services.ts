/**
 * The chaos run's services: per service a stable demo instance (started as the `process`
 * platform records its instances, so a promotion can replace it), a steady load through its
 * HAProxy frontend, the rollout spec that moves it from v1 to v2, and the probes the checks use.
 */
import { readdir } from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { parseRolloutSpecText } from '../../rollout-spec/parse';
import type { RolloutSpec } from '../../rollout-spec/types';
import { childEnv, isInstanceRunning, readInstanceState, startInstance, stateFileFor, stopInstance } from '../../activities/platform';
import { startLoadGenerator, type LoadGenerator } from '../../demo/load-generator';
import { DEMO_ADMIN_TOKEN_ENV, DEMO_PASS_ENV } from '../stack/demo-spec';
import { REPO_ROOT } from '../stack/config';
import type { ChaosBackend } from './haproxy';

const HOST = '127.0.0.1';
export const STABLE_VERSION = 'v1';
export const CANARY_VERSION = 'v2';

/** Step lengths of every rollout of a run (short: seconds). */
export interface ChaosPlan {
  warmupS: number;
  /** The two held phases: weight (%) and duration (s). */
  phases: [{ percentage: number; durationS: number }, { percentage: number; durationS: number }];
  /** Full rollout: +incrementSize every intervalS up to 100%. */
  incrementSize: number;
  intervalS: number;
  /** Inconclusive analyses (one a second) in a row before a no-data rollback: longer than any outage. */
  noDataLimit: number;
}

/** One service of the run. */
export interface ChaosService extends ChaosBackend {
  name: string;
  /** Its canary gets a high error rate once it carries this weight; undefined for a good canary. */
  faultAtWeight?: number;
}

/** The rollout spec of `service`, parsed by the real parser. */
export function chaosSpec(
  service: ChaosService,
  env: { runtimeApi: string; prometheusUrl: string; stateDir: string },
  plan: ChaosPlan,
): RolloutSpec {
  const doc = {
    service: service.name,
    stable: STABLE_VERSION,
    canary: CANARY_VERSION,
    traffic: { kind: 'haproxy', runtimeApi: env.runtimeApi, backend: service.backend, stableServer: 'stable', canaryServer: 'canary' },
    platform: {
      kind: 'process',
      command: demoCommand(service.name, '{{version}}', '{{port}}'),
      stablePort: service.stablePort,
      canaryPort: service.canaryPort,
      healthPath: '/healthz',
      cwd: REPO_ROOT,
      stateDir: env.stateDir,
      passEnv: [...DEMO_PASS_ENV],
    },
    metrics: { prometheusUrl: env.prometheusUrl, versionLabel: 'version', defaultWindow: '20s', queryTimeout: '2s', minRequests: 10 },
    warmup: { duration: `${plan.warmupS}s` },
    analysisInterval: '1s',
    trafficControl: {
      phases: [
        // Latency gates a loaded 2-core machine meets: the run is about faults, not speed.
        { name: 'initial_canary', percentage: plan.phases[0].percentage, duration: `${plan.phases[0].durationS}s`, errorThreshold: '0.5%', latencyThreshold: '1000ms' },
        { name: 'expanded_canary', percentage: plan.phases[1].percentage, duration: `${plan.phases[1].durationS}s`, errorThreshold: '0.5%', latencyThreshold: '1000ms' },
        { name: 'full_rollout', incrementSize: plan.incrementSize, intervalSeconds: plan.intervalS, maxErrorRate: '1%' },
      ],
    },
    validation: {
      latency: { p95_threshold: '1000ms', p99_threshold: '2000ms' },
      resource_usage: { cpu_threshold: '100%' },
    },
    rollback_triggers: [
      { condition: 'error_rate > 1%', window: '10s', action: 'immediate_rollback' },
      { condition: 'p95_latency > 2000ms', window: '10s', action: 'immediate_rollback' },
      { condition: 'task_success_rate < 98%', window: '10s', action: 'gradual_rollback' },
      { condition: 'agent_health_score < 90%', window: '10s', action: 'gradual_rollback' },
    ],
    gradualRollback: { stepSize: 20, interval: '3s' },
    noData: { action: 'rollback', consecutiveLimit: plan.noDataLimit },
  };
  const parsed = parseRolloutSpecText(JSON.stringify(doc));
  if (!parsed.success) throw new Error(`chaos spec for ${service.name} is invalid: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  return parsed.spec;
}

/** The demo service command line, as the spec's process platform runs it. */
function demoCommand(service: string, version: string, port: string): string[] {
  return ['node', '--import', 'tsx', 'demo/service.ts', '--service', service, '--version', version, '--port', port];
}

/** Starts the stable instance of `service` (recorded where the process platform looks for it). */
export async function startStable(service: ChaosService, stateDir: string, workerEnv: NodeJS.ProcessEnv): Promise<void> {
  const stateFile = stateFileFor(stateDir, service.name, 'stable');
  await startInstance({
    argv: demoCommand(service.name, STABLE_VERSION, String(service.stablePort)),
    version: STABLE_VERSION,
    port: service.stablePort,
    cwd: REPO_ROOT,
    env: childEnv({ workerEnv, passEnv: DEMO_PASS_ENV, field: 'platform' }),
    stateFile,
    logFile: path.join(stateDir, `${service.name}-stable.log`),
  });
}

/** Waits until every stable instance answers its health check. */
export async function waitHealthy(ports: number[], timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  const pending = new Set(ports);
  while (pending.size > 0) {
    for (const port of [...pending]) {
      const ok = await fetch(`http://${HOST}:${port}/healthz`, { signal: AbortSignal.timeout(1_000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) pending.delete(port);
    }
    if (pending.size === 0) return;
    if (Date.now() > until) throw new Error(`demo instances on ports ${[...pending].join(', ')} not healthy within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The admin token the demo instances accept (the workers pass it on to the canaries). */
export function adminHeaders(env: NodeJS.ProcessEnv): Record<string, string> {
  return { authorization: `Bearer ${env[DEMO_ADMIN_TOKEN_ENV] ?? ''}` };
}

/** Makes the instance on `port` answer `errorRate` of its requests with a 5xx. */
export async function injectErrors(port: number, errorRate: number, env: NodeJS.ProcessEnv): Promise<void> {
  const res = await fetch(`http://${HOST}:${port}/admin/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...adminHeaders(env) },
    body: JSON.stringify({ errorRate }),
    signal: AbortSignal.timeout(3_000),
  });
  if (!res.ok) throw new Error(`fault injection on port ${port}: ${res.status} ${await res.text()}`);
}

/** The version the instance on `port` serves, or undefined when nothing answers. */
export async function servedVersion(port: number, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const res = await fetch(`http://${HOST}:${port}/admin/stats`, { headers: adminHeaders(env), signal: AbortSignal.timeout(3_000) }).catch(
    () => undefined,
  );
  if (!res?.ok) return undefined;
  return ((await res.json()) as { version?: string }).version;
}

/** Pid of the canary the platform recorded for `service`, if that process still runs. */
export async function runningCanaryPid(service: string, stateDir: string): Promise<number | undefined> {
  const state = await readInstanceState(stateFileFor(stateDir, service, 'canary'));
  return state && (await isInstanceRunning(state)) ? state.pid : undefined;
}

/**
 * Stops every instance recorded in `stateDir` (teardown), including those only in a pid file's
 * temporary copy: a worker killed between writing it and renaming it leaves the instance there.
 */
export async function stopAllInstances(stateDir: string): Promise<void> {
  const files = (await readdir(stateDir).catch(() => [] as string[])).filter((f) => /\.json(\.\d+\.tmp)?$/.test(f));
  for (const f of files) {
    const state = await readInstanceState(path.join(stateDir, f)).catch(() => undefined);
    if (state && (await isInstanceRunning(state))) await stopInstance(state, 2_000).catch(() => undefined);
  }
}

/** True when something accepts connections on 127.0.0.1:`port` (a canary nobody tracks, say). */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** One steady load generator per service frontend. */
export function startLoad(services: readonly ChaosService[], ratePerSecond: number): LoadGenerator[] {
  return services.map((s) => startLoadGenerator({ url: `http://${HOST}:${s.frontendPort}/`, ratePerSecond, timeoutMs: 5_000 }));
}
