/**
 * Schemathesis (PyPI) for fuzzing the HTTP API against openapi/openapi.yaml.
 *
 * `ensureSchemathesis()` finds or installs a pinned schemathesis into `.cache/schemathesis-venv`
 * (or `$PHOENIX_CACHE_DIR/schemathesis-venv`) and returns the path of its `st` binary:
 *
 * 1. reuse the cached install when the installed distribution is the pinned version;
 * 2. otherwise `python3 -m venv` + `pip install schemathesis==<pinned>`;
 * 3. when the venv cannot be made because `ensurepip` is missing (Debian without python3-venv),
 *    install python3-venv with apt-get (root only) and try again, else fall back to
 *    `python3 -m pip install --target <cache>/site` with a small `st` wrapper script;
 * 4. when none of that is possible, fail at once with one message naming what is missing.
 *
 * `runSchemathesis()` runs `st run openapi/openapi.yaml` against a 127.0.0.1 URL with a bounded wall
 * time and returns the exit code and a summary parsed from the run's JSON and NDJSON reports.
 *
 * Run as a script (`npx tsx scripts/schemathesis.ts [--url http://127.0.0.1:PORT] [--token T]`) it
 * ensures the install, prints the `st` path and, given a URL, fuzzes that API and prints the summary.
 *
 * Env: PHOENIX_PYTHON (interpreter to build the venv with, default `python3`), PHOENIX_CACHE_DIR.
 */
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { withLock } from './file-lock';
import { runCommand, type RunResult } from './run-command';

/** Pinned schemathesis release; the flags used below are those of its `st run --help`. */
export const SCHEMATHESIS_VERSION = '4.32.5';
/** schemathesis 4.32 declares `Requires-Python: >=3.11`. */
export const MIN_PYTHON: readonly [number, number] = [3, 11];
/** Repository root (this file lives in `<root>/scripts/`). */
export const REPO_ROOT = path.resolve(__dirname, '..');
/** The API description the fuzzer reads. */
export const OPENAPI_DOCUMENT = path.join(REPO_ROOT, 'openapi', 'openapi.yaml');

/**
 * The checks that together mean "no 5xx and no response outside the document": a server error,
 * a status code, a content type, response headers or a body the document does not describe.
 * (`all` would add semantic checks such as negative_data_rejection, use_after_free or ignored_auth.)
 */
export const CONFORMANCE_CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
] as const;

/** Thrown when schemathesis can be neither found nor installed; the message says what is missing. */
export class SchemathesisUnavailableError extends Error {
  override readonly name = 'SchemathesisUnavailableError';
}

/** Where and how `ensureSchemathesis` works; every field has a default. */
export interface EnsureOptions {
  env?: NodeJS.ProcessEnv;
  /** Cache root; default `PHOENIX_CACHE_DIR` or `<repo>/.cache`. */
  cacheDir?: string;
  /** Progress sink, called only when something is installed. Default: stderr. */
  log?: (message: string) => void;
  /** Bound of the pip install (ms). */
  installTimeoutMs?: number;
}

/** Path of the cached venv (or `--target` fallback) directory. */
export function schemathesisHome(options: Pick<EnsureOptions, 'env' | 'cacheDir'> = {}): string {
  const env = options.env ?? process.env;
  const cacheDir = options.cacheDir ?? (env.PHOENIX_CACHE_DIR?.trim() || path.join(REPO_ROOT, '.cache'));
  return path.join(path.resolve(cacheDir), 'schemathesis-venv');
}

/**
 * Returns the `st` binary of the pinned schemathesis, installing it into the cache first if needed.
 * Concurrent callers wait for one another (lock file next to the venv).
 */
export async function ensureSchemathesis(options: EnsureOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const home = schemathesisHome(options);
  const log = options.log ?? ((m: string) => process.stderr.write(`schemathesis: ${m}\n`));
  const cached = await cachedSt(home);
  if (cached) return cached;
  return withLock(`${home}.lock`, (owner) => log(`waiting for another process (pid ${owner}) to install schemathesis`), async () => {
    // Another process may have finished the install while this one waited.
    const again = await cachedSt(home);
    if (again) return again;
    return install(home, env, log, options.installTimeoutMs ?? 10 * 60_000);
  });
}

