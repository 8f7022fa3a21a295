/**
 * Field builders of the rollout spec schema: strict objects, unit-bearing fields (durations,
 * fractions, latencies, percentages), label values, URLs, ports and command lines. Each builder
 * reports problems in the spec's `path: message` style. Sandbox-safe: zod only.
 */
import { z } from 'zod';
import { SAFE_LABEL_VALUE, SAFE_LABEL_VALUE_RULE } from './queries';
import {
  parseDuration,
  parseFraction,
  parseLatencyMs,
  parseWeight,
  type DurationOptions,
  type FractionOptions,
  type UnitInput,
} from './units';

/** A strict object whose unknown-key message lists the keys allowed at that place. */
export function strict<S extends z.ZodRawShape>(shape: S) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown key; allowed here: ${allowed}` : undefined),
  });
}

/** A number-or-string field run through one of the unit parsers in ./units. */
export function unitField<T>(parse: (raw: UnitInput) => T, description: string) {
  return z
    .union([z.number(), z.string()])
    .transform((raw, ctx): T => {
      try {
        return parse(raw);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
        return z.NEVER;
      }
    })
    .describe(description);
}

/** A duration (`"30s"`, `"5m"`, bare number = seconds unless `options.bareUnit` says ms) → ms. */
export const durationField = (description: string, options?: DurationOptions) =>
  unitField((raw) => parseDuration(raw, options), description);

/** A rate or ratio (`"0.5%"` or a bare fraction) → fraction. */
export const fractionField = (description: string, options?: FractionOptions) =>
  unitField((raw) => parseFraction(raw, options), description);

/** A latency (`"100ms"`, `"0.5s"`, bare number = ms) → ms. */
export const latencyField = (description: string) => unitField(parseLatencyMs, description);

/**
 * A traffic weight: a percentage that is a whole number of percent, because it becomes an HAProxy
 * server weight (an integer). `2.5` and `"7.5%"` are rejected naming the field.
 */
export const weightField = (description: string) => unitField(parseWeight, description);

/** A weight step (percent added or removed at once): a whole number from 1 to 100. */
export const weightStep = (description: string) =>
  z
    .number({ error: 'must be a number of percent' })
    .int('must be a whole number of percent (traffic weights are integers, as HAProxy weights are)')
    .min(1, 'must be between 1 and 100')
    .max(100, 'must be between 1 and 100')
    .describe(description);

/** A service name or version: spliced into PromQL label matchers, so strictly limited. */
export function labelValue(what: string) {
  return z
    .string({
      error: (issue) =>
        typeof issue.input === 'number'
          ? `${what} must be a string; quote it in YAML ("${String(issue.input)}") so it is not read as a number`
          : undefined,
    })
    .superRefine(safeLabelValueCheck(what))
    .meta({ pattern: SAFE_LABEL_VALUE.source, minLength: 1 });
}

/** One message per bad value: "must not be empty" or the label-value rule, never both. */
export function safeLabelValueCheck(what: string) {
  return (value: string, ctx: z.RefinementCtx<string>) => {
    if (value === '') ctx.addIssue({ code: 'custom', message: `${what} must not be empty` });
    else if (!SAFE_LABEL_VALUE.test(value)) ctx.addIssue({ code: 'custom', message: `${what} ${SAFE_LABEL_VALUE_RULE}` });
  };
}

/** An absolute http:// or https:// URL. */
export const httpUrl = (description: string) =>
  z
    .string()
    .refine((value) => {
      try {
        const url = new URL(value);
        return url.protocol === 'http:' || url.protocol === 'https:';
      } catch {
        return false;
      }
    }, 'must be an absolute http:// or https:// URL')
    .describe(description);

/** A TCP port, 1-65535. */
export const port = (description: string) =>
  z
    .number({ error: 'must be a port number' })
    .int('must be a whole number')
    .min(1, 'must be a port between 1 and 65535')
    .max(65535, 'must be a port between 1 and 65535')
    .describe(description);

/** The name of the worker environment variable holding an HMAC secret. */
export const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name (letters, digits, "_")')
  .describe('Name of the worker environment variable holding the HMAC secret (never the secret itself).');

/** A command line: the command and its arguments, none empty. */
export const argv = (description: string) =>
  z
    .array(z.string().min(1, 'arguments must not be empty'))
    .min(1, 'must list the command and its arguments')
    .describe(description);

/** The stable or canary version: a string or `{version}`, normalized to `{version}`. */
export const versionRef = (which: string) =>
  z
    .union([labelValue('version'), strict({ version: labelValue('version').describe(`The ${which} version.`) })])
    .transform((value) => (typeof value === 'string' ? { version: value } : { version: value.version }))
    .describe(`The ${which} version: a string, or {version}. Becomes the \`{{version}}\` label value.`);
