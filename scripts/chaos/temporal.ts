/**
 * The Temporal server a chaos run uses, behind the one shape the scenario needs: where it is, and
 * a restart that keeps its persistence (so running rollouts survive it). `dev` is the CLI's dev
 * server on a SQLite file; `postgres` is a real Temporal server on PostgreSQL
 * (test/helpers/temporal-postgres.ts).
 */
import * as path from 'node:path';
import { startDevServer } from '../../test/helpers/temporal';

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

/** What test/helpers/temporal-postgres.ts exports (loaded lazily: it provisions PostgreSQL). */
interface PostgresTemporalModule {
  startPostgresTemporal(options?: { dir?: string }): Promise<{
    address: string;
    namespace: string;
    restart(): Promise<void>;
    stop(): Promise<void>;
  }>;
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
  const modulePath = path.join(__dirname, '..', '..', 'test', 'helpers', 'temporal-postgres');
  const mod = (await import(modulePath)) as PostgresTemporalModule;
  // Its own temp dir: PostgreSQL runs as the postgres user, which cannot enter the run's 0700 dir.
  const server = await mod.startPostgresTemporal();
  return {
    kind,
    address: server.address,
    namespace: server.namespace,
    restart: () => server.restart(),
    stop: () => server.stop(),
  };
}
