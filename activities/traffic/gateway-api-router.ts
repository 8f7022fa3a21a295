/**
 * The `gateway-api` router: splits traffic by the weights of two backendRefs (stable and canary
 * Services) of one rule of a Gateway API HTTPRoute, and reads them back from the object.
 *
 * Each write is a JSON patch carrying the resourceVersion it was computed from, so a concurrent
 * edit of the route (another controller, `kubectl edit`) makes it a 409 instead of overwriting;
 * the router then re-reads and recomputes. Backend indices are found by Service name on every
 * call, so reordered backendRefs are handled.
 */
import type { Logger } from 'pino';
import type { GatewayApiTraffic } from '../../rollout-spec/kubernetes-targets';
import { FIELD_MANAGER, KubeClientFactory, PATCH, retryOnConflict, type KubeClients } from '../kubernetes/client';
import { KubernetesShapeError, type KubeRequestTarget } from '../kubernetes/errors';
import { WeightMismatchError } from '../errors';
import type { TrafficRouter, TrafficWeights } from './traffic-router';

const GROUP = 'gateway.networking.k8s.io';
const VERSION = 'v1';
const PLURAL = 'httproutes';

/** Configuration of one {@link GatewayApiRouter}. */
export interface GatewayApiRouterConfig extends GatewayApiTraffic {
  env: Readonly<Record<string, string | undefined>>;
  /** Timeout of one API request (ms). */
  timeoutMs?: number;
  /** Shared client cache; one is made when absent. */
  clients?: KubeClientFactory;
  /**
   * Runs between the read and the write of each attempt.
   * @internal Tests use it to make a concurrent writer bump the resourceVersion at that moment.
   */
  beforeWrite?: () => Promise<void>;
}

/** The parts of an HTTPRoute this router reads. */
interface HttpRoute {
  metadata?: { resourceVersion?: string; generation?: number };
  spec?: { rules?: { backendRefs?: BackendRef[] }[] };
}

interface BackendRef {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  weight?: number;
}

/** Where the stable and canary backendRefs sit in the route, and the weights they carry. */
export interface RouteSplit {
  resourceVersion: string;
  stableIndex: number;
  canaryIndex: number;
  /** Every backendRef's weight in the rule (Gateway API default 1 when unset). */
  weights: number[];
}

/** {@link TrafficRouter} over a Gateway API HTTPRoute. */
export class GatewayApiRouter implements TrafficRouter {
  private readonly clients: KubeClientFactory;

  constructor(
    private readonly config: GatewayApiRouterConfig,
    private readonly logger: Logger,
  ) {
    this.clients = config.clients ?? new KubeClientFactory({ env: config.env, requestTimeoutMs: config.timeoutMs });
  }

  /**
   * Sets stable to `100 - weight` and canary to `weight` (the other backendRefs of the rule, if
   * any, keep theirs), then reads the route back and returns the canary's share.
   */
  async setCanaryWeight(weight: number, signal: AbortSignal = new AbortController().signal): Promise<number> {
    if (!Number.isInteger(weight) || weight < 0 || weight > 100) {
      throw new RangeError(`canary weight must be a whole number 0-100, got ${weight}`);
    }
    const kube = await this.kube();
    const stableWeight = 100 - weight;
    await retryOnConflict(
      async () => {
        const split = findSplit(await this.read(kube, signal), this.config);
        if (split.weights[split.stableIndex] === stableWeight && split.weights[split.canaryIndex] === weight) return;
        await this.config.beforeWrite?.();
        const base = `/spec/rules/${this.config.rule}/backendRefs`;
        // `replace` of resourceVersion turns a stale read into 409 Conflict (optimistic concurrency);
        // `add` sets the weight whether or not the field was written before.
        const patch = [
          { op: 'replace', path: '/metadata/resourceVersion', value: split.resourceVersion },
          { op: 'add', path: `${base}/${split.stableIndex}/weight`, value: stableWeight },
          { op: 'add', path: `${base}/${split.canaryIndex}/weight`, value: weight },
        ];
        await kube.request(
          this.target('patch'),
          signal,
          (options) =>
            kube.custom.patchNamespacedCustomObject(
              { group: GROUP, version: VERSION, namespace: this.config.namespace, plural: PLURAL, name: this.config.httpRoute, body: patch, fieldManager: FIELD_MANAGER },
              options,
            ),
          PATCH.json,
        );
      },
      {
        signal,
        onConflict: (attempt) => this.logger.warn({ httpRoute: this.routeName(), attempt }, 'httproute changed between read and write, retrying'),
      },
    );
    const back = findSplit(await this.read(kube, signal), this.config);
    const actual = { stable: back.weights[back.stableIndex] ?? 0, canary: back.weights[back.canaryIndex] ?? 0 };
    if (actual.stable !== stableWeight || actual.canary !== weight) {
      throw new WeightMismatchError(
        `httproute ${this.routeName()} rule ${this.config.rule} reads back stable=${actual.stable} canary=${actual.canary}, set stable=${stableWeight} canary=${weight}`,
        { stable: stableWeight, canary: weight },
        actual,
      );
    }
    const share = canaryShare(back);
    this.logger.info({ httpRoute: this.routeName(), weight, share, resourceVersion: back.resourceVersion }, 'httproute weights set');
    return share;
  }

