/** The `webhook` platform: POSTs signed `{action, service, version, rolloutId}` to the user's endpoint. */
import { z } from 'zod';
import type { PlatformTarget } from '../../rollout-spec/types';
import { ConfigError, WebhookRejectedError, WebhookUnavailableError } from '../errors';
import { postSignedJson, readSecret } from '../signed-webhook';
import type { HealthResult } from '../types';
import type { CanaryPlatform, PlatformCall } from './platform';
import { pollHealth } from './poll-health';

type WebhookTarget = Extract<PlatformTarget, { kind: 'webhook' }>;

/** Actions the endpoint receives. */
export type PlatformAction = 'deploy' | 'health' | 'promote' | 'terminate';

/** Options of the webhook platform. */
export interface WebhookPlatformOptions {
  env: Readonly<Record<string, string | undefined>>;
  fetch: typeof fetch;
  timeoutMs?: number;
  healthIntervalMs?: number;
}

const healthSchema = z.object({ healthy: z.boolean(), detail: z.string().optional() });

/** {@link CanaryPlatform} over a signed webhook. */
export class WebhookPlatform implements CanaryPlatform {
  constructor(private readonly options: WebhookPlatformOptions) {}

  /** POSTs `action: "deploy"`. */
  async deployCanary(call: PlatformCall): Promise<void> {
    await this.post(call, 'deploy');
  }

  /** POSTs `action: "health"` until the endpoint answers `{healthy: true}` or the deadline passes. */
  async checkHealth(call: PlatformCall): Promise<HealthResult> {
    return pollHealth(
      call,
      async () => {
        let answer: unknown;
        try {
          answer = await this.post(call, 'health');
        } catch (err) {
          if (err instanceof WebhookUnavailableError) return { healthy: false, detail: err.message };
          throw err;
        }
        const parsed = healthSchema.safeParse(answer);
        if (!parsed.success) {
          throw new WebhookRejectedError(
            `platform webhook must answer {"healthy": boolean} to action "health", got ${JSON.stringify(answer).slice(0, 200)}`,
            this.target(call).url,
            200,
          );
        }
        return { healthy: parsed.data.healthy, detail: parsed.data.detail ?? (parsed.data.healthy ? 'healthy' : 'unhealthy') };
      },
      this.options.healthIntervalMs ?? 2000,
    );
  }

  /** POSTs `action: "promote"`. */
  async promoteCanary(call: PlatformCall): Promise<void> {
    await this.post(call, 'promote');
  }

  /** POSTs `action: "terminate"`. */
  async terminateCanary(call: PlatformCall): Promise<void> {
    await this.post(call, 'terminate');
  }

  private post(call: PlatformCall, action: PlatformAction): Promise<unknown> {
    const target = this.target(call);
    return postSignedJson({
      url: target.url,
      secret: readSecret(this.options.env, target.secretEnv, 'platform.secretEnv'),
      timeoutMs: this.options.timeoutMs ?? 10_000,
      fetch: this.options.fetch,
      signal: call.signal,
      body: { action, service: call.spec.service, version: call.spec.canary.version, rolloutId: call.rolloutId },
    });
  }

  private target(call: PlatformCall): WebhookTarget {
    const target = call.spec.platform;
    if (target.kind !== 'webhook') throw new ConfigError('expected platform.kind "webhook"', 'platform.kind');
    return target;
  }
}
