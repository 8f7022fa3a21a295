/**
 * The seed design's blocks that stand in for what a spec leaves out: §3.2 `trafficControl` and
 * §6.1 `rollback_triggers`, as the user would write them (they go through the same schema), and
 * the full-rollout step used when the phase list has none. Plain data: no zod, sandbox-safe.
 */

/** The seed's §3.2 block, used when `trafficControl` is absent. */
export const SEED_TRAFFIC_CONTROL = {
  phases: [
    { name: 'initial_canary', percentage: 5, duration: 600, errorThreshold: '0.1%', latencyThreshold: '100ms' },
    { name: 'expanded_canary', percentage: 20, duration: 900, errorThreshold: '0.5%', latencyThreshold: '200ms' },
    { name: 'full_rollout', incrementSize: 20, intervalSeconds: 300, maxErrorRate: '1%' },
  ],
};

/** The seed's §6.1 block, used when neither `rollback_triggers` nor `rollbackTriggers` is given. */
export const SEED_ROLLBACK_TRIGGERS = [
  { condition: 'error_rate > 1%', window: '5m', action: 'immediate_rollback' },
  { condition: 'p95_latency > 500ms', window: '5m', action: 'immediate_rollback' },
  { condition: 'task_success_rate < 98%', window: '10m', action: 'gradual_rollback' },
  { condition: 'agent_health_score < 90%', window: '5m', action: 'gradual_rollback' },
] as const;

/** The seed's §3.2 full rollout step, used when the phase list ends without one. */
export const SEED_FULL_ROLLOUT = { name: 'full_rollout', incrementSize: 20, intervalMs: 300_000 } as const;
