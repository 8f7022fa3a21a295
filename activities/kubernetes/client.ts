/**
 * The one place that talks to a Kubernetes API server: builds `@kubernetes/client-node` clients
 * from a kubeconfig file, the in-cluster service account or the default kubeconfig (cached per
 * kubeconfig path and context), and runs each request with a timeout, the caller's abort signal
 * and errors that name the verb, the resource and the object.
 *
 * client-node 1.x is an ES module and this project compiles to CommonJS, so the library is loaded
 * with a dynamic `import()` (kept as such by `module: node16`) and its types are imported with
 * `resolution-mode: import`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { ConfigError } from '../errors';
import { KubernetesApiError, type KubeRequestTarget } from './errors';

/** Which cluster and credentials: the `kubeconfig`/`context` fields of both Kubernetes targets. */
export interface KubeConnection {
  kubeconfig?: string;
  context?: string;
}

/** The typed API groups Phoenix uses, for one cluster and identity. */
export interface KubeClients {
  readonly apps: K8s.AppsV1Api;
  readonly custom: K8s.CustomObjectsApi;
  /** The API server URL, for logs. */
  readonly server: string;
  /**
   * Runs `fn` with request options carrying `signal` (and a per-request timeout) and, for patches,
   * the patch content type; maps failures to {@link KubernetesApiError}.
   */
  request<T>(target: KubeRequestTarget, signal: AbortSignal, fn: (options: K8s.ConfigurationOptions) => Promise<T>, contentType?: string): Promise<T>;
}

/** Content types of the patch strategies (client-node's `PatchStrategy`, without loading the module). */
export const PATCH = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

/** Field manager of every write, so `managedFields` show what Phoenix owns. */
export const FIELD_MANAGER = 'phoenix-rollouts';

type ClientNode = typeof K8s;
let loaded: Promise<ClientNode> | undefined;

/** Loads @kubernetes/client-node once (an ES module, hence the dynamic import). */
export function loadClientNode(): Promise<ClientNode> {
  loaded ??= import('@kubernetes/client-node');
  return loaded;
}

/** What {@link KubeClientFactory} needs from the worker. */
export interface KubeClientDeps {
  env: Readonly<Record<string, string | undefined>>;
  /** Timeout of one API request (ms). */
  requestTimeoutMs?: number;
}

/** Builds and caches {@link KubeClients} per kubeconfig path and context. */
export class KubeClientFactory {
  private readonly cache = new Map<string, Promise<KubeClients>>();

  constructor(private readonly deps: KubeClientDeps) {}

  /**
   * Clients for `connection`; `field` is the spec path of the target (`platform` or `traffic`) for errors.
   * @throws ConfigError when the kubeconfig cannot be read or names no such context.
   */
  clientsFor(connection: KubeConnection, field: string): Promise<KubeClients> {
    const key = JSON.stringify([connection.kubeconfig ?? null, connection.context ?? null]);
    let clients = this.cache.get(key);
    if (!clients) {
      clients = this.build(connection, field);
      // A failed load (file not there yet) must not stick: the next call tries again.
      clients.catch(() => this.cache.delete(key));
      this.cache.set(key, clients);
    }
    return clients;
  }

  /**
   * KUBECONFIG (a list, merged as kubectl does) or ~/.kube/config, read from the worker's env.
   * Not client-node's loadFromDefault: with neither present it falls back to an unauthenticated
   * http://localhost:8080, which must never receive a rollout's writes.
   */
  private loadDefault(k8s: ClientNode, kc: K8s.KubeConfig, field: string): void {
    const files = (this.deps.env.KUBECONFIG ?? '').split(path.delimiter).filter((file) => file.trim() !== '');
    const home = this.deps.env.HOME?.trim();
    if (files.length === 0 && home && existsSync(path.join(home, '.kube', 'config'))) files.push(path.join(home, '.kube', 'config'));
    const [first, ...rest] = files;
    if (first === undefined) {
      throw new ConfigError(
        `${field}.kubeconfig: no kubeconfig: set ${field}.kubeconfig, KUBECONFIG or ~/.kube/config, or run the worker in the cluster (KUBERNETES_SERVICE_HOST)`,
        `${field}.kubeconfig`,
      );
    }
    kc.loadFromFile(first);
    for (const file of rest) {
      const more = new k8s.KubeConfig();
      more.loadFromFile(file);
      kc.mergeConfig(more);
    }
  }