/** The `st` of a complete install of the pinned version in `home`, else undefined. */
async function cachedSt(home: string): Promise<string | undefined> {
  const marker = await fs.readFile(path.join(home, MARKER), 'utf8').catch(() => '');
  const [version, st] = marker.trim().split('\n');
  if (version !== SCHEMATHESIS_VERSION || !st) return undefined;
  // The marker is written last; the dist-info proves pip was not asked to change it since.
  const installed = await installedVersion(home);
  if (installed !== SCHEMATHESIS_VERSION) return undefined;
  return (await executable(st)) ? st : undefined;
}

/** Written after a verified install: `<version>\n<path of st>\n`. */
const MARKER = '.phoenix-schemathesis';

async function installedVersion(home: string): Promise<string | undefined> {
  const roots = [path.join(home, 'site')];
  const lib = path.join(home, 'lib');
  for (const entry of await fs.readdir(lib).catch(() => [] as string[])) {
    if (entry.startsWith('python')) roots.push(path.join(lib, entry, 'site-packages'));
  }
  for (const root of roots) {
    for (const entry of await fs.readdir(root).catch(() => [] as string[])) {
      const match = /^schemathesis-(.+)\.dist-info$/.exec(entry);
      if (match) return match[1];
    }
  }
  return undefined;
}

