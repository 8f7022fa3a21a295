/**
 * A real Kubernetes API server for tests (the envtest pattern of controller projects): etcd and
 * kube-apiserver on 127.0.0.1 with free ports, a temp dir holding the apiserver's self-signed
 * serving certificate, a service-account key pair and a static token file, RBAC authorization, and
 * the Gateway API CRDs installed and established.
 *
 * No kubelet and no controller-manager run: Deployments never get pods. Tests that need a
 * Deployment to look rolled out set its status subresource with {@link KubeTestCluster.markRolledOut}
 * or {@link startFakeRolloutController}, and say so in their names.
 */
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { loadClientNode } from '../../activities/kubernetes/client';
import { ensureKubeTestAssets } from '../../scripts/kube-binaries';
import { freePort } from './free-port';
import { httpOk, retryOnPortClash, startInTempDir, startManagedProcess, type ManagedProcess } from './managed-process';

/** A running etcd + kube-apiserver. */
export interface KubeTestCluster {
  /** `https://127.0.0.1:<port>`. */
  server: string;
  /** Path of a kubeconfig for the admin user (group system:masters). */
  kubeconfig: string;
  /** The admin's typed clients. */
  admin: AdminClients;
  dir: string;
  /** Writes a kubeconfig that authenticates with `token` and returns its path. */
  writeKubeconfig(name: string, token: string): Promise<string>;
  /** Sets a Deployment's status as if its controller and kubelets had rolled it out (no pods exist here). */
  markRolledOut(namespace: string, name: string): Promise<void>;
  /** Stops kube-apiserver, then etcd, then removes the temp dir. */
  stop(): Promise<void>;
}

/** Typed clients of the admin user. */
export interface AdminClients {
  k8s: typeof K8s;
  kc: K8s.KubeConfig;
  core: K8s.CoreV1Api;
  apps: K8s.AppsV1Api;
  rbac: K8s.RbacAuthorizationV1Api;
  custom: K8s.CustomObjectsApi;
  objects: K8s.KubernetesObjectApi;
}

/** Options of {@link startKubeApiserver}. */
export interface KubeTestOptions {
  /** Override the binaries (default: provisioned by scripts/kube-binaries.ts, built once and cached). */
  kubeApiserver?: string;
  etcd?: string;
  /** Bound of the whole start, etcd + apiserver + CRDs (ms). */
  readyTimeoutMs?: number;
}

/** Starts etcd, kube-apiserver and installs the Gateway API CRDs; retries on a port clash. */
export async function startKubeApiserver(options: KubeTestOptions = {}): Promise<KubeTestCluster> {
  const assets = await ensureKubeTestAssets();
  const kubeApiserver = options.kubeApiserver ?? assets.kubeApiserver;
  const etcd = options.etcd ?? assets.etcd;
  return retryOnPortClash(() => startOnce(kubeApiserver, etcd, assets.gatewayApiCrds, options.readyTimeoutMs ?? 60_000), /address already in use|bind: address/i);
}

