/**
 * Traffic router that delegates to a user's HTTP endpoint: we POST the desired canary weight,
 * signed, and the endpoint echoes the weight it applied.
 */
import { z } from 'zod';
import { WebhookUnavailableError, WeightMismatchError } from '../errors';
import { postSignedJson } from '../signed-webhook';
import type { SetWeightOptions, TrafficRouter } from './traffic-router';

/** Settings of one webhook router. */
export interface WebhookRouterConfig {
  url: string;
  secret: string;
  service: string;
  rolloutId: string;
  timeoutMs: number;
  fetch: typeof fetch;
}

const echoSchema = z.object({ canaryWeight: z.number().int().min(0).max(100) });

/** {@link TrafficRouter} over a signed webhook. */
export class WebhookRouter implements TrafficRouter {
  private lastKnown: number | undefined;

  constructor(private readonly config: WebhookRouterConfig) {}

  /**
   * POSTs `{service, canaryWeight, rolloutId}` and returns the echoed `canaryWeight`. The endpoint
   * applies the weight itself, so there is no server-up wait to shorten or force (`_options`).
   */
  async setCanaryWeight(weight: number, signal?: AbortSignal, _options?: SetWeightOptions): Promise<number> {
    const { url, secret, service, rolloutId, timeoutMs } = this.config;
    const answer = await postSignedJson({
      url,
      secret,
      timeoutMs,
      fetch: this.config.fetch,
      signal,
      body: { service, canaryWeight: weight, rolloutId },
    });
    const parsed = echoSchema.safeParse(answer);
    if (!parsed.success) {
      throw new WebhookUnavailableError(
        `traffic webhook ${url} must answer {"canaryWeight": <0-100>}, got ${JSON.stringify(answer).slice(0, 200)}`,
        url,
      );
    }
    this.lastKnown = parsed.data.canaryWeight;
    if (parsed.data.canaryWeight !== weight) {
      throw new WeightMismatchError(
        `traffic webhook ${url} applied canaryWeight=${parsed.data.canaryWeight}, expected ${weight}`,
        { canary: weight, stable: 100 - weight },
        { canary: parsed.data.canaryWeight, stable: 100 - parsed.data.canaryWeight },
      );
    }
    return parsed.data.canaryWeight;
  }

  /**
   * The webhook protocol has no read operation, so this is the last weight the endpoint confirmed.
   * @throws WebhookUnavailableError when no weight has been confirmed yet by this worker.
   */
  async getCanaryWeight(): Promise<number> {
    if (this.lastKnown === undefined) {
      throw new WebhookUnavailableError('traffic webhook has not confirmed any weight yet', this.config.url);
    }
    return this.lastKnown;
  }

  /**
   * Always null: the protocol has no read operation, and the weight last confirmed to this worker
   * says nothing about what the load balancer does now.
   */
  async readWeights(): Promise<null> {
    return null;
  }
}
