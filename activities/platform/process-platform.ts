/**
 * The `process` platform: canary and stable are local processes, one or a pool of `replicas`
 * each on consecutive ports (the load balancer points one server at each instance). Meant for
 * development, demos and end-to-end tests.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { PlatformTarget, RolloutSpec } from '../../rollout-spec/types';
import { ConfigError, ProcessControlError } from '../errors';
import { SAFE_LABEL_VALUE } from '../../rollout-spec/queries';
import type { HealthResult } from '../types';
import { renderArgv } from './argv-template';
import { childEnv } from './child-env';
import {
  isInstanceRunning,
  logTail,
  readInstanceState,
  startInstance,
  stopInstance,
  type InstanceState,
} from './local-process';
import type { CanaryPlatform, PlatformCall } from './platform';
import { pollHealth, type ProbeResult } from './poll-health';

type ProcessTarget = Extract<PlatformTarget, { kind: 'process' }>;

/** Options of the process platform. */
export interface ProcessPlatformOptions {
  /**
   * The worker environment. Instances get only the variables `platform.passEnv` names from it
   * (default PATH, HOME, LANG, TZ), with `platform.env` over them; never the rest (its secrets).
   */
  env: Readonly<Record<string, string | undefined>>;
  fetch: typeof fetch;
  /** SIGTERM → SIGKILL grace period (ms). */
  stopGraceMs?: number;
  /** Pause between health probes (ms). */
  healthIntervalMs?: number;
}

/** Which slot an instance occupies; `baseline` is the fresh baseline of `judge.freshBaseline` (the stable version). */
export type Slot = 'canary' | 'stable' | 'baseline';

/**
 * Path of the pid file of `service`'s `slot` instance number `index` (0-based) in `stateDir`. The
 * first instance keeps the name a single instance always had, so pools and single instances mix.
 */
export function stateFileFor(stateDir: string, service: string, slot: Slot, index = 0): string {
  return path.join(stateDir, `${instanceName(service, slot, index)}.json`);
}

function instanceName(service: string, slot: Slot, index: number): string {
  return index === 0 ? `${service}-${slot}` : `${service}-${slot}-${index + 1}`;
}

/** How many canary instances a deploy starts: the whole pool, or one that grows with the weight. */
function initialCanaryInstances(target: ProcessTarget): number {
  return target.canaryScale === 'weight' ? 1 : (target.replicas?.canary ?? 1);
}

/** One instance of a pool: its number, port and pid file. */
interface PoolInstance {
  index: number;
  port: number;
  file: string;
}

/** {@link CanaryPlatform} running local processes. */
export class ProcessPlatform implements CanaryPlatform {
  constructor(private readonly options: ProcessPlatformOptions) {}

  /**
   * Starts the canary pool (`replicas.canary` instances from `canaryPort`, or the first one with
   * `canaryScale: weight`); running instances of the same version are left alone. Every wait (an
   * old canary stopping, a port freeing, a start settling) heartbeats and stops on cancellation.
   */
  async deployCanary(call: PlatformCall): Promise<void> {
    const target = this.target(call);
    await this.ensureCanaryRunning(call, target, this.pool(call, target, 'canary').slice(0, initialCanaryInstances(target)));
  }

  /** Polls `GET http://127.0.0.1:<port><healthPath>` of every deployed canary instance until all answer 200. */
  async checkHealth(call: PlatformCall): Promise<HealthResult> {
    const target = this.target(call);
    const pool = this.pool(call, target, 'canary').slice(0, initialCanaryInstances(target));
    return pollHealth(call, () => this.probePool(call, pool, target.healthPath), this.options.healthIntervalMs);
  }

  /** @inheritdoc */
  canaryInstancesFor(spec: RolloutSpec, weight: number): number | undefined {
    const target = spec.platform;
    if (target.kind !== 'process' || target.canaryScale !== 'weight') return undefined;
    const { stable, canary } = target.replicas;
    return Math.min(canary, Math.max(1, Math.ceil((stable * weight) / 100)));
  }

