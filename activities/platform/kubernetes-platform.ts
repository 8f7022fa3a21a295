/**
 * The `kubernetes` platform: stable and canary as two Deployments of one namespace (Flagger's
 * primary/canary model). Every write is a server-side apply with the field manager
 * `phoenix-rollouts`, so re-running any method converges on the same object instead of failing.
 */
import type { V1Deployment } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import type { KubernetesPlatform as KubernetesTarget } from '../../rollout-spec/kubernetes-targets';
import { ConfigError } from '../errors';
import { FIELD_MANAGER, KubeClientFactory, PATCH, isNotFound, retryOnConflict, type KubeClients } from '../kubernetes/client';
import { KubernetesRolloutTimeoutError, KubernetesShapeError, type KubeRequestTarget } from '../kubernetes/errors';
import type { HealthResult } from '../types';
import type { CanaryPlatform, PlatformCall } from './platform';
import { heartbeatingDelay, pollHealth } from './poll-health';

/** Label that tells canary pods from stable ones; the canary Service selects `canary`. */
export const TRACK_LABEL = 'phoenix.dev/track';
const RESOURCE = 'deployments.apps';

/** What the platform needs from the worker. */
export interface KubernetesPlatformOptions {
  env: Readonly<Record<string, string | undefined>>;
  /** How often readiness is polled (ms). */
  pollIntervalMs?: number;
  /** Shared client cache; one is made when absent. */
  clients?: KubeClientFactory;
}

/** {@link CanaryPlatform} on a Kubernetes cluster. */
export class KubernetesPlatform implements CanaryPlatform {
  private readonly clients: KubeClientFactory;
  private readonly pollIntervalMs: number;

  constructor(options: KubernetesPlatformOptions) {
    this.clients = options.clients ?? new KubeClientFactory({ env: options.env });
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
  }

  /**
   * Applies the canary Deployment with the canary image and `replicas`, then waits until all its
   * replicas are ready. Applying the same version again changes nothing.
   */
  async deployCanary(call: PlatformCall): Promise<void> {
    const { target, kube } = await this.context(call);
    const image = imageFor(target, call.spec.canary.version);
    let body: object;
    if (target.mode === 'clone-from-stable') {
      const stable = await this.read(kube, call, target, target.stableDeployment, 'platform.stableDeployment');
      if (!(TRACK_LABEL in (stable.spec?.selector?.matchLabels ?? {}))) {
        // Then the stable selector (and most likely the stable Service) also matches the canary's
        // pods, and the HTTPRoute weights no longer decide who gets the traffic.
        call.logger.warn(
          { deployment: `${target.namespace}/${target.stableDeployment}`, selector: stable.spec?.selector?.matchLabels },
          `stable Deployment selector lacks ${TRACK_LABEL}: it also selects the canary's pods`,
        );
      }
      body = cloneManifest(stable, target, image, call);
    } else {
      body = await this.twoDeploymentsManifest(kube, call, target, image);
    }
    const applied = await this.apply(kube, call, target, target.canaryDeployment, body);
    call.logger.info(
      { deployment: `${target.namespace}/${target.canaryDeployment}`, image, generation: applied.metadata?.generation, server: kube.server },
      'canary deployment applied',
    );
    await this.waitRolledOut(kube, call, target, target.canaryDeployment, applied.metadata?.generation ?? 0, 'canary');
  }

  /** Healthy when the canary Deployment has all replicas ready and its `Available` condition is true. */
  async checkHealth(call: PlatformCall): Promise<HealthResult> {
    const { target, kube } = await this.context(call);
    return pollHealth(
      call,
      async () => {
        const deployment = await this.read(kube, call, target, target.canaryDeployment, 'platform.canaryDeployment');
        const progress = rolloutProgress(deployment, 0);
        const available = deployment.status?.conditions?.find((c) => c.type === 'Available');
        const healthy = progress.done && progress.replicas > 0 && available?.status === 'True';
        const detail = `${progress.detail}, Available=${available?.status ?? 'unknown'}${available?.reason ? ` (${available.reason})` : ''}`;
        return { healthy, detail };
      },
      this.pollIntervalMs,
    );
  }

