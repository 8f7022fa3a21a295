/**
 * The compose stack (docker-compose.yml, Dockerfile, deploy/): validated by Debian's
 * `docker-compose config` (there is no Docker engine to run it here) and checked structurally on
 * the configuration docker-compose itself resolved, so anchors and interpolation are applied.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { loadCatalog } from '../../catalog/catalog';
import { parseRolloutRequest } from '../../catalog/request';
import { resolveRequest } from '../../catalog/resolve';
import { loadRolloutSpecFile } from '../../rollout-spec/load';
import type { RolloutSpec } from '../../rollout-spec/types';
import { HAPROXY_NAMES } from '../../scripts/stack/config';
import { SEARCH_ATTRIBUTES } from '../../workflows/contract';

const ROOT = path.resolve(__dirname, '..', '..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
/** The compose stack's service catalog (mounted into the worker and the API). */
const CATALOG_DIR = path.join(ROOT, 'deploy', 'catalog');
const TOKEN_HASH = createHash('sha256').update('compose-test-token').digest('hex');
const GRAFANA_PASSWORD = 'compose-test-grafana-password';
const DEMO_TOKEN = 'compose-test-demo-admin-token';
/** Every variable compose requires, so a test can leave out exactly one. */
const REQUIRED_ENV = {
  PHOENIX_API_TOKEN_HASHES: TOKEN_HASH,
  GRAFANA_ADMIN_PASSWORD: GRAFANA_PASSWORD,
  DEMO_ADMIN_TOKEN: DEMO_TOKEN,
};

/** Services the stack must have (issue: Temporal on PostgreSQL, UI, observability, LB, Phoenix, demo). */
const REQUIRED_SERVICES = [
  'postgresql',
  'temporal',
  'temporal-admin-tools',
  'temporal-ui',
  'prometheus',
  'alertmanager',
  'grafana',
  'haproxy',
  'worker',
  'api',
  'demo-stable',
  'demo-canary',
];

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  container_name?: string;
  ports?: (string | { host_ip?: string; published?: number | string; target?: number })[];
  volumes?: (string | { type?: string; source?: string; target?: string; read_only?: boolean })[];
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }> | string[];
  group_add?: (string | number)[];
  networks?: Record<string, unknown> | string[];
  healthcheck?: { test?: string[] | string };
}

function findDockerCompose(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, 'docker-compose');
    if (dir && existsSync(file)) return file;
  }
  return undefined;
}

const dockerCompose = findDockerCompose();
const SKIP = dockerCompose
  ? false
  : 'docker-compose is not installed (Debian: apt-get install docker-compose; .ci/run installs it)';

/** Runs docker-compose on the repo's file with a controlled environment. */
function compose(args: string[], env: Record<string, string | undefined> = {}) {
  const base = { ...process.env };
  // The host's own settings must not leak into what the test checks.
  for (const key of Object.keys(base)) {
    if (key.startsWith('PHOENIX_') || key.startsWith('TEMPORAL_') || key in REQUIRED_ENV) delete base[key];
  }
  const merged: NodeJS.ProcessEnv = { ...base, COMPOSE_PROJECT_NAME: 'phoenix-compose-test' };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete merged[k];
    else merged[k] = v;
  }
  return spawnSync(dockerCompose as string, ['-f', COMPOSE_FILE, ...args], { cwd: ROOT, env: merged, encoding: 'utf8' });
}

let resolvedCache: { services: Record<string, Service> } | undefined;
/** The configuration as docker-compose resolved it (merge keys, defaults, absolute paths). */
function resolved(): { services: Record<string, Service> } {
  if (!resolvedCache) {
    const r = compose(['config'], REQUIRED_ENV);
    assert.equal(r.status, 0, r.stderr);
    resolvedCache = parse(r.stdout) as { services: Record<string, Service> };
  }
  return resolvedCache;
}

const commandOf = (s: Service): string[] => (Array.isArray(s.command) ? s.command : s.command ? [s.command] : []);

/**
 * What a pipeline sends (`{service, canary}`), resolved against deploy/catalog as the worker and
 * the API do: the spec a compose rollout of checkout runs.
 */
function composeCatalogSpec(): RolloutSpec {
  const request = parseRolloutRequest({ service: 'checkout', canary: 'v2' });
  assert.ok(request.success, JSON.stringify(!request.success && request.issues));
  const resolvedSpec = resolveRequest(loadCatalog(CATALOG_DIR), request.request);
  assert.ok(resolvedSpec.ok, JSON.stringify(!resolvedSpec.ok && resolvedSpec.issues));
  return resolvedSpec.spec;
}

