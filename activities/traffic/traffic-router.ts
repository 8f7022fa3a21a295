/** What the rollout needs from a load balancer: move a share of traffic to the canary, and read it back. */
export interface TrafficRouter {
  /**
   * Sets the canary's share of traffic (percent, 0-100) and returns the share read back afterwards.
   * Idempotent: setting the current weight again changes nothing.
   */
  setCanaryWeight(weight: number, signal?: AbortSignal, options?: SetWeightOptions): Promise<number>;
  /** Reads the canary's current share of traffic (percent). */
  getCanaryWeight(signal?: AbortSignal): Promise<number>;
  /**
   * Reads the weights the load balancer really applies, for drift detection; `null` when this
   * router has no way to read them (it only knows what it was told).
   */
  readWeights(signal?: AbortSignal, options?: { baseline?: boolean }): Promise<TrafficWeights | null>;
  /**
   * Routers over pools of servers: {@link setCanaryWeight}, also reporting the share the
   * per-server weights really give and which servers were left out (not usable).
   */
  applySplit?(weight: number, signal?: AbortSignal, options?: SetWeightOptions): Promise<AppliedSplit>;
  /**
   * Routers over pools of servers: whether the servers' weights are what `planned` calls for with
   * the servers' health as it is now (a server went DOWN or came back, someone set a weight).
   */
  checkSplit?(planned: number, signal?: AbortSignal, canaryMembers?: number): Promise<SplitCheck>;
}

/** What a pool router applied. */
export interface AppliedSplit {
  /** The planned canary weight (percent), applied. */
  weight: number;
  /** The canary pool's share of traffic the per-server weights give (percent, unrounded). */
  share: number;
  /** Weight per server, as read back. */
  servers: Record<string, number>;
  /** Servers of either pool left at weight 0 because they are DOWN or in maintenance, with their state. */
  leftOut: Record<string, string>;
}

/** A pool router's comparison of the load balancer with the plan. */
export interface SplitCheck {
  /** The canary share the usable servers' weights give (percent); null when nothing was readable. */
  canaryWeight: number | null;
  drifted: boolean;
  detail: string;
}

/** How one weight change may proceed when the server about to take all traffic is not up. */
export interface SetWeightOptions {
  /** Overrides the router's wait for that server to be UP (ms). */
  serverUpTimeoutMs?: number;
  /** Do not wait: move the traffic anyway (logged as a warning with `reason`). */
  force?: boolean;
  /** Why the move is forced, for the warning. */
  reason?: string;
  /**
   * Pool routers, when the canary pool follows its weight: only the first `canaryMembers` canary
   * servers take traffic (the platform runs that many); the others get weight 0.
   */
  canaryMembers?: number;
  /** With `canaryMembers`: some were just started, wait briefly for HAProxy to see them UP. */
  newCanaryMembers?: boolean;
  /**
   * Routers with a baseline server (`judge.freshBaseline`): its weight (percent); stable gets
   * `100 - weight - baselineWeight`. Undefined: the baseline server is not touched.
   */
  baselineWeight?: number;
}

/** Weights as read from the load balancer. */
export interface TrafficWeights {
  /** The canary's weight (percent). */
  canary: number;
  /** The stable server's weight, when the router has one of its own (HAProxy). */
  stable?: number;
  /** The fresh baseline server's weight, when asked for and the router has one. */
  baseline?: number;
}
