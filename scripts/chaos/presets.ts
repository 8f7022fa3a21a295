/**
 * How big a chaos run is: the full one (`npm run chaos`, ~5–8 min) and the short one `npm test`
 * runs (~2–3 min). Step lengths are seconds so many faults land inside each rollout.
 */
import type { ChaosPlan } from './services';

/** Counts and timings of one run. */
export interface ChaosSize {
  rollouts: number;
  /** Of the rollouts, how many get a faulty canary (→ rolled_back). */
  faulty: number;
  kills: number;
  /** Of the kills, how many are aimed at a worker that has just started a weight change. */
  killsDuringWeightChange: number;
  temporalRestarts: number;
  haproxyReloads: number;
  prometheusOutages: number;
  /** Length of an outage (s): well over the 1 s analysis interval. */
  outageS: number;
  /** Faults land between these seconds after the first rollout started. */
  faultWindowS: [number, number];
  /** Rollouts start spread over this many seconds, so their weight changes do not line up. */
  startSpreadS: number;
  /** Requests per second through each service's frontend. */
  loadRate: number;
  plan: ChaosPlan;
  /** Hard limit of the whole run, set-up included. */
  deadlineS: number;
}

export const FULL_RUN: ChaosSize = {
  rollouts: 10,
  faulty: 3,
  kills: 20,
  killsDuringWeightChange: 6,
  temporalRestarts: 3,
  haproxyReloads: 2,
  prometheusOutages: 1,
  outageS: 10,
  faultWindowS: [10, 220],
  startSpreadS: 30,
  loadRate: 20,
  plan: {
    warmupS: 5,
    phases: [
      { percentage: 10, durationS: 35 },
      { percentage: 30, durationS: 35 },
    ],
    incrementSize: 35,
    intervalS: 25,
    noDataLimit: 60,
  },
  deadlineS: 15 * 60,
};

export const SHORT_RUN: ChaosSize = {
  rollouts: 3,
  faulty: 1,
  kills: 4,
  killsDuringWeightChange: 1,
  temporalRestarts: 1,
  haproxyReloads: 1,
  prometheusOutages: 1,
  outageS: 6,
  faultWindowS: [8, 60],
  startSpreadS: 6,
  loadRate: 20,
  plan: {
    warmupS: 2,
    phases: [
      { percentage: 10, durationS: 15 },
      { percentage: 30, durationS: 15 },
    ],
    incrementSize: 35,
    intervalS: 10,
    noDataLimit: 60,
  },
  deadlineS: 5 * 60,
};
