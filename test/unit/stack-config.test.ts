import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_PORTS, resolveStackConfig, stackPaths } from '../../scripts/stack/config';
import { alertmanagerConfig, haproxyConfig, prometheusConfig } from '../../scripts/stack/config-files';
import { renderDemoSpec } from '../../scripts/stack/demo-spec';
import { stackEndpoints } from '../../scripts/stack/endpoints';
import { STACK_PARTS, type StackContext } from '../../scripts/stack/parts';
import { temporalServerConfig, type PostgresTemporalPorts } from '../../scripts/temporal-postgres';
import { parseRolloutSpecText } from '../../rollout-spec/parse';

test('stack config: defaults, env port map, flag wins, bad input names the source', () => {
  const def = resolveStackConfig({}, {});
  assert.deepEqual(def.ports, DEFAULT_PORTS);
  assert.equal(path.basename(def.dir), '.stack');
  const env = { PHOENIX_STACK_PORTS: '{"haproxyFrontend": 18080}', PHOENIX_STACK_DIR: '/tmp/x' };
  const fromEnv = resolveStackConfig({}, env);
  assert.equal(fromEnv.ports.haproxyFrontend, 18080);
  assert.equal(fromEnv.ports.stable, DEFAULT_PORTS.stable);
  assert.equal(fromEnv.dir, '/tmp/x');
  assert.equal(resolveStackConfig({ ports: '{"haproxyFrontend": 18081}', dir: '/tmp/y' }, env).ports.haproxyFrontend, 18081);
  assert.throws(() => resolveStackConfig({}, { PHOENIX_STACK_PORTS: '{"frontend": 1}' }), /PHOENIX_STACK_PORTS: unknown port name\(s\) frontend/);
  assert.throws(() => resolveStackConfig({ ports: '{"stable": 70000}' }, {}), /--ports: stable/);
  assert.throws(() => resolveStackConfig({ ports: '{"stable": 8082}' }, {}), /canary and stable|stable and canary/);
  assert.throws(() => resolveStackConfig({ loadRate: '0' }, {}), /--load-rate/);
});

test('generated configs pass the real tools\' own checks', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'phoenix-stack-cfg-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const config = resolveStackConfig({ dir }, {});
  const paths = stackPaths(dir);

  const haproxyFile = path.join(dir, 'haproxy.cfg');
  const haproxyText = haproxyConfig(config, paths);
  await fs.writeFile(haproxyFile, haproxyText);
  assert.match(haproxyText, /server canary 127\.0\.0\.1:8082 weight 0 check/);
  assert.match(haproxyText, /stats socket ipv4@127\.0\.0\.1:9999 level admin/);
  assert.match(haproxyText, /bind 127\.0\.0\.1:8080\n/);
  const haproxy = spawnSync('/usr/sbin/haproxy', ['-c', '-f', haproxyFile], { encoding: 'utf8' });
  assert.equal(haproxy.status, 0, haproxy.stderr);

  const promFile = path.join(dir, 'prometheus.yml');
  await fs.writeFile(promFile, prometheusConfig(config));
  const promtool = spawnSync('promtool', ['check', 'config', promFile], { encoding: 'utf8' });
  assert.equal(promtool.status, 0, promtool.stderr + promtool.stdout);

  const amFile = path.join(dir, 'alertmanager.yml');
  await fs.writeFile(amFile, alertmanagerConfig());
  const amtool = spawnSync('amtool', ['check-config', amFile], { encoding: 'utf8' });
  assert.equal(amtool.status, 0, amtool.stderr + amtool.stdout);

  // A broken config must fail the same check (the check can fail).
  await fs.writeFile(haproxyFile, haproxyText.replace('balance roundrobin', 'balance nonsense'));
  assert.notEqual(spawnSync('/usr/sbin/haproxy', ['-c', '-f', haproxyFile]).status, 0);
});

test('the unix runtime socket is left out when its path is too long for a socket', () => {
  const longDir = `/tmp/${'d'.repeat(120)}`;
  const text = haproxyConfig(resolveStackConfig({ dir: longDir }, {}), stackPaths(longDir));
  assert.doesNotMatch(text, /haproxy\.sock/);
  assert.match(text, /stats socket ipv4@/);
});

test('both example specs parse; the rendered demo spec uses the stack\'s ports and dirs', async () => {
  for (const file of ['demo-stack.yaml', 'demo-stack-seed-timings.yaml']) {
    const text = await fs.readFile(path.join(__dirname, '..', '..', 'examples', file), 'utf8');
    const r = parseRolloutSpecText(text);
    assert.ok(r.success, `${file}: ${JSON.stringify(!r.success && r.issues)}`);
  }
  const dir = '/tmp/phoenix-demo-spec-test';
  const config = resolveStackConfig({ dir, ports: '{"canary": 18082, "haproxyRuntimeApi": 19999, "prometheus": 19090}' }, {});
  const r = parseRolloutSpecText(await renderDemoSpec(config, stackPaths(dir)));
  assert.ok(r.success);
  const spec = r.spec;
  assert.equal(spec.traffic.kind === 'haproxy' && spec.traffic.runtimeApi, '127.0.0.1:19999');
  assert.ok(spec.platform.kind === 'process');
  assert.equal(spec.platform.canaryPort, 18082);
  assert.equal(spec.platform.stateDir, path.join(dir, 'platform'));
  assert.ok(spec.platform.cwd && existsSync(path.join(spec.platform.cwd, 'demo', 'service.ts')));
  assert.equal(spec.metrics.prometheusUrl, 'http://127.0.0.1:19090');
  // Compressed demo timings.
  assert.equal(spec.warmup.durationMs, 5_000);
  assert.deepEqual(spec.phases.map((p) => [p.weight, p.durationMs]), [[5, 20_000], [20, 20_000]]);
  assert.equal(spec.fullRollout.intervalMs, 10_000);
  assert.equal(spec.analysisIntervalMs, 1_000);
  assert.equal(spec.gradualRollback.intervalMs, 3_000);
});

