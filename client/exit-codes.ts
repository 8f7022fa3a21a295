/**
 * Exit codes of the `phoenix` CLI. Scripts rely on these, so they never change meaning:
 *
 * | code | meaning                                                            |
 * |------|--------------------------------------------------------------------|
 * | 0    | ok (with `--wait`/`watch`: the rollout was promoted)               |
 * | 1    | the rollout ended badly: rolled back, aborted or failed            |
 * | 2    | invalid input or usage: bad spec, bad id, unknown option           |
 * | 3    | the Temporal server is unreachable (or no worker answers the rollout) |
 * | 4    | the rollout was not found                                          |
 * | 5    | conflict: the rollout refused the action, already finished, or one is already running |
 * | 6    | unexpected internal error                                          |
 */
export const ExitCode = {
  Ok: 0,
  RolloutEndedBadly: 1,
  InvalidInput: 2,
  ServerUnreachable: 3,
  NotFound: 4,
  Conflict: 5,
  Internal: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const BY_ERROR_NAME: Record<string, ExitCode> = {
  SpecValidationError: ExitCode.InvalidInput,
  InvalidRolloutIdError: ExitCode.InvalidInput,
  ClientConfigError: ExitCode.InvalidInput,
  IdempotencyKeyReusedError: ExitCode.InvalidInput,
  UsageError: ExitCode.InvalidInput,
  InvalidFilterError: ExitCode.InvalidInput,
  ServerUnreachableError: ExitCode.ServerUnreachable,
  RolloutNotRespondingError: ExitCode.ServerUnreachable,
  RolloutNotFoundError: ExitCode.NotFound,
  OperatorActionRefusedError: ExitCode.Conflict,
  RolloutAlreadyFinishedError: ExitCode.Conflict,
  RolloutAlreadyRunningError: ExitCode.Conflict,
};

/** Maps an error thrown by the client to the CLI's exit code (by `name`, see `./errors`). */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof Error) return BY_ERROR_NAME[err.name] ?? ExitCode.Internal;
  return ExitCode.Internal;
}
