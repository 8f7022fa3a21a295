/**
 * Finds or builds what the Kubernetes tests need to run a real API server on 127.0.0.1 (the
 * envtest pattern): `kube-apiserver`, `etcd`, and the Gateway API CRD manifests.
 *
 * Neither binary can be `go install`ed (their modules carry `replace` directives), so each is built
 * from a small generated wrapper module in the cache. Search order for each binary: explicit env
 * path (PHOENIX_KUBE_APISERVER_PATH, PHOENIX_ETCD_PATH) → `<cache>/bin/<name>-<version>` → build
 * with Go through the module proxy → (etcd only) an `etcd` on PATH such as Debian's `etcd-server`.
 * Everything is keyed by version, so a second run is instant; builds run under a lock file so
 * parallel test processes build once.
 *
 * Run as a script (`tsx scripts/kube-binaries.ts`) it ensures all three and prints their paths.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { withLock } from './file-lock';
import { ProvisionError } from './provision';
import { runCommand } from './run-command';

/**
 * Pinned kube-apiserver version. Checked through proxy.golang.org on 2026-12-01: v1.36.3 and
 * v1.37.2 are served, v1.36.6 is refused; the staging modules follow as v0.<minor>.<patch>.
 */
export const KUBERNETES_VERSION = 'v1.36.3';
/** Pinned etcd server module version (its go.mod needs Go 1.26, as does Kubernetes 1.36). */
export const ETCD_VERSION = 'v3.6.16';
/** Gateway API release whose standard CRDs are installed; v1.7.0's module needs Go 1.27. */
export const GATEWAY_API_VERSION = 'v1.2.1';
/** Repository root (this file lives in `<root>/scripts/`). */
export const REPO_ROOT = path.resolve(__dirname, '..');

/** Thrown when a Kubernetes test binary can be neither found nor built; the message says what to do. */
export class KubeProvisionError extends ProvisionError {
  override readonly name = 'KubeProvisionError';
}

/** Where and how to look; every field has a default, tests override them. */
export interface KubeProvisionOptions {
  /** Environment to read (PHOENIX_KUBE_APISERVER_PATH, PHOENIX_ETCD_PATH, PATH, PHOENIX_CACHE_DIR, GOFLAGS). */
  env?: NodeJS.ProcessEnv;
  /** Cache root; default `PHOENIX_CACHE_DIR` or `<repo>/.cache`. */
  cacheDir?: string;
  /** Progress sink; only called when something is actually built. Default: stderr. */
  log?: (message: string) => void;
}

/** What {@link ensureKubeTestAssets} provides. */
export interface KubeTestAssets {
  kubeApiserver: string;
  etcd: string;
  /** Absolute paths of the Gateway API standard-channel CRD manifests. */
  gatewayApiCrds: string[];
}

interface Resolved {
  env: NodeJS.ProcessEnv;
  cacheDir: string;
  binDir: string;
  log: (message: string) => void;
}

function resolveOptions(options: KubeProvisionOptions = {}): Resolved {
  const env = options.env ?? process.env;
  const cacheDir = path.resolve(options.cacheDir ?? (env.PHOENIX_CACHE_DIR?.trim() || path.join(REPO_ROOT, '.cache')));
  return {
    env,
    cacheDir,
    binDir: path.join(cacheDir, 'bin'),
    log: options.log ?? ((message) => process.stderr.write(`[provision] ${message}\n`)),
  };
}

/** Returns kube-apiserver, etcd and the Gateway API CRDs, building what is missing. */
export async function ensureKubeTestAssets(options?: KubeProvisionOptions): Promise<KubeTestAssets> {
  // Sequential on purpose: both builds are CPU-bound and the machines this runs on have few cores.
  const kubeApiserver = await ensureKubeApiserver(options);
  const etcd = await ensureEtcd(options);
  const gatewayApiCrds = await ensureGatewayApiCrds(options);
  return { kubeApiserver, etcd, gatewayApiCrds };
}

