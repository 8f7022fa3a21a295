/**
 * A real Temporal server on a private PostgreSQL for e2e and chaos tests (scripts/temporal-postgres.ts
 * does the work). Everything listens on 127.0.0.1 on free ports; `stop()` removes the temp dir.
 */
import { startPostgresTemporal as startSetup } from '../../scripts/temporal-postgres';

/** A running PostgreSQL-backed Temporal server. */
export interface PostgresTemporal {
  /** host:port of the frontend. */
  address: string;
  namespace: string;
  /** SIGKILLs the Temporal server and starts it again on the same ports and database; resolves once it serves. */
  restart(): Promise<void>;
  /** Stops Temporal, then PostgreSQL, and removes the temp dir. */
  stop(): Promise<void>;
}

/**
 * Starts PostgreSQL and a Temporal server on it, with the `default` namespace and Phoenix's search
 * attributes registered. `dir` is the state dir to use instead of a fresh temp dir (kept by `stop()`).
 * Fails within a second, naming the binary, when PostgreSQL or a Temporal binary is missing and
 * cannot be built.
 */
export async function startPostgresTemporal(options: { dir?: string } = {}): Promise<PostgresTemporal> {
  const handle = await startSetup(options.dir !== undefined ? { dir: options.dir } : {});
  return {
    address: handle.address,
    namespace: handle.namespace,
    restart: () => handle.restart(),
    stop: () => handle.stop(),
  };
}
