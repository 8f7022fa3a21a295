/**
 * Parsing a rollout request ("roll `checkout` to v2", optionally with policy overrides). Targets
 * are operator-owned: a request carrying a command, working directory, environment, state
 * directory, URL, kubeconfig, router or platform is refused, naming each such field, before anything else.
 */
import { z } from 'zod';
import { strict, versionRef } from '../rollout-spec/fields';
import { formatPath, readDocumentText, toSpecIssues } from '../rollout-spec/parse';
import type { SpecIssue } from '../rollout-spec/errors';
import { SAFE_LABEL_VALUE, SAFE_LABEL_VALUE_RULE } from '../rollout-spec/queries';
import { POLICY_FIELDS, REQUEST_ALERTS_FIELDS, REQUEST_METRICS_FIELDS, type RolloutRequest } from './types';

export type RequestParseResult = { success: true; request: RolloutRequest } | { success: false; issues: SpecIssue[] };

/** Keys that, wherever they appear, would make the worker run, read or call something. */
const FORBIDDEN_KEYS = new Set(['command', 'cwd', 'env', 'passEnv', 'stateDir', 'url', 'runtimeApi', 'secretEnv', 'deploy', 'healthCheck', 'promote', 'terminate', 'kubeconfig']);
const OPERATOR_OWNED =
  'is operator-owned and never accepted in a request: commands, working directories, environment variables, state directories and URLs come from the catalog, configured by whoever runs the worker';

const TOP_LEVEL_TARGETS: Record<string, string> = {
  traffic: 'is operator-owned: the catalog service names its traffic router; a request names only the service',
  platform: 'is operator-owned: the catalog service names its platform; a request names only the service',
};
const METRICS_OWNED: Record<string, string> = {
  prometheusUrl: 'is operator-owned: the catalog service names its metric source',
  versionLabel: 'is operator-owned: set by the catalog metric source',
  queries: 'is operator-owned: PromQL templates are set by the catalog metric source',
  queryTimeout: 'is operator-owned: set by the catalog metric source',
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Every field of `input` that a request may never carry, with why. */
export function forbiddenFields(input: unknown): SpecIssue[] {
  const issues: SpecIssue[] = [];
  if (!isPlainObject(input)) return issues;
  const visit = (value: unknown, path: (string | number)[]): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, [...path, i]));
      return;
    }
    if (!isPlainObject(value)) return;
    for (const [key, child] of Object.entries(value)) {
      const at = [...path, key];
      if (path.length === 0 && key in TOP_LEVEL_TARGETS) {
        issues.push({ path: key, message: TOP_LEVEL_TARGETS[key]! });
        continue;
      }
      if (path.length === 1 && path[0] === 'metrics' && key in METRICS_OWNED) {
        issues.push({ path: formatPath(at), message: METRICS_OWNED[key]! });
        continue;
      }
      if (path.length === 1 && path[0] === 'alerts' && key === 'alertmanagerUrl') {
        issues.push({ path: formatPath(at), message: 'is operator-owned: the catalog service names its alert receiver' });
        continue;
      }
      if (FORBIDDEN_KEYS.has(key) || /(Url|URL|Uri|Dir|Path|File)$/.test(key)) {
        issues.push({ path: formatPath(at), message: OPERATOR_OWNED });
        continue;
      }
      visit(child, at);
    }
  };
  visit(input, []);
  return issues;
}

const serviceName = z
  .string({ error: 'service must be a string: the name of a catalog service' })
  .superRefine((value, ctx) => {
    if (value === '') ctx.addIssue({ code: 'custom', message: 'service must not be empty' });
    else if (!SAFE_LABEL_VALUE.test(value)) ctx.addIssue({ code: 'custom', message: `service ${SAFE_LABEL_VALUE_RULE}` });
  })
  .describe('Name of a service in the catalog.');

const subset = (fields: readonly string[], what: string) =>
  strict(Object.fromEntries(fields.map((f) => [f, z.unknown().optional()]))).describe(`The ${what} a request may set.`);

export const rolloutRequestSchema = strict({
  $schema: z.string().optional().describe('Editor hint; ignored.'),
  service: serviceName,
  canary: versionRef('canary'),
  stable: versionRef('stable').optional(),
  ...Object.fromEntries(POLICY_FIELDS.map((f) => [f, z.unknown().optional()])),
  metrics: subset(REQUEST_METRICS_FIELDS, 'metrics settings').optional(),
  alerts: subset(REQUEST_ALERTS_FIELDS, 'alert settings').optional(),
});

/** Validates request data (parsed JSON/YAML). Never throws on bad input. */
export function parseRolloutRequest(input: unknown): RequestParseResult {
  if (!isPlainObject(input)) {
    return { success: false, issues: [{ path: '(root)', message: 'a rollout request must be an object: {service, canary, ...}' }] };
  }
  const forbidden = forbiddenFields(input);
  const parsed = rolloutRequestSchema.safeParse(input, { reportInput: true });
  const issues = [...forbidden, ...(parsed.success ? [] : toSpecIssues(parsed.error.issues, input))];
  // A forbidden top-level key is also an unknown one; say it once, with the reason.
  const named = new Set(forbidden.map((i) => i.path));
  const unique = issues.filter((issue, i) => !(i >= forbidden.length && named.has(issue.path)));
  if (unique.length > 0 || !parsed.success) return { success: false, issues: unique };
  const { service, canary, stable, $schema: _schema, ...rest } = parsed.data;
  const overrides = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  return { success: true, request: { service, canary, ...(stable ? { stable } : {}), overrides } };
}

/** Parses request text (YAML or JSON), with line numbers for syntax errors. */
export function parseRolloutRequestText(text: string, format: 'yaml' | 'json' = 'yaml'): RequestParseResult {
  const read = readDocumentText(text, format, 'the rollout request');
  return read.success ? parseRolloutRequest(read.data) : read;
}

/** True when data looks like an inline spec (it names its targets) rather than a request. */
export function isInlineSpec(input: unknown): boolean {
  return isPlainObject(input) && ('traffic' in input || 'platform' in input);
}