  /**
   * Sets the stable Deployment's container image to the canary version and waits for its rollout
   * (observed generation, all replicas updated and ready). The canary keeps running meanwhile.
   */
  async promoteCanary(call: PlatformCall): Promise<void> {
    const { target, kube } = await this.context(call);
    const image = imageFor(target, call.spec.canary.version);
    const stable = await this.read(kube, call, target, target.stableDeployment, 'platform.stableDeployment');
    requireContainer(stable, target);
    // Only the image (and the version pod label when the template has one outside the immutable
    // selector): every other field of the stable Deployment stays with whoever manages it.
    const versionLabel = call.spec.metrics.versionLabel;
    const relabel = versionLabel in (stable.spec?.template?.metadata?.labels ?? {}) && !(versionLabel in (stable.spec?.selector?.matchLabels ?? {}));
    const body = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: target.stableDeployment, namespace: target.namespace, annotations: { 'phoenix.dev/version': call.spec.canary.version } },
      spec: {
        template: {
          ...(relabel ? { metadata: { labels: { [versionLabel]: call.spec.canary.version } } } : {}),
          spec: { containers: [{ name: target.container, image }] },
        },
      },
    };
    const applied = await this.apply(kube, call, target, target.stableDeployment, body);
    call.logger.info({ deployment: `${target.namespace}/${target.stableDeployment}`, image, generation: applied.metadata?.generation }, 'stable image set');
    await this.waitRolledOut(kube, call, target, target.stableDeployment, applied.metadata?.generation ?? 0, 'stable');
  }

  /** Scales the canary Deployment to 0 or deletes it (`terminate`); a missing Deployment is already terminated. */
  async terminateCanary(call: PlatformCall): Promise<void> {
    const { target, kube } = await this.context(call);
    const name = target.canaryDeployment;
    if (target.terminate === 'delete') {
      try {
        await kube.request(req('delete', target, name), call.signal, (options) =>
          kube.apps.deleteNamespacedDeployment({ name, namespace: target.namespace, propagationPolicy: 'Background' }, options),
        );
        call.logger.info({ deployment: `${target.namespace}/${name}` }, 'canary deployment deleted');
      } catch (err) {
        if (!isNotFound(err)) throw err;
        call.logger.info({ deployment: `${target.namespace}/${name}` }, 'no canary deployment to delete');
      }
      return;
    }
    try {
      // The scale subresource, so a Role can allow scaling without allowing arbitrary edits.
      await retryOnConflict(
        () =>
          kube.request(
            { verb: 'patch', resource: `${RESOURCE}/scale`, namespace: target.namespace, name },
            call.signal,
            (options) =>
              kube.apps.patchNamespacedDeploymentScale({ name, namespace: target.namespace, body: { spec: { replicas: 0 } }, fieldManager: FIELD_MANAGER }, options),
            PATCH.merge,
          ),
        { signal: call.signal, onConflict: (n) => call.logger.warn({ attempt: n }, 'canary scale conflicted, retrying') },
      );
      call.logger.info({ deployment: `${target.namespace}/${name}` }, 'canary scaled to 0');
    } catch (err) {
      if (!isNotFound(err)) throw err;
      call.logger.info({ deployment: `${target.namespace}/${name}` }, 'no canary deployment to scale down');
    }
  }

  private async context(call: PlatformCall): Promise<{ target: KubernetesTarget; kube: KubeClients }> {
    const target = call.spec.platform;
    if (target.kind !== 'kubernetes') throw new ConfigError('expected platform.kind "kubernetes"', 'platform.kind');
    return { target, kube: await this.clients.clientsFor(target, 'platform') };
  }

  private async read(kube: KubeClients, call: PlatformCall, target: KubernetesTarget, name: string, field: string): Promise<V1Deployment> {
    try {
      return await kube.request(req('get', target, name), call.signal, (options) =>
        kube.apps.readNamespacedDeployment({ name, namespace: target.namespace }, options),
      );
    } catch (err) {
      if (isNotFound(err) && err instanceof Error) {
        err.message = `${field}: ${err.message} (the Deployment must exist in namespace ${target.namespace})`;
      }
      throw err;
    }
  }

  private apply(kube: KubeClients, call: PlatformCall, target: KubernetesTarget, name: string, body: object): Promise<V1Deployment> {
    // force: Phoenix owns the image and replica fields during a rollout, even if a manifest applied
    // them last; without it a second manager's claim is a 409 that no retry resolves.
    return retryOnConflict(
      () =>
        kube.request(
          req('patch', target, name),
          call.signal,
          (options) => kube.apps.patchNamespacedDeployment({ name, namespace: target.namespace, body, fieldManager: FIELD_MANAGER, force: true }, options),
          PATCH.apply,
        ),
      { signal: call.signal, onConflict: (n) => call.logger.warn({ attempt: n, deployment: name }, 'apply conflicted, retrying') },
    );
  }

  private async twoDeploymentsManifest(kube: KubeClients, call: PlatformCall, target: KubernetesTarget, image: string): Promise<object> {
    // two-deployments: the canary Deployment is the team's own object; it must exist (an apply
    // would otherwise try to create a Deployment without selector or template).
    const canary = await this.read(kube, call, target, target.canaryDeployment, 'platform.canaryDeployment');
    requireContainer(canary, target);
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: target.canaryDeployment, namespace: target.namespace, annotations: annotations(call) },
      spec: { replicas: target.replicas, template: { spec: { containers: [{ name: target.container, image }] } } },
    };
  }

  /**
   * Polls the Deployment until the controller has observed `generation` and every replica is
   * updated and ready, heartbeating; bounded by `readyTimeout` and the activity's deadline.
   */
  private async waitRolledOut(kube: KubeClients, call: PlatformCall, target: KubernetesTarget, name: string, generation: number, role: string): Promise<void> {
    const started = Date.now();
    const until = Math.min(call.deadline, started + target.readyTimeoutMs);
    let last = 'not read yet';
    for (let polls = 1; ; polls++) {
      call.signal.throwIfAborted();
      const deployment = await this.read(kube, call, target, name, role === 'canary' ? 'platform.canaryDeployment' : 'platform.stableDeployment');
      const progress = rolloutProgress(deployment, generation);
      last = progress.detail;
      call.heartbeat({ deployment: name, detail: last });
      if (progress.done) {
        call.logger.info({ deployment: `${target.namespace}/${name}`, detail: last, polls }, `${role} deployment rolled out`);
        return;
      }
      if (Date.now() + this.pollIntervalMs >= until) {
        throw new KubernetesRolloutTimeoutError(
          `${role} Deployment ${target.namespace}/${name} not rolled out within ${until - started} ms: ${last}`,
          `${target.namespace}/${name}`,
          last,
        );
      }
      if (polls % 20 === 0) call.logger.debug({ deployment: name, detail: last }, 'waiting for deployment rollout');
      await heartbeatingDelay(this.pollIntervalMs, call, { deployment: name, detail: last });
    }
  }
}

