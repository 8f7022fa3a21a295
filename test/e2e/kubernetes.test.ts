/**
 * The `kubernetes` platform and the `gateway-api` router against a real kube-apiserver and etcd
 * (test/helpers/kube.ts), no API mocks. No kubelet runs, so no pod ever starts: where a Deployment
 * must look rolled out, the test writes its status subresource and the test name says so.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { KubernetesApiError, KubernetesRolloutTimeoutError } from '../../activities/kubernetes/errors';
import { KubernetesPlatform } from '../../activities/platform/kubernetes-platform';
import type { PlatformCall } from '../../activities/platform/platform';
import { GatewayApiRouter } from '../../activities/traffic/gateway-api-router';
import { assertRolloutSpec } from '../../rollout-spec/parse';
import type { RolloutSpec } from '../../rollout-spec/types';
import { startRolloutWorld, type RolloutWorld } from '../helpers/client-e2e-world';
import { startFakeRolloutController, startKubeApiserver, type FakeRolloutController, type KubeTestCluster } from '../helpers/kube';
import { rolloutSpec } from '../helpers/rollout-spec';
import { ensureKubeTestAssets } from '../../scripts/kube-binaries';

const NS = 'checkout';
const RBAC_FILE = path.resolve(__dirname, '../../deploy/kubernetes/rbac.yaml');
const logger = pino({ level: 'silent' });

let cluster: KubeTestCluster;
let controller: FakeRolloutController;

function call(spec: RolloutSpec, overrides: Partial<PlatformCall> = {}): PlatformCall {
  return {
    rolloutId: `rollout-${spec.service}`,
    spec,
    logger,
    signal: new AbortController().signal,
    heartbeat: () => undefined,
    deadline: Date.now() + 30_000,
    ...overrides,
  };
}

function kubeSpec(platform: Record<string, unknown>, kubeconfig = cluster.kubeconfig, route = 'checkout'): RolloutSpec {
  return rolloutSpec({
    traffic: { kind: 'gateway-api', namespace: NS, httpRoute: route, stableBackend: 'checkout-stable', canaryBackend: 'checkout-canary', kubeconfig },
    platform: { kind: 'kubernetes', namespace: NS, container: 'app', image: 'registry.example/checkout:{{version}}', readyTimeout: '10s', kubeconfig, ...platform },
  });
}

function routerFor(spec: RolloutSpec, extra: { beforeWrite?: () => Promise<void>; logger?: pino.Logger } = {}): GatewayApiRouter {
  if (spec.traffic.kind !== 'gateway-api') throw new Error('not a gateway-api spec');
  return new GatewayApiRouter({ ...spec.traffic, env: {}, beforeWrite: extra.beforeWrite }, extra.logger ?? logger);
}

function deploymentManifest(name: string, image: string, replicas: number, track: string): K8s.V1Deployment {
  const labels = { app: 'checkout', 'phoenix.dev/track': track };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        // `version` is the spec's metrics.versionLabel: the platform keeps it true to the image.
        metadata: { labels: { ...labels, version: image.split(':')[1] ?? '' } },
        spec: { containers: [{ name: 'app', image, ports: [{ containerPort: 8080 }] }, { name: 'sidecar', image: 'registry.example/proxy:1.0' }] },
      },
    },
  };
}

async function createRoute(name: string): Promise<void> {
  await cluster.admin.custom.createNamespacedCustomObject({
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    namespace: NS,
    plural: 'httproutes',
    body: {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name, namespace: NS },
      spec: {
        parentRefs: [{ name: 'public' }],
        rules: [
          {
            matches: [{ path: { type: 'PathPrefix', value: '/' } }],
            backendRefs: [
              { name: 'checkout-stable', port: 8080, weight: 100 },
              { name: 'checkout-canary', port: 8080, weight: 0 },
            ],
          },
        ],
      },
    },
  });
}

async function routeWeights(name = 'checkout'): Promise<{ weights: number[]; resourceVersion: string; annotations: Record<string, string> }> {
  const route = (await cluster.admin.custom.getNamespacedCustomObject({
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    namespace: NS,
    plural: 'httproutes',
    name,
  })) as { metadata: { resourceVersion: string; annotations?: Record<string, string> }; spec: { rules: { backendRefs: { weight?: number }[] }[] } };
  return {
    weights: route.spec.rules[0]?.backendRefs.map((r) => r.weight ?? 1) ?? [],
    resourceVersion: route.metadata.resourceVersion,
    annotations: route.metadata.annotations ?? {},
  };
}

async function readDeployment(name: string): Promise<K8s.V1Deployment> {
  return cluster.admin.apps.readNamespacedDeployment({ name, namespace: NS });
}

function imageOf(d: K8s.V1Deployment): string | undefined {
  return d.spec?.template?.spec?.containers.find((c) => c.name === 'app')?.image;
}

/** Applies deploy/kubernetes/rbac.yaml as it is shipped (its namespace is `checkout`). */
async function applyRbacManifest(): Promise<void> {
  const docs = cluster.admin.k8s.loadAllYaml(await readFile(RBAC_FILE, 'utf8')) as K8s.KubernetesObject[];
  for (const doc of docs) await cluster.admin.objects.create(doc);
}