/** Path of a kube-apiserver at {@link KUBERNETES_VERSION} (or the one PHOENIX_KUBE_APISERVER_PATH names). */
export async function ensureKubeApiserver(options?: KubeProvisionOptions): Promise<string> {
  const r = resolveOptions(options);
  const explicit = await fromEnv('PHOENIX_KUBE_APISERVER_PATH', r);
  if (explicit) return explicit;
  const target = path.join(r.binDir, `kube-apiserver-${KUBERNETES_VERSION}`);
  return cachedOrBuilt(target, r, 'kube-apiserver', () => buildKubeApiserver(target, r));
}

/** Path of an etcd: PHOENIX_ETCD_PATH, the cached or freshly built {@link ETCD_VERSION}, else `etcd` on PATH. */
export async function ensureEtcd(options?: KubeProvisionOptions): Promise<string> {
  const r = resolveOptions(options);
  const explicit = await fromEnv('PHOENIX_ETCD_PATH', r);
  if (explicit) return explicit;
  const target = path.join(r.binDir, `etcd-${ETCD_VERSION}`);
  try {
    return await cachedOrBuilt(target, r, 'etcd', () => buildEtcd(target, r));
  } catch (err) {
    // Debian's etcd-server (3.4.23) serves kube-apiserver 1.36 fine; use it when Go cannot build.
    const onPath = await findOnPath('etcd', r.env.PATH);
    if (onPath) {
      r.log(`could not build etcd (${firstLine(err)}); using ${onPath} from PATH`);
      return onPath;
    }
    throw err;
  }
}

/** The Gateway API standard CRD manifests of {@link GATEWAY_API_VERSION}, copied into the cache. */
export async function ensureGatewayApiCrds(options?: KubeProvisionOptions): Promise<string[]> {
  const r = resolveOptions(options);
  const dir = path.join(r.cacheDir, `gateway-api-${GATEWAY_API_VERSION}`, 'crd-standard');
  const existing = await listYaml(dir);
  if (existing.length > 0) return existing;
  return withLock(path.join(r.cacheDir, 'locks', 'gateway-api-crds.lock'), waitLogger(r, 'the Gateway API CRDs'), async () => {
    const raced = await listYaml(dir);
    if (raced.length > 0) return raced;
    const go = await requireGo(r);
    const info = await goModDownload(go, `sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}`, r);
    if (!info.Dir) throw new KubeProvisionError(`go mod download sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION} gave no Dir`);
    const source = path.join(info.Dir, 'config', 'crd', 'standard');
    const tmp = `${dir}.tmp-${process.pid}`;
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.mkdir(tmp, { recursive: true });
    for (const name of await fs.readdir(source)) {
      if (name.endsWith('.yaml')) await fs.copyFile(path.join(source, name), path.join(tmp, name));
    }
    await fs.mkdir(path.dirname(dir), { recursive: true });
    await fs.rename(tmp, dir);
    return listYaml(dir);
  });
}

async function listYaml(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir))
      .filter((name) => name.endsWith('.yaml'))
      .sort()
      .map((name) => path.join(dir, name));
  } catch {
    return [];
  }
}

async function cachedOrBuilt(target: string, r: Resolved, label: string, build: () => Promise<void>): Promise<string> {
  if (await isExecutableFile(target)) return target;
  return withLock(path.join(r.cacheDir, 'locks', `${path.basename(target)}.lock`), waitLogger(r, label), async () => {
    if (await isExecutableFile(target)) return target;
    await fs.mkdir(r.binDir, { recursive: true });
    const started = Date.now();
    await build();
    r.log(`built ${target} in ${Math.round((Date.now() - started) / 1000)}s`);
    return target;
  });
}

function waitLogger(r: Resolved, label: string): (owner: string) => void {
  return (owner) => r.log(`waiting for another process (pid ${owner}) to provision ${label}`);
}

// ---------------------------------------------------------------------------------------------
// the two wrapper-module builds

/**
 * k8s.io/kubernetes pins its ~31 staging modules (k8s.io/api, client-go, ...) at v0.0.0 and points
 * them at ./staging with `replace`, which only the main module may do. A wrapper module that
 * requires k8s.io/kubernetes and replaces each of them with its published v0.<minor>.<patch> makes
 * the module graph resolvable.
 */