  /**
   * `grow`: starts canary instances up to `instances` and waits until each answers its health
   * check, so the router gives traffic only to instances that serve. `shrink`: stops those beyond.
   * @throws ProcessControlError (retryable) when a started instance is not healthy by the deadline.
   */
  async scaleCanary(call: PlatformCall, instances: number, direction: 'grow' | 'shrink'): Promise<number> {
    const target = this.target(call);
    const pool = this.pool(call, target, 'canary');
    if (direction === 'grow') {
      const wanted = pool.slice(0, instances);
      const started = await this.ensureCanaryRunning(call, target, wanted);
      if (started.length === 0) return 0;
      const health = await pollHealth(call, () => this.probePool(call, started, target.healthPath), this.options.healthIntervalMs);
      if (!health.healthy) throw new ProcessControlError(`canary instances started to follow the weight are not healthy: ${health.detail}`);
      call.logger.info({ instances, started: started.map((i) => i.port) }, 'canary pool grown');
      return started.length;
    }
    let stopped = 0;
    for (const instance of pool.slice(instances)) {
      const current = await readInstanceState(instance.file);
      if (!current) continue;
      const outcome = await stopInstance(current, this.options.stopGraceMs, call);
      await rm(instance.file, { force: true });
      call.logger.info({ pid: current.pid, port: instance.port, outcome, instances }, 'canary pool shrunk');
      stopped++;
    }
    return stopped;
  }

  /** Starts the instances of `wanted` that do not run the canary version; returns those it started. */
  private async ensureCanaryRunning(call: PlatformCall, target: ProcessTarget, wanted: PoolInstance[]): Promise<PoolInstance[]> {
    const version = call.spec.canary.version;
    const started: PoolInstance[] = [];
    for (const instance of wanted) {
      if (await this.ensureInstance(call, target, 'canary', instance, version)) started.push(instance);
    }
    return started;
  }

  /**
   * Replaces the stable pool with the canary version, one instance at a time, each healthy before
   * the next is touched. The workflow calls this with all traffic on the canary pool, so the stable
   * pool carries nothing while it is replaced; the canary instances keep running until traffic is
   * back on the stable pool and the workflow terminates them.
   */
  async promoteCanary(call: PlatformCall): Promise<void> {
    const target = this.target(call);
    const version = call.spec.canary.version;
    for (const instance of this.pool(call, target, 'stable')) {
      const current = await readInstanceState(instance.file);
      const running = current !== undefined && (await isInstanceRunning(current));
      if (!(running && current.version === version && current.port === instance.port)) {
        if (running) {
          call.logger.info({ pid: current.pid, version: current.version, port: instance.port }, 'stopping old stable instance');
          await stopInstance(current, this.options.stopGraceMs);
        }
        const state = await this.start(call, target, 'stable', instance, version);
        call.logger.info({ pid: state.pid, version, port: state.port, instance: instance.index + 1 }, 'new stable instance started');
      }
      const health = await pollHealth(call, () => this.probePool(call, [instance], target.healthPath), this.options.healthIntervalMs);
      if (!health.healthy) {
        throw new ProcessControlError(`promoted stable ${version} on port ${instance.port} is not healthy: ${health.detail}`);
      }
    }
  }

  /** Stops every canary instance's process group (the pool and any left from a larger one) and removes their pid files. */
  async terminateCanary(call: PlatformCall): Promise<void> {
    const target = this.target(call);
    const files = await this.recordedFiles(target.stateDir, call.spec.service, 'canary');
    if (files.length === 0) {
      call.logger.info('no canary to terminate');
      return;
    }
    for (const file of files) {
      const current = await readInstanceState(file);
      if (current) {
        const outcome = await stopInstance(current, this.options.stopGraceMs);
        call.logger.info({ pid: current.pid, port: current.port, outcome }, 'canary instance terminated');
      }
      await rm(file, { force: true });
    }
  }

