/**
 * The Kubernetes targets without a cluster: the examples parse (inline spec, catalog, manifests),
 * schema errors name the field, requests cannot carry a kubeconfig, and the pure parts of the
 * router, the platform and the provisioning script compute what they should.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { KubeClientFactory } from '../../activities/kubernetes/client';
import { ConfigError } from '../../activities/errors';
import { canaryShare, findSplit } from '../../activities/traffic/gateway-api-router';
import { cloneManifest, imageFor, rolloutProgress } from '../../activities/platform/kubernetes-platform';
import { loadCatalog } from '../../catalog/catalog';
import { parseRolloutRequest } from '../../catalog/request';
import { resolveRequest } from '../../catalog/resolve';
import { assertRolloutSpecText, parseRolloutSpec } from '../../rollout-spec/parse';
import { KubeProvisionError, ensureEtcd, ensureKubeApiserver, kubeWrapperGoMod, stagingModules } from '../../scripts/kube-binaries';
import { rolloutSpec } from '../helpers/rollout-spec';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLES = path.join(ROOT, 'examples', 'kubernetes');

const platform = { kind: 'kubernetes', namespace: 'checkout', stableDeployment: 'checkout', container: 'app', image: 'reg/app:{{version}}' };
const traffic = { kind: 'gateway-api', namespace: 'checkout', httpRoute: 'checkout', stableBackend: 'checkout-stable', canaryBackend: 'checkout-canary' };

function issues(overrides: Record<string, unknown>): string[] {
  const result = parseRolloutSpec({ service: 'checkout', stable: 'v1', canary: 'v2', traffic, platform, ...overrides });
  return result.success ? [] : result.issues.map((i) => `${i.path}: ${i.message}`);
}

describe('kubernetes examples', () => {
  test('examples/kubernetes/checkout-inline.yaml parses with the documented defaults', async () => {
    const spec = assertRolloutSpecText(await readFile(path.join(EXAMPLES, 'checkout-inline.yaml'), 'utf8'));
    assert.equal(spec.traffic.kind, 'gateway-api');
    assert.equal(spec.platform.kind, 'kubernetes');
    if (spec.platform.kind !== 'kubernetes' || spec.traffic.kind !== 'gateway-api') return;
    assert.equal(spec.platform.canaryDeployment, 'checkout-canary');
    assert.equal(spec.platform.mode, 'clone-from-stable');
    assert.equal(spec.platform.terminate, 'scale-to-zero');
    assert.equal(spec.platform.readyTimeoutMs, 300_000);
    assert.equal(spec.traffic.rule, 0);
  });

  test('examples/kubernetes/catalog loads and a request for checkout resolves to the gateway-api router and kubernetes platform', () => {
    const catalog = loadCatalog(path.join(EXAMPLES, 'catalog'));
    const request = parseRolloutRequest({ service: 'checkout', canary: 'v2' });
    assert.ok(request.success);
    const resolved = resolveRequest(catalog, request.request);
    if (!resolved.ok) assert.fail(JSON.stringify(resolved.issues));
    assert.equal(resolved.spec.traffic.kind, 'gateway-api');
    assert.equal(resolved.spec.platform.kind, 'kubernetes');
  });

  test('examples/kubernetes/app.yaml and deploy/kubernetes/rbac.yaml are valid YAML naming what the targets expect', async () => {
    const app = parseAllDocuments(await readFile(path.join(EXAMPLES, 'app.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
    assert.deepEqual(
      app.map((o) => `${o.kind}/${o.metadata.name}`),
      ['Namespace/checkout', 'Deployment/checkout', 'Service/checkout-stable', 'Service/checkout-canary', 'HTTPRoute/checkout'],
    );
    const rbac = parseAllDocuments(await readFile(path.join(ROOT, 'deploy', 'kubernetes', 'rbac.yaml'), 'utf8')).map(
      (d) => d.toJS() as { kind: string; rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[] },
    );
    assert.deepEqual(rbac.map((o) => o.kind), ['ServiceAccount', 'Role', 'RoleBinding']);
    assert.deepEqual(rbac[1]?.rules, [
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'] },
      { apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['get', 'patch', 'update'] },
      { apiGroups: ['gateway.networking.k8s.io'], resources: ['httproutes'], verbs: ['get', 'patch', 'update'] },
    ]);
  });
});

describe('kubernetes spec fields', () => {
  test('errors name the field and the problem', () => {
    assert.deepEqual(issues({ platform: { ...platform, image: 'reg/app:latest' } }), ['platform.image: must contain {{version}}, e.g. "registry.example/app:{{version}}"']);
    assert.deepEqual(issues({ platform: { ...platform, namespace: 'Checkout' } }), [
      'platform.namespace: must be a Kubernetes DNS label: lower-case letters, digits and "-", starting and ending with a letter or digit',
    ]);
    assert.deepEqual(issues({ platform: { ...platform, canaryDeployment: 'checkout' } }), ['platform.canaryDeployment: must differ from stableDeployment']);
    assert.deepEqual(issues({ traffic: { ...traffic, canaryBackend: 'checkout-stable' } }), ['traffic.canaryBackend: must differ from stableBackend']);
    assert.deepEqual(issues({ traffic: { ...traffic, rule: -1 } }), ['traffic.rule: must be 0 or more']);
    assert.match(issues({ platform: { ...platform, replica: 2 } })[0] ?? '', /^platform\.replica: unknown key; allowed here: kind, namespace, stableDeployment/);
  });

  test('a rollout request cannot carry a kubeconfig', () => {
    const result = parseRolloutRequest({ service: 'checkout', canary: 'v2', metrics: { kubeconfig: '/root/.kube/config' } });
    assert.equal(result.success, false);
    if (result.success) return;
    assert.ok(result.issues.some((i) => i.path === 'metrics.kubeconfig' && /operator-owned/.test(i.message)), JSON.stringify(result.issues));
  });
});

describe('gateway-api split', () => {
  const route = (refs: { name: string; weight?: number; kind?: string }[]) => ({ metadata: { resourceVersion: '7' }, spec: { rules: [{ backendRefs: refs }] } });
  const config = { rule: 0, stableBackend: 's', canaryBackend: 'c', httpRoute: 'r', namespace: 'n' };

  test('weights are relative and default to 1', () => {
    assert.equal(canaryShare(findSplit(route([{ name: 's', weight: 95 }, { name: 'c', weight: 5 }]), config)), 5);
    assert.equal(canaryShare(findSplit(route([{ name: 's' }, { name: 'c' }]), config)), 50);
    assert.equal(canaryShare(findSplit(route([{ name: 's', weight: 0 }, { name: 'c', weight: 0 }]), config)), 0);
    assert.equal(canaryShare(findSplit(route([{ name: 'c', weight: 1 }, { name: 'x', weight: 1 }, { name: 's', weight: 2 }]), config)), 25);
  });

  test('a missing rule or backendRef names the spec field', () => {
    assert.throws(() => findSplit(route([{ name: 's' }]), config), /traffic\.canaryBackend: rule 0 of httproute n\/r must have exactly one backendRef to Service c, found 0 \(backendRefs: s\)/);
    assert.throws(() => findSplit(route([{ name: 's' }, { name: 'c', kind: 'ServiceImport' }]), config), /traffic\.canaryBackend/);
    assert.throws(() => findSplit(route([]), { ...config, rule: 2 }), /traffic\.rule: httproute n\/r has 1 rule\(s\), no rule 2/);
  });
});

describe('kubernetes platform helpers', () => {
  const spec = rolloutSpec({ platform: { ...platform, replicas: 3 } });
  const target = spec.platform.kind === 'kubernetes' ? spec.platform : assert.fail('not kubernetes');

  test('the clone keeps the stable pod template, with the canary image, track and version labels', () => {
    const stable = {
      metadata: { name: 'checkout', labels: { app: 'checkout' } },
      spec: {
        selector: { matchLabels: { app: 'checkout', 'phoenix.dev/track': 'stable' } },
        template: {
          metadata: { labels: { app: 'checkout', 'phoenix.dev/track': 'stable', version: 'v1' } },
          spec: { containers: [{ name: 'app', image: 'reg/app:v1', env: [{ name: 'A', value: '1' }] }, { name: 'proxy', image: 'envoy:1' }] },
        },
      },
    };
    const clone = cloneManifest(stable, target, imageFor(target, 'v2'), { rolloutId: 'rollout-checkout', spec }) as {
      metadata: { name: string };
      spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: { containers: { name: string; image: string }[] } } };
    };
    assert.equal(clone.metadata.name, 'checkout-canary');
    assert.equal(clone.spec.replicas, 3);
    assert.deepEqual(clone.spec.selector.matchLabels, { app: 'checkout', 'phoenix.dev/track': 'canary' });
    assert.deepEqual(clone.spec.template.metadata.labels, { app: 'checkout', 'phoenix.dev/track': 'canary', version: 'v2' });
    assert.deepEqual(
      clone.spec.template.spec.containers.map((c) => c.image),
      ['reg/app:v2', 'envoy:1'],
    );
  });

  test('a rollout is done only when the new generation is observed and every replica updated, ready and alone', () => {
    const d = (status: Record<string, number>, generation = 2) => ({ metadata: { generation }, spec: { replicas: 2, selector: {}, template: {} }, status });
    assert.equal(rolloutProgress(d({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2 }), 2).done, true);
    assert.equal(rolloutProgress(d({ observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2 }), 2).done, false);
    assert.equal(rolloutProgress(d({ observedGeneration: 2, replicas: 3, updatedReplicas: 2, readyReplicas: 2 }), 2).done, false, 'an old pod still there');
    assert.equal(rolloutProgress(d({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 1 }), 2).done, false);
  });
});

describe('kube-apiserver wrapper module', () => {
  test('every staging module pinned at v0.0.0 gets a replace to v0.<minor>.<patch>', () => {
    const goMod = [
      'module k8s.io/kubernetes',
      '',
      'go 1.26.0',
      '',
      'godebug default=go1.26',
      '',
      'require (',
      '\tgithub.com/spf13/cobra v1.10.0',
      '\tk8s.io/api v0.0.0',
      '\tk8s.io/client-go v0.0.0',
      '\tk8s.io/klog/v2 v2.130.1',
      ')',
      '',
      'require k8s.io/kms v0.0.0 // indirect',
    ].join('\n');
    assert.deepEqual(stagingModules(goMod), ['k8s.io/api', 'k8s.io/client-go', 'k8s.io/kms']);
    const wrapper = kubeWrapperGoMod(goMod, 'v1.36.3');
    assert.match(wrapper, /^go 1\.26\.0$/m);
    assert.match(wrapper, /^godebug default=go1\.26$/m);
    assert.match(wrapper, /^require k8s\.io\/kubernetes v1\.36\.3$/m);
    assert.match(wrapper, /^\tk8s\.io\/client-go => k8s\.io\/client-go v0\.36\.3$/m);
    assert.doesNotMatch(wrapper, /klog/);
  });

  test('PHOENIX_KUBE_APISERVER_PATH / PHOENIX_ETCD_PATH win, and a bad one is named instead of building', async () => {
    const cacheDir = '/nonexistent/phoenix-cache';
    assert.equal(await ensureKubeApiserver({ env: { PHOENIX_KUBE_APISERVER_PATH: process.execPath }, cacheDir }), process.execPath);
    assert.equal(await ensureEtcd({ env: { PHOENIX_ETCD_PATH: process.execPath }, cacheDir }), process.execPath);
    await assert.rejects(ensureKubeApiserver({ env: { PHOENIX_KUBE_APISERVER_PATH: '/nonexistent/kube-apiserver' }, cacheDir }), (err: unknown) => {
      assert.ok(err instanceof KubeProvisionError);
      assert.equal(err.variable, 'PHOENIX_KUBE_APISERVER_PATH');
      assert.match(err.message, /PHOENIX_KUBE_APISERVER_PATH=\/nonexistent\/kube-apiserver is not an executable file/);
      return true;
    });
  });
});

describe('kubernetes client configuration', () => {
  test('a missing kubeconfig or an unknown context is a ConfigError naming the field', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'phoenix-kubeconfig-'));
    try {
      const file = path.join(dir, 'config');
      await writeFile(
        file,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
          users: [{ name: 'u', user: { token: 't' } }],
          contexts: [{ name: 'staging', context: { cluster: 'c', user: 'u' } }],
          'current-context': 'staging',
        }),
      );
      const factory = new KubeClientFactory({ env: {} });
      const clients = await factory.clientsFor({ kubeconfig: file }, 'traffic');
      assert.equal(clients.server, 'https://127.0.0.1:1');
      assert.equal(await factory.clientsFor({ kubeconfig: file }, 'traffic'), clients, 'cached per kubeconfig and context');
      await assert.rejects(factory.clientsFor({ kubeconfig: file, context: 'prod' }, 'traffic'), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.field, 'traffic.context');
        assert.equal(err.message, 'traffic.context: no context "prod" in the kubeconfig (it has: staging)');
        return true;
      });
      // Neither KUBECONFIG nor ~/.kube/config nor a pod: refused, never client-node's http://localhost:8080.
      await assert.rejects(new KubeClientFactory({ env: { HOME: dir } }).clientsFor({}, 'platform'), /^ConfigError: platform\.kubeconfig: no kubeconfig: set platform\.kubeconfig, KUBECONFIG or ~\/\.kube\/config/);
      const viaEnv = await new KubeClientFactory({ env: { KUBECONFIG: file, HOME: dir } }).clientsFor({}, 'platform');
      assert.equal(viaEnv.server, 'https://127.0.0.1:1', 'KUBECONFIG from the worker env');
      await assert.rejects(factory.clientsFor({ kubeconfig: path.join(dir, 'missing') }, 'platform'), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.field, 'platform.kubeconfig');
        assert.match(err.message, /^platform\.kubeconfig: cannot load kubeconfig .*missing: /);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
