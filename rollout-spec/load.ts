/**
 * Loading a rollout spec file from disk. Uses Node's fs, so it is kept apart from ./parse (which
 * workflows may import); only the client and scripts use it.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { SpecValidationError } from './errors';
import { parseRolloutSpecText } from './parse';
import type { RolloutSpec } from './types';

/** The text format of a spec file, by extension: `.json` is JSON, anything else YAML. */
export function specFormatOf(path: string): 'yaml' | 'json' {
  return extname(path).toLowerCase() === '.json' ? 'json' : 'yaml';
}

/**
 * Reads, parses and validates a spec file. Throws {@link SpecValidationError} (every problem,
 * as `path: message`) when the file is unreadable or the spec invalid.
 */
export async function loadRolloutSpecFile(path: string): Promise<RolloutSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new SpecValidationError([{ path: '(file)', message: `cannot read ${path}: ${reason}` }], path);
  }
  const result = parseRolloutSpecText(text, specFormatOf(path));
  if (!result.success) throw new SpecValidationError(result.issues, path);
  return result.spec;
}
