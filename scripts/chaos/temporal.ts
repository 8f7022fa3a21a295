/**
 * The Temporal server a chaos run uses, behind the one shape the scenario needs: where it is, and
 * a restart that keeps its persistence (so running rollouts survive it). `dev` is the CLI's dev
 * server on a SQLite file; `postgres` is a real Temporal server on PostgreSQL
 * (test/helpers/temporal-postgres.ts).
 */
import { startDevServer } from '../../test/helpers/temporal';
import { startPostgresTemporal } from '../../test/helpers/temporal-postgres';

/** Which Temporal server a run uses. */
export type ChaosTemporalKind = 'dev' | 'postgres';

export const CHAOS_TEMPORAL_KINDS: readonly ChaosTemporalKind[] = ['dev', 'postgres'];

/** A running Temporal server whose state survives `restart()`. */
export interface ChaosTemporal {
  readonly kind: ChaosTemporalKind;
  /** gRPC frontend `host:port` on 127.0.0.1. */
  readonly address: string;
  readonly namespace: string;
  /** Stops the server and starts it again on the same ports and persistence. */
  restart(): Promise<void>;
  /** Stops it for good and removes what it created. */
  stop(): Promise<void>;
}

/** Starts the server of `kind`. */
export async function startChaosTemporal(kind: ChaosTemporalKind): Promise<ChaosTemporal> {
  if (kind === 'dev') {
    const server = await startDevServer({ startTimeoutMs: 90_000 });
    return {
      kind,
      get address() {
        return server.address;
      },
      get namespace() {
        return server.namespace;
      },
      restart: () => server.restart(),
      stop: () => server.teardown(),
    };
  }
  // Its own temp dir: PostgreSQL runs as the postgres user, which cannot enter the run's 0700 dir.
  const server = await startPostgresTemporal();
  return {
    kind,
    address: server.address,
    namespace: server.namespace,
    restart: () => server.restart(),
    stop: () => server.stop(),
  };
}