  /** The canary's share of the rule's traffic (percent), from the route object. */
  async getCanaryWeight(signal?: AbortSignal): Promise<number> {
    const kube = await this.kube();
    return canaryShare(findSplit(await this.read(kube, signal ?? new AbortController().signal), this.config));
  }

  /** The stable and canary shares (percent) as the route object says them. */
  async readWeights(signal?: AbortSignal): Promise<TrafficWeights> {
    const kube = await this.kube();
    const split = findSplit(await this.read(kube, signal ?? new AbortController().signal), this.config);
    return { canary: canaryShare(split), stable: share(split, split.stableIndex) };
  }

  private kube(): Promise<KubeClients> {
    return this.clients.clientsFor(this.config, 'traffic');
  }

  private read(kube: KubeClients, signal: AbortSignal): Promise<HttpRoute> {
    return kube.request(this.target('get'), signal, (options) =>
      kube.custom.getNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace: this.config.namespace, plural: PLURAL, name: this.config.httpRoute },
        options,
      ) as Promise<HttpRoute>,
    );
  }

  private target(verb: string): KubeRequestTarget {
    return { verb, resource: `${PLURAL}.${GROUP}`, namespace: this.config.namespace, name: this.config.httpRoute };
  }

  private routeName(): string {
    return `${this.config.namespace}/${this.config.httpRoute}`;
  }
}

function isServiceRef(ref: BackendRef, namespace: string): boolean {
  return (ref.group ?? '') === '' && (ref.kind ?? 'Service') === 'Service' && (ref.namespace ?? namespace) === namespace;
}

/**
 * Locates the stable and canary Services among the rule's backendRefs.
 * @throws KubernetesShapeError naming the spec field when the rule or a backendRef is missing.
 */
export function findSplit(route: HttpRoute, config: Pick<GatewayApiTraffic, 'rule' | 'stableBackend' | 'canaryBackend' | 'httpRoute' | 'namespace'>): RouteSplit {
  const rules = route.spec?.rules ?? [];
  const rule = rules[config.rule];
  const name = `${config.namespace}/${config.httpRoute}`;
  if (!rule) {
    throw new KubernetesShapeError(`traffic.rule: httproute ${name} has ${rules.length} rule(s), no rule ${config.rule}`, 'traffic.rule');
  }
  const refs = rule.backendRefs ?? [];
  const indexOf = (service: string, field: string): number => {
    const matches = refs.flatMap((ref, i) => (ref.name === service && isServiceRef(ref, config.namespace) ? [i] : []));
    if (matches.length !== 1) {
      const names = refs.map((ref) => ref.name ?? '?').join(', ') || 'none';
      throw new KubernetesShapeError(
        `traffic.${field}: rule ${config.rule} of httproute ${name} must have exactly one backendRef to Service ${service}, ` +
          `found ${matches.length} (backendRefs: ${names})`,
        `traffic.${field}`,
      );
    }
    return matches[0] as number;
  };
  return {
    resourceVersion: route.metadata?.resourceVersion ?? '',
    stableIndex: indexOf(config.stableBackend, 'stableBackend'),
    canaryIndex: indexOf(config.canaryBackend, 'canaryBackend'),
    weights: refs.map((ref) => ref.weight ?? 1),
  };
}

function share(split: RouteSplit, index: number): number {
  const total = split.weights.reduce((sum, w) => sum + w, 0);
  // All weights 0: the route serves no traffic at all (Gateway API answers 500).
  if (total === 0) return 0;
  return Math.round((100 * (split.weights[index] ?? 0)) / total);
}

/** The canary's share of the rule's traffic in percent (weights are relative in Gateway API). */
export function canaryShare(split: RouteSplit): number {
  return share(split, split.canaryIndex);
}
