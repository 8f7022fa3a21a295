/**
 * Traffic router for pools of HAProxy servers (several stable and several canary instances in one
 * backend): per-server weights computed so the canary pool as a whole gets the planned share,
 * over the servers HAProxy reports usable. Servers that are DOWN or in maintenance get weight 0
 * and are left out of the computation; a pool with no usable server is never given traffic.
 *
 * Everything is read in one `show servers state` (state and weight of every server), so the
 * computation always works on one consistent picture of the backend.
 */
import type { Logger } from 'pino';
import { ConfigError, TrafficServerDownError, WeightMismatchError } from '../errors';
import { delay } from '../platform/poll-health';
import { activityHeartbeat } from './activity-heartbeat';
import { checkSetWeightAnswer } from './haproxy-router';
import { parseRuntimeApiAddress, runRuntimeApiCommand, type RuntimeApiAddress } from './haproxy-runtime-api';
import { describeSelector, poolMembers, type PoolSelector } from './haproxy-pools';
import { describeServerState, isServerUsable, parseServersStateAnswer, type HaproxyServerState } from './haproxy-server-state';
import { shareOf, splitPools } from './pool-split';
import type { AppliedSplit, SetWeightOptions, SplitCheck, TrafficRouter, TrafficWeights } from './traffic-router';

/** Where the pools live. */
export interface HaproxyPoolRouterConfig {
  runtimeApi: string;
  backend: string;
  stable: PoolSelector;
  canary: PoolSelector;
  /** Timeout of one runtime API call (ms). */
  timeoutMs?: number;
  /** How long to wait for a pool that must carry traffic to have a usable server (ms). */
  serverUpTimeoutMs?: number;
  /** Pause between two state reads while waiting (ms). */
  serverUpPollMs?: number;
}

const DEFAULT_SERVER_UP_TIMEOUT_MS = 20_000;
const DEFAULT_SERVER_UP_POLL_MS = 150;
/** How long a move waits for canary instances just started to follow the weight to be UP in HAProxy. */
const NEW_MEMBER_WAIT_MS = 5_000;

type Slot = 'stable' | 'canary';

/** The backend's two pools as HAProxy reports them now. */
interface PoolsState {
  stable: HaproxyServerState[];
  canary: HaproxyServerState[];
}

/** Target weight per server for one planned share, given the pools' health. */
interface SplitPlan {
  weights: Map<string, number>;
  share: number;
  leftOut: Record<string, string>;
}

/** {@link TrafficRouter} over pools of servers, through the HAProxy runtime API. */
export class HaproxyPoolRouter implements TrafficRouter {
  private readonly address: RuntimeApiAddress;

