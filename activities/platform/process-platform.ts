/**
 * The `process` platform: canary and stable are local processes on two ports (the load balancer
 * points one server at each). Meant for development, demos and end-to-end tests.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { PlatformTarget } from '../../rollout-spec/types';
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

/** Which slot an instance occupies. */
export type Slot = 'canary' | 'stable';

/** Path of the pid file of `service`'s `slot` instance in `stateDir`. */
export function stateFileFor(stateDir: string, service: string, slot: Slot): string {
  return path.join(stateDir, `${service}-${slot}.json`);
}

/** {@link CanaryPlatform} running local processes. */
export class ProcessPlatform implements CanaryPlatform {
  constructor(private readonly options: ProcessPlatformOptions) {}

  /**
   * Starts the canary on `canaryPort`; a running canary of the same version is left alone. Every
   * wait (old canary stopping, port freeing, start settling) heartbeats and stops on cancellation.
   */
  async deployCanary(call: PlatformCall): Promise<void> {
    const target = this.target(call);
    const file = stateFileFor(target.stateDir, call.spec.service, 'canary');
    const version = call.spec.canary.version;
    const current = await readInstanceState(file);
    if (current && (await isInstanceRunning(current))) {
      if (current.version === version && current.port === target.canaryPort) {
        call.logger.info({ pid: current.pid, version }, 'canary already running');
        return;
      }
      call.logger.info({ pid: current.pid, version: current.version }, 'replacing canary of another version');
      await stopInstance(current, this.options.stopGraceMs, call);
    }
    const state = await this.start(call, target, 'canary', version, target.canaryPort);
    call.logger.info({ pid: state.pid, version, port: state.port }, 'canary started');
  }

  /** Polls `GET http://127.0.0.1:<canaryPort><healthPath>` until 200. */
  async checkHealth(call: PlatformCall): Promise<HealthResult> {
    const target = this.target(call);
    const file = stateFileFor(target.stateDir, call.spec.service, 'canary');
    return pollHealth(call, () => this.probe(call, file, target.canaryPort, target.healthPath), this.options.healthIntervalMs);
  }

  /**
   * Replaces the stable instance with the canary version on `stablePort` and waits until it is
   * healthy. The canary instance keeps running: it carries all traffic until the workflow moves
   * traffic back to the stable server and terminates the canary.
   */
  async promoteCanary(call: PlatformCall): Promise<void> {
    const target = this.target(call);
    const file = stateFileFor(target.stateDir, call.spec.service, 'stable');
    const version = call.spec.canary.version;
    const current = await readInstanceState(file);
    const running = current !== undefined && (await isInstanceRunning(current));
    if (!(running && current.version === version && current.port === target.stablePort)) {
      if (running) {
        call.logger.info({ pid: current.pid, version: current.version }, 'stopping old stable');
        await stopInstance(current, this.options.stopGraceMs);
      }
      const state = await this.start(call, target, 'stable', version, target.stablePort);
      call.logger.info({ pid: state.pid, version, port: state.port }, 'new stable started');
    }
    const health = await pollHealth(
      call,
      () => this.probe(call, file, target.stablePort, target.healthPath),
      this.options.healthIntervalMs,
    );
    if (!health.healthy) {
      throw new ProcessControlError(`promoted stable ${version} on port ${target.stablePort} is not healthy: ${health.detail}`);
    }
  }

  /** Stops the canary process group and removes its pid file. */
  async terminateCanary(call: PlatformCall): Promise<void> {
    const target = this.target(call);
    const file = stateFileFor(target.stateDir, call.spec.service, 'canary');
    const current = await readInstanceState(file);
    if (!current) {
      call.logger.info('no canary to terminate');
      return;
    }
    const outcome = await stopInstance(current, this.options.stopGraceMs);
    await rm(file, { force: true });
    call.logger.info({ pid: current.pid, outcome }, 'canary terminated');
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
    if (target.stablePort === target.canaryPort) {
      throw new ConfigError('platform.stablePort and platform.canaryPort must differ', 'platform.canaryPort');
    }
    if (!target.healthPath.startsWith('/')) {
      throw new ConfigError(`platform.healthPath must start with "/", got ${JSON.stringify(target.healthPath)}`, 'platform.healthPath');
    }
    // A relative stateDir (the schema's default is `.stack/platform`) is relative to the worker's cwd.
    return { ...target, stateDir: path.resolve(target.stateDir) };
  }

  private start(call: PlatformCall, target: ProcessTarget, slot: Slot, version: string, port: number): Promise<InstanceState> {
    const argv = renderArgv(target.command, { version, port: String(port), service: call.spec.service }, 'platform.command');
    return startInstance({
      argv,
      version,
      port,
      cwd: target.cwd,
      env: childEnv({ workerEnv: this.options.env, passEnv: target.passEnv, env: target.env, field: 'platform' }),
      stateFile: stateFileFor(target.stateDir, call.spec.service, slot),
      logFile: path.join(target.stateDir, `${call.spec.service}-${slot}.log`),
      signal: call.signal,
      heartbeat: call.heartbeat,
    });
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
