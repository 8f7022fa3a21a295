/**
 * How the CLI and the API get a spec from what users send: a file path, JSON data or YAML text.
 * Parsing and validation are the spec module's; this only picks the format and reads files.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { CatalogError, loadCatalog, type Catalog } from '../catalog/catalog';
import { isInlineSpec, parseRolloutRequest } from '../catalog/request';
import type { RolloutRequest } from '../catalog/types';
import { SpecValidationError } from '../rollout-spec/errors';
import { loadRolloutSpecFile } from '../rollout-spec/load';
import { parseRolloutSpec, parseRolloutSpecText, type ParseResult } from '../rollout-spec/parse';
import type { SpecIssue } from '../rollout-spec/errors';
import type { RolloutSpec } from '../rollout-spec/types';

/**
 * Reads and validates a spec file; `.json` files are JSON, anything else YAML. Throws
 * `SpecValidationError` (also when the file cannot be read, with path `(file)`).
 */
export function loadSpecFile(file: string): Promise<RolloutSpec> {
  return loadRolloutSpecFile(file);
}

/** What `phoenix start` starts: an inline spec, or a request for a catalog service. */
export type StartInput = { kind: 'inline'; spec: RolloutSpec } | { kind: 'request'; request: RolloutRequest; catalog: Catalog };

/**
 * Reads what `phoenix start` was given: a file holding an inline spec (it names `traffic` or
 * `platform`) or a rollout request, or a request built from flags. A request is resolved against
 * the catalog in `PHOENIX_CATALOG_DIR` (the worker's), so it is checked before anything starts.
 * Throws `SpecValidationError` listing every problem.
 */
export async function loadStartInput(
  source: { file: string } | { service: string; canary: string; stable?: string },
  env: NodeJS.ProcessEnv,
): Promise<StartInput> {
  let data: unknown;
  let where: string;
  if ('file' in source) {
    where = source.file;
    let text: string;
    try {
      text = await readFile(source.file, 'utf8');
    } catch (err) {
      throw new SpecValidationError([{ path: '(file)', message: `cannot read ${source.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }], source.file);
    }
    const doc = parseDocument(text, { uniqueKeys: true });
    data = doc.errors.length === 0 ? (doc.toJS() as unknown) : undefined;
    if (data === undefined || isInlineSpec(data)) return { kind: 'inline', spec: await loadSpecFile(source.file) };
  } else {
    where = `for service ${source.service}`;
    data = { service: source.service, canary: source.canary, ...(source.stable ? { stable: source.stable } : {}) };
  }
  const parsed = parseRolloutRequest(data);
  if (!parsed.success) throw new SpecValidationError(parsed.issues, where);
  const dir = env.PHOENIX_CATALOG_DIR;
  if (!dir) {
    throw new SpecValidationError(
      [{ path: 'service', message: 'a rollout request names a catalog service: set PHOENIX_CATALOG_DIR to the catalog directory the worker uses' }],
      where,
    );
  }
  let catalog: Catalog;
  try {
    catalog = loadCatalog(dir);
  } catch (err) {
    if (err instanceof CatalogError) throw new SpecValidationError(err.issues.map((i) => ({ path: '(catalog)', message: i })), where);
    throw err;
  }
  return { kind: 'request', request: parsed.request, catalog };
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
