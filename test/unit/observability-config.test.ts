/**
 * The orchestrator's observability artifacts under deploy/, checked with the real tools:
 * `promtool check config|rules`, `promtool test rules` (and that those tests catch broken rules),
 * `amtool check-config`, `haproxy -c`; the Grafana dashboard is parsed and every PromQL it holds is
 * parsed by promtool and may only use metrics that exist (app metrics from activities/app-metrics.ts,
 * SDK and workflow metrics from deploy/prometheus/temporal-sdk-metrics.txt).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { parse, stringify } from 'yaml';
import { appMetrics } from '../../activities/app-metrics';
import { HAPROXY_NAMES } from '../../scripts/stack/config';
import { TASK_QUEUE } from '../../workflows/contract';

const ROOT = path.resolve(__dirname, '..', '..');
const DEPLOY = path.join(ROOT, 'deploy');
const PROM_DIR = path.join(DEPLOY, 'prometheus');
const RULES = path.join(PROM_DIR, 'rules', 'phoenix-orchestrator.yml');
const RULES_TEST = path.join(PROM_DIR, 'rules', 'phoenix-orchestrator.test.yml');
const DASHBOARD = path.join(DEPLOY, 'grafana', 'dashboards', 'phoenix-rollouts.json');

function tool(names: string[]): string {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const name of names) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        // next
      }
    }
  }
  throw new Error(`${names[0]} not found: install it (Debian: apt-get install prometheus prometheus-alertmanager haproxy)`);
}

function run(command: string, args: string[], cwd = ROOT) {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const promtool = () => tool(['promtool']);

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rulesDoc = () => parse(readFileSync(RULES, 'utf8')) as { groups: { name: string; rules: AlertRule[] }[] };
const alerts = () => rulesDoc().groups.flatMap((g) => g.rules);

/** Names of the app metrics, from the real definitions (prom-client appends nothing to counters here). */
function appMetricNames(): Map<string, string> {
  const registry = new Registry();
  appMetrics(registry);
  return new Map(registry.getMetricsAsArray().map((m) => [m.name, (m as unknown as { type: string }).type]));
}

/** `name → type` of the documented SDK metrics (and the workflow's own metrics, source "workflow"). */
function sdkMetricNames(): Map<string, string> {
  const lines = readFileSync(path.join(PROM_DIR, 'temporal-sdk-metrics.txt'), 'utf8').split('\n');
  const out = new Map<string, string>();
  for (const line of lines) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [name, type] = line.trim().split(/\s+/);
    out.set(name as string, type as string);
  }
  return out;
}

/** Metric names a PromQL expression selects (identifiers followed by `{`, `[`, `)` or whitespace that are not functions/keywords). */
function metricNamesIn(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const withoutGroupings = withoutStrings.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = new Set<string>();
  for (const m of withoutGroupings.matchAll(/(?<![\w$])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[|\)|$|\s|==|>|<|\+|-|\*|\/)/g)) {
    const word = m[1] as string;
    const after = withoutGroupings.slice(m.index + word.length).trimStart();
    if (after.startsWith('(')) continue; // a function call
    if (/^(by|without|on|ignoring|bool|and|or|unless|offset|le|inf|nan)$/i.test(word)) continue;
    if (/^\d/.test(word)) continue;
    names.add(word);
  }
  return [...names];
}

type Verdict = { ok: true } | { ok: false; reason: string };

/** Whether `name` is a metric the stack really has (histogram series names map to their family). */
function classify(name: string, app: Map<string, string>, sdk: Map<string, string>): Verdict {
  if (name === 'up') return { ok: true };
  const family = name.replace(/_(bucket|sum|count)$/, '');
  if (name.startsWith('phoenix_')) {
    if (app.has(name) || app.get(family) === 'histogram') return { ok: true };
    // Workflow metrics go through the SDK exporter; it adds no `_total` to counters.
    if (sdk.get(name) === 'counter' || sdk.get(name) === 'gauge') return { ok: true };
    return {
      ok: false,
      reason: `${name} is not an app metric (activities/app-metrics.ts) nor a workflow metric (deploy/prometheus/temporal-sdk-metrics.txt)`,
    };
  }
  if (name.startsWith('temporal_')) {
    if (sdk.get(name) && sdk.get(name) !== 'histogram') return { ok: true };
    if (family !== name && sdk.get(family) === 'histogram') return { ok: true };
    return { ok: false, reason: `${name} is not in deploy/prometheus/temporal-sdk-metrics.txt (histograms: use _bucket/_sum/_count)` };
  }
  return { ok: false, reason: `${name} is neither a phoenix_ app metric, a temporal_ SDK metric nor up` };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; refId: string; datasource?: { uid: string } }[];
}
const dashboard = () =>
  JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; title: string; panels: Panel[]; templating: { list: { query: unknown }[] } };

