/**
 * Errors the rollout client throws. Each one carries the rollout id it is about so callers (the
 * CLI, the HTTP API) can map it to an exit code or status without parsing messages. `name` is set
 * explicitly because `instanceof` is unreliable across module copies; match on `name` if in doubt.
 */

/** Thrown when no rollout workflow with the given id exists (never started, or purged). */
export class RolloutNotFoundError extends Error {
  override readonly name = 'RolloutNotFoundError';
  constructor(
    readonly rolloutId: string,
    options?: { cause?: unknown },
  ) {
    super(`rollout ${rolloutId} not found`, options);
  }
}

/** Thrown when an operator action is sent to a rollout whose workflow has already closed. */
export class RolloutAlreadyFinishedError extends Error {
  override readonly name = 'RolloutAlreadyFinishedError';
  constructor(
    readonly rolloutId: string,
    /** The workflow execution status, e.g. `COMPLETED`, `FAILED`, `TERMINATED`. */
    readonly executionStatus: string,
    options?: { cause?: unknown },
  ) {
    super(`rollout ${rolloutId} has already finished (${executionStatus.toLowerCase()})`, options);
  }
}

/** Thrown when a rollout is started for a service that already has one running. */
export class RolloutAlreadyRunningError extends Error {
  override readonly name = 'RolloutAlreadyRunningError';
  constructor(
    readonly rolloutId: string,
    /** Run id of the rollout that is running, when the server reported it. */
    readonly runId: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(`rollout ${rolloutId} is already running${runId ? ` (run ${runId})` : ''}`, options);
  }
}

/** Thrown when the Temporal server cannot be reached (connection refused, timeout, TLS failure). */
export class ServerUnreachableError extends Error {
  override readonly name = 'ServerUnreachableError';
  constructor(
    readonly address: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach Temporal server at ${address}: ${detail}`, options);
  }
}

/** Thrown when a rollout id or service name given by a user is not a valid id. */
export class InvalidRolloutIdError extends Error {
  override readonly name = 'InvalidRolloutIdError';
  constructor(readonly input: string) {
    super(`invalid rollout id ${JSON.stringify(input)}: expected rollout-<service> or <service> (letters, digits, '-', '_', '.')`);
  }
}

/** Thrown when an idempotency key is presented again with a different request. */
export class IdempotencyKeyReusedError extends Error {
  override readonly name = 'IdempotencyKeyReusedError';
  constructor(
    readonly idempotencyKey: string,
    readonly rolloutId: string,
  ) {
    super(`idempotency key ${JSON.stringify(idempotencyKey)} was already used for a different request (${rolloutId})`);
  }
}

/** Thrown when a list filter has a value that is not allowed (e.g. an unknown state). */
export class InvalidFilterError extends Error {
  override readonly name = 'InvalidFilterError';
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${message}`, options);
  }
}

/** Thrown when a running rollout does not answer its status query in time (usually: no worker). */
export class RolloutNotRespondingError extends Error {
  override readonly name = 'RolloutNotRespondingError';
  constructor(
    readonly rolloutId: string,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`rollout ${rolloutId} did not answer within ${timeoutMs / 1000}s; is a worker polling task queue phoenix-rollouts?`, options);
  }
}

/**
 * Thrown when a rollout refuses an operator action: the update's validator rejected it (e.g.
 * `promote refused: a rollback is in progress`). Nothing was applied and nothing reached the
 * rollout's history; `reason` is the workflow's own wording.
 */
export class OperatorActionRefusedError extends Error {
  override readonly name = 'OperatorActionRefusedError';
  constructor(
    readonly rolloutId: string,
    /** `pause`, `resume`, `abort` or `promote`. */
    readonly action: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

/** True for an `OperatorActionRefusedError`, also one from another copy of this module (matched by `name`). */
export function isOperatorActionRefused(err: unknown): err is OperatorActionRefusedError {
  return err instanceof Error && err.name === 'OperatorActionRefusedError';
}
