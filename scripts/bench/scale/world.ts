/** What the scale bench needs from an activity mode: targets for the specs, the worker, the record of analyses. */
import type { TimedEvent } from './lateness';
import type { ScaleTargets } from './spec';
import type { WorkerProcess } from './worker-process';

/** Where the worker connects and binds, and which workflow bundle it loads. */
export interface WorkerStart {
  temporalAddress: string;
  /** `127.0.0.1:port` for the SDK's Prometheus exporter. */
  sdkMetricsAddress: string;
  bundlePath: string;
}

/** One activity mode's world for one N. */
export interface ScaleWorld {
  readonly mode: 'doubles' | 'real';
  readonly targets: ScaleTargets;
  startWorker(start: WorkerStart): Promise<WorkerProcess>;
  /**
   * Every rollout's analyses and weight changes as the activities recorded them, or null when this
   * mode records none (the bench then reads them from sampled histories).
   */
  recordedEvents(): Map<string, TimedEvent[]> | null;
  stop(): Promise<void>;
}