test('docker-compose config -q accepts the file', { skip: SKIP }, () => {
  const r = compose(['config', '-q'], REQUIRED_ENV);
  assert.equal(r.status, 0, `docker-compose config -q failed:\n${r.stderr}`);
});

for (const name of Object.keys(REQUIRED_ENV)) {
  test(`without ${name} compose refuses to start and names the variable`, { skip: SKIP }, () => {
    for (const value of [undefined, '']) {
      const r = compose(['config', '-q'], { ...REQUIRED_ENV, [name]: value });
      assert.notEqual(r.status, 0, `compose started with ${name}=${JSON.stringify(value)}`);
      assert.match(r.stderr, new RegExp(`set ${name}`));
    }
  });
}

test('a broken compose file fails the same check (the check can fail)', { skip: SKIP }, (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'phoenix-compose-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const broken = path.join(dir, 'docker-compose.yml');
  writeFileSync(broken, readFileSync(COMPOSE_FILE, 'utf8').replace('condition: service_completed_successfully', 'condition: service_maybe'));
  const r = spawnSync(dockerCompose as string, ['-f', broken, 'config', '-q'], {
    cwd: ROOT,
    env: { ...process.env, ...REQUIRED_ENV },
    encoding: 'utf8',
  });
  assert.notEqual(r.status, 0, 'docker-compose accepted an invalid depends_on condition');
});

test('every service the issue lists exists; images are pinned', { skip: SKIP }, () => {
  const { services } = resolved();
  for (const name of REQUIRED_SERVICES) assert.ok(services[name], `service ${name} is missing`);
  for (const [name, s] of Object.entries(services)) {
    assert.ok(s.image, `${name}: no image`);
    if (s.build) continue; // built from this repo's Dockerfile
    const tag = /:([^/:]+)$/.exec(s.image)?.[1];
    assert.ok(tag && tag !== 'latest', `${name}: image ${s.image} must carry a pinned tag`);
  }
});

test('Temporal runs on PostgreSQL and the admin-tools one-shot registers every Phoenix search attribute', { skip: SKIP }, () => {
  const { services } = resolved();
  const temporal = services.temporal as Service;
  assert.match(temporal.image ?? '', /^temporalio\/auto-setup:/);
  assert.match(String(temporal.environment?.DB), /^postgres12/);
  assert.equal(temporal.environment?.POSTGRES_SEEDS, 'postgresql');
  assert.match(services.postgresql?.image ?? '', /^postgres:16(\.|$)/);
  assert.deepEqual((temporal.depends_on as Record<string, { condition: string }>).postgresql, { condition: 'service_healthy' });
  assert.ok(temporal.healthcheck?.test, 'temporal needs a healthcheck for the services waiting on it');

  const admin = services['temporal-admin-tools'] as Service;
  assert.match(admin.image ?? '', /^temporalio\/admin-tools:/);
  const script = commandOf(admin).join('\n');
  assert.match(script, /temporal operator search-attribute create/);
  // The attribute list in the script is the one workflows/messages.ts defines, name and type.
  const pairs = [...script.matchAll(/\b(Phoenix\w+):(\w+)\b/g)].map((m) => [m[1], m[2]]);
  assert.deepEqual(Object.fromEntries(pairs), { ...SEARCH_ATTRIBUTES });

  for (const name of ['worker', 'api']) {
    const deps = services[name]?.depends_on as Record<string, { condition: string }>;
    assert.deepEqual(deps['temporal-admin-tools'], { condition: 'service_completed_successfully' }, `${name} must start after the search attributes exist`);
  }
  assert.equal(services['temporal-ui']?.environment?.TEMPORAL_ADDRESS, 'temporal:7233');
});

test('every published port binds 127.0.0.1', { skip: SKIP }, () => {
  const { services } = resolved();
  let published = 0;
  for (const [name, s] of Object.entries(services)) {
    for (const p of s.ports ?? []) {
      published++;
      if (typeof p === 'string') {
        // ip:host:container[/proto]; anything shorter binds every interface.
        assert.match(p, /^127\.0\.0\.1:\d+:\d+(\/tcp|\/udp)?$/, `${name}: port ${p} is not bound to 127.0.0.1`);
      } else {
        assert.equal(p.host_ip, '127.0.0.1', `${name}: port ${JSON.stringify(p)} is not bound to 127.0.0.1`);
      }
    }
  }
  assert.ok(published >= 8, `expected the stack's UIs and APIs to be published, found ${published} ports`);
});

