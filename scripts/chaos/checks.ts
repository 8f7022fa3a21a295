/**
 * What "nothing lost" means for one rollout, as pure functions of what was observed: the
 * expected outcome, every planned weight applied in order with none skipped (timeline and
 * history agree), no canary process left, and HAProxy's final weights matching the outcome.
 */
import type { RolloutResult, WeightChange } from '../../workflows/contract';

/** Everything observed about one rollout once it ended. */
export interface RolloutObservation {
  service: string;
  expected: 'promoted' | 'rolled_back';
  /** The weight the canary carried when its fault was injected (faulty canaries only). */
  faultInjectedAtWeight?: number;
  result: RolloutResult;
  /** The weights of the plan, warm-up first (buildPlan). */
  plan: number[];
  /** Weights requested by setCanaryWeight, in the order the history scheduled them. */
  historyWeights: number[];
  canaryPidLeft: number | undefined;
  /** Something still listens on the canary port: a canary the platform lost track of. */
  canaryPortListening: boolean;
  finalWeights: { stable: number; canary: number } | undefined;
  /** The version the stable slot serves at the end. */
  stableServes: string | undefined;
  stableVersion: string;
  canaryVersion: string;
}

/** The timeline without drift re-applications, which repeat the weight already planned. */
export function plannedTimeline(timeline: readonly WeightChange[]): WeightChange[] {
  return timeline.filter((c) => !c.reason.startsWith('drift re-applied'));
}

/** Drops consecutive repeats: a re-applied or verified weight is the same step. */
function squeeze(weights: readonly number[]): number[] {
  return weights.filter((w, i) => i === 0 || weights[i - 1] !== w);
}

/** Anomalies of one rollout; an empty list means nothing was lost. */
export function checkRollout(o: RolloutObservation): string[] {
  const out: string[] = [];
  const say = (what: string) => out.push(`${o.service}: ${what}`);
  const { result } = o;
  if (result.outcome !== o.expected) say(`outcome ${result.outcome}, expected ${o.expected} (${result.reason})`);

  const timeline = plannedTimeline(result.timeline);
  const weights = timeline.map((c) => c.weight);
  if (result.outcome === 'promoted') {
    const want = [...o.plan, 0];
    if (weights.join() !== want.join()) say(`timeline ${weights.join('→')}, planned ${want.join('→')}`);
  } else {
    // Forward steps until the first rollback entry, then only downwards to 0.
    const firstBack = timeline.findIndex((c) => /rollback|rolled back|abort|drain/i.test(c.reason));
    const forward = (firstBack < 0 ? timeline : timeline.slice(0, firstBack)).map((c) => c.weight);
    const back = firstBack < 0 ? [] : timeline.slice(firstBack).map((c) => c.weight);
    if (forward.join() !== o.plan.slice(0, forward.length).join()) {
      say(`forward steps ${forward.join('→')} are not the start of the plan ${o.plan.join('→')} (a step skipped or repeated)`);
    }
    if (o.faultInjectedAtWeight !== undefined) {
      const last = forward[forward.length - 1];
      if (last === undefined || last < o.faultInjectedAtWeight) {
        say(`rolled back from ${last}% before reaching ${o.faultInjectedAtWeight}%, where its fault was injected`);
      }
    }
    if (back.length === 0 || back[back.length - 1] !== 0) say(`rollback never reached 0 (${back.join('→') || 'no rollback entry'})`);
    if (back.some((w, i) => i > 0 && w > (back[i - 1] as number))) say(`rollback went up again: ${back.join('→')}`);
  }
  // The history must have asked for the same weights, in the same order (a re-try is the same step).
  const requested = squeeze(o.historyWeights);
  const recorded = squeeze(weights);
  if (requested.join() !== recorded.join()) say(`history requested ${requested.join('→')}, timeline has ${recorded.join('→')}`);

  if (o.canaryPidLeft !== undefined) say(`canary process ${o.canaryPidLeft} still running`);
  else if (o.canaryPortListening) say('a process the platform does not track still listens on the canary port');
  const w = o.finalWeights;
  if (!w) say('backend missing from HAProxy at the end');
  else if (w.canary !== 0 || !(w.stable > 0)) say(`final HAProxy weights stable ${w.stable} / canary ${w.canary}, expected all traffic on stable`);
  const wantServing = result.outcome === 'promoted' ? o.canaryVersion : o.stableVersion;
  if (o.stableServes !== wantServing) say(`stable slot serves ${o.stableServes ?? 'nothing'}, expected ${wantServing}`);
  return out;
}

/** One HAProxy reload: when the new worker answered, and the canaries that carried traffic before. */
export interface ReloadEvent {
  atMs: number;
  /** [service, canary weight before the reload]. */
  carrying: [string, number][];
}

/** What the reloads cost and how the rollouts got their weights back, from their timelines. */
export interface ReloadStats {
  /** Canary weights the reloads reset to 0. */
  lost: number;
  /** Of those, re-applied by an analysis (a `drift re-applied` timeline entry came next). */
  reapplied: number;
  /** Of those, set by the rollout's next step or rollback before an analysis noticed. */
  superseded: number;
  /** Slowest reload → re-applied (s), by the timeline's clock. */
  slowestS: number;
  /** One line per reset weight: what came next, after how long, after how many analyses. */
  details: string[];
  /** Analyses that ran after a reload and left the canary weight at 0 (three or more: an anomaly). */
  anomalies: string[];
}

/**
 * An analysis reads the router's weights back before it judges, so one that ran well after a
 * reload (its queries take at most the 2 s query timeout) must have seen the drift and re-applied.
 */
const READ_BACK_MARGIN_MS = 3_000;

/**
 * Reads, for each canary a reload reset, the first timeline entry after the reload, and counts the
 * analyses (as the status showed them) between the reload and that entry that did not re-apply.
 */
export function reloadStats(
  reloads: readonly ReloadEvent[],
  rollouts: ReadonlyMap<string, { timeline: readonly WeightChange[]; analyses: readonly number[] }>,
): ReloadStats {
  const stats: ReloadStats = { lost: 0, reapplied: 0, superseded: 0, slowestS: 0, details: [], anomalies: [] };
  for (const reload of reloads) {
    for (const [service, weight] of reload.carrying) {
      stats.lost++;
      const r = rollouts.get(service);
      const next = (r?.timeline ?? []).find((c) => Date.parse(c.at) > reload.atMs);
      const until = next ? Date.parse(next.at) : Infinity;
      const missed = (r?.analyses ?? []).filter((a) => a > reload.atMs + READ_BACK_MARGIN_MS && a < until - READ_BACK_MARGIN_MS).length;
      const afterS = next ? ((until - reload.atMs) / 1000).toFixed(1) : '?';
      if (next?.reason.startsWith('drift re-applied')) {
        stats.reapplied++;
        stats.slowestS = Math.max(stats.slowestS, (until - reload.atMs) / 1000);
        stats.details.push(`${service}@${weight}: re-applied ${afterS} s after the reload`);
      } else {
        if (next) stats.superseded++;
        stats.details.push(`${service}@${weight}: ${next ? `"${next.reason}" ${afterS} s after the reload` : 'nothing after the reload'}`);
      }
      if (missed >= 3) {
        stats.anomalies.push(`${service}: ${missed} analyses ran after an HAProxy reload reset its canary weight (${weight}%) and did not re-apply it`);
      }
    }
  }
  return stats;
}
