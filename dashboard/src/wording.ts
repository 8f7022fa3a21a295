/**
 * How a check is named and stated on the page: the status's own wording when the workflow
 * stored it (`label`, `statement`), else the same words computed by workflows/check-wording.ts,
 * the module the workflow, the CLI and this page share (older rollouts lack the fields).
 */
import { checkLabel as labelOf, checkRole, checkStatement as statementOf } from '../../workflows/check-wording';
import type { CheckStatus } from '../../workflows/contract';

/** What the check checks, as its rule (`error_rate > 1% over 5m`). */
export function checkLabel(check: CheckStatus): string {
  return check.label ?? labelOf(check);
}

/** The check's value against its limit, true as written (`0.2% ≤ 1% ✓`). */
export function checkStatement(check: CheckStatus): string {
  return check.statement ?? statementOf(check);
}

/** What a failure of the check does (`phase gate (holds)`). */
export { checkRole };
