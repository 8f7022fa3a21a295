/** Canary platforms and the factory that picks one from a rollout spec. */
import type { PlatformTarget } from '../../rollout-spec/types';
import { ConfigError } from '../errors';
import { CommandPlatform } from './command-platform';
import { KubernetesPlatform } from './kubernetes-platform';
import type { CanaryPlatform } from './platform';
import { ProcessPlatform } from './process-platform';
import { WebhookPlatform } from './webhook-platform';

export type { CanaryPlatform, PlatformCall } from './platform';
export { ProcessPlatform, stateFileFor } from './process-platform';
export { CommandPlatform } from './command-platform';
export { WebhookPlatform } from './webhook-platform';
export { KubernetesPlatform } from './kubernetes-platform';
export {
  startInstance,
  stopInstance,
  readInstanceState,
  isInstanceRunning,
  INSTANCE_ID_ENV,
  launchRecordFile,
  writeLaunchRecord,
} from './local-process';
export type { InstanceState, StartInstanceOptions } from './local-process';
export { childEnv, DEFAULT_PASS_ENV } from './child-env';
export type { ChildEnvSources } from './child-env';

/** What the platforms need from the worker. */
export interface PlatformDeps {
  env: Readonly<Record<string, string | undefined>>;
  fetch: typeof fetch;
  stopGraceMs?: number;
  healthIntervalMs?: number;
}

/**
 * Picks the platform for a spec. Platforms are stateless (they read everything from each call),
 * so one instance per kind is shared.
 */
export class PlatformFactory {
  private readonly process: ProcessPlatform;
  private readonly command: CommandPlatform;
  private readonly webhook: WebhookPlatform;
  private readonly kubernetes: KubernetesPlatform;

  constructor(deps: PlatformDeps) {
    this.process = new ProcessPlatform(deps);
    this.command = new CommandPlatform(deps);
    this.webhook = new WebhookPlatform(deps);
    this.kubernetes = new KubernetesPlatform({ env: deps.env });
  }

  /**
   * Returns the platform for `platform.kind`.
   * @throws ConfigError for an unknown kind.
   */
  platformFor(platform: PlatformTarget): CanaryPlatform {
    switch (platform.kind) {
      case 'process':
        return this.process;
      case 'command':
        return this.command;
      case 'webhook':
        return this.webhook;
      case 'kubernetes':
        return this.kubernetes;
      default:
        throw new ConfigError(
          `platform.kind must be "process", "command", "webhook" or "kubernetes", got ${JSON.stringify((platform as { kind?: unknown }).kind)}`,
          'platform.kind',
        );
    }
  }
}
