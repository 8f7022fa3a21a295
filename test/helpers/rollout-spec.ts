/** Normalized rollout specs for activity and e2e tests, built through the real schema. */
import { rolloutSpecSchema } from '../../rollout-spec/schema';
import type { RolloutSpec } from '../../rollout-spec/types';

/**
 * A valid spec for service `checkout` (v1 → v2) with harmless command targets; `overrides` are
 * user-level (input) fields such as `traffic`, `platform`, `metrics`, `alerts`.
 */
export function rolloutSpec(overrides: Record<string, unknown> = {}): RolloutSpec {
  return rolloutSpecSchema.parse({
    service: 'checkout',
    stable: 'v1',
    canary: 'v2',
    traffic: { kind: 'haproxy', runtimeApi: '127.0.0.1:1', backend: 'app', stableServer: 'stable', canaryServer: 'canary' },
    platform: { kind: 'command', deploy: ['true'], healthCheck: ['true'], promote: ['true'], terminate: ['true'] },
    ...overrides,
  });
}
