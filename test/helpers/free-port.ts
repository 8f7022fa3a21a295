/** Free TCP ports for test servers that must bind their own port (HAProxy, Prometheus, ...). */
import net from 'node:net';

/**
 * Asks the kernel for a free port on 127.0.0.1. Another process could take it before the caller
 * binds it, so the server helpers retry with a new port when a bind fails.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive free ports on 127.0.0.1 (a process platform pool listens on
 * `port + i`), away from the kernel's ephemeral range start so outgoing connections rarely take one.
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const first = 20_000 + Math.floor(Math.random() * 9_000) * 3;
    const ports = Array.from({ length: count }, (_, i) => first + i);
    if ((await Promise.all(ports.map(canBind))).every(Boolean)) return first;
  }
  throw new Error(`no ${count} consecutive free ports found on 127.0.0.1`);
}