/** A real service-account token for phoenix-rollouts (TokenRequest API), as a pod would mount it. */
async function serviceAccountKubeconfig(): Promise<string> {
  const answer = await cluster.admin.core.createNamespacedServiceAccountToken({
    name: 'phoenix-rollouts',
    namespace: NS,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 3600 } },
  });
  return cluster.writeKubeconfig('phoenix-rollouts', answer.status?.token ?? '');
}

/** Retries `fn` until it stops throwing, within `ms`; rethrows its last error. */
async function eventually<T>(fn: () => Promise<T>, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** On a fresh machine the first start builds kube-apiserver and etcd (minutes, see docs/kubernetes.md). */
const COLD_BUILD_MS = 50 * 60_000;

describe('kubernetes platform and gateway-api router on a real kube-apiserver', { timeout: COLD_BUILD_MS + 600_000 }, () => {
  before(async () => {
    await ensureKubeTestAssets();
  }, { timeout: COLD_BUILD_MS });

  before(async () => {
    cluster = await startKubeApiserver();
    const { admin } = cluster;
    await admin.core.createNamespace({ body: { metadata: { name: NS } } });
    await admin.apps.createNamespacedDeployment({ namespace: NS, body: deploymentManifest('checkout', 'registry.example/checkout:v1', 2, 'stable') });
    for (const track of ['stable', 'canary']) {
      await admin.core.createNamespacedService({
        namespace: NS,
        body: { metadata: { name: `checkout-${track}` }, spec: { selector: { app: 'checkout', 'phoenix.dev/track': track }, ports: [{ port: 8080 }] } },
      });
    }
    await createRoute('checkout');
    controller = startFakeRolloutController(admin, NS);
  }, { timeout: 120_000 });

  after(async () => {
    await controller?.stop();
    await cluster?.stop();
  });

  test('deploy (canary status set by the test), health, weights 5→20→100 read back, promote (stable status set by the test), terminate', async () => {
    const spec = kubeSpec({ stableDeployment: 'checkout', replicas: 2 });
    const platform = new KubernetesPlatform({ env: {}, pollIntervalMs: 50 });
    const router = routerFor(spec);

    await platform.deployCanary(call(spec));
    const canary = await readDeployment('checkout-canary');
    assert.equal(imageOf(canary), 'registry.example/checkout:v2');
    assert.equal(canary.spec?.replicas, 2);
    assert.deepEqual(canary.spec?.selector.matchLabels, { app: 'checkout', 'phoenix.dev/track': 'canary' });
    assert.deepEqual(canary.spec?.template.metadata?.labels, { app: 'checkout', 'phoenix.dev/track': 'canary', version: 'v2' });
    assert.equal(canary.spec?.template.spec?.containers.find((c) => c.name === 'sidecar')?.image, 'registry.example/proxy:1.0', 'other containers cloned unchanged');
    assert.ok(canary.metadata?.managedFields?.some((m) => m.manager === 'phoenix-rollouts' && m.operation === 'Apply'), 'written by server-side apply');
    // Idempotent: a second deploy of the same version changes nothing.
    await platform.deployCanary(call(spec));
    assert.equal((await readDeployment('checkout-canary')).metadata?.generation, canary.metadata?.generation);

    assert.deepEqual(await platform.checkHealth(call(spec)), { healthy: true, detail: '2/2 ready, 2 updated, 2 total, generation 1 observed 1, Available=True (MinimumReplicasAvailable)' });

    for (const [weight, expected] of [
      [5, [95, 5]],
      [20, [80, 20]],
      [100, [0, 100]],
    ] as const) {
      assert.equal(await router.setCanaryWeight(weight), weight);
      assert.deepEqual((await routeWeights()).weights, expected, `route object after set ${weight}`);
      assert.deepEqual(await router.readWeights(), { canary: weight, stable: 100 - weight });
    }
    const before = (await routeWeights()).resourceVersion;
    assert.equal(await router.setCanaryWeight(100), 100);
    assert.equal((await routeWeights()).resourceVersion, before, 'setting the current weight writes nothing');

    await platform.promoteCanary(call(spec));
    const stable = await readDeployment('checkout');
    assert.equal(imageOf(stable), 'registry.example/checkout:v2');
    assert.equal(stable.status?.observedGeneration, stable.metadata?.generation);
    assert.equal(stable.spec?.template.metadata?.labels?.version, 'v2');
    assert.deepEqual(stable.spec?.selector.matchLabels, { app: 'checkout', 'phoenix.dev/track': 'stable' }, 'promotion touches only the image and version label');
    assert.equal(await router.setCanaryWeight(0), 0);

    await platform.terminateCanary(call(spec));
    assert.equal((await readDeployment('checkout-canary')).spec?.replicas, 0);
    await platform.terminateCanary(call(spec));
  });

  test('deploy gives up at readyTimeout naming the Deployment when nothing sets its status', async () => {
    controller.hold.add('stuck-canary');
    const spec = kubeSpec({ stableDeployment: 'checkout', canaryDeployment: 'stuck-canary', readyTimeout: '1s' });
    const platform = new KubernetesPlatform({ env: {}, pollIntervalMs: 50 });
    const started = Date.now();
    let heartbeats = 0;
    await assert.rejects(platform.deployCanary(call(spec, { heartbeat: () => heartbeats++ })), (err: unknown) => {
      assert.ok(err instanceof KubernetesRolloutTimeoutError, String(err));
      assert.match(err.message, /canary Deployment checkout\/stuck-canary not rolled out within \d+ ms: 0\/1 ready/);
      return true;
    });
    assert.ok(Date.now() - started < 5000, 'bounded by readyTimeout');
    assert.ok(heartbeats >= 2, `heartbeats while waiting (${heartbeats})`);
    assert.equal((await platform.checkHealth(call(spec, { deadline: Date.now() + 300 }))).healthy, false);

    // A cancelled activity stops waiting at once.
    const abort = new AbortController();
    const waiting = platform.deployCanary(call(kubeSpec({ stableDeployment: 'checkout', canaryDeployment: 'stuck-canary', readyTimeout: '30s' }), { signal: abort.signal }));
    setTimeout(() => abort.abort(new Error('activity cancelled')), 300);
    const cancelledAt = Date.now();
    await assert.rejects(waiting, /activity cancelled/);
    assert.ok(Date.now() - cancelledAt < 2000, 'cancellation is prompt');
    await platform.terminateCanary(call(spec));
  });

  test('a concurrent writer bumps the HTTPRoute resourceVersion between read and write: the router gets 409 and retries', async () => {
    await createRoute('conflict');
    const spec = kubeSpec({ stableDeployment: 'checkout' }, cluster.kubeconfig, 'conflict');
    const warnings: string[] = [];
    const capture = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
    let bumps = 0;
    const router = routerFor(spec, {
      logger: capture,
      beforeWrite: async () => {
        if (bumps++ > 0) return;
        // The other writer: another controller annotating the same route.
        await cluster.admin.custom.patchNamespacedCustomObject(
          {
            group: 'gateway.networking.k8s.io',
            version: 'v1',
            namespace: NS,
            plural: 'httproutes',
            name: 'conflict',
            body: { metadata: { annotations: { 'other.example/touched': 'yes' } } },
          },
          cluster.admin.k8s.setHeaderOptions('Content-Type', cluster.admin.k8s.PatchStrategy.MergePatch),
        );
      },
    });
    assert.equal(await router.setCanaryWeight(20), 20);
    const route = await routeWeights('conflict');
    assert.deepEqual(route.weights, [80, 20]);
    assert.equal(route.annotations['other.example/touched'], 'yes', 'the concurrent write is kept, not overwritten');
    assert.equal(bumps, 2, 'one conflicting attempt, one that went through');
    assert.equal(warnings.filter((l) => l.includes('httproute changed between read and write')).length, 1);
  });

  test('as the phoenix-rollouts service account of deploy/kubernetes/rbac.yaml (canary status set by the test): everything works; without patch on httproutes a clear 403', async () => {
    await applyRbacManifest();
    const kubeconfig = await serviceAccountKubeconfig();
    const spec = kubeSpec({ stableDeployment: 'checkout', canaryDeployment: 'rbac-canary', terminate: 'delete' }, kubeconfig);
    const platform = new KubernetesPlatform({ env: {}, pollIntervalMs: 50 });
    const router = routerFor(spec);

    await eventually(() => platform.deployCanary(call(spec)));
    assert.equal((await platform.checkHealth(call(spec))).healthy, true);
    assert.equal(await router.setCanaryWeight(5), 5);
    assert.deepEqual(await router.readWeights(), { canary: 5, stable: 95 });
    assert.equal(await router.setCanaryWeight(0), 0);
    // deployments/scale first (terminate: scale-to-zero), then delete.
    await platform.terminateCanary(call(kubeSpec({ stableDeployment: 'checkout', canaryDeployment: 'rbac-canary', terminate: 'scale-to-zero' }, kubeconfig)));
    assert.equal((await readDeployment('rbac-canary')).spec?.replicas, 0);
    await platform.terminateCanary(call(spec));
    await assert.rejects(readDeployment('rbac-canary'), (err: { code?: number }) => err.code === 404);

    // The same Role without `patch` on httproutes.
    const role = await cluster.admin.rbac.readNamespacedRole({ name: 'phoenix-rollouts', namespace: NS });
    const trimmed = (role.rules ?? []).map((rule) =>
      rule.resources?.includes('httproutes') ? { ...rule, verbs: rule.verbs.filter((v) => v !== 'patch') } : rule,
    );
    await cluster.admin.rbac.replaceNamespacedRole({ name: 'phoenix-rollouts', namespace: NS, body: { ...role, rules: trimmed } });
    try {
      const err = await eventually(async () => {
        const outcome = await router.setCanaryWeight(10).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (!(outcome instanceof KubernetesApiError)) throw new Error(`expected a 403, got ${String(outcome)}`);
        return outcome;
      });
      assert.equal(err.status, 403);
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /patch httproutes\.gateway\.networking\.k8s\.io checkout\/checkout: forbidden \(HTTP 403\)/);
      assert.match(err.message, /the Role needs verb "patch" on resource "httproutes\.gateway\.networking\.k8s\.io"/);
      assert.match(err.message, /system:serviceaccount:checkout:phoenix-rollouts/);
      assert.deepEqual((await routeWeights()).weights, [100, 0], 'nothing changed');
    } finally {
      await cluster.admin.rbac.replaceNamespacedRole({
        name: 'phoenix-rollouts',
        namespace: NS,
        body: { ...(await cluster.admin.rbac.readNamespacedRole({ name: 'phoenix-rollouts', namespace: NS })), rules: role.rules },
      });
    }
  });

  test('two-deployments mode (status set by the test): an existing canary Deployment gets the canary image and replicas, terminate deletes it', async () => {
    await cluster.admin.apps.createNamespacedDeployment({ namespace: NS, body: deploymentManifest('team-canary', 'registry.example/checkout:v1', 0, 'canary') });
    const spec = kubeSpec({ stableDeployment: 'checkout', canaryDeployment: 'team-canary', mode: 'two-deployments', replicas: 3, terminate: 'delete' });
    const platform = new KubernetesPlatform({ env: {}, pollIntervalMs: 50 });
    await platform.deployCanary(call(spec));
    const canary = await readDeployment('team-canary');
    assert.equal(imageOf(canary), 'registry.example/checkout:v2');
    assert.equal(canary.spec?.replicas, 3);
    assert.equal(canary.spec?.template.spec?.containers.length, 2, "the team's own template is kept");
    assert.equal((await platform.checkHealth(call(spec))).healthy, true);
    await platform.terminateCanary(call(spec));
    await assert.rejects(readDeployment('team-canary'), (err: { code?: number }) => err.code === 404);
    await platform.terminateCanary(call(spec));

    // two-deployments never creates the canary: a missing one is named.
    await assert.rejects(platform.deployCanary(call(spec)), /platform\.canaryDeployment: kubernetes API: get deployments\.apps checkout\/team-canary: not found \(HTTP 404\)/);
  });

  test('a container the spec names that the stable Deployment lacks is a non-retryable error naming platform.container', async () => {
    const spec = kubeSpec({ stableDeployment: 'checkout', container: 'web', canaryDeployment: 'web-canary' });
    await assert.rejects(new KubernetesPlatform({ env: {} }).deployCanary(call(spec)), /platform\.container: Deployment checkout\/checkout has no container "web" \(it has: app, sidecar\)/);
  });

  describe('a full rollout through the real workflow and worker (Deployment status set by the test)', () => {
    let world: RolloutWorld;

    before(async () => {
      world = await startRolloutWorld();
      await cluster.admin.apps.createNamespacedDeployment({ namespace: NS, body: deploymentManifest('shop', 'registry.example/checkout:v1', 2, 'stable') });
      await cluster.markRolledOut(NS, 'shop');
      await createRoute('shop');
    });

    after(async () => {
      await world?.teardown();
    });

    test('kubernetes platform + gateway-api router: 5% → 55% → 100%, promoted, traffic back on stable, canary scaled to 0', async () => {
      const user = world.quickSpec('shop');
      const spec = assertRolloutSpec({
        ...user,
        traffic: { kind: 'gateway-api', namespace: NS, httpRoute: 'shop', stableBackend: 'checkout-stable', canaryBackend: 'checkout-canary', kubeconfig: cluster.kubeconfig },
        platform: { kind: 'kubernetes', namespace: NS, stableDeployment: 'shop', container: 'app', image: 'registry.example/checkout:{{version}}', replicas: 1, readyTimeout: '20s', kubeconfig: cluster.kubeconfig },
      });
      // What the route carried, as seen by a watcher polling the object (the workflow's own timeline is checked too).
      const seen: number[] = [];
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const canary = (await routeWeights('shop')).weights[1] ?? -1;
          if (seen[seen.length - 1] !== canary) seen.push(canary);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      try {
        const started = await world.rollouts.start(spec);
        const result = await world.rollouts.result(started.rolloutId);
        assert.equal(result.outcome, 'promoted', result.reason);
        assert.deepEqual(
          result.timeline.map((t) => t.weight),
          [0, 5, 55, 100, 0],
          'the workflow timeline',
        );
      } finally {
        watching = false;
        await watcher;
      }
      assert.deepEqual(seen, [0, 5, 55, 100, 0], 'the HTTPRoute object went through the plan');
      const stable = await readDeployment('shop');
      assert.equal(imageOf(stable), 'registry.example/checkout:v2');
      assert.equal(stable.spec?.template.metadata?.labels?.version, 'v2');
      assert.equal((await readDeployment('shop-canary')).spec?.replicas, 0);
      assert.deepEqual((await routeWeights('shop')).weights, [100, 0]);
    });
  });

  test('a kube-apiserver binary that does not exist, or exits at once, fails the start quickly, naming it', async () => {
    let started = Date.now();
    await assert.rejects(startKubeApiserver({ kubeApiserver: '/nonexistent/kube-apiserver' }), /kube-apiserver \(\/nonexistent\/kube-apiserver\): cannot start/);
    assert.ok(Date.now() - started < 15_000);
    started = Date.now();
    await assert.rejects(startKubeApiserver({ kubeApiserver: '/bin/false' }), /kube-apiserver \(\/bin\/false\) exited during startup \(code 1\)/);
    assert.ok(Date.now() - started < 15_000);
  });
});