/** Grafana's macros replaced by values promtool can parse. */
const expandGrafana = (expr: string) =>
  expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h').replaceAll('$__interval', '1m').replaceAll('$service', '.*');

test('metricNamesIn finds selectors, not functions, keywords or labels', () => {
  assert.deepEqual(
    metricNamesIn('histogram_quantile(0.95, sum by (le, x) (rate(foo_bucket{a="b c"}[5m]))) / bar > 0.5 unless on (i) up == 1'),
    ['foo_bucket', 'bar', 'up'],
  );
  assert.deepEqual(metricNamesIn('time() - max by (service) (deadline_seconds) > 300'), ['deadline_seconds']);
  assert.deepEqual(metricNamesIn('absent(up{job="x"} == 1)'), ['up']);
});

test('promtool check config accepts prometheus.yml and its rule files', () => {
  const r = run(promtool(), ['check', 'config', path.join(PROM_DIR, 'prometheus.yml')]);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /SUCCESS: 1 rule files found/);
});

test('promtool check rules accepts the orchestrator rules; every alert is labelled, annotated and tested', () => {
  const r = run(promtool(), ['check', 'rules', RULES]);
  assert.equal(r.status, 0, r.output);
  const testDoc = parse(readFileSync(RULES_TEST, 'utf8')) as {
    tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
  };
  const cases = testDoc.tests.flatMap((t) => t.alert_rule_test);
  const all = alerts();
  assert.ok(all.length >= 4);
  const names = all.map((a) => a.alert);
  for (const required of ['PhoenixRolloutStuckInPhase', 'PhoenixWorkerNotPolling', 'PhoenixActivityFailureRateHigh', 'PhoenixRollbackHappened']) {
    assert.ok(names.includes(required), `missing alert ${required}`);
  }
  for (const a of all) {
    assert.ok(['warning', 'critical'].includes(a.labels?.severity ?? ''), `${a.alert}: severity must be warning or critical`);
    assert.equal(a.labels?.component, 'phoenix', `${a.alert}: component label`);
    assert.ok(a.annotations?.summary && a.annotations.description, `${a.alert}: summary and description`);
    const own = cases.filter((c) => c.alertname === a.alert);
    assert.ok(own.some((c) => c.exp_alerts.length > 0), `${a.alert}: no test case where it fires`);
    assert.ok(own.some((c) => c.exp_alerts.length === 0), `${a.alert}: no test case where it stays quiet`);
  }
});

test('promtool test rules: every alert fires on its synthetic series and stays quiet otherwise', () => {
  const r = run(promtool(), ['test', 'rules', RULES_TEST]);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /SUCCESS/);
});

test('the rule tests catch an alert that never fires and one that always fires', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'phoenix-rules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(RULES_TEST, path.join(dir, path.basename(RULES_TEST)));
  for (const a of alerts()) {
    for (const [mutation, expr] of [
      ['never fires', 'vector(1) == 0'],
      ['always fires', 'vector(1)'],
    ] as const) {
      const doc = rulesDoc();
      for (const g of doc.groups) for (const rule of g.rules) if (rule.alert === a.alert) rule.expr = expr;
      writeFileSync(path.join(dir, path.basename(RULES)), stringify(doc));
      const r = run(promtool(), ['test', 'rules', path.basename(RULES_TEST)], dir);
      assert.notEqual(r.status, 0, `${a.alert} mutated to "${mutation}" still passes its tests`);
      assert.match(r.output, new RegExp(`alertname: ${a.alert}`), `${a.alert}: the failure should be its own`);
    }
  }
});

