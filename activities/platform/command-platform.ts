/**
 * The `command` platform: the user's own deploy tooling, run as templated argv arrays. Every
 * command must be idempotent, as Temporal may retry it.
 */
import type { PlatformTarget } from '../../rollout-spec/types';
import { ConfigError } from '../errors';
import type { HealthResult } from '../types';
import { renderArgv } from './argv-template';
import { childEnv } from './child-env';
import type { CanaryPlatform, PlatformCall } from './platform';
import { pollHealth } from './poll-health';
import { runCommand, runCommandOrThrow } from './run-command';

type CommandTarget = Extract<PlatformTarget, { kind: 'command' }>;

/** Options of the command platform. */
export interface CommandPlatformOptions {
  /**
   * The worker environment. Commands get only the variables `platform.passEnv` names from it
   * (default PATH, HOME, LANG, TZ), with `platform.env` over them; never the rest (its secrets).
   */
  env: Readonly<Record<string, string | undefined>>;
  healthIntervalMs?: number;
}

/** {@link CanaryPlatform} that runs user commands. */
export class CommandPlatform implements CanaryPlatform {
  constructor(private readonly options: CommandPlatformOptions) {}

  /** Runs `platform.deploy`. */
  async deployCanary(call: PlatformCall): Promise<void> {
    await this.run(call, 'deploy');
  }

  /** Runs `platform.healthCheck` until it exits 0 or the deadline passes. */
  async checkHealth(call: PlatformCall): Promise<HealthResult> {
    const target = this.target(call);
    const argv = renderArgv(target.healthCheck, vars(call), 'platform.healthCheck');
    return pollHealth(
      call,
      async () => {
        const r = await runCommand(argv, this.commandOptions(call, target, 'platform.healthCheck'));
        return r.exitCode === 0
          ? { healthy: true, detail: 'health check exited 0' }
          : {
              healthy: false,
              detail: r.timedOut
                ? `health check timed out after ${target.timeoutMs} ms`
                : `health check exited ${r.exitCode ?? r.signal}: ${r.stderrTail.trim().slice(-300)}`,
            };
      },
      this.options.healthIntervalMs ?? 2000,
    );
  }

  /** Runs `platform.promote`. */
  async promoteCanary(call: PlatformCall): Promise<void> {
    await this.run(call, 'promote');
  }

  /** Runs `platform.terminate`. */
  async terminateCanary(call: PlatformCall): Promise<void> {
    await this.run(call, 'terminate');
  }

  private async run(call: PlatformCall, step: 'deploy' | 'promote' | 'terminate'): Promise<void> {
    const target = this.target(call);
    const field = `platform.${step}`;
    const argv = renderArgv(target[step], vars(call), field);
    call.logger.info({ argv }, `running ${step} command`);
    const r = await runCommandOrThrow(argv, this.commandOptions(call, target, field));
    call.logger.info({ stdoutTail: r.stdout.slice(-500) }, `${step} command succeeded`);
  }

  private commandOptions(call: PlatformCall, target: CommandTarget, field: string) {
    return {
      timeoutMs: target.timeoutMs,
      env: childEnv({ workerEnv: this.options.env, passEnv: target.passEnv, env: target.env, field: 'platform' }),
      signal: call.signal,
      heartbeat: call.heartbeat,
      field,
    };
  }

  private target(call: PlatformCall): CommandTarget {
    const target = call.spec.platform;
    if (target.kind !== 'command') throw new ConfigError('expected platform.kind "command"', 'platform.kind');
    if (!Number.isInteger(target.timeoutMs) || target.timeoutMs <= 0) {
      throw new ConfigError(`platform.timeoutMs must be a positive integer, got ${target.timeoutMs}`, 'platform.timeoutMs');
    }
    return target;
  }
}

function vars(call: PlatformCall): Record<string, string> {
  return {
    service: call.spec.service,
    version: call.spec.canary.version,
    canaryVersion: call.spec.canary.version,
    stableVersion: call.spec.stable.version,
    rolloutId: call.rolloutId,
  };
}
