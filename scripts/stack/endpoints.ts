/** `<stack dir>/endpoints.json`: the address of every part, for tests, the demo and humans. */
import * as fs from 'node:fs/promises';
import { HAPROXY_NAMES, MAX_SOCKET_PATH, stackInstances, type StackConfig, type StackPaths, type StackPorts } from './config';

/** Addresses of a demo instance. */
export interface DemoInstanceEndpoints {
  version: string;
  url: string;
  health: string;
  metrics: string;
  /** Admin routes share the service port: POST <admin>/faults, GET <admin>/stats. */
  admin: string;
  /**
   * What the admin routes require as `Authorization: Bearer <adminToken>`: random per stack (both
   * instances share it), reused while the stack runs. This file is therefore written mode 0600.
   */
  adminToken: string;
}

/** The content of endpoints.json. */
export interface StackEndpoints {
  dir: string;
  writtenAt: string;
  ports: StackPorts;
  /** gRPC frontend `host:port`. */
  temporal: string;
  temporalNamespace: string;
  /** `dev` (start-dev, with the UI) or `postgres` (a real server on PostgreSQL, no UI). Absent in files of older stacks: dev. */
  temporalKind: StackConfig['temporal'];
  temporalUi: string;
  prometheus: string;
  alertmanager: string;
  haproxyFrontend: string;
  /** `host:port` of the runtime API (admin level). */
  haproxyRuntimeApi: string;
  /** Unix socket of the runtime API, when the path is short enough for a socket. */
  haproxyRuntimeSocket: string | null;
  /** `stableServer`/`canaryServer`: the first instance's server; `stableServers`/`canaryServers`: all of them. */
  haproxyBackend: { backend: string; stableServer: string; canaryServer: string; stableServers: string[]; canaryServers: string[] };
  /** `stable`/`canary`: the first instance of each version; `stablePool`/`canaryPool`: every instance (pools). */
  demo: {
    service: string;
    stable: DemoInstanceEndpoints;
    canary: DemoInstanceEndpoints;
    stablePool: DemoInstanceEndpoints[];
    canaryPool: DemoInstanceEndpoints[];
  };
  workerMetrics: string;
  workerSdkMetrics: string;
  loadStats: string;
  /** The demo rollout spec rendered for these ports. */
  demoSpec: string;
  platformStateDir: string;
  logs: string;
}

function demoInstance(version: string, port: number, adminToken: string): DemoInstanceEndpoints {
  const url = `http://127.0.0.1:${port}`;
  return { version, url, health: `${url}/healthz`, metrics: `${url}/metrics`, admin: `${url}/admin`, adminToken };
}

/** Builds the endpoints document of a stack whose demo instances use `demoAdminToken`. */
export function stackEndpoints(config: StackConfig, paths: StackPaths, demoAdminToken: string): StackEndpoints {
  const p = config.ports;
  const stable = stackInstances(config, 'stable');
  const canary = stackInstances(config, 'canary');
  return {
    dir: paths.dir,
    writtenAt: new Date().toISOString(),
    ports: { ...p },
    temporal: `127.0.0.1:${p.temporal}`,
    temporalNamespace: 'default',
    temporalKind: config.temporal,
    temporalUi: `http://127.0.0.1:${p.temporalUi}`,
    prometheus: `http://127.0.0.1:${p.prometheus}`,
    alertmanager: `http://127.0.0.1:${p.alertmanager}`,
    haproxyFrontend: `http://127.0.0.1:${p.haproxyFrontend}`,
    haproxyRuntimeApi: `127.0.0.1:${p.haproxyRuntimeApi}`,
    haproxyRuntimeSocket: paths.haproxySocket.length <= MAX_SOCKET_PATH ? paths.haproxySocket : null,
    haproxyBackend: {
      backend: HAPROXY_NAMES.backend,
      stableServer: stable[0]?.server ?? HAPROXY_NAMES.stableServer,
      canaryServer: canary[0]?.server ?? HAPROXY_NAMES.canaryServer,
      stableServers: stable.map((s) => s.server),
      canaryServers: canary.map((s) => s.server),
    },
    demo: {
      service: config.service,
      stable: demoInstance(config.stableVersion, p.stable, demoAdminToken),
      canary: demoInstance(config.canaryVersion, p.canary, demoAdminToken),
      stablePool: stable.map((s) => demoInstance(config.stableVersion, s.port, demoAdminToken)),
      canaryPool: canary.map((s) => demoInstance(config.canaryVersion, s.port, demoAdminToken)),
    },
    workerMetrics: `http://127.0.0.1:${p.workerMetrics}/metrics`,
    workerSdkMetrics: `http://127.0.0.1:${p.workerSdkMetrics}/metrics`,
    loadStats: paths.loadStats,
    demoSpec: paths.demoSpec,
    platformStateDir: paths.platformState,
    logs: paths.logs,
  };
}

/** Reads endpoints.json; undefined when absent. */
export async function readEndpoints(file: string): Promise<StackEndpoints | undefined> {
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as StackEndpoints);
}

/** Writes endpoints.json atomically, readable by its owner only (it holds the demo admin token). */
export async function writeEndpoints(file: string, endpoints: StackEndpoints): Promise<void> {
  const tmp = `${file}.tmp`;
  await fs.rm(tmp, { force: true });
  await fs.writeFile(tmp, `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o600 });
  await fs.rename(tmp, file);
}
