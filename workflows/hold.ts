/**
 * The one wait loop of a rollout, shared by the plan's steps and the gradual rollback's: apply
 * what operators changed, analyse when due, and wait for the next tick (the next analysis, the
 * end of the hold, or an operator action). Pausing stops the hold's clock, never the analysis.
 */
import { condition, workflowInfo } from '@temporalio/workflow';
import type { RolloutActivityProfiles } from './activity-options';
import { runAnalysis, scheduleNextAnalysis } from './analysis-round';
import type { StepGate } from './plan';
import type { Rollout } from './rollout';

export type HoldEnd = 'elapsed' | 'interrupted' | 'continue_as_new';

export interface HoldOptions {
  /** Unpaused time the hold lasts. */
  durationMs: number;
  /** The phase gate the analyses apply, if any. */
  gate: StepGate | null;
  /**
   * The hold ends only on a passing analysis: at least one analysis while the canary has traffic,
   * and the latest not blocked (gate breach, no data, too few requests). A plan step is gated; a
   * gradual-rollback step is not.
   */
  gated: boolean;
  /** Ends the hold early (a rollback started, a promotion was asked for, a rollback escalated). */
  interrupted: () => boolean;
  /** Past this many history events the hold ends with `continue_as_new` (unset: never). */
  maxHistoryEvents?: number;
}

export async function hold(r: Rollout, acts: RolloutActivityProfiles, options: HoldOptions): Promise<HoldEnd> {
  const d = r.data;
  for (;;) {
    if (options.interrupted()) return 'interrupted';
    if (options.maxHistoryEvents !== undefined) {
      const info = workflowInfo();
      if (info.continueAsNewSuggested || info.historyLength >= options.maxHistoryEvents) return 'continue_as_new';
    }
    if (d.nextAnalysisAtMs !== null && Date.now() >= d.nextAnalysisAtMs) {
      await runAnalysis(r, acts, options.gate);
      scheduleNextAnalysis(r);
      continue;
    }
    const elapsed = r.holdElapsedMs();
    if (!d.paused && elapsed >= options.durationMs) {
      if (!options.gated) return 'elapsed';
      if (d.weight > 0 && d.analysesInStep === 0) {
        // A step shorter than the analysis interval still gets judged once before it passes.
        d.nextAnalysisAtMs = Date.now();
        continue;
      }
      if (!d.blocked) return 'elapsed';
    }
    const wakes: number[] = [];
    if (d.nextAnalysisAtMs !== null) wakes.push(d.nextAnalysisAtMs);
    if (!d.paused && elapsed < options.durationMs) wakes.push(Date.now() + (options.durationMs - elapsed));
    const seen = r.wakeups;
    const operatorActed = (): boolean => r.wakeups !== seen;
    if (wakes.length === 0) await condition(operatorActed);
    else await condition(operatorActed, Math.max(1, Math.min(...wakes) - Date.now()));
  }
}
