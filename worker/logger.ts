/**
 * Logging for the worker: a pino root logger and an adapter that routes the Temporal SDK's logs
 * (including `log` from workflows and activities) into it.
 */
import type { LogLevel, LogMetadata, Logger as SdkLogger } from '@temporalio/common';
import pino, { type DestinationStream, type Logger } from 'pino';

/** Paths redacted from every log line: secrets must never reach the logs. */
export const REDACT_PATHS = [
  'secret',
  '*.secret',
  'apiKey',
  '*.apiKey',
  'headers.authorization',
  '*.headers.authorization',
  'headers["x-phoenix-signature"]',
  '*.headers["x-phoenix-signature"]',
  // API credentials: HMAC keys (read from the environment) and token hashes.
  'hmacKey',
  '*.hmacKey',
  'credentials[*].hmacKey',
  'tokenSha256',
  '*.tokenSha256',
  'credentials[*].tokenSha256',
];

/** Creates the root pino logger (JSON lines, ISO timestamps). */
export function createRootLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'phoenix-worker', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The SDK `Logger` interface on top of pino. Temporal calls `(message, meta)`; pino wants
 * `(mergingObject, message)`. Lines about a workflow (or an activity of one) get `rolloutId`,
 * since the workflow id is the rollout id.
 */
export class PinoSdkLogger implements SdkLogger {
  constructor(private readonly logger: Logger) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const method = LEVELS[level] ?? 'info';
    this.logger[method](toMergingObject(meta), message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

function toMergingObject(meta: LogMetadata | undefined): Record<string, unknown> {
  if (!meta) return {};
  const { error, ...rest } = meta as Record<string, unknown>;
  const out: Record<string, unknown> = { ...rest };
  if (typeof rest.workflowId === 'string') out.rolloutId = rest.workflowId;
  // pino serializes errors (stack, cause) under `err`.
  if (error !== undefined) out.err = error;
  return out;
}
