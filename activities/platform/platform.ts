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
}