  /**
   * `judge.freshBaseline`: starts one instance of the stable version on `platform.baselinePort`
   * (the operator's baseline slot, pid file `<service>-baseline.json`), or leaves one running that
   * already runs the stable version there. Called after the canary is healthy, before either has traffic.
   */
  async deployBaseline(call: PlatformCall): Promise<void> {
    const target = this.target(call);
    const instance = this.baselineInstance(call, target);
    await this.ensureInstance(call, target, 'baseline', instance, call.spec.stable.version);
  }

  /**
   * Starts `instance` on `version` unless it already runs that version on its port (a retried
   * deploy); an instance of another version there is stopped first. True when it started one.
   */
  private async ensureInstance(
    call: PlatformCall,
    target: ProcessTarget,
    role: 'canary' | 'baseline',
    instance: PoolInstance,
    version: string,
  ): Promise<boolean> {
    const current = await readInstanceState(instance.file);
    if (current && (await isInstanceRunning(current))) {
      if (current.version === version && current.port === instance.port) {
        call.logger.info({ pid: current.pid, version, port: instance.port }, `${role} instance already running`);
        return false;
      }
      call.logger.info({ pid: current.pid, version: current.version }, `replacing ${role} instance of another version`);
      await stopInstance(current, this.options.stopGraceMs, call);
    }
    const state = await this.start(call, target, role, instance, version);
    call.logger.info({ pid: state.pid, version, port: state.port, instance: instance.index + 1 }, `${role} instance started`);
    return true;
  }

  /** Polls `GET http://127.0.0.1:<baselinePort><healthPath>` until it answers 200. */
  async checkBaselineHealth(call: PlatformCall): Promise<HealthResult> {
    const target = this.target(call);
    const instance = this.baselineInstance(call, target);
    return pollHealth(call, () => this.probePool(call, [instance], target.healthPath), this.options.healthIntervalMs);
  }

  /** Stops the baseline instance's process group and removes its pid file; nothing to do when none runs. */
  async terminateBaseline(call: PlatformCall): Promise<void> {
    const target = this.target(call);
    const file = stateFileFor(target.stateDir, call.spec.service, 'baseline');
    const current = await readInstanceState(file);
    if (!current) {
      call.logger.info('no baseline to terminate');
      return;
    }
    const outcome = await stopInstance(current, this.options.stopGraceMs);
    await rm(file, { force: true });
    call.logger.info({ pid: current.pid, port: current.port, outcome }, 'baseline instance terminated');
  }

