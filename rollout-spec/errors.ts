/**
 * Errors of the rollout-spec area. Sandbox-safe. `name` is set explicitly because `instanceof` is
 * unreliable across the workflow sandbox boundary.
 */

/** One problem found in a spec: where (`trafficControl.phases[1].percentage`, `(root)`) and what. */
export interface SpecIssue {
  path: string;
  message: string;
}

/** Renders issues one `path: message` per line. */
export function formatIssues(issues: readonly SpecIssue[]): string {
  return issues.map((issue) => `${issue.path}: ${issue.message}`).join('\n');
}

/** Thrown when a rollout spec is invalid; carries every problem found, not just the first. */
export class SpecValidationError extends Error {
  override readonly name = 'SpecValidationError';
  readonly issues: readonly SpecIssue[];

  constructor(issues: readonly SpecIssue[], source?: string) {
    const head = source ? `invalid rollout spec ${source}` : 'invalid rollout spec';
    super(`${head} (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${formatIssues(issues)}`);
    this.issues = issues;
  }
}

/** Thrown when a value with a unit (duration, percentage, latency, rate) cannot be parsed. */
export class UnitParseError extends Error {
  override readonly name = 'UnitParseError';
  /** The value as given. */
  readonly input: unknown;

  constructor(message: string, input: unknown) {
    super(message);
    this.input = input;
  }
}

/** Thrown when a query template cannot be rendered safely (bad label value, unknown placeholder). */
export class QueryRenderError extends Error {
  override readonly name = 'QueryRenderError';

  constructor(message: string) {
    super(message);
  }
}
