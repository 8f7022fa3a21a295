/**
 * The normalized fast guard as rollouts carry it. Kept apart from the zod schema in fast-guard.ts
 * because the workflow bundle imports it: every cached workflow evaluates its own copy of the
 * bundle's modules, so zod in the bundle would cost memory per running rollout.
 */

/** The normalized guard: every default resolved, durations in ms. */
export interface FastGuard {
  enabled: boolean;
  intervalMs: number;
  windowMs: number;
  maxErrorRate: number;
  minRequests: number;
}

/**
 * The guard of a normalized spec, or null when it is off. Specs recorded before the guard existed
 * have no `fastGuard` at all.
 */
export function enabledFastGuard(spec: { fastGuard?: FastGuard | undefined }): FastGuard | null {
  return spec.fastGuard?.enabled === true ? spec.fastGuard : null;
}
