/**
 * Operator actions: pause, resume, abort, promote. Each arrives as a signal (Temporal UI,
 * `temporal workflow signal`) or as an update of the same name (our CLI and API). One rule
 * decides whether an action is refused; an update's validator rejects with that reason, a signal
 * records the refusal in the audit trail. Accepted actions take effect at once: handlers are
 * synchronous, and the rollout's waits wake on `Rollout.wakeups`.
 */
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import {
  abortSignal,
  abortUpdate,
  pauseSignal,
  pauseUpdate,
  promoteSignal,
  promoteUpdate,
  resumeSignal,
  resumeUpdate,
  statusQuery,
  type OperatorAck,
  type OperatorAction,
  type OperatorInput,
} from './contract';
import type { Rollout } from './rollout';

/** Why `action` cannot be applied to the rollout as it is now, or null when it can. */
export function refusalOf(r: Rollout, action: OperatorAction): string | null {
  const d = r.data;
  if (r.ended) return `${action} refused: the rollout has already ended (${d.state})`;
  switch (action) {
    case 'pause':
      if (d.paused) return 'pause refused: already paused';
      if (d.promotionStarted || d.state === 'finalizing') return 'pause refused: promotion is in progress';
      if (d.rollback?.action === 'immediate_rollback') {
        return d.stuckReason
          ? `pause refused: the rollback is stuck (${d.stuckReason}); fix stable or abort --force`
          : 'pause refused: an immediate rollback is in progress';
      }
      return null;
    case 'resume':
      return d.paused ? null : 'resume refused: the rollout is not paused';
    case 'abort':
      if (d.promotionStarted) {
        return 'abort refused: promotion has passed the point of no return (the stable slot is being replaced)';
      }
      return null;
    case 'promote':
      if (d.rollback) return `promote refused: a rollback is in progress (${d.rollback.reason})`;
      if (!d.deployed) return 'promote refused: the canary is not deployed and healthy yet';
      if (d.state === 'finalizing' || d.promoteRequested !== null) return 'promote refused: promotion is already under way';
      return null;
  }
}

function reasonOf(input: OperatorInput | undefined, fallback: string): string {
  return typeof input?.reason === 'string' && input.reason.trim() ? input.reason.trim() : fallback;
}

function byOf(input: OperatorInput | undefined): string | null {
  return typeof input?.by === 'string' && input.by ? input.by : null;
}

/** Applies an action that `refusalOf` accepted; returns what was done. */
function apply(r: Rollout, action: OperatorAction, input: OperatorInput | undefined): string {
  const by = byOf(input);
  const reason = reasonOf(input, `${action} by operator`);
  const attributed = by ? `${reason} (by ${by})` : reason;
  const d = r.data;
  switch (action) {
    case 'pause':
      r.pause(attributed);
      return d.rollback ? 'paused: the gradual rollback holds its weight, analysis goes on' : 'paused';
    case 'resume':
      r.resume(attributed);
      return d.rollback ? 'resumed: the gradual rollback continues its descent' : 'resumed';
    case 'abort': {
      const force = input?.force === true;
      if (force) d.forceDrain = attributed;
      const already = d.rollback?.action === 'immediate_rollback';
      r.startRollback('immediate_rollback', attributed, 'aborted');
      r.interrupt();
      if (force && d.stuckReason) return 'aborting with force: draining to stable although it is not serving';
      return already ? 'abort noted: an immediate rollback is already under way' : 'aborting: traffic goes back to stable';
    }
    case 'promote':
      d.promoteRequested = attributed;
      return 'promoting: traffic goes to 100% and the canary becomes stable';
  }
}

function handle(r: Rollout, action: OperatorAction, input: OperatorInput | undefined): OperatorAck {
  const by = byOf(input);
  const reason = reasonOf(input, `${action} by operator`);
  const refusal = refusalOf(r, action);
  if (refusal !== null) {
    r.recordOperatorEvent({ action, by, reason, accepted: false, message: refusal });
    return { action, state: r.data.state, message: refusal };
  }
  const message = apply(r, action, input);
  r.recordOperatorEvent({ action, by, reason, accepted: true, message });
  return { action, state: r.data.state, message };
}

/** Registers the signals, the updates (with validators) and the status query. */
export function registerOperatorHandlers(r: Rollout): void {
  const register = (
    action: OperatorAction,
    signal: typeof pauseSignal,
    update: typeof pauseUpdate,
  ): void => {
    setHandler(signal, (input) => void handle(r, action, input));
    setHandler(update, (input: OperatorInput) => handle(r, action, input), {
      validator: (_input: OperatorInput) => {
        const refusal = refusalOf(r, action);
        if (refusal !== null) throw new Error(refusal);
      },
    });
  };
  register('pause', pauseSignal, pauseUpdate);
  register('resume', resumeSignal, resumeUpdate);
  register('abort', abortSignal, abortUpdate);
  register('promote', promoteSignal, promoteUpdate);
  setHandler(statusQuery, () => r.status());
}

/**
 * Operator actions that arrive while the targets are still being resolved (the first seconds of
 * a rollout, before a `Rollout` exists): updates wait for it and are then decided by the same
 * rule, so an abort sent right after a start is applied, not rejected for want of a handler.
 * Signals need nothing: the SDK buffers them until `registerOperatorHandlers`. Call `bind` once
 * the rollout exists (after registering its handlers), or `fail` when it never will.
 */
export function acceptEarlyOperatorActions(): { bind(r: Rollout): void; fail(reason: string): void } {
  let rollout: Rollout | undefined;
  let failed: string | undefined;
  const register = (action: OperatorAction, update: typeof pauseUpdate): void => {
    setHandler(update, async (input: OperatorInput) => {
      await condition(() => rollout !== undefined || failed !== undefined);
      if (!rollout) throw ApplicationFailure.nonRetryable(`${action} refused: the rollout did not start (${failed})`, 'OperatorActionRefused');
      const refusal = refusalOf(rollout, action);
      if (refusal !== null) {
        rollout.recordOperatorEvent({ action, by: byOf(input), reason: reasonOf(input, `${action} by operator`), accepted: false, message: refusal });
        throw ApplicationFailure.nonRetryable(refusal, 'OperatorActionRefused');
      }
      return handle(rollout, action, input);
    });
  };
  register('pause', pauseUpdate);
  register('resume', resumeUpdate);
  register('abort', abortUpdate);
  register('promote', promoteUpdate);
  return {
    bind: (r) => {
      rollout = r;
    },
    fail: (reason) => {
      failed = reason;
    },
  };
}