/** The image reference for `version`. */
export function imageFor(target: Pick<KubernetesTarget, 'image'>, version: string): string {
  return target.image.replaceAll('{{version}}', version);
}

function annotations(call: Pick<PlatformCall, 'rolloutId' | 'spec'>): Record<string, string> {
  return { 'phoenix.dev/rollout-id': call.rolloutId, 'phoenix.dev/version': call.spec.canary.version };
}

function req(verb: string, target: KubernetesTarget, name: string): KubeRequestTarget {
  return { verb, resource: RESOURCE, namespace: target.namespace, name };
}

function requireContainer(deployment: V1Deployment, target: KubernetesTarget): void {
  const names = deployment.spec?.template?.spec?.containers?.map((c) => c.name) ?? [];
  if (!names.includes(target.container)) {
    throw new KubernetesShapeError(
      `platform.container: Deployment ${target.namespace}/${deployment.metadata?.name ?? '?'} has no container ${JSON.stringify(target.container)} ` +
        `(it has: ${names.join(', ') || 'none'})`,
      'platform.container',
    );
  }
}

/**
 * The canary Deployment cloned from `stable`: its pod template with the canary image, every
 * selector and pod label extended with `phoenix.dev/track: canary` so the two Deployments never
 * select each other's pods and a canary Service can select the canary alone.
 */
export function cloneManifest(stable: V1Deployment, target: KubernetesTarget, image: string, call: Pick<PlatformCall, 'rolloutId' | 'spec'>): object {
  requireContainer(stable, target);
  const template = stable.spec?.template ?? {};
  const podSpec = template.spec ?? { containers: [] };
  const canaryTrack = { [TRACK_LABEL]: 'canary' };
  const podLabels: Record<string, string> = { ...(template.metadata?.labels ?? {}), ...canaryTrack };
  // Pods labelled with the metrics' version label (e.g. `version: v1`, relabelled onto the series
  // by Prometheus) would report the canary as the stable version.
  const versionLabel = call.spec.metrics.versionLabel;
  if (versionLabel in podLabels) podLabels[versionLabel] = call.spec.canary.version;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: target.canaryDeployment,
      namespace: target.namespace,
      labels: { ...(stable.metadata?.labels ?? {}), ...canaryTrack, 'app.kubernetes.io/managed-by': FIELD_MANAGER },
      annotations: { ...annotations(call), 'phoenix.dev/cloned-from': target.stableDeployment },
    },
    spec: {
      replicas: target.replicas,
      selector: { matchLabels: { ...(stable.spec?.selector?.matchLabels ?? {}), ...canaryTrack } },
      template: {
        metadata: { labels: podLabels, ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}) },
        spec: { ...podSpec, containers: podSpec.containers.map((c) => (c.name === target.container ? { ...c, image } : c)) },
      },
    },
  };
}

/** Whether a Deployment finished rolling out, and a one-line status for logs and errors. */
export function rolloutProgress(deployment: V1Deployment, generation: number): { done: boolean; replicas: number; detail: string } {
  const replicas = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  const observed = status.observedGeneration ?? 0;
  const wanted = Math.max(generation, deployment.metadata?.generation ?? 0);
  const ready = status.readyReplicas ?? 0;
  const updated = status.updatedReplicas ?? 0;
  const total = status.replicas ?? 0;
  // total == replicas: old pods still terminating mean the rollout is not over yet.
  const done = observed >= wanted && updated === replicas && ready === replicas && total === replicas;
  return { done, replicas, detail: `${ready}/${replicas} ready, ${updated} updated, ${total} total, generation ${wanted} observed ${observed}` };
}
