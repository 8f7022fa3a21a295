/** Traffic routers and the factory that picks one from a rollout spec. */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { TrafficTarget } from '../../rollout-spec/types';
import { ClientCache } from '../client-cache';
import { ConfigError } from '../errors';
import { readSecret } from '../signed-webhook';
import { HaproxyPoolRouter } from './haproxy-pool-router';
import { poolSelector, usesPools } from './haproxy-pools';
import { GatewayApiRouter } from './gateway-api-router';
import { HaproxyRouter } from './haproxy-router';
import type { TrafficRouter } from './traffic-router';
import { WebhookRouter } from './webhook-router';

export type { AppliedSplit, SetWeightOptions, SplitCheck, TrafficRouter, TrafficWeights } from './traffic-router';
export { HaproxyPoolRouter } from './haproxy-pool-router';
export type { HaproxyPoolRouterConfig } from './haproxy-pool-router';
export { poolMembers, poolSelector, usesPools, type PoolSelector } from './haproxy-pools';
export { splitPools, type PoolSplit } from './pool-split';
export { HaproxyRouter, parseGetWeightAnswer, checkSetWeightAnswer } from './haproxy-router';
export type { HaproxyRouterConfig } from './haproxy-router';
export { WebhookRouter } from './webhook-router';
export { GatewayApiRouter } from './gateway-api-router';
export { parseRuntimeApiAddress, runRuntimeApiCommand } from './haproxy-runtime-api';

/** What {@link TrafficRouterFactory} needs from the worker. */
export interface TrafficRouterDeps {
  fetch: typeof fetch;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  /** Timeout of one router call (ms). */
  timeoutMs?: number;
}

/** Builds (and caches by config) the router for a spec's `traffic` section. */
export class TrafficRouterFactory {
  private readonly cache = new ClientCache<TrafficRouter>();

  constructor(private readonly deps: TrafficRouterDeps) {}

  /**
   * Returns the router for `traffic`.
   * @throws ConfigError for an unknown `traffic.kind`, a bad address or a missing secret.
   */
  routerFor(traffic: TrafficTarget, ctx: { service: string; rolloutId: string }): TrafficRouter {
    const timeoutMs = this.deps.timeoutMs ?? 5000;
    switch (traffic.kind) {
      case 'haproxy':
        return this.cache.get(JSON.stringify(['haproxy', traffic]), () => {
          const { runtimeApi, backend, stableServer, canaryServer, baselineServer } = traffic;
          if (usesPools(traffic) || stableServer === undefined || canaryServer === undefined) {
            const stable = poolSelector(traffic, 'stable');
            const canary = poolSelector(traffic, 'canary');
            return new HaproxyPoolRouter({ runtimeApi, backend, stable, canary, timeoutMs }, this.deps.logger);
          }
          return new HaproxyRouter({ runtimeApi, backend, stableServer, canaryServer, baselineServer, timeoutMs }, this.deps.logger);
        });
      case 'webhook': {
        // Read the secret on every call so a rotated secret is picked up without a restart.
        const secret = readSecret(this.deps.env, traffic.secretEnv, 'traffic.secretEnv');
        // Keyed by a digest so the secret itself is not kept as a map key.
        const secretId = createHash('sha256').update(secret).digest('hex');
        return this.cache.get(JSON.stringify(['webhook', traffic, secretId, ctx]), () =>
          new WebhookRouter({ url: traffic.url, secret, ...ctx, timeoutMs, fetch: this.deps.fetch }),
        );
      }
      case 'gateway-api':
        return this.cache.get(JSON.stringify(['gateway-api', traffic, ctx]), () =>
          new GatewayApiRouter({ ...traffic, env: this.deps.env, timeoutMs }, this.deps.logger.child({ rolloutId: ctx.rolloutId, service: ctx.service })),
        );
      default:
        throw new ConfigError(
          `traffic.kind must be "haproxy", "webhook" or "gateway-api", got ${JSON.stringify((traffic as { kind?: unknown }).kind)}`,
          'traffic.kind',
        );
    }
  }
}
