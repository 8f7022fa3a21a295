/** Workflows registered by the worker. */
export { canaryRollout } from './canary-rollout';