async function install(home: string, env: NodeJS.ProcessEnv, log: (m: string) => void, timeoutMs: number): Promise<string> {
  const started = Date.now();
  const python = await findPython(env);
  await fs.rm(home, { recursive: true, force: true });
  await fs.mkdir(path.dirname(home), { recursive: true });
  log(`installing schemathesis ${SCHEMATHESIS_VERSION} into ${home} (${python.command} ${python.version})`);

  let st: string | undefined;
  let venvProblem = await makeVenv(python.command, home, env);
  if (venvProblem && /ensurepip|python3(\.\d+)?-venv/i.test(venvProblem) && (await aptCanInstall())) {
    const pkg = `python${python.version.split('.').slice(0, 2).join('.')}-venv`;
    log(`python venv support is missing; installing ${pkg} with apt-get`);
    const apt = await run('apt-get', ['install', '-y', '--no-install-recommends', pkg], { env: { ...env, DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 180_000 });
    if (apt.code !== 0) {
      // A fresh machine has no package lists yet.
      await run('apt-get', ['update'], { env, timeoutMs: 180_000 });
      await run('apt-get', ['install', '-y', '--no-install-recommends', pkg], { env: { ...env, DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 180_000 });
    }
    await fs.rm(home, { recursive: true, force: true });
    venvProblem = await makeVenv(python.command, home, env);
  }

  const pipArgs = ['install', '--disable-pip-version-check', '--no-input', '--quiet', '--timeout', '60', `schemathesis==${SCHEMATHESIS_VERSION}`];
  if (!venvProblem) {
    const pip = await run(path.join(home, 'bin', 'python'), ['-m', 'pip', ...pipArgs], { env, timeoutMs });
    if (pip.code !== 0) throw await installFailed(home, `pip install schemathesis==${SCHEMATHESIS_VERSION} failed`, pip);
    st = path.join(home, 'bin', 'st');
  } else {
    // No venv: install the packages into a plain directory and put them on PYTHONPATH.
    if (!python.hasPip) {
      await fs.rm(home, { recursive: true, force: true });
      throw new SchemathesisUnavailableError(
        `cannot install schemathesis: ${python.command} ${python.version} has neither a working venv module (${firstLine(venvProblem)}) nor pip. ` +
          'Install python3-venv or python3-pip (Debian: apt-get install python3-venv), or set PHOENIX_PYTHON to a Python >= 3.11 that has them.',
      );
    }
    log(`no venv (${firstLine(venvProblem)}); falling back to pip install --target`);
    await fs.rm(home, { recursive: true, force: true });
    const site = path.join(home, 'site');
    await fs.mkdir(site, { recursive: true });
    const pip = await run(python.command, ['-m', 'pip', ...pipArgs, '--target', site], { env, timeoutMs });
    if (pip.code !== 0) throw await installFailed(home, `pip install --target failed`, pip);
    st = path.join(home, 'bin', 'st');
    await fs.mkdir(path.dirname(st), { recursive: true });
    await fs.writeFile(
      st,
      `#!/bin/sh\nPYTHONPATH=${shellQuote(site)}\${PYTHONPATH:+:$PYTHONPATH} exec ${shellQuote(python.path)} -m schemathesis.cli "$@"\n`,
      { mode: 0o755 },
    );
  }

  const check = await run(st, ['--version'], { env, timeoutMs: 60_000 });
  if (check.code !== 0 || !check.stdout.includes(SCHEMATHESIS_VERSION)) {
    throw await installFailed(home, `installed st does not report version ${SCHEMATHESIS_VERSION}`, check);
  }
  await fs.writeFile(path.join(home, MARKER), `${SCHEMATHESIS_VERSION}\n${st}\n`);
  log(`installed schemathesis ${SCHEMATHESIS_VERSION} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return st;
}

interface Python {
  command: string;
  /** Absolute path of the interpreter (for the `--target` wrapper). */
  path: string;
  version: string;
  hasPip: boolean;
}

/** Finds a Python >= 3.11 within seconds, or throws naming what is missing. */
async function findPython(env: NodeJS.ProcessEnv): Promise<Python> {
  const explicit = env.PHOENIX_PYTHON?.trim();
  const candidates = explicit ? [explicit] : ['python3', `python${MIN_PYTHON.join('.')}`, 'python'];
  const seen: string[] = [];
  for (const command of candidates) {
    const probe = await run(
      command,
      ['-c', 'import sys, importlib.util as u; print(sys.executable); print("%d.%d.%d" % sys.version_info[:3]); print(u.find_spec("pip") is not None)'],
      { env, timeoutMs: 15_000 },
    ).catch(() => undefined);
    if (!probe || probe.code !== 0) {
      seen.push(`${command}: not found`);
      continue;
    }
    const [exe = command, version = '0.0.0', pip = 'False'] = probe.stdout.trim().split('\n');
    const [major = 0, minor = 0] = version.split('.').map(Number);
    if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
      seen.push(`${command}: ${version} is too old`);
      continue;
    }
    return { command, path: exe, version, hasPip: pip === 'True' };
  }
  throw new SchemathesisUnavailableError(
    `cannot install schemathesis ${SCHEMATHESIS_VERSION}: it needs Python >= ${MIN_PYTHON.join('.')} (${seen.join('; ')}). ` +
      'Install python3 (Debian: apt-get install python3 python3-venv) or set PHOENIX_PYTHON to such an interpreter.',
  );
}

/** Creates the venv; returns undefined on success, else what went wrong. */
async function makeVenv(python: string, home: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const result = await run(python, ['-m', 'venv', home], { env, timeoutMs: 120_000 });
  if (result.code === 0 && (await executable(path.join(home, 'bin', 'python')))) {
    // A venv without pip (`--without-pip` behaviour on some distributions) is no good either.
    const pip = await run(path.join(home, 'bin', 'python'), ['-m', 'pip', '--version'], { env, timeoutMs: 30_000 });
    if (pip.code === 0) return undefined;
    return `the venv has no pip: ${pip.stderr.trim() || pip.stdout.trim()}`;
  }
  return (result.stderr.trim() || result.stdout.trim() || `python -m venv exited with ${result.code}`).replace(/\s+/g, ' ');
}

/** apt-get exists and this process is root, so a missing Debian package can be installed. */
async function aptCanInstall(): Promise<boolean> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return false;
  return executable('/usr/bin/apt-get');
}

async function installFailed(home: string, what: string, result: RunResult): Promise<SchemathesisUnavailableError> {
  await fs.rm(home, { recursive: true, force: true });
  const output = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-15).join('\n');
  return new SchemathesisUnavailableError(`${what} (exit ${result.code}${result.timedOut ? ', timed out' : ''}):\n${output}`);
}

// ---------------------------------------------------------------------------------------------
// running

/** Options of {@link runSchemathesis}. */
export interface RunOptions {
  /** `http://127.0.0.1:PORT`: nothing but a loopback server of this machine is fuzzed. */
  baseUrl: string;
  /** Sent with every request (e.g. `{ Authorization: 'Bearer …' }`). */
  headers?: Record<string, string>;
  /** Test cases per operation and phase (`--max-examples`). */
  maxExamples: number;
  /** `--seed`, for a reproducible run. */
  seed: number;
  /** Where the JSON, NDJSON and JUnit reports go (created). */
  reportDir: string;
  /** Checks to run; default {@link CONFORMANCE_CHECKS}. */
  checks?: readonly string[];
  /** Phases (`--phases`); default all that the version has (examples, coverage, fuzzing, stateful). */
  phases?: readonly string[];
  /** Further `st run` arguments (e.g. `--exclude-operation-id`, `--request-timeout`). */
  extraArgs?: readonly string[];
  /** `--workers`; default 1 (the machine has 2 cores, shared with the server under test). */
  workers?: number;
  /** Wall-time bound of the whole run; the process is killed after it. Default 110 s. */
  timeoutMs?: number;
  /** The API description; default openapi/openapi.yaml. */
  schema?: string;
  /** `st` to run; default {@link ensureSchemathesis}(). */
  st?: string;
  env?: NodeJS.ProcessEnv;
}

/** Passed and failed counts of one check over the whole run. */
export interface CheckCount {
  check: string;
  passed: number;
  failed: number;
}

/** One distinct failure, with one request that shows it. */
export interface Failure {
  /** `POST /v1/rollouts` */
  operation: string;
  check: string;
  title: string;
  message: string;
  /** The request that showed it (header values schemathesis filters, such as Authorization, stay filtered). */
  request: { method: string; url: string; contentType: string | undefined; body: string | undefined } | undefined;
  response: { status: number; contentType: string | undefined; body: string } | undefined;
}

/** What a run did. */
export interface SchemathesisSummary {
  /** `st`'s exit code (0: no failures), null when it was killed. */
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** argv of the run, with header values redacted. */
  command: string[];
  version: string | undefined;
  operations: { total: number; selected: number; tested: number; errored: number; skipped: number } | undefined;
  testCases: { generated: number; withFailures: number; uniqueFailures: number; errored: number } | undefined;
  /** Phase name → status (`success`, `failure`, `skipped`, `errored`). */
  phases: Record<string, string>;
  /** Per check, over every response received. */
  checks: CheckCount[];
  checksPassed: number;
  checksFailed: number;
  /** Distinct failures (the same check on the same operation with the same message counts once). */
  failures: Failure[];
  /** How often each response status was received (`"404": 120`). */
  statusCodes: Record<string, number>;
  /** Errors schemathesis hit while testing (network errors, schema problems), with counts. */
  errors: { title: string; count: number }[];
  /** Last lines of st's own output, for diagnosis. */
  outputTail: string;
  reportDir: string;
}

/**
 * Runs `st run <schema> --url <baseUrl> --checks … --max-examples N --seed S` with JSON and NDJSON
 * reports in `reportDir`, kills it after `timeoutMs`, and returns the parsed summary.
 */
export async function runSchemathesis(options: RunOptions): Promise<SchemathesisSummary> {
  const url = new URL(options.baseUrl);
  if (url.protocol !== 'http:' || url.hostname !== '127.0.0.1') {
    throw new Error(`runSchemathesis only fuzzes http://127.0.0.1 servers, not ${options.baseUrl}`);
  }
  const st = options.st ?? (await ensureSchemathesis({ env: options.env }));
  const reportDir = path.resolve(options.reportDir);
  await fs.mkdir(reportDir, { recursive: true });
  const jsonReport = path.join(reportDir, 'report.json');
  const ndjsonReport = path.join(reportDir, 'events.ndjson');
  const junitReport = path.join(reportDir, 'junit.xml');
  await Promise.all([jsonReport, ndjsonReport, junitReport].map((file) => fs.rm(file, { force: true })));
  // An empty config file: only the flags below configure the run, whatever schemathesis.toml lies around.
  const configFile = path.join(reportDir, 'schemathesis.toml');
  await fs.writeFile(configFile, '# Written by scripts/schemathesis.ts: the run is configured by its command-line flags only.\n');

  const headerArgs = Object.entries(options.headers ?? {}).flatMap(([name, value]) => ['--header', `${name}: ${value}`]);
  const args = [
    '--config-file',
    configFile,
    'run',
    options.schema ?? OPENAPI_DOCUMENT,
    '--url',
    url.toString().replace(/\/$/, ''),
    '--checks',
    (options.checks ?? CONFORMANCE_CHECKS).join(','),
    '--max-examples',
    String(options.maxExamples),
    '--seed',
    String(options.seed),
    '--workers',
    String(options.workers ?? 1),
    ...(options.phases ? ['--phases', options.phases.join(',')] : []),
    // Stay on the server under test: a Location header is never followed anywhere.
    '--max-redirects',
    '0',
    // Reproducible and side-effect free: no hypothesis example database in the work tree.
    '--generation-database',
    'none',
    '--report',
    'json,ndjson,junit',
    '--report-dir',
    reportDir,
    '--report-json-path',
    jsonReport,
    '--report-ndjson-path',
    ndjsonReport,
    '--report-junit-path',
    junitReport,
    '--no-color',
    ...headerArgs,
    ...(options.extraArgs ?? []),
  ];
  const redacted = args.map((a, i) => (args[i - 1] === '--header' ? a.replace(/:.*/, ': <redacted>') : a));

  // Direct connections only: a proxy from the environment must not carry the fuzz traffic.
  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env), NO_COLOR: '1', NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' };
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy']) delete env[name];
  // Hypothesis switches to its `ci` profile (other deadlines and database) when CI is set.
  delete env.CI;

  const started = Date.now();
  // st keeps its own state (.hypothesis/, .schemathesis/ crash records) in its cwd: the report dir
  // keeps it out of the work tree.
  const result = await run(st, args, { env, cwd: reportDir, timeoutMs: options.timeoutMs ?? 110_000 });
  const durationMs = Date.now() - started;

  const report = (await readJson(jsonReport)) as JsonReport | undefined;
  const parsed = parseNdjson(await fs.readFile(ndjsonReport, 'utf8').catch(() => ''));
  const output = `${result.stdout}\n${result.stderr}`;
  const checks = [...parsed.checks.values()].sort((a, b) => a.check.localeCompare(b.check));
  return {
    exitCode: result.timedOut ? null : result.code,
    timedOut: result.timedOut,
    durationMs,
    command: [st, ...redacted],
    version: report?.schemathesis_version,
    operations: report?.operations ?? undefined,
    testCases: report?.test_cases
      ? {
          generated: report.test_cases.generated,
          withFailures: report.test_cases.with_failures,
          uniqueFailures: report.test_cases.unique_failures,
          errored: report.test_cases.errored,
        }
      : undefined,
    phases: Object.fromEntries(Object.entries(report?.phases ?? {}).map(([name, p]) => [name, p.status])),
    checks,
    checksPassed: checks.reduce((n, c) => n + c.passed, 0),
    checksFailed: checks.reduce((n, c) => n + c.failed, 0),
    failures: parsed.failures,
    statusCodes: parsed.statusCodes,
    errors: report?.errors ?? (result.timedOut ? [{ title: 'timed out', count: 1 }] : []),
    outputTail: output.trim().split('\n').slice(-40).join('\n'),
    reportDir,
  };
}

interface JsonReport {
  schemathesis_version?: string;
  operations?: { total: number; selected: number; tested: number; errored: number; skipped: number } | null;
  phases?: Record<string, { status: string }> | null;
  test_cases?: { generated: number; with_failures: number; unique_failures: number; errored: number };
  errors?: { title: string; count: number }[];
}

async function readJson(file: string): Promise<unknown> {
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/* The NDJSON report's shape, as far as it is read here (schemathesis 4.32). */
/** A body: text, or `{ "$base64": … }` for bytes. */
type NdBody = string | { $base64?: string } | null | undefined;
interface NdCheck {
  name?: string;
  status?: string;
  failure_info?: { failure?: { title?: string; message?: string; operation?: string } } | null;
}
interface NdInteraction {
  request?: { method?: string; uri?: string; headers?: Record<string, string[]>; body?: NdBody };
  response?: { status_code?: number; headers?: Record<string, string[]>; content?: NdBody } | null;
}
interface NdRecorder {
  label?: string;
  checks?: Record<string, NdCheck[]>;
  interactions?: Record<string, NdInteraction>;
  cases?: Record<string, { value?: { operation?: { label?: string }; method?: string; path?: string } }>;
}

/** Per-check counts and distinct failures from the `ScenarioFinished` events of the NDJSON report. */
export function parseNdjson(text: string): { checks: Map<string, CheckCount>; failures: Failure[]; statusCodes: Record<string, number> } {
  const checks = new Map<string, CheckCount>();
  const statusCodes: Record<string, number> = {};
  const failures = new Map<string, Failure>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const finished = event.ScenarioFinished as { recorder?: NdRecorder } | undefined;
    const recorder = finished?.recorder;
    if (!recorder) continue;
    for (const interaction of Object.values(recorder.interactions ?? {})) {
      const status = interaction.response?.status_code;
      if (status !== undefined) statusCodes[status] = (statusCodes[status] ?? 0) + 1;
    }
    for (const [caseId, list] of Object.entries(recorder.checks ?? {})) {
      for (const check of list) {
        const name = check.name ?? '?';
        const count = checks.get(name) ?? { check: name, passed: 0, failed: 0 };
        if (check.status === 'success') count.passed++;
        else if (check.status === 'failure') count.failed++;
        checks.set(name, count);
        if (check.status !== 'failure') continue;
        const failure = check.failure_info?.failure;
        const operation = failure?.operation ?? recorder.label ?? '?';
        const title = failure?.title ?? name;
        const message = (failure?.message ?? '').trim();
        const key = `${operation}\n${name}\n${title}\n${message}`;
        if (failures.has(key)) continue;
        const interaction = recorder.interactions?.[caseId];
        const response = interaction?.response ?? undefined;
        failures.set(key, {
          operation,
          check: name,
          title,
          message,
          request: interaction?.request
            ? {
                method: interaction.request.method ?? '?',
                url: interaction.request.uri ?? '?',
                contentType: headerValue(interaction.request.headers, 'content-type'),
                body: decodeBody(interaction.request.body),
              }
            : undefined,
          response: response
            ? {
                status: response.status_code ?? 0,
                contentType: headerValue(response.headers, 'content-type'),
                body: decodeBody(response.content) ?? '',
              }
            : undefined,
        });
      }
    }
  }
  return { checks, failures: [...failures.values()], statusCodes };
}

function decodeBody(body: NdBody): string | undefined {
  if (typeof body === 'string') return body;
  if (body && typeof body.$base64 === 'string') return Buffer.from(body.$base64, 'base64').toString('utf8');
  return undefined;
}

function headerValue(headers: Record<string, string[]> | undefined, name: string): string | undefined {
  for (const [key, values] of Object.entries(headers ?? {})) if (key.toLowerCase() === name) return values[0];
  return undefined;
}

/** A readable multi-line account of a summary (for test diagnostics and the CLI). */
export function formatSummary(summary: SchemathesisSummary): string {
  const lines = [
    `schemathesis ${summary.version ?? '?'}: exit ${summary.exitCode ?? 'killed'}${summary.timedOut ? ' (timed out)' : ''} in ${(summary.durationMs / 1000).toFixed(1)}s`,
    `operations: ${summary.operations ? `${summary.operations.tested} tested of ${summary.operations.selected} selected (${summary.operations.total} in the document, ${summary.operations.errored} errored, ${summary.operations.skipped} skipped)` : '?'}`,
    `test cases: ${summary.testCases ? `${summary.testCases.generated} generated, ${summary.testCases.withFailures} with failures, ${summary.testCases.errored} errored` : '?'}`,
    `phases: ${Object.entries(summary.phases).map(([p, s]) => `${p}=${s}`).join(', ') || '?'}`,
    `responses by status: ${Object.entries(summary.statusCodes).map(([code, n]) => `${code}: ${n}`).join(', ') || 'none'}`,
    `checks: ${summary.checksPassed} passed, ${summary.checksFailed} failed`,
    ...summary.checks.map((c) => `  ${c.check}: ${c.passed} passed, ${c.failed} failed`),
  ];
  if (summary.errors.length) lines.push(`errors: ${summary.errors.map((e) => `${e.title} (${e.count})`).join('; ')}`);
  for (const f of summary.failures) {
    lines.push(`FAILURE ${f.operation} [${f.check}] ${f.title}`);
    if (f.message) lines.push(...f.message.split('\n').map((l) => `    ${l}`));
    if (f.request) {
      const body = f.request.body === undefined ? '' : ` (${f.request.contentType ?? 'no content type'}) ${truncate(f.request.body)}`;
      lines.push(`    request: ${f.request.method} ${f.request.url}${body}`);
    }
    if (f.response) lines.push(`    response: ${f.response.status} ${f.response.contentType ?? ''} ${truncate(f.response.body)}`);
  }
  lines.push(`reports: ${summary.reportDir}`);
  return lines.join('\n');
}

function truncate(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

// ---------------------------------------------------------------------------------------------
// process and lock helpers

const run = runCommand;

async function executable(file: string): Promise<boolean> {
  try {
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function firstLine(text: string | undefined): string {
  return (text ?? '').split('\n')[0]?.slice(0, 200) ?? '';
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

async function main(argv: readonly string[]): Promise<void> {
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const started = Date.now();
  const st = await ensureSchemathesis();
  process.stdout.write(`st: ${st} (${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
  const baseUrl = flag('--url');
  if (!baseUrl) return;
  const token = flag('--token') ?? process.env.PHOENIX_API_TOKEN;
  const summary = await runSchemathesis({
    st,
    baseUrl,
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    maxExamples: Number(flag('--max-examples') ?? 20),
    seed: Number(flag('--seed') ?? 4711),
    reportDir: flag('--report-dir') ?? path.join(REPO_ROOT, 'test-artifacts', 'schemathesis'),
  });
  process.stdout.write(`${summary.command.join(' ')}\n${formatSummary(summary)}\n`);
  process.exitCode = summary.exitCode === 0 ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`schemathesis: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
