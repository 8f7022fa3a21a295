/**
 * How the CLI and the API get a spec from what users send: a file path, JSON data or YAML text.
 * Parsing and validation are the spec module's; this only picks the format and reads files.
 */
import { loadRolloutSpecFile } from '../rollout-spec/load';
import { parseRolloutSpec, parseRolloutSpecText, type ParseResult } from '../rollout-spec/parse';
import type { SpecValidationError, SpecIssue } from '../rollout-spec/errors';
import type { RolloutSpec } from '../rollout-spec/types';

/**
 * Reads and validates a spec file; `.json` files are JSON, anything else YAML. Throws
 * `SpecValidationError` (also when the file cannot be read, with path `(file)`).
 */
export function loadSpecFile(file: string): Promise<RolloutSpec> {
  return loadRolloutSpecFile(file);
}

/** Parses a request body: already-parsed JSON data, or YAML text. */
export function parseSpecInput(body: unknown, format: 'json' | 'yaml'): ParseResult {
  if (format === 'yaml' || typeof body === 'string') return parseRolloutSpecText(String(body), format);
  return parseRolloutSpec(body);
}

/** The spec issues an error carries, if it is a spec validation error. */
export function issuesOf(err: unknown): readonly SpecIssue[] | null {
  if (err instanceof Error && err.name === 'SpecValidationError') {
    const issues = (err as SpecValidationError).issues;
    return Array.isArray(issues) ? issues : null;
  }
  return null;
}
