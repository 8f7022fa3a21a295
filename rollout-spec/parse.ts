/**
 * Parsing a rollout spec from data or text into the normalized {@link RolloutSpec}, with every
 * problem reported as `path: message`. Sandbox-safe (no Node APIs); file loading is in ./load.
 */
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { SpecValidationError, type SpecIssue } from './errors';
import { rolloutSpecSchema } from './schema';
import type { RolloutSpec } from './types';

export { formatIssues, SpecValidationError, type SpecIssue } from './errors';

/** Result of parsing: the normalized spec, or every problem found. */
export type ParseResult = { success: true; spec: RolloutSpec } | { success: false; issues: SpecIssue[] };

type Path = readonly PropertyKey[];

/** Renders a path as `trafficControl.phases[1].percentage`; the empty path is `(root)`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

function valueAt(input: unknown, path: Path): unknown {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key as string];
  }
  return current;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- null, arrays and objects returned above
  return `${typeof value} ${String(value)}`;
}

/** zod's own default messages start like this; ours never do. */
function isDefaultMessage(message: string): boolean {
  return message.startsWith('Invalid input') || message.startsWith('Invalid option');
}

/** How badly a union branch fits: a type mismatch at its root means the input is not that branch at all. */
function branchScore(branch: readonly z.core.$ZodIssue[]): number {
  let score = 0;
  for (const issue of branch) {
    if (issue.path.length === 0 && issue.code === 'invalid_type') return Number.POSITIVE_INFINITY;
    score += issue.code === 'unrecognized_keys' ? issue.keys.length : 1;
  }
  return score;
}

function collect(issue: z.core.$ZodIssue, base: Path, input: unknown, out: SpecIssue[]): void {
  const path = [...base, ...issue.path];
  const value = valueAt(input, path);
  switch (issue.code) {
    case 'unrecognized_keys':
      for (const key of issue.keys) out.push({ path: formatPath([...path, key]), message: issue.message });
      return;
    case 'invalid_union': {
      const discriminator = (issue as { discriminator?: string }).discriminator;
      if (issue.errors.length === 0 && discriminator) {
        const options = (issue as { options?: unknown[] }).options ?? [];
        const valid = options.length > 0 ? `; valid: ${options.map((o) => JSON.stringify(o)).join(', ')}` : '';
        out.push({
          path: formatPath(path),
          message: value === undefined ? `is required${valid}` : `unknown ${discriminator} ${JSON.stringify(value)}${valid}`,
        });
        return;
      }
      if (value === undefined) {
        out.push({ path: formatPath(path), message: 'is required' });
        return;
      }
      const scored = issue.errors.map((branch) => ({ branch, score: branchScore(branch) }));
      const best = scored.reduce((a, b) => (b.score < a.score ? b : a), scored[0] ?? { branch: [], score: Infinity });
      if (best.score === Number.POSITIVE_INFINITY) {
        // A branch's own message (e.g. "quote the version") says more than "expected string or object".
        const specific = issue.errors
          .flat()
          .find((i) => i.path.length === 0 && i.code === 'invalid_type' && !isDefaultMessage(i.message));
        if (specific) {
          out.push({ path: formatPath(path), message: specific.message });
          return;
        }
        const expected = [
          ...new Set(
            issue.errors.flatMap((branch) =>
              branch.filter((i) => i.code === 'invalid_type').map((i) => (i as { expected: string }).expected),
            ),
          ),
        ];
        out.push({ path: formatPath(path), message: `expected ${expected.join(' or ')}, got ${describeValue(value)}` });
        return;
      }
      for (const inner of best.branch) collect(inner, path, input, out);
      return;
    }
    case 'invalid_type':
      if (value === undefined) {
        out.push({ path: formatPath(path), message: 'is required' });
      } else if (isDefaultMessage(issue.message)) {
        out.push({ path: formatPath(path), message: `expected ${issue.expected}, got ${describeValue(value)}` });
      } else {
        out.push({ path: formatPath(path), message: issue.message });
      }
      return;
    case 'invalid_value':
      out.push({
        path: formatPath(path),
        message: isDefaultMessage(issue.message)
          ? `must be one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}; got ${describeValue(value)}`
          : issue.message,
      });
      return;
    case 'invalid_key':
      for (const inner of issue.issues) out.push({ path: formatPath(path), message: `invalid key: ${inner.message}` });
      return;
    default:
      out.push({ path: formatPath(path), message: issue.message });
  }
}

/** Converts zod issues into `path: message` issues, resolving unions to the branch the input meant. */
export function toSpecIssues(issues: readonly z.core.$ZodIssue[], input: unknown): SpecIssue[] {
  const out: SpecIssue[] = [];
  for (const issue of issues) collect(issue, [], input, out);
  const seen = new Set<string>();
  return out.filter((issue) => {
    const key = `${issue.path}\u0000${issue.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Validates and normalizes spec data (already parsed from YAML/JSON). Never throws on bad input. */
export function parseRolloutSpec(input: unknown): ParseResult {
  const result = rolloutSpecSchema.safeParse(input, { reportInput: true });
  if (result.success) return { success: true, spec: result.data };
  return { success: false, issues: toSpecIssues(result.error.issues, input) };
}

/**
 * Parses spec text. JSON is parsed as YAML (it is a subset) so syntax errors of both carry line
 * and column numbers; duplicate keys are errors.
 */
export function parseRolloutSpecText(text: string, format: 'yaml' | 'json' = 'yaml'): ParseResult {
  const read = readDocumentText(text, format, 'the spec');
  return read.success ? parseRolloutSpec(read.data) : read;
}

/**
 * YAML or JSON text to data, for any document a user sends (specs, rollout requests): syntax
 * errors with line and column, duplicate keys refused, an empty document named as `what`.
 */
export function readDocumentText(
  text: string,
  format: 'yaml' | 'json',
  what: string,
): { success: true; data: unknown } | { success: false; issues: SpecIssue[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      success: false,
      issues: doc.errors.map((err) => ({
        path: '(root)',
        message: `${format.toUpperCase()} syntax error at ${syntaxPosition(err.linePos)}: ${firstLine(err.message)}`,
      })),
    };
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) {
    return { success: false, issues: [{ path: '(root)', message: `${what} is empty` }] };
  }
  return { success: true, data };
}

function syntaxPosition(linePos: readonly { line: number; col: number }[] | undefined): string {
  const start = linePos?.[0];
  return start ? `line ${start.line}, column ${start.col}` : 'unknown position';
}

/** The yaml package repeats the position at the end of the first line; it is already in front. */
function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

/** Like {@link parseRolloutSpec} but throws {@link SpecValidationError} listing every problem. */
export function assertRolloutSpec(input: unknown, source?: string): RolloutSpec {
  const result = parseRolloutSpec(input);
  if (!result.success) throw new SpecValidationError(result.issues, source);
  return result.spec;
}

/** Like {@link parseRolloutSpecText} but throws {@link SpecValidationError}. */
export function assertRolloutSpecText(text: string, format: 'yaml' | 'json' = 'yaml', source?: string): RolloutSpec {
  const result = parseRolloutSpecText(text, format);
  if (!result.success) throw new SpecValidationError(result.issues, source);
  return result.spec;
}
