/** Tiny HTTP servers for tests, on ports the kernel picks. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running test HTTP server. */
export interface TestHttpServer {
  port: number;
  url: string;
  /** Requests served so far. */
  hits(): number;
  stop(): Promise<void>;
}

/** Starts a server on 127.0.0.1:0 that answers every request with `handler` (default: 200 `body`). */
export async function startHttpServer(
  body: string,
  handler?: (req: http.IncomingMessage, res: http.ServerResponse, rawBody: string) => void,
): Promise<TestHttpServer> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (handler) return handler(req, res, Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serves a prom-client registry as a scrape target on 127.0.0.1:0; `address` is `host:port` for Prometheus. */
export async function serveRegistry(registry: {
  metrics(): Promise<string>;
  contentType: string;
}): Promise<{ address: string; stop(): Promise<void> }> {
  const server = await startHttpServer('', (_req, res) => {
    // node:http ignores a handler's promise; a registry failure still surfaces as an unhandled rejection.
    void registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body));
  });
  return { address: `127.0.0.1:${server.port}`, stop: () => server.stop() };
}
