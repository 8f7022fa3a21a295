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
