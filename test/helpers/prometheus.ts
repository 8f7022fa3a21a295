/** A real Prometheus for tests: temp config and TSDB, scraping the given targets every second. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './free-port';
import { httpOk, retryOnPortClash, startInTempDir, startManagedProcess } from './managed-process';

/** Options of {@link startPrometheus}. */
export interface PrometheusOptions {
  /** `host:port` targets scraped at `/metrics` under job `test`. */
  targets: string[];
  scrapeIntervalMs?: number;
  /** Labels added to every scraped series (as `static_configs[].labels`). */
  labels?: Record<string, string>;
  binary?: string;
}

/** A running Prometheus. */
export interface PrometheusHandle {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  dir: string;
  stop(): Promise<void>;
}

const DEFAULT_BINARY = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

/** Starts Prometheus and waits for `/-/ready`; retries with a new port if the port was taken. */
export function startPrometheus(opts: PrometheusOptions): Promise<PrometheusHandle> {
  return retryOnPortClash(() => startOnce(opts));
}

function startOnce(opts: PrometheusOptions): Promise<PrometheusHandle> {
  return startInTempDir('phoenix-prometheus-', async (dir) => {
    const port = await freePort();
    const interval = `${opts.scrapeIntervalMs ?? 1000}ms`;
    const config = {
      global: { scrape_interval: interval, evaluation_interval: interval },
      scrape_configs: [
        {
          job_name: 'test',
          scrape_interval: interval,
          static_configs: [{ targets: opts.targets, labels: opts.labels ?? {} }],
        },
      ],
    };
    const configFile = path.join(dir, 'prometheus.yml');
    // JSON is valid YAML.
    await writeFile(configFile, JSON.stringify(config, null, 2));
    const url = `http://127.0.0.1:${port}`;
    const proc = await startManagedProcess({
      name: 'prometheus',
      command: opts.binary ?? DEFAULT_BINARY,
      args: [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      ready: () => httpOk(`${url}/-/ready`),
      readyTimeoutMs: 30_000,
    });
    return { process: proc, fields: { url } };
  });
}

/**
 * Polls an instant query until `accept` is satisfied by the response JSON (e.g. the first scrape
 * has landed). Returns the last response.
 */
export async function waitForQuery(
  prometheusUrl: string,
  query: string,
  accept: (body: { data?: { result?: unknown[] } }) => boolean,
  timeoutMs = 20_000,
): Promise<unknown> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
    last = await res.json();
    if (accept(last as { data?: { result?: unknown[] } })) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`query ${query} not satisfied within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}
