/**
 * Run-time fault injection for the demo service: what `POST /admin/faults` accepts and the state
 * the request handlers read. An empty object clears every fault.
 */
import { z } from 'zod';

const ratio = z.number().min(0).max(1);

/** Faults and business-gauge overrides; every field optional, unknown fields rejected. */
export const faultsSchema = z
  .object({
    /** Fraction of application requests answered with HTTP 500. */
    errorRate: ratio.optional(),
    /** Extra latency added to every application request (ms). */
    latencyMs: z.number().int().min(0).max(60_000).optional(),
    /** Busy-loop per request (ms) so the process's CPU usage rises. */
    cpuBurnMs: z.number().int().min(0).max(1_000).optional(),
    /** Overrides of the business gauges (0..1); jitter is not applied to overrides. */
    taskSuccessRate: ratio.optional(),
    cacheHitRate: ratio.optional(),
    agentHealthScore: ratio.optional(),
    /** Overrides `memory_usage_ratio` (0..1) instead of measuring rss. */
    memoryUsageRatio: ratio.optional(),
    /** When true, `/healthz` answers 503 (load balancer and deploy health checks fail). */
    unhealthy: z.boolean().optional(),
  })
  .strict();

export type Faults = z.infer<typeof faultsSchema>;

/** Thrown when a faults payload does not validate; the message names the offending field(s). */
export class InvalidFaultsError extends Error {
  override readonly name = 'InvalidFaultsError';
  constructor(
    message: string,
    readonly fields: string[],
  ) {
    super(message);
  }
}

/** Parses a faults payload (from JSON body, flag or env), naming each bad field in the error. */
export function parseFaults(input: unknown): Faults {
  const result = faultsSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const fields: string[] = [];
  const parts = result.error.issues.map((issue) => {
    // Unknown keys are reported on the parent with the key names in `keys`.
    const names = issue.code === 'unrecognized_keys' ? issue.keys : [issue.path.join('.') || '(body)'];
    fields.push(...names);
    return `${names.join(', ')}: ${issue.message}`;
  });
  return throwInvalid(parts, fields);
}

function throwInvalid(parts: string[], fields: string[]): never {
  throw new InvalidFaultsError(`invalid faults: ${parts.join('; ')}`, fields);
}
