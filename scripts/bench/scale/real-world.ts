/**
 * `--activities real`: the real worker (worker/main.ts, real activities) against a real HAProxy
 * whose generated config has one backend per service (servers `stable` and `canary`), and a real
 * Prometheus scraping the synthetic exporter (./exporter) every 2 s. Platform commands are `true`.
 * Everything on 127.0.0.1 and free ports, in the run's temp dir; stopped by `stop()`.
 */
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import * as path from 'node:path';
import { freePort } from '../../temporal-server';
import { startManagedProcess, type ManagedProcess } from '../../../test/helpers/managed-process';
import { startPrometheus, waitForQuery, type PrometheusHandle } from '../../../test/helpers/prometheus';
import { startSyntheticExporter, type SyntheticExporter } from './exporter';
import { scaleService } from './spec';
import type { ScaleWorld, WorkerStart } from './world';
import { startWorkerProcess } from './worker-process';

const HAPROXY_BIN = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';
const WORKER_MAIN = path.join(__dirname, '..', '..', '..', 'worker', 'main.ts');
/** Short, so a canary's first windows (warm-up plus one interval) already hold several samples. */
const SCRAPE_INTERVAL_MS = 2_000;

function canConnect(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The HAProxy config: runtime API at admin level, one backend per service. */
export function haproxyConfig(runtimeApi: string, services: string[], serverAddress: string): string {
  const lines = ['global', `  stats socket ipv4@${runtimeApi} level admin`, '  maxconn 4096', 'defaults', '  mode http'];
  lines.push('  timeout connect 2s', '  timeout client 10s', '  timeout server 10s');
  for (const s of services) {
    lines.push(`backend ${s}`, '  balance roundrobin', `  server stable ${serverAddress} weight 100`, `  server canary ${serverAddress} weight 0`);
  }
  return `${lines.join('\n')}\n`;
}

/** Starts exporter, HAProxy and Prometheus for `n` services. */
export async function realWorld(dir: string, n: number, progress: (line: string) => void): Promise<ScaleWorld> {
  const services = Array.from({ length: n }, (_, i) => scaleService(i + 1));
  let exporter: SyntheticExporter | undefined;
  let haproxy: ManagedProcess | undefined;
  let prometheus: PrometheusHandle | undefined;
  const stop = async (): Promise<void> => {
    await prometheus?.stop().catch(() => undefined);
    await haproxy?.stop().catch(() => undefined);
    await exporter?.close().catch(() => undefined);
  };
  try {
    exporter = await startSyntheticExporter(services);
    const runtimeApi = `127.0.0.1:${await freePort()}`;
    const configFile = path.join(dir, 'haproxy.cfg');
    await writeFile(configFile, haproxyConfig(runtimeApi, services, exporter.address));
    haproxy = await startManagedProcess({
      name: 'haproxy',
      command: HAPROXY_BIN,
      args: ['-f', configFile, '-db'],
      ready: () => canConnect(runtimeApi),
    });
    prometheus = await startPrometheus({ targets: [exporter.address], scrapeIntervalMs: SCRAPE_INTERVAL_MS });
    const last = services.at(-1) as string;
    await waitForQuery(prometheus.url, `http_requests_total{service="${last}",version="v1",status="200"}`, (b) => (b.data?.result?.length ?? 0) > 0, 30_000);
    progress(`  real I/O: HAProxy ${runtimeApi} (${n} backends), Prometheus ${prometheus.url}, exporter ${exporter.address}`);
    const prometheusUrl = prometheus.url;
    return {
      mode: 'real',
      targets: { runtimeApi, prometheusUrl },
      startWorker: (w: WorkerStart) =>
        startWorkerProcess(
          WORKER_MAIN,
          {
            TEMPORAL_ADDRESS: w.temporalAddress,
            PHOENIX_SDK_METRICS_ADDR: w.sdkMetricsAddress,
            PHOENIX_METRICS_ADDR: 'off',
            PHOENIX_ALLOW_INLINE_TARGETS: 'true',
            PHOENIX_WORKFLOW_BUNDLE: w.bundlePath,
            LOG_LEVEL: 'warn',
          },
          // The worker logs nothing at warn on start; its SDK exporter answering means it is up
          // (it is bound before Worker.create), and polling follows within the first second.
          async () => {
            try {
              return (await fetch(`http://${w.sdkMetricsAddress}/metrics`, { signal: AbortSignal.timeout(1_000) })).ok;
            } catch {
              return false;
            }
          },
          { errorLine: (line) => /"level":(50|60)/.test(line) },
        ),
      recordedEvents: () => null,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
