/**
 * `RolloutClient`: the typed way to start, steer and inspect canary rollouts. The CLI and the HTTP
 * API are thin layers over it. It validates specs before anything reaches Temporal, turns Temporal's
 * errors into the ones in `./errors`, and hides workflow ids behind `normalizeRolloutId`.
 */
import { canaryRollout } from '../workflows/canary-rollout';
import {
  Client,
  Connection,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  isGrpcCancelledError,
  isGrpcDeadlineError,
  isGrpcServiceError,
  type WorkflowExecutionDescription,
  type WorkflowExecutionInfo,
  type WorkflowExecutionStatusName,
  type WorkflowHandle,
} from '@temporalio/client';
import { TypedSearchAttributes, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import pino, { type Logger } from 'pino';
import type { Catalog } from '../catalog/catalog';
import { resolveRequest } from '../catalog/resolve';
import type { RolloutRequest, TargetSource } from '../catalog/types';
import { SpecValidationError } from '../rollout-spec/errors';
import type { RolloutSpec } from '../rollout-spec/types';
import {
  ROLLOUT_STATES,
  TASK_QUEUE,
  WORKFLOW_TYPE,
  abortUpdate,
  pauseUpdate,
  phaseSearchAttribute,
  promoteUpdate,
  resumeUpdate,
  rolloutWorkflowId,
  serviceSearchAttribute,
  stateSearchAttribute,
  statusQuery,
  weightSearchAttribute,
  type OperatorAck,
  type OperatorInput,
  type RolloutStartInput,
  type RolloutResult,
  type RolloutState,
  type RolloutStatus,
} from '../workflows/contract';
import { loadClientConfig, type ClientConfig } from './config';
import {
  IdempotencyKeyReusedError,
  InvalidFilterError,
  OperatorActionRefusedError,
  RolloutAlreadyFinishedError,
  RolloutAlreadyRunningError,
  RolloutNotFoundError,
  RolloutNotRespondingError,
  ServerUnreachableError,
} from './errors';
import { normalizeRolloutId } from './ids';
import { describePlan } from './plan';
import { validateRolloutSpec } from './validate';

/** How long `status` waits for the workflow to answer its query (a worker must be polling). */
const STATUS_QUERY_TIMEOUT_MS = 10_000;

/**
 * How long an operator action waits for the rollout to accept or refuse it. Like a query, an
 * update needs a worker; without one the server would hold the call indefinitely.
 */
const OPERATOR_UPDATE_TIMEOUT_MS = 10_000;


/** Memo keys written at start; memo survives continue-as-new, so they identify the whole rollout. */
/** Memo key holding the idempotency key of the start request. */
export const MEMO_IDEMPOTENCY_KEY = 'phoenixIdempotencyKey';
/** Memo key holding the fingerprint of the request that carried the idempotency key. */
export const MEMO_REQUEST_HASH = 'phoenixRequestHash';
const MEMO_STABLE_VERSION = 'phoenixStableVersion';
const MEMO_CANARY_VERSION = 'phoenixCanaryVersion';
/** The targets the client resolved at start (JSON of a `TargetSource`), for status after the end. */
const MEMO_TARGETS = 'phoenixTargets';

/** Options of `RolloutClient.start`. */
export interface StartOptions {
  /**
   * Makes the start idempotent: a start with a key that the current (or latest) run of this
   * service was started with returns that run instead of starting or failing.
   */
  idempotencyKey?: string;
  /**
   * Fingerprint of the request that carried `idempotencyKey` (e.g. sha256 of the body). When the
   * key matches but the fingerprint does not, `IdempotencyKeyReusedError` is thrown.
   */
  requestHash?: string;
}

/** What `start` returns: the rollout's id and the run that carries it. */
export interface StartedRollout {
  rolloutId: string;
  /** Run id of the first run of the rollout (stable across continue-as-new). */
  runId: string;
  /** True when an earlier start with the same idempotency key was found instead of starting. */
  reused: boolean;
}

/** Filters of `list`; all optional, combined with AND. */
export interface ListFilter {
  state?: RolloutState;
  service?: string;
  /** Most rollouts to return (default 100); newest first among those the server returned. */
  limit?: number;
}

/** One row of `list`: what visibility knows about a rollout without querying the workflow. */
export interface RolloutSummary {
  rolloutId: string;
  runId: string;
  service: string;
  state: RolloutState | null;
  phase: string | null;
  weight: number | null;
  executionStatus: WorkflowExecutionStatusName;
  startedAt: string;
  closedAt: string | null;
}

/** Options of the operator actions (`pause`, `resume`, `abort`, `promote`). */
export interface OperatorOptions {
  /**
   * Act only on the rollout whose first run is this one (the `runId` that `start` returned; it
   * stays the same across continue-as-new). When the service has moved on to another rollout the
   * action fails with `RolloutNotFoundError` or `RolloutAlreadyFinishedError` instead of reaching
   * the newer one.
   */
  firstRunId?: string;
}

/** Options of `abort`. */
export interface AbortOptions extends OperatorOptions {
  /** Drain a rollback that is `stuck` because stable is not serving, accepting the risk. */
  force?: boolean;
}

/** The run of a rollout as Temporal knows it, without asking the workflow (no worker needed). */
export interface RolloutRun {
  rolloutId: string;
  /** The latest run (changes on continue-as-new). */
  runId: string;
  /** The run the rollout started with (what `start` returned; stable across continue-as-new). */
  firstRunId: string;
  executionStatus: WorkflowExecutionStatusName;
  /** As written at start; empty for a workflow not started by this client. */
  stableVersion: string;
  canaryVersion: string;
}

/** Dependencies of a `RolloutClient` built around an existing Temporal client. */
export interface RolloutClientOptions {
  client: Client;
  /** Server address, only for error messages. */
  address?: string;
  logger?: Logger;
}

type OperatorUpdate = typeof pauseUpdate;

/** Typed client over `@temporalio/client` for the `canaryRollout` workflow. */
export class RolloutClient {
  readonly temporal: Client;
  private readonly address: string;
  private readonly log: Logger;

  constructor(options: RolloutClientOptions) {
    this.temporal = options.client;
    this.address = options.address ?? 'configured address';
    this.log = options.logger ?? pino({ level: 'silent' });
  }

  /**
   * Connects using the environment (see `./config`). Throws `ServerUnreachableError` when the
   * server does not answer within `PHOENIX_CONNECT_TIMEOUT_MS`.
   */
  static async connect(config: ClientConfig = loadClientConfig(), logger?: Logger): Promise<RolloutClient> {
    let connection: Connection;
    try {
      connection = await Connection.connect(config.connection);
    } catch (err) {
      throw new ServerUnreachableError(config.address, describeCause(err), { cause: err });
    }
    const client = new Client({ connection, namespace: config.namespace });
    return new RolloutClient({ client, address: config.address, logger });
  }

  /** Closes the underlying connection. */
  async close(): Promise<void> {
    await this.temporal.connection.close();
  }

  /**
   * Starts a rollout for `spec.service`. The spec is validated again here because callers may
   * build it by hand. Throws `RolloutAlreadyRunningError` if the service has a rollout running; a
   * finished rollout can be run again.
   */
  async start(spec: RolloutSpec, options: StartOptions = {}): Promise<StartedRollout> {
    const valid = validateRolloutSpec(spec);
    return this.startWorkflow({ spec: valid }, valid, { kind: 'inline' }, options);
  }

  /**
   * Starts a rollout of a catalog service. The request is resolved against `catalog` first (the
   * copy the worker uses), so a request the worker would refuse fails here with
   * `SpecValidationError` and no workflow starts; the worker then resolves it again, once, from
   * its own copy, and the rollout keeps what it resolved.
   */
  async startFromCatalog(request: RolloutRequest, catalog: Catalog, options: StartOptions = {}): Promise<StartedRollout> {
    const resolved = resolveRequest(catalog, request);
    if (!resolved.ok) throw new SpecValidationError(resolved.issues, `for service ${request.service}`);
    return this.startWorkflow({ request }, resolved.spec, resolved.source, options);
  }

  private async startWorkflow(
    input: RolloutStartInput,
    valid: RolloutSpec,
    targets: TargetSource,
    options: StartOptions,
  ): Promise<StartedRollout> {
    const rolloutId = rolloutWorkflowId(valid.service);
    const log = this.log.child({ rolloutId });
    const key = options.idempotencyKey;

    if (key !== undefined) {
      // A retry after the first run already finished must not start a second one either, so look
      // at the latest run before starting, not only on conflict.
      const earlier = await this.findRunWithKey(rolloutId, key, options.requestHash);
      if (earlier) {
        log.info({ runId: earlier.runId }, 'start deduplicated by idempotency key');
        return earlier;
      }
    }

    const memo: Record<string, string> = {
      [MEMO_STABLE_VERSION]: valid.stable.version,
      [MEMO_CANARY_VERSION]: valid.canary.version,
      [MEMO_TARGETS]: JSON.stringify(targets),
    };
    if (key !== undefined) memo[MEMO_IDEMPOTENCY_KEY] = key;
    if (options.requestHash !== undefined) memo[MEMO_REQUEST_HASH] = options.requestHash;
    try {
      const handle = await this.temporal.workflow.start(canaryRollout, {
        args: [input],
        taskQueue: TASK_QUEUE,
        workflowId: rolloutId,
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        memo,
        typedSearchAttributes: new TypedSearchAttributes([
          { key: serviceSearchAttribute, value: valid.service },
          { key: stateSearchAttribute, value: 'deploying' },
          // The workflow upserts the real phase names; until its first upsert the rollout is deploying.
          { key: phaseSearchAttribute, value: 'deploy' },
          { key: weightSearchAttribute, value: 0 },
        ]),
        staticSummary: `${valid.service}: ${valid.stable.version} → ${valid.canary.version}`,
        staticDetails: describePlan(valid),
      });
      log.info({ runId: handle.firstExecutionRunId }, 'rollout started');
      return { rolloutId, runId: handle.firstExecutionRunId, reused: false };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw this.mapError(err, rolloutId);
      // Two concurrent starts with one key: the loser finds the winner's run here.
      if (key !== undefined) {
        const winner = await this.findRunWithKey(rolloutId, key, options.requestHash);
        if (winner) return winner;
      }
      const running = await this.describeOrNull(rolloutId);
      throw new RolloutAlreadyRunningError(rolloutId, running?.runId, { cause: err });
    }
  }

  /** The Temporal handle of a rollout (accepts `checkout` or `rollout-checkout`). */
  handle(id: string): WorkflowHandle {
    return this.temporal.workflow.getHandle(normalizeRolloutId(id));
  }

  /**
   * Freezes the phase timer; traffic stays where it is. Like every operator action it is a
   * Temporal update: it resolves with the rollout's acknowledgement once applied, and throws
   * `OperatorActionRefusedError` (with the workflow's reason) when the rollout refuses it,
   * `RolloutAlreadyFinishedError` when the workflow has closed, and `RolloutNotRespondingError`
   * when no worker answers in time (the server may still deliver it once a worker polls).
   */
  pause(id: string, input: OperatorInput = {}, options: OperatorOptions = {}): Promise<OperatorAck> {
    return this.operate(id, pauseUpdate, input, options);
  }

  /** Continues a paused rollout (see `pause` for what it resolves with and throws). */
  resume(id: string, input: OperatorInput = {}, options: OperatorOptions = {}): Promise<OperatorAck> {
    return this.operate(id, resumeUpdate, input, options);
  }

  /**
   * Aborts the rollout: traffic goes back to stable and the canary is terminated. `force` drains
   * a rollback that is stuck because stable is not serving. See `pause` for what it throws.
   */
  abort(id: string, reason: string, by?: string, options: AbortOptions = {}): Promise<OperatorAck> {
    const { force, ...rest } = options;
    const input: OperatorInput = { reason };
    if (by !== undefined) input.by = by;
    if (force) input.force = true;
    return this.operate(id, abortUpdate, input, rest);
  }

  /** Skips the remaining phases and promotes the canary now (see `pause`). */
  promote(id: string, input: OperatorInput = {}, options: OperatorOptions = {}): Promise<OperatorAck> {
    return this.operate(id, promoteUpdate, input, options);
  }

  /**
   * The latest run of a rollout from `describe`: run ids, execution status and the versions
   * recorded at start. Needs no worker. Throws `RolloutNotFoundError` when there is none.
   */
  async run(id: string): Promise<RolloutRun> {
    const rolloutId = normalizeRolloutId(id);
    const description = await this.describe(rolloutId);
    return {
      rolloutId,
      runId: description.runId,
      firstRunId: description.raw.workflowExecutionInfo?.firstRunId || description.runId,
      executionStatus: description.status.name,
      stableVersion: memoString(description, MEMO_STABLE_VERSION),
      canaryVersion: memoString(description, MEMO_CANARY_VERSION),
    };
  }

  /**
   * The rollout's live status. For a closed rollout the status is rebuilt from its result, so it
   * works without a worker; `state` is then the outcome.
   */
  async status(id: string): Promise<RolloutStatus> {
    const rolloutId = normalizeRolloutId(id);
    const description = await this.describe(rolloutId);
    const handle = this.temporal.workflow.getHandle(rolloutId);
    if (description.status.name === 'RUNNING') {
      const asked = Date.now();
      try {
        // A query needs a worker; without one the server would hold the call for a long time.
        return await this.temporal.connection.withDeadline(asked + STATUS_QUERY_TIMEOUT_MS, () =>
          handle.query(statusQuery),
        );
      } catch (err) {
        // How a query without a worker ends depends on who gives up first: the client's deadline,
        // or the server's own slightly earlier one, which comes back as some other error.
        const outOfTime = Date.now() - asked >= STATUS_QUERY_TIMEOUT_MS - 1_000;
        if (isGrpcDeadlineError(err) || isGrpcCancelledError(err) || outOfTime) {
          throw new RolloutNotRespondingError(rolloutId, STATUS_QUERY_TIMEOUT_MS, { cause: err });
        }
        const mapped = this.mapError(err, rolloutId);
        // The run may have closed between describe and query; fall through to the result then.
        if (!(mapped instanceof RolloutNotFoundError)) throw mapped;
      }
    }
    return statusFromResult(rolloutId, await this.describe(rolloutId), await this.result(rolloutId));
  }

  /**
   * Waits for the rollout to finish and returns how it ended. A workflow that failed, was
   * terminated, cancelled or timed out is reported as outcome `failed` with the reason.
   */
  async result(id: string): Promise<RolloutResult> {
    const rolloutId = normalizeRolloutId(id);
    try {
      return (await this.temporal.workflow.getHandle(rolloutId).result()) as RolloutResult;
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        return { outcome: 'failed', reason: describeCause(err.cause ?? err), finalWeight: 0, timeline: [], checks: [], continuedAsNew: 0 };
      }
      throw this.mapError(err, rolloutId);
    }
  }

  /** Rollouts known to visibility, newest first, filtered on the Phoenix search attributes. */
  async list(filter: ListFilter = {}): Promise<RolloutSummary[]> {
    const query = buildListQuery(filter);
    const limit = filter.limit ?? 100;
    const rows: RolloutSummary[] = [];
    try {
      for await (const info of this.temporal.workflow.list({ query, pageSize: Math.min(limit, 1000) })) {
        rows.push(summarize(info));
        if (rows.length >= limit) break;
      }
    } catch (err) {
      throw this.mapError(err, '(list)');
    }
    return rows.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  }

  /** Describes the latest run; throws `RolloutNotFoundError` when there is none. */
  async describe(id: string): Promise<WorkflowExecutionDescription> {
    const rolloutId = normalizeRolloutId(id);
    try {
      return await this.temporal.workflow.getHandle(rolloutId).describe();
    } catch (err) {
      throw this.mapError(err, rolloutId);
    }
  }

  private async describeOrNull(rolloutId: string): Promise<WorkflowExecutionDescription | null> {
    try {
      return await this.describe(rolloutId);
    } catch (err) {
      if (err instanceof RolloutNotFoundError) return null;
      throw err;
    }
  }

  private async findRunWithKey(
    rolloutId: string,
    key: string,
    requestHash: string | undefined,
  ): Promise<StartedRollout | null> {
    const latest = await this.describeOrNull(rolloutId);
    if (!latest || latest.memo?.[MEMO_IDEMPOTENCY_KEY] !== key) return null;
    const storedHash = latest.memo?.[MEMO_REQUEST_HASH];
    if (requestHash !== undefined && storedHash !== undefined && storedHash !== requestHash) {
      throw new IdempotencyKeyReusedError(key, rolloutId);
    }
    const firstRunId = latest.raw.workflowExecutionInfo?.firstRunId || latest.runId;
    return { rolloutId, runId: firstRunId, reused: true };
  }

  private async operate(
    id: string,
    update: OperatorUpdate,
    input: OperatorInput,
    options: OperatorOptions,
  ): Promise<OperatorAck> {
    const rolloutId = normalizeRolloutId(id);
    const action = update.name;
    const log = this.log.child({ rolloutId });
    const handle = this.temporal.workflow.getHandle(rolloutId, undefined, { firstExecutionRunId: options.firstRunId });
    try {
      const ack = await this.temporal.connection.withDeadline(Date.now() + OPERATOR_UPDATE_TIMEOUT_MS, () =>
        handle.executeUpdate(update, { args: [input] }),
      );
      log.info({ action, reason: input.reason, by: input.by, state: ack.state, message: ack.message }, 'operator action accepted');
      return ack;
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        // The validator's Error arrives as the failure's cause; its message is the reason.
        const reason = describeCause(err.cause ?? err);
        log.info({ action, reason: input.reason, by: input.by, refusal: reason }, 'operator action refused');
        throw new OperatorActionRefusedError(rolloutId, action, reason, { cause: err });
      }
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isGrpcDeadlineError(err)) {
        throw new RolloutNotRespondingError(rolloutId, OPERATOR_UPDATE_TIMEOUT_MS, { cause: err });
      }
      const mapped = this.mapError(err, rolloutId);
      if (!(mapped instanceof RolloutNotFoundError)) throw mapped;
      // Temporal answers NOT_FOUND both for "never existed" and "already closed".
      const latest = await this.describeOrNull(rolloutId);
      if (latest && latest.status.name !== 'RUNNING') {
        throw new RolloutAlreadyFinishedError(rolloutId, latest.status.name, { cause: err });
      }
      throw mapped;
    }
  }

  private mapError(err: unknown, rolloutId: string): Error {
    if (err instanceof WorkflowNotFoundError) return new RolloutNotFoundError(rolloutId, { cause: err });
    if (isUnavailable(err)) return new ServerUnreachableError(this.address, describeCause(err), { cause: err });
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** Visibility query for `list`; inputs are checked so that nothing is interpolated unescaped. */
export function buildListQuery(filter: ListFilter): string {
  const clauses = [`WorkflowType = '${WORKFLOW_TYPE}'`];
  if (filter.state !== undefined) {
    if (!ROLLOUT_STATES.includes(filter.state)) {
      throw new InvalidFilterError('state', `expected one of ${ROLLOUT_STATES.join(', ')}, got ${JSON.stringify(filter.state)}`);
    }
    clauses.push(`${stateSearchAttribute.name} = '${filter.state}'`);
  }
  if (filter.service !== undefined) {
    let service: string;
    try {
      service = normalizeRolloutId(filter.service).slice(rolloutWorkflowId('').length);
    } catch (err) {
      // Named as the filter it came from, not as a rollout id the caller never sent.
      throw new InvalidFilterError('service', `${JSON.stringify(filter.service)} is not a service name`, { cause: err });
    }
    clauses.push(`${serviceSearchAttribute.name} = '${service}'`);
  }
  // No ORDER BY: the dev server's SQLite visibility rejects it; `list` sorts instead.
  return clauses.join(' AND ');
}

const CLOSED_BADLY: WorkflowExecutionStatusName[] = ['FAILED', 'TERMINATED', 'TIMED_OUT', 'CANCELLED'];

function summarize(info: WorkflowExecutionInfo): RolloutSummary {
  const attrs = info.typedSearchAttributes;
  const recorded = (attrs.get(stateSearchAttribute) as RolloutState | undefined) ?? null;
  // A terminated or crashed run never got to upsert its final state.
  const state = CLOSED_BADLY.includes(info.status.name) ? 'failed' : recorded;
  return {
    rolloutId: info.workflowId,
    runId: info.runId,
    service: attrs.get(serviceSearchAttribute) ?? info.workflowId.replace(/^rollout-/, ''),
    state,
    phase: attrs.get(phaseSearchAttribute) ?? null,
    weight: attrs.get(weightSearchAttribute) ?? null,
    executionStatus: info.status.name,
    startedAt: info.startTime.toISOString(),
    closedAt: info.closeTime ? info.closeTime.toISOString() : null,
  };
}

function statusFromResult(
  rolloutId: string,
  description: WorkflowExecutionDescription,
  result: RolloutResult,
): RolloutStatus {
  const attrs = description.typedSearchAttributes;
  const last = result.timeline[result.timeline.length - 1];
  return {
    rolloutId,
    service: attrs.get(serviceSearchAttribute) ?? rolloutId.replace(/^rollout-/, ''),
    stableVersion: memoString(description, MEMO_STABLE_VERSION),
    canaryVersion: memoString(description, MEMO_CANARY_VERSION),
    state: result.outcome,
    paused: false,
    phase: last?.phase ?? attrs.get(phaseSearchAttribute) ?? '',
    step: 0,
    weight: result.finalWeight,
    phaseRemainingMs: 0,
    phaseDurationMs: 0,
    checks: result.checks,
    lastAnalysisAt: null,
    rollbackReason: result.outcome === 'promoted' ? null : result.reason,
    rollbackAction: null,
    stuckReason: null,
    timeline: result.timeline,
    operatorEvents: result.operatorEvents ?? [],
    startedAt: description.startTime.toISOString(),
    continuedAsNew: result.continuedAsNew ?? 0,
    targets: targetsFromMemo(description),
  };
}

/** Memo values written by `start` are strings; anything else (a foreign workflow) reads as empty. */
function targetsFromMemo(description: WorkflowExecutionDescription): TargetSource | null {
  const raw = memoString(description, MEMO_TARGETS);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as TargetSource;
  } catch {
    return null;
  }
}

function memoString(description: WorkflowExecutionDescription, key: string): string {
  const value = description.memo?.[key];
  return typeof value === 'string' ? value : '';
}

// grpc-js's Status.UNAVAILABLE; grpc-js is not a direct dependency, so its enum is compared by value.
const GRPC_UNAVAILABLE = 14;

function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (isGrpcServiceError(e) && (e.code as number) === GRPC_UNAVAILABLE) return true;
  }
  return false;
}

/** The innermost useful message of an error chain, for one-line reports. */
export function describeCause(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.message) message = e.message;
  }
  return message.split('\n')[0] ?? message;
}