test('workers scale horizontally: no container_name anywhere, no published worker port', { skip: SKIP }, () => {
  const { services } = resolved();
  for (const [name, s] of Object.entries(services)) assert.equal(s.container_name, undefined, `${name} sets container_name`);
  const worker = services.worker as Service;
  assert.deepEqual(worker.ports ?? [], []);
  assert.deepEqual(commandOf(worker).slice(-1), ['worker/main.ts']);
});

test('in-network listeners are explicit 0.0.0.0 (our defaults are 127.0.0.1)', { skip: SKIP }, () => {
  const { services } = resolved();
  const env = (name: string) => services[name]?.environment ?? {};
  assert.equal(env('worker').PHOENIX_METRICS_ADDR, '0.0.0.0:9464');
  assert.equal(env('worker').PHOENIX_SDK_METRICS_ADDR, '0.0.0.0:9465');
  assert.equal(env('worker').TEMPORAL_ADDRESS, 'temporal:7233');
  assert.equal(env('worker').TEMPORAL_NAMESPACE, 'default');
  assert.equal(env('api').PHOENIX_API_ADDR, '0.0.0.0:8088');
  assert.equal(env('api').PHOENIX_API_TOKEN_HASHES, TOKEN_HASH);
  for (const name of ['demo-stable', 'demo-canary']) {
    const cmd = commandOf(services[name] as Service);
    assert.equal(cmd[cmd.indexOf('--host') + 1], '0.0.0.0', `${name} must listen on the container network`);
  }
  // Secrets and TLS paths pass through only when set on the host (null = taken from the shell).
  assert.ok('TEMPORAL_API_KEY' in env('worker') && env('worker').TEMPORAL_API_KEY == null);
});

test('Temporal Cloud settings reach worker and API from the shell', { skip: SKIP }, () => {
  const r = compose(['config'], {
    ...REQUIRED_ENV,
    TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
    TEMPORAL_NAMESPACE: 'ns.acct',
    TEMPORAL_API_KEY: 'k',
  });
  assert.equal(r.status, 0, r.stderr);
  const { services } = parse(r.stdout) as { services: Record<string, Service> };
  for (const name of ['worker', 'api']) {
    assert.equal(services[name]?.environment?.TEMPORAL_ADDRESS, 'ns.acct.tmprl.cloud:7233');
    assert.equal(services[name]?.environment?.TEMPORAL_NAMESPACE, 'ns.acct');
    assert.equal(services[name]?.environment?.TEMPORAL_API_KEY, 'k');
  }
});

test('bind-mounted config files exist in the repo', { skip: SKIP }, () => {
  const { services } = resolved();
  let mounts = 0;
  for (const [name, s] of Object.entries(services)) {
    for (const v of s.volumes ?? []) {
      const source = typeof v === 'string' ? v.split(':')[0] : v.type === 'bind' ? v.source : undefined;
      if (!source?.startsWith('/')) continue; // named volume
      mounts++;
      assert.ok(source.startsWith(ROOT + path.sep), `${name}: mounts ${source} from outside the repo`);
      assert.ok(existsSync(source), `${name}: mounted ${path.relative(ROOT, source)} does not exist`);
    }
  }
  assert.ok(mounts >= 7, `expected the deploy/ config mounts, found ${mounts}`);
});