  constructor(
    private readonly config: HaproxyPoolRouterConfig,
    private readonly logger?: Logger,
  ) {
    this.address = parseRuntimeApiAddress(config.runtimeApi);
    for (const field of ['serverUpTimeoutMs', 'serverUpPollMs'] as const) {
      const value = config[field];
      if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
        throw new ConfigError(`traffic.${field} must be a positive number of ms, got ${value}`, `traffic.${field}`);
      }
    }
  }

  /** @inheritdoc */
  async setCanaryWeight(weight: number, signal?: AbortSignal, options: SetWeightOptions = {}): Promise<number> {
    return (await this.applySplit(weight, signal, options)).weight;
  }

  /**
   * Gives the canary pool `weight` percent. A pool that must carry traffic (the canary when
   * `weight > 0`, stable when `weight < 100`) but has no usable server is waited for, heartbeating
   * (up to `options.serverUpTimeoutMs`, else the configured wait); when the other pool has no
   * usable server either, or the move is forced, the traffic moves anyway over all of the pool's
   * servers (there is nothing healthier to keep it on). Weights that rise are set before weights
   * that fall, so the backend never has every server at 0.
   * @throws TrafficServerDownError (retryable) when the pool has no usable server in time; no weight changed.
   */
  async applySplit(weight: number, signal?: AbortSignal, options: SetWeightOptions = {}): Promise<AppliedSplit> {
    if (!Number.isInteger(weight) || weight < 0 || weight > 100) {
      throw new ConfigError(`weight must be an integer from 0 to 100, got ${weight}`, 'weight');
    }
    const upTimeout = options.serverUpTimeoutMs ?? this.config.serverUpTimeoutMs ?? DEFAULT_SERVER_UP_TIMEOUT_MS;
    if (!(Number.isFinite(upTimeout) && upTimeout > 0)) {
      throw new ConfigError(`serverUpTimeoutMs must be a positive number of ms, got ${upTimeout}`, 'serverUpTimeoutMs');
    }
    const limit = options.canaryMembers;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) {
      throw new ConfigError(`canaryMembers must be a whole number from 1, got ${limit}`, 'canaryMembers');
    }
    const carrying: Slot[] = [...(weight > 0 ? (['canary'] as const) : []), ...(weight < 100 ? (['stable'] as const) : [])];
    const waited = await this.waitForCarryingPools(carrying, upTimeout, options, signal, limit);
    const { assumeUsable } = waited;
    let { pools } = waited;
    if (limit !== undefined && weight > 0 && options.newCanaryMembers) pools = await this.waitForNewMembers(pools, limit, Math.min(upTimeout, NEW_MEMBER_WAIT_MS), signal);
    const plan = planSplit(weight, pools, assumeUsable, limit);
    const current = new Map([...pools.stable, ...pools.canary].map((s) => [s.server, s.weight ?? 0]));
    const changes = [...plan.weights].filter(([server, value]) => current.get(server) !== value);
    // Rising first: some server keeps a weight at every moment.
    changes.sort(([a, va], [b, vb]) => Math.sign(vb - (current.get(b) ?? 0)) - Math.sign(va - (current.get(a) ?? 0)));
    for (const [server, value] of changes) await this.setWeight(server, value, signal);

    const after = await this.pools(signal);
    const servers: Record<string, number> = {};
    const wrong: string[] = [];
    for (const s of [...after.stable, ...after.canary]) {
      servers[s.server] = s.weight ?? 0;
      if ((s.weight ?? 0) !== plan.weights.get(s.server)) wrong.push(`${s.server}=${s.weight} (expected ${plan.weights.get(s.server)})`);
    }
    if (wrong.length > 0) {
      const total = (states: HaproxyServerState[]) => states.reduce((sum, s) => sum + (s.weight ?? 0), 0);
      const expectedTotal = (states: HaproxyServerState[]) => states.reduce((sum, s) => sum + (plan.weights.get(s.server) ?? 0), 0);
      throw new WeightMismatchError(
        `HAProxy server weights read back wrong in ${this.config.backend}: ${wrong.join(', ')}`,
        { stable: expectedTotal(after.stable), canary: expectedTotal(after.canary) },
        { stable: total(after.stable), canary: total(after.canary) },
      );
    }
    const applied: AppliedSplit = { weight, share: plan.share, servers, leftOut: plan.leftOut };
    this.logger?.info({ backend: this.config.backend, ...applied, changed: changes.length }, 'haproxy pool weights set');
    return applied;
  }

  /** @inheritdoc */
  async getCanaryWeight(signal?: AbortSignal): Promise<number> {
    return (await this.readWeights(signal)).canary;
  }

  /** The canary share the weights of the usable servers give (percent, to 0.1), and stable's rest. */
  async readWeights(signal?: AbortSignal): Promise<TrafficWeights> {
    const share = effectiveShare(await this.pools(signal)) ?? 0;
    const canary = Math.round(share * 10) / 10;
    return { canary, stable: Math.round((100 - canary) * 10) / 10 };
  }

  /**
   * Compares every server's weight with what `planned` calls for given the servers' health now.
   * When a pool that must carry traffic has no usable server there is nothing better to apply:
   * that is reported, not flagged as drift (the health checks and the analysis deal with it).
   */
  async checkSplit(planned: number, signal?: AbortSignal, canaryMembers?: number): Promise<SplitCheck> {
    const all = await this.pools(signal);
    const pools = canaryMembers === undefined ? all : { ...all, canary: all.canary.slice(0, canaryMembers) };
    const share = effectiveShare(pools);
    const canaryWeight = share === null ? null : Math.round(share * 10) / 10;
    const read = `canary pool ${canaryWeight ?? 'no traffic'}% over ${describePools(pools)}`;
    const empty = (['canary', 'stable'] as const).find(
      (slot) => (slot === 'canary' ? planned > 0 : planned < 100) && !pools[slot].some(isServerUsable),
    );
    if (empty) return { canaryWeight, drifted: false, detail: `read ${read}; no usable ${empty} server to rebalance onto` };
    const plan = planSplit(planned, all, new Set(), canaryMembers);
    const differing = [...all.stable, ...all.canary]
      .filter((s) => (s.weight ?? 0) !== plan.weights.get(s.server))
      .map((s) => `${s.server}=${s.weight ?? 0}→${plan.weights.get(s.server)}`);
    if (differing.length === 0) return { canaryWeight, drifted: false, detail: `read ${read}, as planned` };
    return {
      canaryWeight,
      drifted: true,
      detail: `read ${read}; planned ${planned}% needs ${differing.join(', ')}`,
    };
  }

  /**
   * Reads the pools until every pool in `carrying` has a usable server. Returns early, with the
   * pools to treat as usable anyway, when forced or when neither pool has a usable server.
   */
  private async waitForCarryingPools(
    carrying: Slot[],
    timeoutMs: number,
    options: SetWeightOptions,
    signal?: AbortSignal,
    canaryMembers?: number,
  ): Promise<{ pools: PoolsState; assumeUsable: Set<Slot> }> {
    const pollMs = this.config.serverUpPollMs ?? DEFAULT_SERVER_UP_POLL_MS;
    const heartbeat = activityHeartbeat();
    const started = Date.now();
    for (let polls = 1; ; polls++) {
      let pools: PoolsState;
      try {
        pools = await this.pools(signal);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        throw err;
      }
      const members = (slot: Slot) => (slot === 'canary' && canaryMembers !== undefined ? pools.canary.slice(0, canaryMembers) : pools[slot]);
      const empty = carrying.filter((slot) => !members(slot).some(isServerUsable));
      if (empty.length === 0) return { pools, assumeUsable: new Set() };
      const noneAnywhere = !pools.stable.some(isServerUsable) && !pools.canary.some(isServerUsable);
      if (options.force || noneAnywhere) {
        this.logger?.warn(
          { pools: describePools(pools), forced: options.force === true, reason: options.reason },
          noneAnywhere ? 'no haproxy server of either pool is up; moving traffic anyway' : 'forced: moving traffic to a pool with no server up',
        );
        return { pools, assumeUsable: new Set(empty) };
      }
      const detail = { waitingFor: empty.map((slot) => `${slot} pool`), pools: describePools(pools), polls };
      heartbeat?.(detail);
      if (polls === 1) this.logger?.info(detail, 'waiting for a usable server before moving traffic');
      if (Date.now() - started + pollMs > timeoutMs) {
        const slot = empty[0] as Slot;
        throw new TrafficServerDownError(
          `HAProxy reports no usable ${slot} server in ${this.config.backend} (${describeSelector(this.config[slot])}) after ` +
            `${Date.now() - started} ms: ${describePools(pools)}; weights left unchanged`,
          `${this.config.backend}/${describeSelector(this.config[slot])}`,
          pools[slot].map((s) => `${s.server} ${describeServerState(s)}`).join(', '),
        );
      }
      await delay(pollMs, signal);
    }
  }

  /**
   * Canary instances the platform just started to follow the weight answer their health checks,
   * but HAProxy marks them UP only at its next check: waits briefly for that, then goes on with
   * whatever is usable (the next analysis re-applies the split once they are UP).
   */
  private async waitForNewMembers(pools: PoolsState, limit: number, timeoutMs: number, signal?: AbortSignal): Promise<PoolsState> {
    const pollMs = this.config.serverUpPollMs ?? DEFAULT_SERVER_UP_POLL_MS;
    const started = Date.now();
    let current = pools;
    while (!current.canary.slice(0, limit).every(isServerUsable) && Date.now() - started + pollMs <= timeoutMs) {
      await delay(pollMs, signal);
      current = await this.pools(signal);
    }
    return current;
  }

  private async pools(signal?: AbortSignal): Promise<PoolsState> {
    const { backend } = this.config;
    const command = `show servers state ${backend}`;
    const answer = await runRuntimeApiCommand(this.address, command, { timeoutMs: this.config.timeoutMs, signal });
    const states = parseServersStateAnswer(command, backend, answer);
    const members = (slot: Slot) => poolMembers(this.config[slot], states.keys(), backend).map((name) => states.get(name) as HaproxyServerState);
    const pools = { stable: members('stable'), canary: members('canary') };
    const shared = pools.stable.filter((s) => pools.canary.includes(s));
    if (shared.length > 0) {
      throw new ConfigError(
        `traffic.canaryServers: ${shared.map((s) => s.server).join(', ')} ${shared.length === 1 ? 'is' : 'are'} in both pools`,
        'traffic.canaryServers',
      );
    }
    return pools;
  }

  private async setWeight(server: string, value: number, signal?: AbortSignal): Promise<void> {
    const target = `${this.config.backend}/${server}`;
    const command = `set weight ${target} ${value}`;
    const answer = await runRuntimeApiCommand(this.address, command, { timeoutMs: this.config.timeoutMs, signal });
    checkSetWeightAnswer(command, target, answer);
  }
}

