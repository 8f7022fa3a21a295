/**
 * The chaos run's Prometheus: scrapes every demo instance (stable and canary of each service)
 * every second, on a fixed port and data dir so an outage (`stop()` then `start()`) brings back the
 * same server with its series.
 */
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { httpOk, startManagedProcess, type ManagedProcess } from '../../test/helpers/managed-process';

/** A Prometheus that can be stopped and started again. */
export interface ChaosPrometheus {
  readonly url: string;
  running(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Writes the config and returns a stopped Prometheus; call `start()`. */
export async function chaosPrometheus(opts: { binary: string; dir: string; port: number; targets: string[] }): Promise<ChaosPrometheus> {
  const configFile = path.join(opts.dir, 'prometheus.yml');
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: [{ job_name: 'demo', static_configs: [{ targets: opts.targets }] }],
  };
  // JSON is valid YAML.
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const url = `http://127.0.0.1:${opts.port}`;
  let proc: ManagedProcess | undefined;
  return {
    url,
    running: () => proc !== undefined && !proc.exited(),
    async start() {
      proc = await startManagedProcess({
        name: 'prometheus',
        command: opts.binary,
        args: [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${path.join(opts.dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${opts.port}`,
          '--log.level=warn',
        ],
        ready: () => httpOk(`${url}/-/ready`),
        readyTimeoutMs: 30_000,
      });
    },
    async stop() {
      await proc?.stop();
      proc = undefined;
    },
  };
}
