/**
 * Traffic router for HAProxy through its runtime API: canary weight `w` and stable weight `100 - w`
 * on two servers of one backend, so HAProxy's weighted balancing gives the canary `w` percent.
 * With a fresh baseline (`judge.freshBaseline`) a third server gets weight `b` and stable `100 - w - b`.
 */
import type { Logger } from 'pino';
import { ConfigError, TrafficServerDownError, WeightMismatchError } from '../errors';
import { delay } from '../platform/poll-health';
import { activityHeartbeat } from './activity-heartbeat';
import {
  answerError,
  formatRuntimeApiAddress,
  parseRuntimeApiAddress,
  runRuntimeApiCommand,
  type RuntimeApiAddress,
} from './haproxy-runtime-api';
import {
  describeServerState,
  isServerUsable,
  parseServersStateAnswer,
  serverState,
  type HaproxyServerState,
} from './haproxy-server-state';
import type { SetWeightOptions, TrafficRouter, TrafficWeights } from './traffic-router';

/** Where the two servers live. */
export interface HaproxyRouterConfig {
  runtimeApi: string;
  backend: string;
  stableServer: string;
  canaryServer: string;
  /** The operator's server for a fresh baseline instance; touched only when a weight change passes `baselineWeight`. */
  baselineServer?: string;
  /** Timeout of one runtime API call (ms). */
  timeoutMs?: number;
  /**
   * How long to wait for the server about to take all the traffic to be UP in HAProxy (ms).
   * The default stays under the 30 s start-to-close timeout of the workflow's traffic activities,
   * so the attempt ends with a clear retryable error rather than a timeout.
   */
  serverUpTimeoutMs?: number;
  /** Pause between two state reads while waiting (ms). */
  serverUpPollMs?: number;
}

const DEFAULT_SERVER_UP_TIMEOUT_MS = 20_000;
const DEFAULT_SERVER_UP_POLL_MS = 150;

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

/** {@link TrafficRouter} over the HAProxy runtime API. */
export class HaproxyRouter implements TrafficRouter {
  private readonly address: RuntimeApiAddress;

