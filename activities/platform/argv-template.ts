/** `{{name}}` substitution in argv arrays (never through a shell, so values need no quoting). */
import { ConfigError } from '../errors';

/**
 * Replaces `{{name}}` in every argument with `vars[name]`.
 * @throws ConfigError naming `field` for an empty argv or an unknown placeholder.
 */
export function renderArgv(argv: readonly string[], vars: Readonly<Record<string, string>>, field: string): string[] {
  if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== 'string')) {
    throw new ConfigError(`${field} must be a non-empty array of strings`, field);
  }
  return argv.map((arg: string) =>
    arg.replace(/\{\{\s*([A-Za-z]+)\s*\}\}/g, (_whole: string, name: string) => {
      const value = vars[name];
      if (value === undefined) {
        throw new ConfigError(
          `${field} uses unknown placeholder {{${name}}}; known: ${Object.keys(vars).map((k) => `{{${k}}}`).join(' ')}`,
          field,
        );
      }
      return value;
    }),
  );
}
