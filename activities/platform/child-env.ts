/**
 * The environment of the processes a platform starts: never the worker's whole environment (it
 * holds secrets: API HMAC keys, webhook secrets, the Temporal API key), only an allowlist of its
 * variables plus the spec's explicit values.
 */
import { DEFAULT_PASS_ENV } from '../../rollout-spec/targets';
import { ConfigError } from '../errors';

export { DEFAULT_PASS_ENV };

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What a child's environment is built from. */
export interface ChildEnvSources {
  /** The worker environment the allowlist copies from. */
  workerEnv: Readonly<Record<string, string | undefined>>;
  /** Names to copy from `workerEnv` (those set there); default {@link DEFAULT_PASS_ENV}. */
  passEnv?: readonly string[];
  /** The spec's explicit `env`: wins over copied variables. */
  env?: Readonly<Record<string, string>>;
  /** Spec field named in errors, e.g. `platform`. */
  field: string;
}

/**
 * Exactly: the `passEnv` variables set in the worker, then `env` over them. Nothing else (the
 * platforms set no variables of their own: version and port reach a child through its argv).
 * @throws ConfigError naming `<field>.passEnv` / `<field>.env` for a name that is no variable name
 * (the schema rejects those; a hand-built spec might not have been through it).
 */
export function childEnv(sources: ChildEnvSources): Record<string, string> {
  const out: Record<string, string> = {};
  const names = sources.passEnv ?? DEFAULT_PASS_ENV;
  if (!Array.isArray(names)) {
    throw new ConfigError(`${sources.field}.passEnv must be a list of environment variable names`, `${sources.field}.passEnv`);
  }
  for (const name of names) {
    if (typeof name !== 'string' || !ENV_NAME.test(name)) {
      throw new ConfigError(
        `${sources.field}.passEnv: ${JSON.stringify(name)} is not an environment variable name (${ENV_NAME.source})`,
        `${sources.field}.passEnv`,
      );
    }
    // Own properties only: a worker env object must not hand out inherited members.
    const value = Object.hasOwn(sources.workerEnv, name) ? sources.workerEnv[name] : undefined;
    if (typeof value === 'string') out[name] = value;
  }
  for (const [name, value] of Object.entries(sources.env ?? {})) {
    if (!ENV_NAME.test(name) || typeof value !== 'string') {
      const field = `${sources.field}.env`;
      throw new ConfigError(`${field}: ${JSON.stringify(name)} must be an environment variable name with a string value`, field);
    }
    out[name] = value;
  }
  return out;
}
