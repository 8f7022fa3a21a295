/** Probes used to decide that a stack part is up. */
import * as net from 'node:net';

/** Resolves when `url` answers with a 2xx status. */
export async function httpOk(url: string, timeoutMs = 2_000): Promise<void> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
}

/** Resolves when something accepts TCP connections on host:port. */
export function tcpOpen(host: string, port: number, timeoutMs = 2_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(timeoutMs);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`${host}:${port}: connect timed out`));
    });
    socket.once('error', (err) => reject(new Error(`${host}:${port}: ${err.message}`)));
  });
}

/** Sends one HAProxy runtime API command and returns the reply. */
export function haproxyCommand(host: string, port: number, command: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let reply = '';
    socket.setTimeout(timeoutMs);
    socket.once('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk) => (reply += chunk.toString()));
    socket.once('end', () => resolve(reply));
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`haproxy runtime API ${host}:${port}: timed out`));
    });
    socket.once('error', (err) => reject(new Error(`haproxy runtime API ${host}:${port}: ${err.message}`)));
  });
}

/**
 * Retries `probe` until it resolves or `timeoutMs` passes; `stillRunning` aborts the wait early
 * when the process has died. Rejects with the last probe error.
 */
export async function waitUntil(
  probe: () => Promise<unknown>,
  opts: { timeoutMs: number; stillRunning?: () => boolean | Promise<boolean>; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = 'not probed yet';
  for (;;) {
    try {
      await probe();
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (opts.stillRunning && !(await opts.stillRunning())) throw new Error(`process exited (last probe: ${last})`);
    if (Date.now() >= deadline) throw new Error(`not ready after ${opts.timeoutMs} ms (last probe: ${last})`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}