test('rules only use metrics that exist, scrape jobs that exist, and the real task queue', () => {
  const app = appMetricNames();
  const sdk = sdkMetricNames();
  const prom = parse(readFileSync(path.join(PROM_DIR, 'prometheus.yml'), 'utf8')) as { scrape_configs: { job_name: string }[] };
  const jobs = new Set(prom.scrape_configs.map((j) => j.job_name));
  for (const a of alerts()) {
    for (const name of metricNamesIn(a.expr)) {
      const v = classify(name, app, sdk);
      if (!v.ok) assert.fail(`${a.alert}: ${v.reason}`);
    }
    for (const m of a.expr.matchAll(/job="([^"]+)"/g)) assert.ok(jobs.has(m[1] as string), `${a.alert}: no scrape job ${m[1]}`);
    for (const m of a.expr.matchAll(/task_queue="([^"]+)"/g)) assert.equal(m[1], TASK_QUEUE, `${a.alert}: task queue`);
  }
});

test('amtool accepts the Alertmanager config; inhibit rules name real alerts', () => {
  const file = path.join(DEPLOY, 'alertmanager', 'alertmanager.yml');
  const r = run(tool(['amtool']), ['check-config', file]);
  assert.equal(r.status, 0, r.output);
  const names = new Set(alerts().map((a) => a.alert));
  const doc = parse(readFileSync(file, 'utf8')) as { inhibit_rules?: { source_matchers: string[]; target_matchers: string[] }[] };
  for (const rule of doc.inhibit_rules ?? []) {
    for (const matcher of [...rule.source_matchers, ...rule.target_matchers]) {
      const m = /^alertname="(\w+)"$/.exec(matcher);
      if (m) assert.ok(names.has(m[1] as string), `inhibit rule names unknown alert ${m[1]}`);
    }
  }
});

test('haproxy -c accepts the compose HAProxy config, and rejects a broken one', async (t) => {
  const haproxy = tool(['haproxy']);
  const file = path.join(DEPLOY, 'haproxy', 'haproxy.cfg');
  const r = run(haproxy, ['-c', '-f', file]);
  assert.equal(r.status, 0, r.output);
  const text = readFileSync(file, 'utf8');
  // The same names as the local stack, so one rollout spec shape works on both.
  assert.match(text, new RegExp(`^backend ${HAPROXY_NAMES.backend}$`, 'm'));
  assert.match(text, new RegExp(`^\\s+server ${HAPROXY_NAMES.stableServer} \\S+ weight 100 check`, 'm'));
  assert.match(text, new RegExp(`^\\s+server ${HAPROXY_NAMES.canaryServer} \\S+ weight 0 check`, 'm'));
  // The runtime API is a unix socket on a volume only the worker shares, never a TCP port.
  assert.match(text, /^\s+stats socket \/\S+\.sock mode 660 level admin$/m);
  assert.doesNotMatch(text, /stats socket (ipv4@|ipv6@|[\d.]+:)/);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'phoenix-haproxy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const broken = path.join(dir, 'haproxy.cfg');
  writeFileSync(broken, text.replace('balance roundrobin', 'balance nonsense'));
  assert.notEqual(run(haproxy, ['-c', '-f', broken]).status, 0);
});

