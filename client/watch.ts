/** `phoenix watch`: polls a rollout's status and shows it until the rollout ends. */
import { setTimeout as delay } from 'node:timers/promises';
import { ENDED_STATES, type RolloutState, type RolloutStatus } from '../workflows/contract';
import { formatStatus, formatStatusLine, STATUS_LINE_WIDTH } from './render';

/** Options of `watchRollout`. */
export interface WatchOptions {
  /** Where frames go. */
  write: (text: string) => void;
  /** Redraw in place (a terminal) or print one line per change (a pipe or a log). */
  tty: boolean;
  intervalMs?: number;
  signal?: AbortSignal;
}

const CLEAR_TO_END = '\x1b[J';
const moveUp = (lines: number): string => (lines > 0 ? `\x1b[${lines}A\r` : '');

/**
 * Shows the status returned by `fetchStatus` every `intervalMs` until it reaches a final state,
 * and returns that last status. In plain mode a line is printed only when something other than
 * the countdown changed, so piped output stays readable.
 */
export async function watchRollout(
  fetchStatus: () => Promise<RolloutStatus>,
  options: WatchOptions,
): Promise<RolloutStatus> {
  const intervalMs = options.intervalMs ?? 1000;
  let drawnLines = 0;
  let lastPlain = '';
  for (;;) {
    const status = await fetchStatus();
    if (options.tty) {
      const lines = formatStatus(status);
      options.write(`${moveUp(drawnLines)}${CLEAR_TO_END}${lines.join('\n')}\n`);
      drawnLines = lines.length;
    } else {
      // Time of day (UTC) only: the full timestamp would take a third of the line's width.
      const prefix = `${new Date().toISOString().slice(11, 19)}Z ${status.rolloutId} `;
      // The whole printed line stays within the width; the countdown alone is no change.
      const width = Math.max(40, STATUS_LINE_WIDTH - prefix.length);
      const comparable = formatStatusLine({ ...status, phaseRemainingMs: 0 }, width);
      if (comparable !== lastPlain) {
        options.write(`${prefix}${formatStatusLine(status, width)}\n`);
        lastPlain = comparable;
      }
    }
    if ((ENDED_STATES as readonly RolloutState[]).includes(status.state)) return status;
    await delay(intervalMs, undefined, { signal: options.signal });
  }
}
