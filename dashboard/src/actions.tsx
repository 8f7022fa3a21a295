/**
 * The operator's buttons: pause or resume, abort (with a required reason) and promote (asks to
 * confirm). Each sends the API's operator route, which runs the same update and validator as the
 * CLI; the rollout's answer (accepted with its message, or refused with why) is announced.
 */
import { useRef, useState } from 'preact/hooks';
import type { OperatorAction } from '../../workflows/contract';
import { ApiError, operate, type ActionAnswer } from './api';

export interface ActionsProps {
  rolloutId: string;
  allowed: OperatorAction[];
  paused: boolean;
  onUnauthorized: () => void;
}

export function Actions({ rolloutId, allowed, paused, onUnauthorized }: ActionsProps) {
  const [answer, setAnswer] = useState<ActionAnswer | { error: string } | null>(null);
  const [busy, setBusy] = useState<OperatorAction | null>(null);
  const [reason, setReason] = useState('');
  const [reasonError, setReasonError] = useState<string | null>(null);
  const abortDialog = useRef<HTMLDialogElement>(null);
  const promoteDialog = useRef<HTMLDialogElement>(null);

  const send = async (action: OperatorAction, why: string) => {
    setBusy(action);
    setAnswer(null);
    try {
      setAnswer(await operate(rolloutId, action, why));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return onUnauthorized();
      setAnswer({ error: `${action} failed: ${err instanceof Error ? err.message : String(err)}` });
    } finally {
      setBusy(null);
    }
  };

  const can = (a: OperatorAction) => allowed.includes(a);
  const openAbort = () => {
    setReason('');
    setReasonError(null);
    abortDialog.current?.showModal();
  };
  const confirmAbort = (event: Event) => {
    event.preventDefault();
    if (!reason.trim()) {
      setReasonError('A reason is required to abort a rollout.');
      return;
    }
    abortDialog.current?.close();
    void send('abort', reason);
  };

  return (
    <section class="actions" aria-labelledby="actions-title">
      <h2 id="actions-title">Actions</h2>
      <div class="buttons">
        {can('pause') && !paused && (
          <button type="button" onClick={() => void send('pause', 'paused from the dashboard')} disabled={busy !== null}>
            Pause
          </button>
        )}
        {can('resume') && paused && (
          <button type="button" onClick={() => void send('resume', 'resumed from the dashboard')} disabled={busy !== null}>
            Resume
          </button>
        )}
        {can('promote') && (
          <button type="button" onClick={() => promoteDialog.current?.showModal()} disabled={busy !== null}>
            Promote
          </button>
        )}
        {can('abort') && (
          <button type="button" class="danger" onClick={openAbort} disabled={busy !== null}>
            Abort
          </button>
        )}
      </div>
      <p role="status" aria-live="polite" class={`answer ${answer && 'accepted' in answer ? (answer.accepted ? 'ok' : 'refused') : answer ? 'refused' : ''}`} data-testid="action-answer">
        {busy ? `${busy}: waiting for the rollout's answer…` : answer === null ? '' : 'error' in answer ? answer.error : `${answer.action} ${answer.accepted ? 'accepted' : 'refused'}: ${answer.message}`}
      </p>

      <dialog ref={abortDialog} aria-labelledby="abort-title">
        <form method="dialog" onSubmit={confirmAbort} noValidate>
          <h2 id="abort-title">Abort this rollout?</h2>
          <p>Traffic goes back to the stable version at once and the canary is terminated.</p>
          <label for="abort-reason">Reason (required)</label>
          <textarea id="abort-reason" required rows={3} value={reason} onInput={(e) => setReason(e.currentTarget.value)} aria-invalid={reasonError ? 'true' : undefined} aria-describedby={reasonError ? 'abort-reason-error' : undefined} />
          {reasonError && (
            <p id="abort-reason-error" role="alert" class="error">
              {reasonError}
            </p>
          )}
          <div class="buttons">
            <button type="submit" class="danger">
              Abort rollout
            </button>
            <button type="button" onClick={() => abortDialog.current?.close()}>
              Cancel
            </button>
          </div>
        </form>
      </dialog>

      <dialog ref={promoteDialog} aria-labelledby="promote-title">
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            promoteDialog.current?.close();
            void send('promote', 'promoted from the dashboard');
          }}
        >
          <h2 id="promote-title">Promote this rollout now?</h2>
          <p>The remaining phases are skipped: the canary goes to 100% and replaces the stable version.</p>
          <div class="buttons">
            <button type="submit">Promote now</button>
            <button type="button" onClick={() => promoteDialog.current?.close()}>
              Cancel
            </button>
          </div>
        </form>
      </dialog>
    </section>
  );
}