test('pools: --replicas 3,2 gives servers stable-1..3 and canary-1..2 on consecutive ports, scraped and in the demo spec', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'phoenix-stack-pools-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const config = resolveStackConfig({ dir, replicas: '3,2', ports: '{"canary": 8091}' }, {});
  assert.deepEqual(config.replicas, { stable: 3, canary: 2 });
  const paths = stackPaths(dir);
  const haproxyText = haproxyConfig(config, paths);
  for (const line of ['stable-1 127.0.0.1:8081 weight 100', 'stable-3 127.0.0.1:8083 weight 100', 'canary-2 127.0.0.1:8092 weight 0']) {
    assert.match(haproxyText, new RegExp(`server ${line} check`));
  }
  const haproxyFile = path.join(dir, 'haproxy.cfg');
  await fs.writeFile(haproxyFile, haproxyText);
  const haproxy = spawnSync('/usr/sbin/haproxy', ['-c', '-f', haproxyFile], { encoding: 'utf8' });
  assert.equal(haproxy.status, 0, haproxy.stderr);
  assert.match(prometheusConfig(config), /targets: \['127\.0\.0\.1:8091', '127\.0\.0\.1:8092'\]/);
  const r = parseRolloutSpecText(await renderDemoSpec(config, paths));
  assert.ok(r.success, JSON.stringify(!r.success && r.issues));
  assert.deepEqual(r.spec.traffic.kind === 'haproxy' && [r.spec.traffic.stableServers, r.spec.traffic.canaryServers], [{ prefix: 'stable-' }, { prefix: 'canary-' }]);
  assert.deepEqual(r.spec.platform.kind === 'process' && r.spec.platform.replicas, { stable: 3, canary: 2 });
  // Without a canary port, the canary pool starts after the stable pool's 8081-8083.
  assert.equal(resolveStackConfig({ dir, replicas: '3,2' }, {}).ports.canary, 8084);
  // A canary port inside the stable pool's range is refused, naming the port.
  assert.throws(() => resolveStackConfig({ dir, replicas: '3,2', ports: '{"canary": 8082}' }, {}), /stable instance 2 would use port 8082, which canary uses/);
  assert.throws(() => resolveStackConfig({ dir, replicas: '0' }, {}), /--replicas .*got "0"/);
});

test('--temporal: dev by default, postgres on request (flag over env), anything else refused naming the flag', () => {
  assert.equal(resolveStackConfig({}, {}).temporal, 'dev');
  assert.equal(resolveStackConfig({}, { PHOENIX_STACK_TEMPORAL: 'postgres' }).temporal, 'postgres');
  assert.equal(resolveStackConfig({ temporal: 'dev' }, { PHOENIX_STACK_TEMPORAL: 'postgres' }).temporal, 'dev');
  assert.throws(() => resolveStackConfig({ temporal: 'cassandra' }, {}), /--temporal \(env PHOENIX_STACK_TEMPORAL\): expected dev or postgres, got "cassandra"/);

  const dir = '/tmp/phoenix-stack-pg';
  const ctx = (temporal: string): StackContext => {
    const config = resolveStackConfig({ dir, temporal }, {});
    return { config, paths: stackPaths(dir), env: {}, binaries: () => assert.fail('no binaries needed') };
  };
  const enabled = (c: StackContext) => STACK_PARTS.filter((p) => p.enabled(c)).map((p) => p.name);
  assert.ok(!enabled(ctx('dev')).includes('postgres'), 'the dev stack runs no PostgreSQL');
  assert.ok(enabled(ctx('postgres')).includes('postgres'));
  // `down` goes in reverse: the Temporal server stops before the database it writes to.
  const names = STACK_PARTS.map((p) => p.name);
  assert.ok(names.indexOf('postgres') < names.indexOf('temporal'));
  const endpoints = stackEndpoints(ctx('postgres').config, stackPaths(dir), 'token');
  assert.equal(endpoints.temporalKind, 'postgres');
  assert.equal(endpoints.temporal, `127.0.0.1:${DEFAULT_PORTS.temporal}`);
});

test('the PostgreSQL-backed Temporal server config: every listener on 127.0.0.1 on the chosen ports', () => {
  const ports: PostgresTemporalPorts = {
    postgres: 45001,
    frontend: 7233,
    frontendHttp: 45002,
    frontendMembership: 21001,
    history: 45003,
    historyMembership: 21002,
    matching: 45004,
    matchingMembership: 21003,
    worker: 45005,
    workerMembership: 21004,
  };
  const text = temporalServerConfig(ports, 'secret', '/tmp/dc.yaml');
  assert.equal((text.match(/bindOnIP: "127\.0\.0\.1"/g) ?? []).length, 4, 'frontend, matching, history and worker');
  assert.doesNotMatch(text, /0\.0\.0\.0|bindOnLocalHost|pprof|prometheus|archival/);
  for (const [name, port] of Object.entries(ports)) assert.ok(text.includes(String(port)), `${name} port ${port} in the config`);
  assert.match(text, /connectAddr: "127\.0\.0\.1:45001"/);
  assert.match(text, /pluginName: "postgres12"/);
  assert.match(text, /rpcAddress: "127\.0\.0\.1:7233"/);
  assert.match(text, /filepath: "\/tmp\/dc\.yaml"/);
});
