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