export function kubeWrapperGoMod(kubernetesGoMod: string, version: string = KUBERNETES_VERSION): string {
  const staging = stagingModules(kubernetesGoMod);
  if (staging.length === 0) throw new KubeProvisionError(`k8s.io/kubernetes@${version} go.mod pins no staging module at v0.0.0`);
  const goLine = /^go (\S+)$/m.exec(kubernetesGoMod)?.[1] ?? '1.26.0';
  const godebug = kubernetesGoMod.match(/^godebug .*$/gm) ?? [];
  const stagingVersion = version.replace(/^v1\./, 'v0.');
  return [
    'module phoenix.local/kube-apiserver-build',
    '',
    `go ${goLine}`,
    '',
    ...godebug,
    '',
    `require k8s.io/kubernetes ${version}`,
    '',
    'replace (',
    ...staging.map((mod) => `\t${mod} => ${mod} ${stagingVersion}`),
    ')',
    '',
  ].join('\n');
}

/** The module paths a go.mod requires at exactly v0.0.0 (Kubernetes' staging modules). */
export function stagingModules(goMod: string): string[] {
  const found = new Set<string>();
  for (const match of goMod.matchAll(/^\s*(?:require\s+)?(k8s\.io\/[^\s]+)\s+v0\.0\.0(?:\s|$)/gm)) {
    if (match[1]) found.add(match[1]);
  }
  return [...found].sort();
}

async function buildKubeApiserver(target: string, r: Resolved): Promise<void> {
  const go = await requireGo(r);
  const info = await goModDownload(go, `k8s.io/kubernetes@${KUBERNETES_VERSION}`, r);
  if (!info.GoMod) throw new KubeProvisionError(`go mod download k8s.io/kubernetes@${KUBERNETES_VERSION} gave no GoMod`);
  const goMod = kubeWrapperGoMod(await fs.readFile(info.GoMod, 'utf8'));
  const moduleDir = path.join(r.cacheDir, 'kube-build', `kube-apiserver-${KUBERNETES_VERSION}`);
  await fs.mkdir(moduleDir, { recursive: true });
  await fs.writeFile(path.join(moduleDir, 'go.mod'), goMod);
  const [major, minor] = KUBERNETES_VERSION.replace(/^v/, '').split('.');
  const pkg = 'k8s.io/component-base/version';
  // Without these, GET /version answers gitVersion "v0.0.0-master+$Format:%H$" and clients that
  // compare server versions (client-node's discovery, kubectl) misbehave.
  const ldflags = [
    '-s -w',
    `-X ${pkg}.gitVersion=${KUBERNETES_VERSION}`,
    `-X ${pkg}.gitMajor=${major ?? ''}`,
    `-X ${pkg}.gitMinor=${minor ?? ''}`,
    `-X ${pkg}.gitTreeState=clean`,
    `-X ${pkg}.buildDate=1970-01-01T00:00:00Z`,
  ].join(' ');
  r.log(`building kube-apiserver ${KUBERNETES_VERSION} from a wrapper module in ${moduleDir} — about 3 minutes on 2 cores`);
  await goBuild(go, moduleDir, target, 'k8s.io/kubernetes/cmd/kube-apiserver', ldflags, r);
}

async function buildEtcd(target: string, r: Resolved): Promise<void> {
  const go = await requireGo(r);
  const moduleDir = path.join(r.cacheDir, 'kube-build', `etcd-${ETCD_VERSION}`);
  await fs.mkdir(moduleDir, { recursive: true });
  await fs.writeFile(
    path.join(moduleDir, 'go.mod'),
    `module phoenix.local/etcd-build\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 ${ETCD_VERSION}\n`,
  );
  // etcd's own main (go.etcd.io/etcd/v3) is a one-liner over etcdmain; depending on server/v3
  // alone avoids the root module's replace directives.
  await fs.writeFile(
    path.join(moduleDir, 'main.go'),
    'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n',
  );
  r.log(`building etcd ${ETCD_VERSION} from a wrapper module in ${moduleDir} — about 40 s`);
  await goBuild(go, moduleDir, target, '.', '-s -w', r);
}