test('Grafana provisioning: datasource uid and dashboard provider path match the dashboard and compose mounts', () => {
  const ds = parse(readFileSync(path.join(DEPLOY, 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as {
    datasources: { uid: string; type: string; url: string }[];
  };
  const prom = ds.datasources.find((d) => d.type === 'prometheus');
  assert.ok(prom);
  assert.equal(prom.url, 'http://prometheus:9090');
  const providers = parse(readFileSync(path.join(DEPLOY, 'grafana', 'provisioning', 'dashboards', 'phoenix.yml'), 'utf8')) as {
    providers: { options: { path: string } }[];
  };
  const compose = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
  for (const p of providers.providers) {
    assert.ok(compose.includes(`./deploy/grafana/dashboards:${p.options.path}`), `compose must mount the dashboards at ${p.options.path}`);
  }
  for (const panel of dashboard().panels) {
    if (panel.type === 'row') continue;
    assert.equal(panel.datasource?.uid, prom.uid, `panel "${panel.title}" uses another datasource`);
  }
});

test('dashboard: valid JSON with the required panels; unique ids; panels inside the 24-column grid', () => {
  const d = dashboard();
  assert.equal(d.uid, 'phoenix-rollouts');
  const ids = d.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'duplicate panel ids');
  for (const p of d.panels) {
    assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `panel "${p.title}" overflows the grid`);
    if (p.type !== 'row') assert.ok(p.targets && p.targets.length > 0, `panel "${p.title}" has no query`);
  }
  const exprs = (needle: RegExp) => d.panels.filter((p) => (p.targets ?? []).some((t) => needle.test(t.expr)));
  const required: [string, RegExp][] = [
    ['active rollouts', /phoenix_active_rollouts/],
    ['canary weight per rollout', /phoenix_canary_weight\{[^}]*\}\)?/],
    ['rollbacks by action', /sum by \(service, action\) \(increase\(phoenix_rollbacks_total/],
    ['analysis checks by metric and outcome', /sum by \(metric, outcome\) \(rate\(phoenix_analysis_checks\{/],
    ['time from trigger to stable p50/p95', /histogram_quantile\(0\.95, .*phoenix_trigger_to_stable_seconds_bucket/],
    ['current phase per rollout', /phoenix_rollout_phase\{/],
    ['overdue phases', /phoenix_rollout_phase_deadline_timestamp_seconds/],
    ['activity failures', /phoenix_activity_failures_total/],
    ['workflow task latency', /temporal_workflow_task_execution_latency_bucket/],
    ['poll success', /temporal_workflow_task_queue_poll_succeed/],
  ];
  for (const [what, needle] of required) assert.ok(exprs(needle).length > 0, `no panel shows ${what}`);
});

test('dashboard: every query parses as PromQL and uses only metrics that exist', async (t) => {
  const d = dashboard();
  const app = appMetricNames();
  const sdk = sdkMetricNames();
  const exprs: { where: string; expr: string }[] = [];
  for (const p of d.panels) for (const target of p.targets ?? []) exprs.push({ where: `${p.title} ${target.refId}`, expr: target.expr });
  for (const v of d.templating.list) {
    const q = (v.query as { query?: string }).query ?? '';
    const m = /^label_values\((\w+),/.exec(q);
    if (m) exprs.push({ where: 'variable', expr: m[1] as string });
  }

  // promtool parses PromQL when checking rules: one recording rule per query.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'phoenix-dash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'dashboard-queries.yml');
  const rules = exprs.map((e, i) => ({ record: `dashboard:query_${i}`, expr: expandGrafana(e.expr) }));
  writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
  const r = run(promtool(), ['check', 'rules', file]);
  assert.equal(r.status, 0, `a dashboard query is not valid PromQL:\n${r.output}`);
  assert.match(r.output, new RegExp(`SUCCESS: ${rules.length} rules found`));

  // The check can fail: a syntax error is reported.
  writeFileSync(file, stringify({ groups: [{ name: 'x', rules: [{ record: 'x:y', expr: 'sum(rate(foo[1m])' }] }] }));
  assert.notEqual(run(promtool(), ['check', 'rules', file]).status, 0);

  for (const { where, expr } of exprs) {
    for (const name of metricNamesIn(expandGrafana(expr))) {
      const v = classify(name, app, sdk);
      if (!v.ok) assert.fail(`dashboard panel ${where}: ${v.reason}`);
    }
  }
});

test('the classifier rejects unknown metrics (the metric check can fail)', () => {
  const app = appMetricNames();
  const sdk = sdkMetricNames();
  assert.ok(app.has('phoenix_canary_weight'));
  assert.deepEqual(classify('phoenix_canary_weight', app, sdk), { ok: true });
  assert.deepEqual(classify('temporal_workflow_task_execution_latency_bucket', app, sdk), { ok: true });
  assert.equal(classify('temporal_workflow_task_execution_latency', app, sdk).ok, false);
  assert.equal(classify('temporal_workflow_task_queue_poll_succeed_total', app, sdk).ok, false);
  assert.equal(classify('phoenix_made_up_total', app, sdk).ok, false);
  // The metrics requested by the dashboard and rules exist under their real names, with the right types.
  assert.equal(app.get('phoenix_rollout_phase_deadline_timestamp_seconds'), 'gauge');
  assert.equal(app.get('phoenix_rollout_phase'), 'gauge');
  assert.equal(app.get('phoenix_trigger_to_stable_seconds'), 'histogram');
  assert.deepEqual(classify('phoenix_trigger_to_stable_seconds_bucket', app, sdk), { ok: true });
  assert.equal(classify('phoenix_rollout_duration_seconds_bucket', app, sdk).ok, false);
  assert.equal(sdk.get('phoenix_analysis_checks'), 'counter');
  assert.deepEqual(classify('phoenix_analysis_checks', app, sdk), { ok: true });
  assert.equal(classify('phoenix_analysis_checks_total', app, sdk).ok, false, 'the SDK exporter adds no _total');
  assert.equal(classify('node_cpu_seconds_total', app, sdk).ok, false);
});