  private baselineInstance(call: PlatformCall, target: ProcessTarget): PoolInstance {
    const port = target.baselinePort;
    if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ConfigError(`a fresh baseline needs platform.baselinePort, a TCP port; got ${port}`, 'platform.baselinePort');
    }
    return { index: 0, port, file: stateFileFor(target.stateDir, call.spec.service, 'baseline') };
  }

  /** The instances of `slot`'s pool: `replicas` of them on consecutive ports. */
  private pool(call: PlatformCall, target: ProcessTarget, slot: 'canary' | 'stable'): PoolInstance[] {
    // A spec from before pools existed (an older history) has no `replicas`: one instance.
    const count = target.replicas?.[slot] ?? 1;
    const first = slot === 'canary' ? target.canaryPort : target.stablePort;
    return Array.from({ length: count }, (_, index) => ({
      index,
      port: first + index,
      file: stateFileFor(target.stateDir, call.spec.service, slot, index),
    }));
  }

  /** Pid files of `slot` instances in `stateDir`, whatever the pool size that wrote them. */
  private async recordedFiles(stateDir: string, service: string, slot: Slot): Promise<string[]> {
    const names = await readdir(stateDir).catch(() => [] as string[]);
    const own = new RegExp(`^${service.replace(/[.]/g, '\\.')}-${slot}(-\\d+)?\\.json$`);
    return names.filter((n) => own.test(n)).sort().map((n) => path.join(stateDir, n));
  }

  private target(call: PlatformCall): ProcessTarget {
    const target = call.spec.platform;
    if (target.kind !== 'process') throw new ConfigError(`expected platform.kind "process"`, 'platform.kind');
    if (!SAFE_LABEL_VALUE.test(call.spec.service)) {
      // The service name becomes part of pid file names.
      throw new ConfigError(`service ${JSON.stringify(call.spec.service)} must match ${SAFE_LABEL_VALUE}`, 'service');
    }
    for (const field of ['stablePort', 'canaryPort'] as const) {
      const port = target[field];
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new ConfigError(`platform.${field} must be a TCP port, got ${port}`, `platform.${field}`);
      }
    }
    const stableEnd = target.stablePort + (target.replicas?.stable ?? 1) - 1;
    const canaryEnd = target.canaryPort + (target.replicas?.canary ?? 1) - 1;
    if (target.stablePort <= canaryEnd && target.canaryPort <= stableEnd) {
      throw new ConfigError('platform.stablePort and platform.canaryPort: the two pools\' port ranges must not overlap', 'platform.canaryPort');
    }
    if (!target.healthPath.startsWith('/')) {
      throw new ConfigError(`platform.healthPath must start with "/", got ${JSON.stringify(target.healthPath)}`, 'platform.healthPath');
    }
    // A relative stateDir (the schema's default is `.stack/platform`) is relative to the worker's cwd.
    return { ...target, stateDir: path.resolve(target.stateDir) };
  }

  private start(call: PlatformCall, target: ProcessTarget, slot: Slot, instance: PoolInstance, version: string): Promise<InstanceState> {
    const port = instance.port;
    const argv = renderArgv(target.command, { version, port: String(port), service: call.spec.service }, 'platform.command');
    return startInstance({
      argv,
      version,
      port,
      cwd: target.cwd,
      env: childEnv({ workerEnv: this.options.env, passEnv: target.passEnv, env: target.env, field: 'platform' }),
      stateFile: instance.file,
      logFile: path.join(target.stateDir, `${instanceName(call.spec.service, slot, instance.index)}.log`),
      signal: call.signal,
      heartbeat: call.heartbeat,
    });
  }

  /** One probe round over `pool`: healthy when every instance answers 200; final when one exited. */
  private async probePool(call: PlatformCall, pool: PoolInstance[], healthPath: string): Promise<ProbeResult> {
    const results = await Promise.all(pool.map((instance) => this.probe(call, instance.file, instance.port, healthPath)));
    const bad = results.filter((r) => !r.healthy);
    if (bad.length === 0) return { healthy: true, detail: results.map((r) => r.detail).join('; ') };
    return { healthy: false, final: bad.some((r) => r.final), detail: bad.map((r) => r.detail).join('; ') };
  }

  private async probe(call: PlatformCall, file: string, port: number, healthPath: string): Promise<ProbeResult> {
    const state = await readInstanceState(file);
    if (!state) return { healthy: false, final: true, detail: `no instance recorded in ${file}` };
    if (!(await isInstanceRunning(state))) {
      return { healthy: false, final: true, detail: `process ${state.pid} exited; log tail: ${await logTail(state.logFile)}` };
    }
    const url = `http://127.0.0.1:${port}${healthPath}`;
    try {
      const res = await this.options.fetch(url, { signal: AbortSignal.any([call.signal, AbortSignal.timeout(2000)]) });
      await res.body?.cancel();
      return res.status === 200
        ? { healthy: true, detail: `GET ${url} → 200` }
        : { healthy: false, detail: `GET ${url} → ${res.status}` };
    } catch (err) {
      call.signal.throwIfAborted();
      return { healthy: false, detail: `GET ${url} failed: ${(err as Error).message}` };
    }
  }
}