test("HAProxy, Prometheus and the catalog's checkout point at services that exist, on the ports they listen on", { skip: SKIP }, () => {
  const { services } = resolved();
  const portOf = (name: string) => {
    const cmd = commandOf(services[name] as Service);
    return Number(cmd[cmd.indexOf('--port') + 1]);
  };

  const haproxy = readFileSync(path.join(ROOT, 'deploy', 'haproxy', 'haproxy.cfg'), 'utf8');
  assert.match(haproxy, new RegExp(`^backend ${HAPROXY_NAMES.backend}$`, 'm'));
  assert.match(haproxy, new RegExp(`^\\s+server ${HAPROXY_NAMES.stableServer} demo-stable:${portOf('demo-stable')} weight 100 check`, 'm'));
  assert.match(haproxy, new RegExp(`^\\s+server ${HAPROXY_NAMES.canaryServer} demo-canary:${portOf('demo-canary')} weight 0 check`, 'm'));
  assert.match(haproxy, /^\s+stats socket \/var\/lib\/haproxy\/admin\.sock mode 660 level admin$/m);

  const prom = parse(readFileSync(path.join(ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as {
    scrape_configs: { job_name: string; static_configs?: { targets: string[] }[]; dns_sd_configs?: { names: string[] }[] }[];
  };
  for (const job of prom.scrape_configs) {
    const hosts = [
      ...(job.static_configs ?? []).flatMap((c) => c.targets.map((t) => t.split(':')[0] as string)),
      ...(job.dns_sd_configs ?? []).flatMap((c) => c.names),
    ];
    for (const host of hosts) {
      assert.ok(host === 'localhost' || services[host], `prometheus job ${job.job_name} scrapes ${host}, which is no compose service`);
    }
  }

  const spec = composeCatalogSpec();
  assert.ok(spec.traffic.kind === 'haproxy');
  assert.equal(spec.traffic.runtimeApi, '/run/haproxy/admin.sock');
  assert.equal(spec.traffic.backend, HAPROXY_NAMES.backend);
  assert.equal(spec.traffic.stableServer, HAPROXY_NAMES.stableServer);
  assert.equal(spec.traffic.canaryServer, HAPROXY_NAMES.canaryServer);
  for (const url of [spec.metrics.prometheusUrl, spec.alerts?.alertmanagerUrl]) {
    assert.ok(url && services[new URL(url).hostname], `${url} is not a compose service`);
  }
  // The health check asks the canary container on the port it listens on.
  assert.ok(spec.platform.kind === 'command', `platform ${spec.platform.kind}`);
  assert.match(spec.platform.healthCheck.join(' '), new RegExp(`http://demo-canary:${portOf('demo-canary')}/healthz`));
  // The versions are the ones the demo containers run.
  assert.ok(commandOf(services['demo-stable'] as Service).includes(spec.stable.version));
  assert.ok(commandOf(services['demo-canary'] as Service).includes(spec.canary.version));
});

/** A service's mounts; a named volume's source has no leading "/". */
function mountsOf(s: Service | undefined): { source: string; target: string; readOnly: boolean }[] {
  return (s?.volumes ?? []).flatMap((v) => {
    if (typeof v !== 'string') return v.source && v.target ? [{ source: v.source, target: v.target, readOnly: v.read_only === true }] : [];
    const [source, target, mode = ''] = v.split(':');
    return source && target ? [{ source, target, readOnly: mode.split(',').includes('ro') }] : [];
  });
}

/** Container ports a service publishes on the host. */
function publishedTargets(s: Service | undefined): number[] {
  return (s?.ports ?? []).map((p) => (typeof p === 'string' ? Number(p.split('/')[0]?.split(':').at(-1)) : Number(p.target)));
}

/**
 * Everything that would let a container other than haproxy and the worker reach HAProxy's runtime
 * API (admin level); [] when it is only a unix socket on a named volume that just those two mount,
 * published nowhere, and `runtimeApi` (the catalog router's) is that socket as the worker sees it.
 */
function runtimeApiProblems(services: Record<string, Service>, haproxyCfg: string, runtimeApi: string): string[] {
  const problems: string[] = [];
  const sockets = [...haproxyCfg.matchAll(/^\s*stats\s+socket\s+(\S+)(.*)$/gm)];
  if (sockets.length === 0) problems.push('haproxy.cfg has no stats socket');
  if (/^\s*bind\b.*\blevel\s+(admin|operator)\b/m.test(haproxyCfg)) problems.push('a bind line exposes the runtime API');
  const haproxy = services.haproxy;
  const worker = services.worker;
  for (const [, socketPath = '', options = ''] of sockets) {
    if (!socketPath.startsWith('/')) {
      problems.push(`stats socket ${socketPath} is a network address, not a unix socket`);
      continue;
    }
    const mount = mountsOf(haproxy).find((m) => !m.source.startsWith('/') && path.posix.dirname(socketPath) === m.target);
    if (!mount) {
      problems.push(`the socket ${socketPath} is not on a named volume mounted by haproxy`);
      continue;
    }
    const mounters = Object.entries(services)
      .filter(([, svc]) => mountsOf(svc).some((m) => m.source === mount.source))
      .map(([name]) => name)
      .sort();
    if (JSON.stringify(mounters) !== JSON.stringify(['haproxy', 'worker'])) {
      problems.push(`volume ${mount.source} (the runtime API socket) is mounted by ${mounters.join(', ')}, not exactly haproxy and worker`);
    }
    const workerMount = mountsOf(worker).find((m) => m.source === mount.source);
    const expected = workerMount && path.posix.join(workerMount.target, path.posix.basename(socketPath));
    if (runtimeApi !== expected) problems.push(`the spec's runtimeApi ${runtimeApi} is not the socket as the worker sees it (${expected})`);
    // Connecting to a unix socket needs write permission. Others: none; the group: the worker's.
    const mode = /\bmode\s+([0-7]{3,4})\b/.exec(options)?.[1];
    const writable = (digit: string | undefined) => (Number(digit) & 2) !== 0;
    if (!mode || writable(mode.at(-1))) {
      problems.push(`the socket mode ${mode ?? '(default)'} lets every local user write to it`);
    } else if (!writable(mode.at(-2))) {
      problems.push(`the socket mode ${mode} leaves the worker (another user) out`);
    } else if (!worker?.group_add?.map(String).includes('99')) {
      problems.push("the worker is not in the haproxy image's group (gid 99) that owns the socket");
    }
  }
  // The runtime API must not be published either: haproxy publishes its frontends only.
  const frontendPorts = new Set([...haproxyCfg.matchAll(/^\s*bind\s+\S*:(\d+)/gm)].map((m) => Number(m[1])));
  for (const port of publishedTargets(haproxy)) {
    if (!frontendPorts.has(port)) problems.push(`haproxy publishes port ${port}, which is no frontend`);
  }
  return problems;
}

function composeSpecRuntimeApi(): string {
  const spec = composeCatalogSpec();
  assert.ok(spec.traffic.kind === 'haproxy');
  return spec.traffic.runtimeApi;
}

test("HAProxy's runtime API is a unix socket on a volume only haproxy and the worker mount", { skip: SKIP }, () => {
  const { services } = resolved();
  const cfg = readFileSync(path.join(ROOT, 'deploy', 'haproxy', 'haproxy.cfg'), 'utf8');
  assert.deepEqual(runtimeApiProblems(services, cfg, composeSpecRuntimeApi()), []);
  assert.deepEqual(publishedTargets(services.haproxy).sort(), [8080, 8405]);
  // The frontend still denies /admin (defence in depth besides the demo's admin token).
  assert.match(cfg, /^\s+http-request deny deny_status 403 if \{ path_beg \/admin \}$/m);
});

test('the runtime API check fails for a service mounting the socket, a TCP socket, a published port or a wrong spec', { skip: SKIP }, () => {
  const { services } = resolved();
  const cfg = readFileSync(path.join(ROOT, 'deploy', 'haproxy', 'haproxy.cfg'), 'utf8');
  const spec = composeSpecRuntimeApi();
  const canary = services['demo-canary'] as Service;
  const sharing = { ...services, 'demo-canary': { ...canary, volumes: [...(canary.volumes ?? []), 'haproxy-runtime:/sock:rw'] } };
  assert.match(runtimeApiProblems(sharing, cfg, spec).join('\n'), /mounted by demo-canary, haproxy, worker/);
  const tcp = cfg.replace(/stats socket \S+/, 'stats socket ipv4@0.0.0.0:9999');
  assert.match(runtimeApiProblems(services, tcp, spec).join('\n'), /network address/);
  const haproxy = services.haproxy as Service;
  const published = { ...services, haproxy: { ...haproxy, ports: [...(haproxy.ports ?? []), '127.0.0.1:9999:9999/tcp'] } };
  assert.match(runtimeApiProblems(published, cfg, spec).join('\n'), /publishes port 9999/);
  assert.match(runtimeApiProblems(services, cfg, 'haproxy:9999').join('\n'), /not the socket as the worker sees it/);
  const open = cfg.replace(/(stats socket \S+ mode )660/, '$1666');
  assert.notEqual(open, cfg);
  assert.match(runtimeApiProblems(services, open, spec).join('\n'), /every local user/);
});

/**
 * Everything that keeps the worker and the API from resolving rollout requests against the
 * repo's deploy/catalog, or lets the worker run inline targets; [] when both set
 * PHOENIX_CATALOG_DIR to a read-only mount of deploy/catalog and no service turns inline targets on.
 */
function catalogProblems(services: Record<string, Service>): string[] {
  const problems: string[] = [];
  for (const name of ['worker', 'api']) {
    const dir = services[name]?.environment?.PHOENIX_CATALOG_DIR;
    if (!dir) {
      problems.push(`${name}: PHOENIX_CATALOG_DIR is not set`);
      continue;
    }
    const mount = mountsOf(services[name]).find((m) => m.target === dir);
    if (!mount) problems.push(`${name}: nothing is mounted at PHOENIX_CATALOG_DIR (${dir})`);
    else if (mount.source !== CATALOG_DIR) problems.push(`${name}: mounts ${mount.source} at ${dir}, not deploy/catalog`);
    else if (!mount.readOnly) problems.push(`${name}: the catalog is mounted read-write`);
  }
  for (const [name, svc] of Object.entries(services)) {
    // Also a bare `PHOENIX_ALLOW_INLINE_TARGETS:` (taken from the shell) would let it be turned on.
    if ('PHOENIX_ALLOW_INLINE_TARGETS' in (svc.environment ?? {})) problems.push(`${name}: sets PHOENIX_ALLOW_INLINE_TARGETS`);
  }
  return problems;
}

test('the worker and the API read the catalog deploy/catalog, mounted read-only; inline targets stay off', { skip: SKIP }, () => {
  const { services } = resolved();
  assert.deepEqual(catalogProblems(services), []);
  assert.equal(services.worker?.environment?.PHOENIX_CATALOG_DIR, services.api?.environment?.PHOENIX_CATALOG_DIR);
  // What the worker mounts is the catalog the tests resolve.
  const mounted = mountsOf(services.worker).find((m) => m.target === services.worker?.environment?.PHOENIX_CATALOG_DIR);
  assert.ok(mounted);
  assert.deepEqual([...loadCatalog(mounted.source).services.keys()], ['checkout']);
});

test('the catalog check fails for a missing mount or variable, another directory, a writable mount, inline targets', { skip: SKIP }, () => {
  const { services } = resolved();
  const worker = services.worker as Service;
  const api = services.api as Service;
  const catalogMount = (s: Service) => (s.volumes ?? []).filter((v) => JSON.stringify(v).includes(CATALOG_DIR));
  assert.equal(catalogMount(worker).length, 1);
  const withWorker = (w: Service) => ({ ...services, worker: w });
  const unmounted = { ...worker, volumes: (worker.volumes ?? []).filter((v) => !catalogMount(worker).includes(v)) };
  assert.match(catalogProblems(withWorker(unmounted)).join('\n'), /worker: nothing is mounted at PHOENIX_CATALOG_DIR/);
  const { PHOENIX_CATALOG_DIR: _dir, ...apiEnv } = api.environment ?? {};
  assert.match(catalogProblems({ ...services, api: { ...api, environment: apiEnv } }).join('\n'), /api: PHOENIX_CATALOG_DIR is not set/);
  const dir = String(worker.environment?.PHOENIX_CATALOG_DIR);
  const other = { ...unmounted, volumes: [...(unmounted.volumes ?? []), `${path.join(ROOT, 'examples', 'catalog')}:${dir}:ro`] };
  assert.match(catalogProblems(withWorker(other)).join('\n'), /worker: mounts .*examples\/catalog .*not deploy\/catalog/);
  const writable = { ...unmounted, volumes: [...(unmounted.volumes ?? []), `${CATALOG_DIR}:${dir}:rw`] };
  assert.match(catalogProblems(withWorker(writable)).join('\n'), /worker: the catalog is mounted read-write/);
  for (const value of ['true', null]) {
    const inline = { ...worker, environment: { ...worker.environment, PHOENIX_ALLOW_INLINE_TARGETS: value } };
    assert.match(catalogProblems(withWorker(inline)).join('\n'), /worker: sets PHOENIX_ALLOW_INLINE_TARGETS/);
  }
});

test("deploy/catalog loads and a pipeline's {service, canary} resolves to the compose stack's rollout", () => {
  const catalog = loadCatalog(CATALOG_DIR);
  assert.deepEqual([...catalog.services.keys()], ['checkout']);
  const spec = composeCatalogSpec();
  assert.equal(spec.service, 'checkout');
  assert.equal(spec.stable.version, 'v1');
  assert.equal(spec.canary.version, 'v2');
  assert.ok(spec.traffic.kind === 'haproxy');
  assert.equal(spec.traffic.runtimeApi, '/run/haproxy/admin.sock');
  assert.equal(spec.metrics.prometheusUrl, 'http://prometheus:9090');
  assert.equal(spec.alerts?.alertmanagerUrl, 'http://alertmanager:9093');
  // Compressed demo timings, every trigger of the demo.
  assert.deepEqual(spec.phases.map((p) => [p.weight, p.durationMs]), [[5, 20_000], [20, 20_000]]);
  assert.equal(spec.rollbackTriggers.length, 4);
  // A request cannot bring its own targets, and the catalog keeps its limits.
  const withTarget = parseRolloutRequest({ service: 'checkout', canary: 'v2', platform: { kind: 'command', deploy: ['sh'] } });
  assert.ok(!withTarget.success);
  assert.deepEqual(withTarget.issues.map((i) => i.path), ['platform']);
  const loose = parseRolloutRequest({ service: 'checkout', canary: 'v2', trafficControl: { phases: [{ percentage: 50, duration: '20s' }] } });
  assert.ok(loose.success);
  const refused = resolveRequest(catalog, loose.request);
  assert.ok(!refused.ok, 'a first phase of 50% passed the catalog limit maxFirstWeight 20');
  assert.match(refused.issues.map((i) => `${i.path}: ${i.message}`).join('\n'), /trafficControl\.phases\[0\]\.percentage: .*maxFirstWeight 20%/);
});

test('examples/compose-stack.yaml is the inline form of the catalog request (the two cannot drift apart)', async () => {
  const inline = await loadRolloutSpecFile(path.join(ROOT, 'examples', 'compose-stack.yaml'));
  assert.deepEqual(composeCatalogSpec(), inline);
});

test('Grafana has no default admin password and anonymous visitors are viewers only', { skip: SKIP }, () => {
  const env = resolved().services.grafana?.environment ?? {};
  // The password is the one from the shell (the test's), so there is no default behind it.
  assert.equal(env.GF_SECURITY_ADMIN_PASSWORD, GRAFANA_PASSWORD);
  assert.doesNotMatch(readFileSync(COMPOSE_FILE, 'utf8'), /GRAFANA_ADMIN_PASSWORD:-/);
  if (env.GF_AUTH_ANONYMOUS_ENABLED === 'true') assert.equal(env.GF_AUTH_ANONYMOUS_ORG_ROLE, 'Viewer');
  assert.equal(env.GF_USERS_ALLOW_SIGN_UP, 'false');
});

test('the demo services require an admin token from the shell; no other service gets it', { skip: SKIP }, () => {
  const { services } = resolved();
  const demos = Object.entries(services).filter(([, svc]) => commandOf(svc).includes('demo/service.ts'));
  assert.deepEqual(demos.map(([name]) => name).sort(), ['demo-canary', 'demo-stable']);
  for (const [name, svc] of demos) assert.equal(svc.environment?.DEMO_ADMIN_TOKEN, DEMO_TOKEN, `${name} runs without the admin token`);
  for (const [name, svc] of Object.entries(services)) {
    if (!demos.some(([demo]) => demo === name)) assert.ok(!('DEMO_ADMIN_TOKEN' in (svc.environment ?? {})), `${name} gets DEMO_ADMIN_TOKEN`);
  }
});

test('Dockerfile: node:20-slim, npm ci, non-root user; .dockerignore keeps local state out', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
  assert.ok(froms.length > 0, 'no FROM line');
  for (const from of froms) assert.equal(from, 'node:20-slim');
  assert.match(dockerfile, /^RUN npm ci\b/m);
  const users = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
  assert.ok(users.length > 0, 'the image must drop root');
  assert.ok(!['root', '0', '0:0'].includes(users.at(-1) as string), `last USER is ${users.at(-1)}`);
  for (const m of dockerfile.matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm)) {
    for (const src of (m[1] as string).split(/\s+/).filter((s) => !s.startsWith('--') && s !== '.')) {
      assert.ok(existsSync(path.join(ROOT, src)), `Dockerfile copies ${src}, which does not exist`);
    }
  }
  const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const entry of ['node_modules', '.git', '.stack', '.env']) assert.ok(ignore.includes(entry), `.dockerignore lacks ${entry}`);
});
