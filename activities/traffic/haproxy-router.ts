/**
 * Traffic router for HAProxy through its runtime API: canary weight `w` and stable weight `100 - w`
 * on two servers of one backend, so HAProxy's weighted balancing gives the canary `w` percent.
 */
import type { Logger } from 'pino';
import { ConfigError, TrafficProtocolError, TrafficTargetNotFoundError, WeightMismatchError } from '../errors';
import {
  formatRuntimeApiAddress,
  parseRuntimeApiAddress,
  runRuntimeApiCommand,
  type RuntimeApiAddress,
} from './haproxy-runtime-api';
import type { TrafficRouter } from './traffic-router';

/** Where the two servers live. */
export interface HaproxyRouterConfig {
  runtimeApi: string;
  backend: string;
  stableServer: string;
  canaryServer: string;
  timeoutMs?: number;
}

// HAProxy proxy and server names: letters, digits and '-_.:' (see "proxy names" in the configuration manual).
const NAME = /^[A-Za-z0-9_.:-]+$/;

/**
 * Parses a `get weight` answer: `<current> (initial <initial>)`.
 * @throws TrafficTargetNotFoundError for "No such backend." / "No such server.", TrafficProtocolError otherwise.
 */
export function parseGetWeightAnswer(command: string, target: string, answer: string): number {
  const text = answer.trim();
  const m = /^(\d{1,3}) \(initial (\d{1,3})\)$/.exec(text);
  if (m) return Number(m[1]);
  throw answerError(command, target, text);
}

/** Checks a `set weight` answer, which is empty on success. */
export function checkSetWeightAnswer(command: string, target: string, answer: string): void {
  const text = answer.trim();
  if (text !== '') throw answerError(command, target, text);
}

function answerError(command: string, target: string, text: string): Error {
  if (text === 'No such backend.' || text === 'No such server.') {
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

/** {@link TrafficRouter} over the HAProxy runtime API. */
export class HaproxyRouter implements TrafficRouter {
  private readonly address: RuntimeApiAddress;

  constructor(
    private readonly config: HaproxyRouterConfig,
    private readonly logger?: Logger,
  ) {
    this.address = parseRuntimeApiAddress(config.runtimeApi);
    for (const field of ['backend', 'stableServer', 'canaryServer'] as const) {
      if (!NAME.test(config[field])) {
        throw new ConfigError(`traffic.${field} is not a valid HAProxy name: ${JSON.stringify(config[field])}`, `traffic.${field}`);
      }
    }
  }

  /** @inheritdoc */
  async getCanaryWeight(signal?: AbortSignal): Promise<number> {
    return this.getWeight(this.config.canaryServer, signal);
  }

  /**
   * Sets canary = `weight`, stable = `100 - weight`. The server whose weight rises is changed
   * first, so the backend never has both servers at weight 0 (HAProxy would answer 503).
   */
  async setCanaryWeight(weight: number, signal?: AbortSignal): Promise<number> {
    if (!Number.isInteger(weight) || weight < 0 || weight > 100) {
      throw new ConfigError(`weight must be an integer from 0 to 100, got ${weight}`, 'weight');
    }
    const { stableServer, canaryServer } = this.config;
    const target = { stable: 100 - weight, canary: weight };
    const before = {
      canary: await this.getWeight(canaryServer, signal),
      stable: await this.getWeight(stableServer, signal),
    };
    const steps: Array<[server: string, value: number]> =
      target.canary >= before.canary
        ? [
            [canaryServer, target.canary],
            [stableServer, target.stable],
          ]
        : [
            [stableServer, target.stable],
            [canaryServer, target.canary],
          ];
    const current: Record<string, number> = { [canaryServer]: before.canary, [stableServer]: before.stable };
    for (const [server, value] of steps) {
      if (current[server] === value) continue; // idempotent: no command when already there
      await this.setWeight(server, value, signal);
    }
    const after = {
      canary: await this.getWeight(canaryServer, signal),
      stable: await this.getWeight(stableServer, signal),
    };
    if (after.canary !== target.canary || after.stable !== target.stable) {
      throw new WeightMismatchError(
        `HAProxy weights read back as canary=${after.canary} stable=${after.stable}, expected canary=${target.canary} stable=${target.stable}`,
        target,
        after,
      );
    }
    this.logger?.debug({ before, after, address: formatRuntimeApiAddress(this.address) }, 'haproxy weights set');
    return after.canary;
  }

  private async getWeight(server: string, signal?: AbortSignal): Promise<number> {
    const target = `${this.config.backend}/${server}`;
    const command = `get weight ${target}`;
    const answer = await runRuntimeApiCommand(this.address, command, { timeoutMs: this.config.timeoutMs, signal });
    return parseGetWeightAnswer(command, target, answer);
  }

  private async setWeight(server: string, value: number, signal?: AbortSignal): Promise<void> {
    const target = `${this.config.backend}/${server}`;
    const command = `set weight ${target} ${value}`;
    const answer = await runRuntimeApiCommand(this.address, command, { timeoutMs: this.config.timeoutMs, signal });
    checkSetWeightAnswer(command, target, answer);
  }
}