/**
 * Target weights: the split over each pool's usable servers (all of them for `assumeUsable`
 * pools), 0 elsewhere. At 0% and 100% one pool takes everything whichever of its servers are up,
 * so all of that pool's servers get a weight: a server that comes back later (a stable instance
 * restarted by a promotion, after the rollout has ended) gets its part without anyone re-applying.
 */
function planSplit(weight: number, pools: PoolsState, assumeUsable: ReadonlySet<Slot>, canaryMembers?: number): SplitPlan {
  const whole = weight === 0 ? 'stable' : weight === 100 ? 'canary' : undefined;
  const inUse = (slot: Slot) => (slot === 'canary' && canaryMembers !== undefined ? pools.canary.slice(0, canaryMembers) : pools[slot]);
  const usable = (slot: Slot) => inUse(slot).filter((s) => slot === whole || assumeUsable.has(slot) || isServerUsable(s));
  const canary = usable('canary');
  const stable = usable('stable');
  const split = splitPools(weight, canary.length, stable.length);
  const weights = new Map<string, number>();
  const leftOut: Record<string, string> = {};
  for (const s of [...pools.stable, ...pools.canary]) {
    weights.set(s.server, 0);
    if (!canary.includes(s) && !stable.includes(s)) {
      leftOut[s.server] = inUse('canary').includes(s) || pools.stable.includes(s) ? describeServerState(s) : 'scaled down';
    }
  }
  canary.forEach((s, i) => weights.set(s.server, split.canary[i] as number));
  stable.forEach((s, i) => weights.set(s.server, split.stable[i] as number));
  return { weights, share: split.share, leftOut };
}

/** The canary share HAProxy gives now: weights of usable servers only (it skips the others). */
function effectiveShare(pools: PoolsState): number | null {
  const weights = (states: HaproxyServerState[]) => states.filter(isServerUsable).map((s) => s.weight ?? 0);
  return shareOf(weights(pools.canary), weights(pools.stable));
}

function describePools(pools: PoolsState): string {
  const one = (s: HaproxyServerState) => `${s.server}=${s.weight ?? '?'}${isServerUsable(s) ? '' : ` ${describeServerState(s)}`}`;
  return `stable [${pools.stable.map(one).join(' ')}] canary [${pools.canary.map(one).join(' ')}]`;
}
