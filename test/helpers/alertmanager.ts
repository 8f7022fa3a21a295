/** A real Alertmanager for tests: temp config (one no-op receiver) and storage, clustering off. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './free-port';
import { httpOk, retryOnPortClash, startInTempDir, startManagedProcess } from './managed-process';

/** Options of {@link startAlertmanager}. */
export interface AlertmanagerOptions {
  binary?: string;
}

/** A running Alertmanager. */
export interface AlertmanagerHandle {
  /** Base URL, e.g. `http://127.0.0.1:40125`. */
  url: string;
  dir: string;
  stop(): Promise<void>;
}

/** A gettable alert as `GET /api/v2/alerts` lists it. */
export interface ListedAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

const DEFAULT_BINARY = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

/** Starts Alertmanager and waits for `/-/ready`; retries with a new port if the port was taken. */
export function startAlertmanager(opts: AlertmanagerOptions = {}): Promise<AlertmanagerHandle> {
  return retryOnPortClash(() => startOnce(opts));
}

function startOnce(opts: AlertmanagerOptions): Promise<AlertmanagerHandle> {
  return startInTempDir('phoenix-alertmanager-', async (dir) => {
    const port = await freePort();
    const configFile = path.join(dir, 'alertmanager.yml');
    await writeFile(configFile, JSON.stringify({ route: { receiver: 'null' }, receivers: [{ name: 'null' }] }));
    const url = `http://127.0.0.1:${port}`;
    const proc = await startManagedProcess({
      name: 'alertmanager',
      command: opts.binary ?? DEFAULT_BINARY,
      args: [
        `--config.file=${configFile}`,
        `--storage.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        // Empty: no gossip listener, so parallel instances cannot collide or cluster.
        '--cluster.listen-address=',
        '--log.level=warn',
      ],
      ready: () => httpOk(`${url}/-/ready`),
      readyTimeoutMs: 30_000,
    });
    return { process: proc, fields: { url } };
  });
}

/** Lists alerts (active by default) matching a filter such as `rollout_id="rollout-x"`. */
export async function listAlerts(baseUrl: string, filter?: string): Promise<ListedAlert[]> {
  const qs = filter ? `?filter=${encodeURIComponent(filter)}` : '';
  const res = await fetch(`${baseUrl}/api/v2/alerts${qs}`);
  if (!res.ok) throw new Error(`GET /api/v2/alerts → ${res.status}: ${await res.text()}`);
  return (await res.json()) as ListedAlert[];
}
