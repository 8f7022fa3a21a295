/**
 * Specs for workflow tests, built through the real schema so that the defaults under test are
 * the ones users get.
 */
import { rolloutSpecSchema } from '../../rollout-spec/schema';
import type { RolloutSpec } from '../../rollout-spec/types';

/** The seed's default plan for a service, with only the required targets given. */
export function seedSpec(overrides: Record<string, unknown> = {}): RolloutSpec {
  return rolloutSpecSchema.parse({
    service: 'checkout',
    stable: 'v1',
    canary: 'v2',
    traffic: {
      kind: 'haproxy',
      runtimeApi: '127.0.0.1:9999',
      backend: 'checkout',
      stableServer: 'stable',
      canaryServer: 'canary',
    },
    platform: { kind: 'command', deploy: ['true'], healthCheck: ['true'], promote: ['true'], terminate: ['true'] },
    ...overrides,
  });
}

/**
 * The seed's phase shape in seconds (warm-up 1 s, 5% for 3 s, 20% for 6 s, +20% every 2 s,
 * analysis every second): for e2e tests whose workers are killed mid-rollout.
 */
export const SECONDS_PLAN = {
  warmup: { duration: '1s' },
  analysisInterval: '1s',
  trafficControl: {
    phases: [
      { name: 'initial_canary', percentage: 5, duration: '3s' },
      { name: 'expanded_canary', percentage: 20, duration: '6s' },
      { name: 'full_rollout', incrementSize: 20, intervalSeconds: 2 },
    ],
  },
};
