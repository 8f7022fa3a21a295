/** How a failure reads in a rollout's reason: which activity failed and why. */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

export function failureReason(err: unknown): string {
  if (err instanceof ActivityFailure) return `${err.activityType} failed: ${err.cause?.message ?? err.message}`;
  if (err instanceof ApplicationFailure) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** Failures the rollout handles (an activity gave up, or the workflow decided to fail); others are bugs that retry the task. */
export function isHandledFailure(err: unknown): err is ActivityFailure | ApplicationFailure {
  return err instanceof ActivityFailure || err instanceof ApplicationFailure;
}
