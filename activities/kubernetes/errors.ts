/**
 * Errors of the Kubernetes platform and Gateway API router. They extend the activities' base class
 * so `toApplicationFailure` reports them by class name, retryable or not.
 */
import { PhoenixActivityError } from '../errors';

/** What a request was doing, for messages that name the resource and the verb. */
export interface KubeRequestTarget {
  /** RBAC verb: get, list, watch, create, patch, update, delete. */
  verb: string;
  /** RBAC resource, with the API group when it has one: `deployments.apps`, `httproutes.gateway.networking.k8s.io`. */
  resource: string;
  namespace: string;
  name: string;
}

/**
 * Thrown when the API server refuses or fails a request: 403 (RBAC), 404 (the object or its CRD
 * is missing), 422 (invalid object), 5xx, or no answer at all. 4xx other than 409/429 are
 * non-retryable: the cluster or the spec must change first.
 */
export class KubernetesApiError extends PhoenixActivityError {
  override readonly name = 'KubernetesApiError';
  readonly nonRetryable: boolean;
  constructor(
    message: string,
    readonly target: KubeRequestTarget,
    /** HTTP status of the answer; undefined when there was none (connection refused, timeout). */
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.nonRetryable = status !== undefined && status >= 400 && status < 500 && status !== 409 && status !== 429;
  }
}

/** Thrown when an object in the cluster does not have the shape the spec says (no such container, rule or backendRef). */
export class KubernetesShapeError extends PhoenixActivityError {
  override readonly name = 'KubernetesShapeError';
  readonly nonRetryable = true;
  constructor(
    message: string,
    /** Dotted path of the spec field that names the missing part, e.g. `platform.container`. */
    readonly field: string,
  ) {
    super(message);
  }
}

/** Thrown when a Deployment does not finish rolling out (ready replicas) before the wait's bound. */
export class KubernetesRolloutTimeoutError extends PhoenixActivityError {
  override readonly name = 'KubernetesRolloutTimeoutError';
  readonly nonRetryable = false;
  constructor(
    message: string,
    /** `namespace/name` of the Deployment. */
    readonly deployment: string,
    /** The last status seen, e.g. "1/2 ready, 2 updated, generation 3 observed 3". */
    readonly lastStatus: string,
  ) {
    super(message);
  }
}
