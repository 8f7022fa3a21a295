/**
 * A minimal client for HAProxy's runtime API (the "stats socket"): one command per connection in
 * non-interactive mode, where HAProxy writes the answer and closes the socket.
 */
import net from 'node:net';
import path from 'node:path';
import { ConfigError, TrafficProtocolError, TrafficTargetNotFoundError, TrafficUnavailableError } from '../errors';

/** Where the runtime API listens: a TCP endpoint or a unix socket path. */
export type RuntimeApiAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/**
 * Parses `host:port`, `[v6]:port` or an absolute unix socket path.
 * @throws ConfigError naming `field` when the address is neither.
 */
export function parseRuntimeApiAddress(address: string, field = 'traffic.runtimeApi'): RuntimeApiAddress {
  if (path.isAbsolute(address)) return { kind: 'unix', path: address };
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) {
    throw new ConfigError(
      `${field} must be "host:port" or an absolute unix socket path, got ${JSON.stringify(address)}`,
      field,
    );
  }
  return { kind: 'tcp', host: (m[1] ?? m[2]) as string, port };
}

/** Human-readable form of an address, for messages. */
export function formatRuntimeApiAddress(a: RuntimeApiAddress): string {
  return a.kind === 'unix' ? a.path : `${a.host}:${a.port}`;
}

/** Options for {@link runRuntimeApiCommand}. */
export interface RuntimeApiCallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Sends one command and resolves with HAProxy's raw answer.
 * @throws TrafficUnavailableError on connection failure, timeout, abort or an oversized answer.
 */
export function runRuntimeApiCommand(
  address: RuntimeApiAddress,
  command: string,
  { timeoutMs = 5000, signal }: RuntimeApiCallOptions = {},
): Promise<string> {
  if (/[\n\r;]/.test(command)) {
    // A newline or ';' would smuggle a second command into the same request.
    return Promise.reject(new ConfigError(`runtime API command must be a single command: ${command}`, 'command'));
  }
  const where = formatRuntimeApiAddress(address);
  return new Promise((resolve, reject) => {
    const socket =
      address.kind === 'unix' ? net.connect({ path: address.path }) : net.connect({ host: address.host, port: address.port });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: Error | null, answer?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(answer as string);
    };
    const onAbort = (): void =>
      finish(new TrafficUnavailableError(`HAProxy runtime API call to ${where} aborted`, where, { cause: signal?.reason }));
    const timer = setTimeout(
      () => finish(new TrafficUnavailableError(`HAProxy runtime API at ${where} timed out after ${timeoutMs} ms`, where)),
      timeoutMs,
    );
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 1 << 20) return finish(new TrafficUnavailableError(`HAProxy answer from ${where} exceeds 1 MiB`, where));
      chunks.push(chunk);
    });
    socket.on('end', () => finish(null, Buffer.concat(chunks).toString('utf8')));
    socket.on('error', (err) =>
      finish(new TrafficUnavailableError(`HAProxy runtime API at ${where} unreachable: ${err.message}`, where, { cause: err })),
    );
  });
}

/** A multi-line answer that is not what `command` returns (a dump without its header, a bad row). */
export function garbledAnswerError(command: string, answer: string, why: string): TrafficProtocolError {
  return new TrafficProtocolError(
    `unexpected HAProxy answer to "${command}" (${why}): ${JSON.stringify(answer.trim().slice(0, 200))}`,
    command,
    answer,
    false,
  );
}

/**
 * The error for an answer HAProxy gave instead of the expected one: an unknown backend or server
 * is {@link TrafficTargetNotFoundError}; refused commands are non-retryable protocol errors, and
 * anything else (a garbled answer) is a retryable one.
 */
export function answerError(command: string, target: string, text: string): Error {
  if (text === 'No such backend.' || text === 'No such server.' || text === "Can't find backend.") {
    return new TrafficTargetNotFoundError(`HAProxy does not know ${target}: ${text}`, target, text);
  }
  const refused = /permission denied|unknown command|require|between 0 and 256|garbage/i.test(text);
  return new TrafficProtocolError(
    `unexpected HAProxy answer to "${command}": ${JSON.stringify(text.slice(0, 200))}`,
    command,
    text,
    refused,
  );
}