function startOnce(kubeApiserver: string, etcdBinary: string, crds: string[], readyTimeoutMs: number): Promise<KubeTestCluster> {
  const deadline = Date.now() + readyTimeoutMs;
  let etcd: ManagedProcess | undefined;
  let apiserver: ManagedProcess | undefined;
  const stopBoth = async (): Promise<void> => {
    await apiserver?.stop();
    await etcd?.stop();
  };
  return startInTempDir('phoenix-kube-', async (dir) => {
    try {
      const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
      const etcdUrl = `http://127.0.0.1:${etcdPort}`;
      etcd = await startManagedProcess({
        name: `etcd (${etcdBinary})`,
        command: etcdBinary,
        args: [
          '--name=default',
          `--data-dir=${path.join(dir, 'etcd')}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
          '--log-level=warn',
        ],
        ready: () => httpOk(`${etcdUrl}/health`),
        readyTimeoutMs: Math.max(1000, deadline - Date.now()),
      });

      const adminToken = randomBytes(24).toString('hex');
      const tokenFile = path.join(dir, 'tokens.csv');
      await writeFile(tokenFile, `${adminToken},phoenix-admin,phoenix-admin,"system:masters"\n`, { mode: 0o600 });
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const saPub = path.join(dir, 'sa.pub');
      const saKey = path.join(dir, 'sa.key');
      await writeFile(saPub, publicKey.export({ type: 'spki', format: 'pem' }));
      await writeFile(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      const certDir = path.join(dir, 'certs');
      const server = `https://127.0.0.1:${apiPort}`;
      apiserver = await startManagedProcess({
        name: `kube-apiserver (${kubeApiserver})`,
        command: kubeApiserver,
        args: [
          `--etcd-servers=${etcdUrl}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${apiPort}`,
          // No --tls-cert-file: the apiserver writes a self-signed serving cert for 127.0.0.1 here.
          `--cert-dir=${certDir}`,
          `--token-auth-file=${tokenFile}`,
          '--authorization-mode=RBAC',
          `--service-account-key-file=${saPub}`,
          `--service-account-signing-key-file=${saKey}`,
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          '--service-cluster-ip-range=10.96.0.0/16',
          '--allow-privileged=false',
          // Nothing here creates pods, and ServiceAccount admission would wait for the token controller.
          '--disable-admission-plugins=ServiceAccount',
          '--enable-priority-and-fairness=false',
          '--v=0',
        ],
        ready: () => readyz(server, adminToken),
        readyTimeoutMs: Math.max(1000, deadline - Date.now()),
      });

      const ca = await readFile(path.join(certDir, 'apiserver.crt'), 'utf8');
      const writeKubeconfig = async (name: string, token: string): Promise<string> => {
        const file = path.join(dir, `${name}.kubeconfig`);
        await writeFile(file, kubeconfigYaml(server, ca, token, name), { mode: 0o600 });
        return file;
      };
      const kubeconfig = await writeKubeconfig('admin', adminToken);
      const admin = await adminClients(kubeconfig);
      await installCrds(admin, crds, deadline);
      const proc: ManagedProcess = {
        pid: apiserver.pid,
        output: () => apiserver?.output() ?? '',
        exited: () => apiserver?.exited() ?? true,
        stop: stopBoth,
      };
      return {
        process: proc,
        fields: {
          server,
          kubeconfig,
          admin,
          writeKubeconfig,
          markRolledOut: (namespace: string, name: string) => markRolledOut(admin, namespace, name),
        },
      };
    } catch (err) {
      await stopBoth();
      throw err;
    }
  });
}

/** GET /readyz with the admin token; the serving cert is not known until the server wrote it. */
function readyz(server: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = https.get(
      `${server}/readyz`,
      { headers: { Authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    request.on('error', () => resolve(false));
    request.on('timeout', () => request.destroy());
  });
}

function kubeconfigYaml(server: string, ca: string, token: string, user: string): string {
  // JSON is valid YAML, and client-node's loader accepts it.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': Buffer.from(ca).toString('base64') } }],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: user, context: { cluster: 'test', user } }],
      'current-context': user,
    },
    null,
    2,
  );
}

async function adminClients(kubeconfig: string): Promise<AdminClients> {
  const k8s = await loadClientNode();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    k8s,
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    rbac: kc.makeApiClient(k8s.RbacAuthorizationV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  };
}

async function installCrds(admin: AdminClients, files: string[], deadline: number): Promise<void> {
  if (files.length === 0) throw new Error('no Gateway API CRD files were provisioned');
  const ext = admin.kc.makeApiClient(admin.k8s.ApiextensionsV1Api);
  const names: string[] = [];
  for (const file of files) {
    for (const doc of admin.k8s.loadAllYaml(await readFile(file, 'utf8')) as K8s.V1CustomResourceDefinition[]) {
      if (doc?.kind !== 'CustomResourceDefinition') continue;
      await ext.createCustomResourceDefinition({ body: doc });
      names.push(doc.metadata?.name ?? '');
    }
  }
  for (const name of names) {
    for (;;) {
      const crd = await ext.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not established before the start deadline`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Writes a Deployment's status as a controller would once every replica is updated and ready. */
export async function markRolledOut(admin: AdminClients, namespace: string, name: string): Promise<void> {
  const deployment = await admin.apps.readNamespacedDeployment({ name, namespace });
  const replicas = deployment.spec?.replicas ?? 1;
  const now = new Date();
  deployment.status = {
    observedGeneration: deployment.metadata?.generation ?? 1,
    replicas,
    updatedReplicas: replicas,
    readyReplicas: replicas,
    availableReplicas: replicas,
    conditions:
      replicas > 0
        ? [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'status set by the test', lastTransitionTime: now, lastUpdateTime: now }]
        : [],
  };
  // replace with the read resourceVersion: a concurrent spec change makes this a 409, and the
  // controller loop below simply tries again on its next pass.
  await admin.apps.replaceNamespacedDeploymentStatus({ name, namespace, body: deployment });
}

/** A background loop that marks every Deployment of a namespace rolled out once its spec changes. */
export interface FakeRolloutController {
  /** Deployments the loop leaves alone (to test timeouts and unhealthy canaries). */
  hold: Set<string>;
  /** How many status writes it made. */
  writes(): number;
  stop(): Promise<void>;
}

/**
 * Stands in for kube-controller-manager plus kubelets: every `intervalMs` it lists the namespace's
 * Deployments and, for each whose status lags its spec, writes a rolled-out status.
 */
export function startFakeRolloutController(admin: AdminClients, namespace: string, intervalMs = 100): FakeRolloutController {
  const hold = new Set<string>();
  let stopped = false;
  let writes = 0;
  const loop = (async () => {
    while (!stopped) {
      try {
        const list = await admin.apps.listNamespacedDeployment({ namespace });
        for (const d of list.items) {
          const name = d.metadata?.name ?? '';
          if (hold.has(name)) continue;
          const replicas = d.spec?.replicas ?? 1;
          const s = d.status ?? {};
          const lagging =
            (s.observedGeneration ?? 0) < (d.metadata?.generation ?? 0) ||
            (s.readyReplicas ?? 0) !== replicas ||
            (s.updatedReplicas ?? 0) !== replicas ||
            (s.replicas ?? 0) !== replicas;
          if (lagging) {
            await markRolledOut(admin, namespace, name).then(
              () => writes++,
              () => undefined,
            );
          }
        }
      } catch {
        /* the namespace may be going away; try again next tick */
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    hold,
    writes: () => writes,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
