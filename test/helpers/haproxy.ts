/**
 * A real HAProxy for tests: one HTTP frontend, one backend with the given servers, and the
 * runtime API on a TCP port (or a unix socket) at admin level.
 */
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort } from './free-port';
import { startHttpServer, type TestHttpServer } from './http-servers';
import { retryOnPortClash, startInTempDir, startManagedProcess } from './managed-process';

/** One backend server. */
export interface HaproxyServer {
  name: string;
  /** `host:port` of the server. */
  address: string;
  weight: number;
  /** Extra server-line keywords, e.g. `check inter 1s fall 2 rise 1`. */
  options?: string;
}

/** Options of {@link startHaproxy}. */
export interface HaproxyOptions {
  backend?: string;
  servers: HaproxyServer[];
  /** Runtime API on `tcp` (default, `127.0.0.1:<port>`) or a `unix` socket in the temp dir. */
  runtimeApi?: 'tcp' | 'unix';
  binary?: string;
}

/** A running HAProxy. */
export interface HaproxyHandle {
  /** `http://127.0.0.1:<port>` of the frontend. */
  url: string;
  /** The runtime API address as a spec's `traffic.runtimeApi` takes it. */
  runtimeApi: string;
  backend: string;
  dir: string;
  stop(): Promise<void>;
}

const DEFAULT_BINARY = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';

/** Starts HAProxy in the foreground (`-db`); retries with new ports if a port was taken meanwhile. */
export function startHaproxy(opts: HaproxyOptions): Promise<HaproxyHandle> {
  return retryOnPortClash(() => startOnce(opts), /cannot bind|address already in use/i);
}

function startOnce(opts: HaproxyOptions): Promise<HaproxyHandle> {
  const backend = opts.backend ?? 'app';
  return startInTempDir('phoenix-haproxy-', async (dir) => {
    const frontendPort = await freePort();
    let runtimeApi: string;
    let socketLine: string;
    if (opts.runtimeApi === 'unix') {
      runtimeApi = path.join(dir, 'admin.sock');
      socketLine = `stats socket ${runtimeApi} mode 600 level admin`;
    } else {
      runtimeApi = `127.0.0.1:${await freePort()}`;
      socketLine = `stats socket ipv4@${runtimeApi} level admin`;
    }
    const config = [
      'global',
      `  ${socketLine}`,
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 10s',
      '  timeout server 10s',
      'frontend main',
      `  bind 127.0.0.1:${frontendPort}`,
      `  default_backend ${backend}`,
      `backend ${backend}`,
      '  balance roundrobin',
      ...opts.servers.map((s) => `  server ${s.name} ${s.address} weight ${s.weight}${s.options ? ` ${s.options}` : ''}`),
      '',
    ].join('\n');
    const configFile = path.join(dir, 'haproxy.cfg');
    await writeFile(configFile, config);
    const proc = await startManagedProcess({
      name: 'haproxy',
      command: opts.binary ?? DEFAULT_BINARY,
      args: ['-f', configFile, '-db'],
      ready: () => canConnect(runtimeApi),
    });
    return { process: proc, fields: { url: `http://127.0.0.1:${frontendPort}`, runtimeApi, backend } };
  });
}

/** A real HAProxy splitting between two tiny HTTP servers, as {@link startStableCanarySplit} returns it. */
export interface StableCanarySplit {
  /** Answers `stable`; server `stable` of the backend, weight 100. */
  stable: TestHttpServer;
  /** Answers `canary`; server `canary` of the backend, weight 0. */
  canary: TestHttpServer;
  haproxy: HaproxyHandle;
  /** Stops HAProxy, then both servers. */
  stop(): Promise<void>;
}

/**
 * Starts a `stable` and a `canary` HTTP server and an HAProxy backend `app` over them (all traffic
 * on stable), the setup traffic-shifting tests begin from. Nothing is left running if a start fails.
 */
export async function startStableCanarySplit(): Promise<StableCanarySplit> {
  const stable = await startHttpServer('stable');
  const canary = await startHttpServer('canary').catch(async (err: unknown) => {
    await stable.stop();
    throw err;
  });
  try {
    const haproxy = await startHaproxy({
      servers: [
        { name: 'stable', address: `127.0.0.1:${stable.port}`, weight: 100 },
        { name: 'canary', address: `127.0.0.1:${canary.port}`, weight: 0 },
      ],
    });
    return {
      stable,
      canary,
      haproxy,
      async stop() {
        await haproxy.stop();
        await stable.stop();
        await canary.stop();
      },
    };
  } catch (err) {
    await stable.stop();
    await canary.stop();
    throw err;
  }
}

function canConnect(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const [host, port] = address.split(':');
    const socket = address.startsWith('/') ? net.connect({ path: address }) : net.connect({ host, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
