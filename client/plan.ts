/** Human-readable rendering of a rollout plan, for Temporal's static details and the CLI. */
import type { RolloutSpec } from '../rollout-spec/types';
import { buildPlan, planDurationMs } from '../workflows/plan';

/** Formats milliseconds as `2m`, `1m30s`, `45s`, `1h5m`. */
export function formatDuration(ms: number): string {
  const totalSeconds = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  const parts = [h ? `${h}h` : '', m ? `${m}m` : '', s || (!h && !m) ? `${s}s` : ''];
  return parts.join('');
}

/**
 * The plan as a short markdown list: one line per step with weight and hold time, then the
 * total. Temporal shows it as the workflow's static details.
 */
export function describePlan(spec: RolloutSpec): string {
  const steps = buildPlan(spec);
  const lines = [`**${spec.service}**: ${spec.stable.version} → ${spec.canary.version}`, ''];
  steps.forEach((step, i) => {
    lines.push(`${i + 1}. ${step.name}: ${step.weight}% for ${formatDuration(step.durationMs)}`);
  });
  lines.push('', `Total: ${formatDuration(planDurationMs(steps))} without pauses; then promote.`);
  return lines.join('\n');
}
