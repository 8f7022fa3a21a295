/** The platform that runs canary instances: deploy, health, promote, terminate. */
import type { Logger } from 'pino';
import type { RolloutSpec } from '../../rollout-spec/types';
import type { HealthResult } from '../types';

/** What a platform operation gets from the activity that calls it. */
export interface PlatformCall {
  rolloutId: string;
  spec: RolloutSpec;
  logger: Logger;
  /** Aborted when the activity is cancelled. */
  signal: AbortSignal;
  /** Records liveness (and progress) with Temporal. */
  heartbeat: (details?: unknown) => void;
  /** Epoch ms by which a long operation should give up and report, leaving time to return. */
  deadline: number;
}

/** One way of running canaries. Every method is idempotent. */
export interface CanaryPlatform {
  /** Starts the canary version, or confirms it is already running. */
  deployCanary(call: PlatformCall): Promise<void>;
  /** Polls until the canary is healthy or the deadline passes. */
  checkHealth(call: PlatformCall): Promise<HealthResult>;
  /** Makes the canary version the stable one. */
  promoteCanary(call: PlatformCall): Promise<void>;
  /** Stops the canary; harmless when it is already gone. */
  terminateCanary(call: PlatformCall): Promise<void>;
  /** `judge.freshBaseline`: starts a baseline instance of the stable version beside the canary, or confirms it runs. */
  deployBaseline?(call: PlatformCall): Promise<void>;
  /** Polls until the baseline instance is healthy or the deadline passes. */
  checkBaselineHealth?(call: PlatformCall): Promise<HealthResult>;
  /** Stops the baseline instance; harmless when it is already gone. */
  terminateBaseline?(call: PlatformCall): Promise<void>;
  /**
   * Platforms whose canary pool follows its weight: how many canary instances `weight` percent
   * calls for, or undefined when the pool does not scale with the weight (it is deployed whole).
   */
  canaryInstancesFor?(spec: RolloutSpec, weight: number): number | undefined;
  /**
   * Brings the canary pool to `instances`: `grow` starts the missing ones and waits until each is
   * healthy (before traffic reaches them), `shrink` stops the ones beyond (after traffic left them).
   * Returns how many instances it started or stopped.
   */
  scaleCanary?(call: PlatformCall, instances: number, direction: 'grow' | 'shrink'): Promise<number>;
}
