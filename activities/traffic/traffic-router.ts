/** The one thing the rollout needs from a load balancer: move a share of traffic to the canary. */
export interface TrafficRouter {
  /**
   * Sets the canary's share of traffic (percent, 0-100) and returns the share read back afterwards.
   * Idempotent: setting the current weight again changes nothing.
   */
  setCanaryWeight(weight: number, signal?: AbortSignal): Promise<number>;
  /** Reads the canary's current share of traffic (percent). */
  getCanaryWeight(signal?: AbortSignal): Promise<number>;
}