  private async build(connection: KubeConnection, field: string): Promise<KubeClients> {
    const k8s = await loadClientNode();
    const kc = new k8s.KubeConfig();
    try {
      if (connection.kubeconfig !== undefined) kc.loadFromFile(connection.kubeconfig);
      else if (this.deps.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
      else this.loadDefault(k8s, kc, field);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      const where = connection.kubeconfig !== undefined ? `kubeconfig ${connection.kubeconfig}` : 'the default kubeconfig';
      throw new ConfigError(`${field}.kubeconfig: cannot load ${where}: ${err instanceof Error ? err.message : String(err)}`, `${field}.kubeconfig`, {
        cause: err,
      });
    }
    if (connection.context !== undefined) {
      if (!kc.getContextObject(connection.context)) {
        const known = kc.getContexts().map((c) => c.name);
        throw new ConfigError(
          `${field}.context: no context ${JSON.stringify(connection.context)} in the kubeconfig (it has: ${known.join(', ') || 'none'})`,
          `${field}.context`,
        );
      }
      kc.setCurrentContext(connection.context);
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new ConfigError(`${field}.kubeconfig: the kubeconfig has no current cluster`, `${field}.kubeconfig`);
    const timeoutMs = this.deps.requestTimeoutMs ?? 10_000;
    return {
      apps: kc.makeApiClient(k8s.AppsV1Api),
      custom: kc.makeApiClient(k8s.CustomObjectsApi),
      server: cluster.server,
      request: (target, signal, fn, contentType) => runRequest(k8s, target, AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]), fn, contentType, timeoutMs),
    };
  }
}

async function runRequest<T>(
  k8s: ClientNode,
  target: KubeRequestTarget,
  signal: AbortSignal,
  fn: (options: K8s.ConfigurationOptions) => Promise<T>,
  contentType: string | undefined,
  timeoutMs: number,
): Promise<T> {
  signal.throwIfAborted();
  // client-node has no signal parameter; a middleware puts it on each request context. The header
  // middleware supplies the library's own Observable wrapper, so none is built here.
  const header = k8s.setHeaderMiddleware(contentType ? 'Content-Type' : 'Accept', contentType ?? 'application/json');
  const options: K8s.ConfigurationOptions = {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(signal);
          return header.pre(context);
        },
        post: (response) => header.post(response),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
  try {
    return await fn(options);
  } catch (err) {
    throw toKubernetesApiError(err, target, signal, timeoutMs);
  }
}

/** Parses the `Status` body the API server sends with an error, for its message. */
function statusMessage(body: unknown): string | undefined {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return body.trim() || undefined;
    }
  }
  if (value && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string') {
    return (value as { message: string }).message;
  }
  return undefined;
}

const STATUS_WORDS: Record<number, string> = {
  401: 'unauthorized (credentials rejected)',
  403: 'forbidden',
  404: 'not found',
  409: 'conflict',
  422: 'invalid',
  429: 'throttled',
};

function toKubernetesApiError(err: unknown, target: KubeRequestTarget, signal: AbortSignal, timeoutMs: number): unknown {
  const what = `${target.verb} ${target.resource} ${target.namespace}/${target.name}`;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'number' && code >= 100) {
    const detail = statusMessage((err as { body?: unknown }).body) ?? (err instanceof Error ? err.message : String(err));
    const word = STATUS_WORDS[code] ?? (code >= 500 ? 'server error' : 'refused');
    // 403 names the RBAC verb and resource so an operator knows which Role rule is missing.
    const hint = code === 403 ? ` (the Role needs verb "${target.verb}" on resource "${target.resource}"; see deploy/kubernetes/rbac.yaml)` : '';
    return new KubernetesApiError(`kubernetes API: ${what}: ${word} (HTTP ${code})${hint}: ${detail}`, target, code, { cause: err });
  }
  if (signal.aborted) {
    const reason = signal.reason as { name?: string } | undefined;
    if (reason?.name === 'TimeoutError') {
      return new KubernetesApiError(`kubernetes API: ${what}: no answer within ${timeoutMs} ms`, target, undefined, { cause: err });
    }
    // Cancelled by the activity: let the cancellation itself propagate.
    return signal.reason ?? err;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new KubernetesApiError(`kubernetes API: ${what}: unreachable: ${message}`, target, undefined, { cause: err });
}

/** True when `err` is the API server's 409 Conflict (a stale resourceVersion or a failed JSON-patch `test`). */
export function isConflict(err: unknown): boolean {
  return err instanceof KubernetesApiError && err.status === 409;
}

/** True when `err` is a 404 from the API server. */
export function isNotFound(err: unknown): boolean {
  return err instanceof KubernetesApiError && err.status === 404;
}

/**
 * Runs `attempt` again while it fails with a 409 Conflict (someone else wrote the object between
 * our read and our write), up to `attempts` times with a short jittered pause; rethrows the rest.
 */
export async function retryOnConflict<T>(
  attempt: () => Promise<T>,
  options: { signal: AbortSignal; attempts?: number; onConflict?: (n: number, err: unknown) => void },
): Promise<T> {
  const attempts = options.attempts ?? 8;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isConflict(err) || n >= attempts) throw err;
      options.onConflict?.(n, err);
      options.signal.throwIfAborted();
      await new Promise((resolve) => setTimeout(resolve, 20 * n + Math.random() * 30));
    }
  }
}