  constructor(
    private readonly config: HaproxyRouterConfig,
    private readonly logger?: Logger,
  ) {
    this.address = parseRuntimeApiAddress(config.runtimeApi);
    for (const field of ['backend', 'stableServer', 'canaryServer', 'baselineServer'] as const) {
      const value = config[field];
      if (value !== undefined && !NAME.test(value)) {
        throw new ConfigError(`traffic.${field} is not a valid HAProxy name: ${JSON.stringify(config[field])}`, `traffic.${field}`);
      }
    }
    for (const field of ['serverUpTimeoutMs', 'serverUpPollMs'] as const) {
      const value = config[field];
      if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
        throw new ConfigError(`traffic.${field} must be a positive number of ms, got ${value}`, `traffic.${field}`);
      }
    }
  }

  /** @inheritdoc */
  async getCanaryWeight(signal?: AbortSignal): Promise<number> {
    return this.getWeight(this.config.canaryServer, signal);
  }

  /** Reads both servers' weights (`get weight`, two calls at once), and the baseline server's when asked. */
  async readWeights(signal?: AbortSignal, options: { baseline?: boolean } = {}): Promise<TrafficWeights> {
    const baselineServer = options.baseline ? this.requireBaselineServer() : undefined;
    const [canary, stable, baseline] = await Promise.all([
      this.getWeight(this.config.canaryServer, signal),
      this.getWeight(this.config.stableServer, signal),
      baselineServer === undefined ? undefined : this.getWeight(baselineServer, signal),
    ]);
    return baseline === undefined ? { canary, stable } : { canary, stable, baseline };
  }

  private requireBaselineServer(): string {
    const server = this.config.baselineServer;
    if (server === undefined) {
      throw new ConfigError('a fresh baseline needs traffic.baselineServer (the backend\'s server for the baseline instance)', 'traffic.baselineServer');
    }
    return server;
  }

  /**
   * Sets canary = `weight`, stable = `100 - weight`. The server whose weight rises is changed
   * first, so the backend never has both servers at weight 0 (HAProxy would answer 503).
   *
   * When the other server goes to 0, the rising one is about to take all the traffic: it must be
   * UP in HAProxy first (a just-restarted server is DOWN until its health check passes), so this
   * waits for it (up to `options.serverUpTimeoutMs`, else the configured wait), heartbeating
   * inside an activity. With `options.force` it does not wait: it moves the traffic and logs a
   * warning naming the server's state and the reason.
   * @throws TrafficServerDownError (retryable) when it is not UP in time; no weight was changed.
   */
  async setCanaryWeight(weight: number, signal?: AbortSignal, options: SetWeightOptions = {}): Promise<number> {
    if (!Number.isInteger(weight) || weight < 0 || weight > 100) {
      throw new ConfigError(`weight must be an integer from 0 to 100, got ${weight}`, 'weight');
    }
    const upTimeout = options.serverUpTimeoutMs;
    if (upTimeout !== undefined && !(Number.isFinite(upTimeout) && upTimeout > 0)) {
      throw new ConfigError(`serverUpTimeoutMs must be a positive number of ms, got ${upTimeout}`, 'serverUpTimeoutMs');
    }
    const { stableServer, canaryServer } = this.config;
    const baselineWeight = options.baselineWeight;
    if (baselineWeight !== undefined && !(Number.isInteger(baselineWeight) && baselineWeight >= 0 && baselineWeight + weight <= 100)) {
      throw new ConfigError(`baselineWeight must be an integer from 0 to ${100 - weight}, got ${baselineWeight}`, 'baselineWeight');
    }
    const baselineServer = baselineWeight === undefined ? undefined : this.requireBaselineServer();
    const target = { stable: 100 - weight - (baselineWeight ?? 0), canary: weight };
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
    const [[rising, risingTarget], [falling, fallingTarget]] = steps as [[string, number], [string, number]];
    if (risingTarget > 0 && fallingTarget === 0 && current[falling] !== 0) {
      if (options.force) await this.warnIfNotUsable(rising, options.reason, signal);
      else await this.waitUntilUsable(rising, falling, upTimeout ?? this.config.serverUpTimeoutMs, signal);
    }
    if (baselineServer !== undefined && baselineWeight !== undefined) {
      // A falling baseline leaves first (before stable could reach 0 beside it), a rising one comes
      // last (after stable made room): the three weights never sum above 100 for long, never to 0.
      current[baselineServer] = await this.getWeight(baselineServer, signal);
      if (baselineWeight < (current[baselineServer] ?? 0)) steps.unshift([baselineServer, baselineWeight]);
      else steps.push([baselineServer, baselineWeight]);
    }
    for (const [server, value] of steps) {
      if (current[server] === value) continue; // idempotent: no command when already there
      await this.setWeight(server, value, signal);
    }
    const after = {
      canary: await this.getWeight(canaryServer, signal),
      stable: await this.getWeight(stableServer, signal),
      ...(baselineServer === undefined ? {} : { baseline: await this.getWeight(baselineServer, signal) }),
    };
    const expected = baselineWeight === undefined ? target : { ...target, baseline: baselineWeight };
    if (after.canary !== target.canary || after.stable !== target.stable || (baselineWeight !== undefined && after.baseline !== baselineWeight)) {
      const read = `canary=${after.canary} stable=${after.stable}${after.baseline === undefined ? '' : ` baseline=${after.baseline}`}`;
      const wanted = `canary=${target.canary} stable=${target.stable}${baselineWeight === undefined ? '' : ` baseline=${baselineWeight}`}`;
      throw new WeightMismatchError(`HAProxy weights read back as ${read}, expected ${wanted}`, expected, after);
    }
    this.logger?.debug({ before, after, address: formatRuntimeApiAddress(this.address) }, 'haproxy weights set');
    return after.canary;
  }

  /**
   * Polls `show servers state` until `server` is usable. Returns early, moving traffic anyway, when
   * `other` is not usable either: then there is no healthy server to keep traffic on, and a
   * rollback must not stall on it.
   */
  private async waitUntilUsable(
    server: string,
    other: string,
    timeoutMs = DEFAULT_SERVER_UP_TIMEOUT_MS,
    signal?: AbortSignal,
  ): Promise<void> {
    const { backend } = this.config;
    const pollMs = this.config.serverUpPollMs ?? DEFAULT_SERVER_UP_POLL_MS;
    const heartbeat = activityHeartbeat();
    const started = Date.now();
    for (let polls = 1; ; polls++) {
      signal?.throwIfAborted();
      let states: Map<string, HaproxyServerState>;
      try {
        states = await this.serversState(signal);
      } catch (err) {
        // Cancellation while a state read is in flight is still a cancellation, not an outage.
        if (signal?.aborted) throw signal.reason;
        throw err;
      }
      const state = serverState(states, backend, server);
      const otherState = serverState(states, backend, other);
      if (isServerUsable(state)) {
        if (polls > 1) this.logger?.info({ server, waitedMs: Date.now() - started, polls }, 'haproxy server up, moving traffic');
        return;
      }
      if (!isServerUsable(otherState)) {
        this.logger?.warn(
          { server, state: describeServerState(state), other, otherState: describeServerState(otherState) },
          'neither haproxy server is up; moving traffic anyway',
        );
        return;
      }
      const detail = { waitingFor: `${backend}/${server}`, state: describeServerState(state), polls };
      heartbeat?.(detail);
      if (polls === 1) this.logger?.info(detail, 'waiting for haproxy to report the server up before moving traffic');
      if (Date.now() - started + pollMs > timeoutMs) {
        throw new TrafficServerDownError(
          `HAProxy still reports ${backend}/${server} ${describeServerState(state)} after ${Date.now() - started} ms; ` +
            `weights left unchanged so ${backend}/${other} keeps the traffic`,
          `${backend}/${server}`,
          describeServerState(state),
        );
      }
      await delay(pollMs, signal);
    }
  }

  /**
   * A forced move: reads the state once, only to say in the log what the operator overrode. A
   * failed read does not stop the move (the operator asked to move regardless).
   */
  private async warnIfNotUsable(server: string, reason: string | undefined, signal?: AbortSignal): Promise<void> {
    const target = `${this.config.backend}/${server}`;
    let state: string;
    try {
      const current = serverState(await this.serversState(signal), this.config.backend, server);
      if (isServerUsable(current)) return;
      state = describeServerState(current);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      state = `unknown (${(err as Error).message})`;
    }
    this.logger?.warn(
      { server: target, state, forced: true, reason: reason ?? 'forced' },
      'forced: moving all traffic to a server HAProxy does not report UP',
    );
  }

  private async serversState(signal?: AbortSignal): Promise<Map<string, HaproxyServerState>> {
    const command = `show servers state ${this.config.backend}`;
    const answer = await runRuntimeApiCommand(this.address, command, { timeoutMs: this.config.timeoutMs, signal });
    return parseServersStateAnswer(command, this.config.backend, answer);
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
