/**
 * A synthetic exporter for `--activities real`: per service and version (`v1` stable, `v2` canary)
 * the series the spec's default queries read (rollout-spec/queries.ts DEFAULT_QUERIES), healthy by
 * the seed's thresholds: 20 req/s with 0.02% 5xx, p95 ≈ 86 ms and p99 ≈ 220 ms, CPU 0.3, memory
 * 40%, task success 99.5%, cache hits 95%, agent health 98%. Counters grow with real time, so
 * rate() and increase() over any window see the same traffic. 127.0.0.1 only.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

const REQUESTS_PER_S = 20;
const ERROR_FRACTION = 0.0002;
/** Cumulative share of requests at or under each latency bound (s). */
const LATENCY_BUCKETS: [string, number][] = [
  ['0.025', 0.5],
  ['0.05', 0.9],
  ['0.1', 0.97],
  ['0.25', 0.995],
  ['0.5', 1],
  ['+Inf', 1],
];
const GAUGES: [string, number][] = [
  ['memory_usage_ratio', 0.4],
  ['task_success_rate', 0.995],
  ['cache_hit_rate', 0.95],
  ['agent_health_score', 0.98],
];

/** A running exporter. */
export interface SyntheticExporter {
  /** `127.0.0.1:port`, as Prometheus targets and HAProxy server lines take it. */
  address: string;
  close(): Promise<void>;
}

/** The exposition for `services` at `elapsedS` seconds after the exporter started. */
export function exposition(services: string[], elapsedS: number): string {
  const lines: string[] = [];
  const total = REQUESTS_PER_S * elapsedS;
  for (const service of services) {
    for (const version of ['v1', 'v2']) {
      const l = `service="${service}",version="${version}"`;
      lines.push(`http_requests_total{${l},status="200"} ${(total * (1 - ERROR_FRACTION)).toFixed(3)}`);
      lines.push(`http_requests_total{${l},status="500"} ${(total * ERROR_FRACTION).toFixed(3)}`);
      for (const [le, share] of LATENCY_BUCKETS) lines.push(`request_duration_seconds_bucket{${l},le="${le}"} ${(total * share).toFixed(3)}`);
      lines.push(`request_duration_seconds_count{${l}} ${total.toFixed(3)}`);
      lines.push(`process_cpu_seconds_total{${l}} ${(0.3 * elapsedS).toFixed(3)}`);
      for (const [name, v] of GAUGES) lines.push(`${name}{${l}} ${v}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Serves the exposition for `services` at `/metrics` on a free 127.0.0.1 port. */
export async function startSyntheticExporter(services: string[]): Promise<SyntheticExporter> {
  const started = Date.now();
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      // HAProxy's servers point here too; any other path is a healthy backend answer.
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(exposition(services, (Date.now() - started) / 1000));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