async function goBuild(go: string, moduleDir: string, target: string, pkg: string, ldflags: string, r: Resolved): Promise<void> {
  const tmp = `${target}.tmp-${process.pid}`;
  // -mod=mod lets the build write go.sum (and any missing indirect requirement) for the wrapper.
  const result = await run(go, ['build', '-mod=mod', '-trimpath', `-ldflags=${ldflags}`, '-o', tmp, pkg], {
    cwd: moduleDir,
    env: goEnv(r),
    timeoutMs: 45 * 60_000,
  });
  if (result.code !== 0) {
    await fs.rm(tmp, { force: true });
    throw new KubeProvisionError(`go build ${pkg} in ${moduleDir} failed (exit ${result.code}): ${lastLines(result.stderr)}`);
  }
  // Renamed into place so a concurrent reader never runs a half-written binary.
  await fs.chmod(tmp, 0o755);
  await fs.rename(tmp, target);
}

function goEnv(r: Resolved): NodeJS.ProcessEnv {
  const flags = [r.env.GOFLAGS?.trim() ?? '', '-modcacherw'].filter(Boolean).join(' ');
  // GOTOOLCHAIN=auto lets an older local Go fetch the 1.26 toolchain both go.mod files ask for.
  return { ...r.env, GOFLAGS: flags, GOTOOLCHAIN: r.env.GOTOOLCHAIN?.trim() || 'auto' };
}

interface ModuleInfo {
  Path?: string;
  Version?: string;
  GoMod?: string;
  Dir?: string;
  Error?: string;
}

async function goModDownload(go: string, moduleAtVersion: string, r: Resolved): Promise<ModuleInfo> {
  // Run from the cache so no surrounding go.mod (there is none in this repo, but a parent dir
  // might hold one) changes what is resolved.
  await fs.mkdir(r.cacheDir, { recursive: true });
  const result = await run(go, ['mod', 'download', '-json', moduleAtVersion], {
    cwd: r.cacheDir,
    env: { ...goEnv(r), GO111MODULE: 'on' },
    timeoutMs: 10 * 60_000,
  });
  let info: ModuleInfo = {};
  try {
    info = JSON.parse(result.stdout) as ModuleInfo;
  } catch {
    /* reported below */
  }
  if (result.code !== 0 || info.Error) {
    throw new KubeProvisionError(
      `go mod download ${moduleAtVersion} failed: ${info.Error ?? lastLines(result.stderr)} ` +
        `(the module proxy serves only some versions; the pinned ones were checked)`,
    );
  }
  return info;
}

async function requireGo(r: Resolved): Promise<string> {
  const go = await findOnPath('go', r.env.PATH);
  if (!go) {
    throw new KubeProvisionError(
      '`go` is not on PATH: install Go >= 1.22 (it fetches the 1.26 toolchain itself), or set ' +
        'PHOENIX_KUBE_APISERVER_PATH and PHOENIX_ETCD_PATH to prebuilt binaries',
    );
  }
  return go;
}

// ---------------------------------------------------------------------------------------------
// small helpers

async function fromEnv(variable: string, r: Resolved): Promise<string | undefined> {
  const value = r.env[variable]?.trim();
  if (!value) return undefined;
  const file = path.resolve(value);
  if (await isExecutableFile(file)) return file;
  throw new KubeProvisionError(`${variable}=${value} is not an executable file; fix or unset ${variable}`, variable);
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) return false;
    await fs.access(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(name: string, pathValue: string | undefined): Promise<string | undefined> {
  for (const dir of (pathValue ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.resolve(dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n').find((line) => line.trim() !== '') ?? message;
}

function lastLines(text: string, count = 15): string {
  return text.trim().split('\n').slice(-count).join('\n');
}

const run = runCommand;

async function main(): Promise<void> {
  const started = Date.now();
  const assets = await ensureKubeTestAssets();
  process.stdout.write(`kube-apiserver:       ${assets.kubeApiserver}\n`);
  process.stdout.write(`etcd:                 ${assets.etcd}\n`);
  process.stdout.write(`gateway-api CRDs:     ${path.dirname(assets.gatewayApiCrds[0] ?? '')}\n`);
  process.stdout.write(`kube assets ready in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`kube provisioning failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
