/**
 * Finds, downloads or builds the two Temporal binaries the project needs:
 *
 * - the Temporal CLI (`temporal server start-dev`, the dev server used by e2e tests and the demo stack);
 * - the time-skipping test server (Java, used by workflow tests through `TestWorkflowEnvironment`),
 *   started through scripts/maven/LoopbackTestServer.java so it listens on 127.0.0.1 only.
 *
 * Search order for each: explicit env path → PATH / project cache → the SDK's own download →
 * build from a package registry (Go module proxy / Maven Central). Results land in the project's
 * ignored cache (`.cache/`, or `PHOENIX_CACHE_DIR`), so the second call is instant.
 *
 * It also builds the real Temporal server and `temporal-sql-tool` (for a PostgreSQL-backed server,
 * scripts/temporal-postgres.ts) from a wrapper module through the Go module proxy.
 *
 * Run as a script (`npm run provision`) it ensures all of them and prints their paths.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { withLock } from './file-lock';
import { runCommand } from './run-command';

/** Pinned CLI version: later tags carry a `replace` directive that `go install pkg@version` refuses. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
/** Oldest local Go accepted; it must be able to switch toolchains (Go >= 1.21). */
export const MIN_GO_VERSION: readonly [number, number] = [1, 22];
/** The pinned CLI's go.mod says `go 1.25.0`; an older local Go fetches that toolchain from the module proxy. */
export const CLI_GO_VERSION: readonly [number, number] = [1, 25];
/** Repository root (this file lives in `<root>/scripts/`). */
export const REPO_ROOT = path.resolve(__dirname, '..');
/** The checked-in pom that pins `io.temporal:temporal-test-server`. */
export const TEST_SERVER_POM = path.join(REPO_ROOT, 'scripts', 'maven', 'pom.xml');
/** The test server's main class compiled at provision time so it listens on 127.0.0.1 only. */
export const LOOPBACK_SOURCE = path.join(REPO_ROOT, 'scripts', 'maven', 'LoopbackTestServer.java');

const CLI_NAME = 'temporal';
const TEST_SERVER_NAME = 'temporal-test-server';
const TEST_SERVER_MAIN = 'io.temporal.testserver.TestServer';
/** Main class of scripts/maven/LoopbackTestServer.java: upstream's server, bound to 127.0.0.1 only. */
const LOOPBACK_MAIN = 'LoopbackTestServer';
const LOOPBACK_JAR = 'phoenix-loopback.jar';

/** Thrown when a Temporal binary can be neither found nor built; the message says what to install. */
export class ProvisionError extends Error {
  override readonly name: string = 'ProvisionError';
  /** The env variable at fault, when the failure is a bad explicit path. */
  readonly variable: string | undefined;
  constructor(message: string, variable?: string) {
    super(message);
    this.variable = variable;
  }
}

/** How `ensure*` look for binaries; every field has a default, tests override them. */
export interface ProvisionOptions {
  /** Environment to read (TEMPORAL_CLI_PATH, TEMPORAL_TEST_SERVER_PATH, PATH, PHOENIX_CACHE_DIR, ...). */
  env?: NodeJS.ProcessEnv;
  /** Cache root; default `PHOENIX_CACHE_DIR` or `<repo>/.cache`. */
  cacheDir?: string;
  /** Try the SDK's cached-download (default true unless PHOENIX_PROVISION_NO_DOWNLOAD=1). */
  sdkDownload?: boolean;
  /** How long the SDK download may take before giving up (ms). */
  sdkDownloadTimeoutMs?: number;
  /** Build from a registry when nothing else worked (default true unless PHOENIX_PROVISION_NO_BUILD=1). */
  build?: boolean;
  /** Progress sink; only called when something is actually downloaded or built. Default: stderr. */
  log?: (message: string) => void;
}

interface Resolved {
  env: NodeJS.ProcessEnv;
  cacheDir: string;
  binDir: string;
  sdkDownload: boolean;
  sdkDownloadTimeoutMs: number;
  build: boolean;
  log: (message: string) => void;
}

function resolveOptions(options: ProvisionOptions = {}): Resolved {
  const env = options.env ?? process.env;
  const cacheDir = path.resolve(options.cacheDir ?? (nonEmpty(env.PHOENIX_CACHE_DIR) || path.join(REPO_ROOT, '.cache')));
  return {
    env,
    cacheDir,
    binDir: path.join(cacheDir, 'bin'),
    sdkDownload: options.sdkDownload ?? env.PHOENIX_PROVISION_NO_DOWNLOAD !== '1',
    sdkDownloadTimeoutMs: options.sdkDownloadTimeoutMs ?? 120_000,
    build: options.build ?? env.PHOENIX_PROVISION_NO_BUILD !== '1',
    log: options.log ?? ((message) => process.stderr.write(`[provision] ${message}\n`)),
  };
}

function nonEmpty(value: string | undefined): string {
  return value === undefined ? '' : value.trim();
}

/** True when `file` exists, is a regular file (or symlink to one) and is executable by us. */
export async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) return false;
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks `name` up on a PATH string the way a shell would; returns the absolute path or undefined. */
export async function findOnPath(name: string, pathValue: string | undefined): Promise<string | undefined> {
  for (const dir of (pathValue ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.resolve(dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

async function fromEnv(variable: string, r: Resolved): Promise<string | undefined> {
  const value = nonEmpty(r.env[variable]);
  if (!value) return undefined;
  const file = path.resolve(value);
  if (await isExecutableFile(file)) return file;
  throw new ProvisionError(
    `${variable}=${value} is not an executable file; fix or unset ${variable} to let provisioning find or build one`,
    variable,
  );
}

interface Tool {
  /** Human name used in logs and errors. */
  label: string;
  envVar: string;
  /** File name on PATH and in `<cache>/bin`. */
  binName: string;
  /** Which ephemeral server the SDK would download. */
  sdkServerType: 'dev-server' | 'time-skipping';
  build: (r: Resolved) => Promise<string>;
  /** Brings a cached result made by an older version of this script up to date. */
  upgrade?: (found: string, r: Resolved) => Promise<void>;
  installHint: string;
}

const CLI_TOOL: Tool = {
  label: 'Temporal CLI',
  envVar: 'TEMPORAL_CLI_PATH',
  binName: CLI_NAME,
  sdkServerType: 'dev-server',
  build: buildCli,
  installHint:
    'install Go >= 1.22 (Debian 12: `apt-get install -t bookworm-backports golang-1.23-go`, then put /usr/lib/go-1.23/bin on PATH) so it can be built with ' +
    `\`go install ${TEMPORAL_CLI_MODULE}\`, or install the Temporal CLI (https://temporal.io/setup/install-temporal-cli) ` +
    'and put `temporal` on PATH or set TEMPORAL_CLI_PATH',
};

const TEST_SERVER_TOOL: Tool = {
  label: 'Temporal time-skipping test server',
  envVar: 'TEMPORAL_TEST_SERVER_PATH',
  binName: TEST_SERVER_NAME,
  sdkServerType: 'time-skipping',
  build: buildTestServer,
  upgrade: upgradeTestServerWrapper,
  installHint:
    'install Java 17 and Maven (`apt-get install openjdk-17-jdk-headless maven`; the JDK\'s javac builds the 127.0.0.1-only ' +
    'main class) so it can be fetched from Maven Central ' +
    'with scripts/maven/pom.xml, or set TEMPORAL_TEST_SERVER_PATH to an executable taking `PORT [--enable-time-skipping]`',
};

/**
 * Returns the path of a `temporal` CLI able to run `temporal server start-dev`, finding,
 * downloading or building it (the build takes minutes the first time; later calls are instant).
 */
export function ensureTemporalCli(options?: ProvisionOptions): Promise<string> {
  return ensure(CLI_TOOL, resolveOptions(options));
}

/**
 * Returns the path of an executable that starts the time-skipping test server with args
 * `PORT [--enable-time-skipping]`, finding, downloading or building it.
 */
export function ensureTestServer(options?: ProvisionOptions): Promise<string> {
  return ensure(TEST_SERVER_TOOL, resolveOptions(options));
}

async function ensure(tool: Tool, r: Resolved): Promise<string> {
  const explicit = await fromEnv(tool.envVar, r);
  if (explicit) return explicit;
  const found = await findExisting(tool, r);
  if (found) {
    await tool.upgrade?.(found, r);
    return found;
  }

  await fs.mkdir(r.binDir, { recursive: true });
  // Parallel test processes may all get here; one builds, the others wait and then find its result.
  return withLock(path.join(r.cacheDir, 'locks', `${tool.binName}.lock`), (owner) => r.log(`waiting for another process (pid ${owner}) to provision the ${tool.label}`), async () => {
    const raced = await findExisting(tool, r);
    if (raced) return raced;
    const failures: string[] = [];
    if (r.sdkDownload) {
      try {
        return await sdkDownload(tool, r);
      } catch (err) {
        failures.push(`SDK download: ${firstLine(err)}`);
      }
    } else {
      failures.push('SDK download: disabled');
    }
    if (r.build) {
      try {
        return await tool.build(r);
      } catch (err) {
        failures.push(`build: ${firstLine(err)}`);
      }
    } else {
      failures.push('build: disabled');
    }
    throw new ProvisionError(
      `Could not find or build the ${tool.label}. Looked at ${tool.envVar} (unset), \`${tool.binName}\` on PATH and ` +
        `${path.join(r.binDir, tool.binName)}; then tried: ${failures.join('; ')}. To fix: ${tool.installHint}.`,
    );
  });
}

async function findExisting(tool: Tool, r: Resolved): Promise<string | undefined> {
  return (
    (await findOnPath(tool.binName, r.env.PATH)) ??
    ((await isExecutableFile(path.join(r.binDir, tool.binName))) ? path.join(r.binDir, tool.binName) : undefined)
  );
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n').find((line) => line.trim() !== '') ?? message;
}

// ---------------------------------------------------------------------------------------------
// (c) the SDK's own download

/**
 * Asks the SDK (in a child process, so a hung download can be killed) to start its ephemeral server
 * from a download into `<cache>/sdk-download`, then copies the downloaded executable into `<cache>/bin`.
 */
async function sdkDownload(tool: Tool, r: Resolved): Promise<string> {
  const downloadDir = path.join(r.cacheDir, 'sdk-download', tool.sdkServerType);
  await fs.mkdir(downloadDir, { recursive: true });
  const program = `
const { TestWorkflowEnvironment } = require('@temporalio/testing');
const server = { executable: { type: 'cached-download', downloadDir: process.argv[1], ttl: '3650d' } };
const create = process.argv[2] === 'time-skipping'
  ? TestWorkflowEnvironment.createTimeSkipping({ server })
  : TestWorkflowEnvironment.createLocal({ server: { ...server, ui: false } });
create.then(async (env) => { await env.teardown(); process.exit(0); },
  (err) => { process.stderr.write(String(err && err.message || err) + '\\n'); process.exit(2); });
`;
  const before = new Set(await fs.readdir(downloadDir));
  const result = await run(process.execPath, ['-e', program, downloadDir, tool.sdkServerType], {
    cwd: REPO_ROOT,
    env: r.env,
    timeoutMs: r.sdkDownloadTimeoutMs,
  });
  if (result.code !== 0) throw new Error(result.stderr.trim() || `exit code ${result.code}`);
  const exe = await newestExecutable(downloadDir);
  if (!exe) throw new Error(`the SDK started a server but no executable is in ${downloadDir}`);
  if (!before.has(path.basename(exe))) r.log(`downloaded the ${tool.label} via the Temporal SDK`);
  const target = path.join(r.binDir, tool.binName);
  await copyAtomically(exe, target);
  return target;
}

async function newestExecutable(dir: string): Promise<string | undefined> {
  let best: { file: string; mtime: number } | undefined;
  for (const name of await fs.readdir(dir)) {
    const file = path.join(dir, name);
    if (!(await isExecutableFile(file))) continue;
    const { mtimeMs } = await fs.stat(file);
    if (!best || mtimeMs > best.mtime) best = { file, mtime: mtimeMs };
  }
  return best?.file;
}

async function copyAtomically(from: string, to: string): Promise<void> {
  const tmp = `${to}.tmp-${process.pid}`;
  await fs.copyFile(from, tmp);
  await fs.chmod(tmp, 0o755);
  await fs.rename(tmp, to);
}

// ---------------------------------------------------------------------------------------------
// (d) build from a package registry

/** Parses `go version go1.22.3 linux/amd64` → [1, 22]; undefined if unrecognised. */
export function parseGoVersion(output: string): [number, number] | undefined {
  const match = /go(\d+)\.(\d+)/.exec(output);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

function older(version: readonly [number, number], than: readonly [number, number]): boolean {
  return version[0] < than[0] || (version[0] === than[0] && version[1] < than[1]);
}

/**
 * Where Debian's backported Go and the upstream tarball put `go` (scripts/system-deps.mjs installs
 * the first); `PHOENIX_EXTRA_GO_DIRS` (colon-separated, may be empty) replaces the list.
 */
const DEFAULT_EXTRA_GO_DIRS = ['/usr/lib/go-1.23/bin', '/usr/local/go/bin'];

/**
 * The first `go` at least {@link MIN_GO_VERSION} on PATH, else in the extra Go dirs (Debian 12's
 * own Go on PATH is 1.19; the backported one is not on PATH).
 * @throws Error naming the version found when every `go` is older, or that there is none.
 */
export async function findGo(env: NodeJS.ProcessEnv): Promise<{ go: string; version: readonly [number, number] }> {
  const extra = env.PHOENIX_EXTRA_GO_DIRS !== undefined ? env.PHOENIX_EXTRA_GO_DIRS.split(':') : DEFAULT_EXTRA_GO_DIRS;
  let oldest: readonly [number, number] | undefined;
  for (const dir of [...(env.PATH ?? '').split(path.delimiter), ...extra]) {
    const go = dir ? await findOnPath('go', dir) : undefined;
    if (!go) continue;
    const version = parseGoVersion((await run(go, ['version'], { env }).catch(() => ({ stdout: '' }))).stdout);
    if (version && !older(version, MIN_GO_VERSION)) return { go, version };
    oldest ??= version;
  }
  if (oldest) throw new Error(`Go >= ${MIN_GO_VERSION.join('.')} is required, found ${oldest.join('.')}`);
  throw new Error(`\`go\` is not on PATH (nor in ${extra.join(', ') || 'any extra dir'})`);
}

async function buildCli(r: Resolved): Promise<string> {
  const { go, version } = await findGo(r.env);
  const goEnv: NodeJS.ProcessEnv = { GOFLAGS: [nonEmpty(r.env.GOFLAGS), '-modcacherw'].filter(Boolean).join(' ') };
  // Distro and official Go ship GOTOOLCHAIN=local in go.env, which would refuse the CLI's `go 1.25.0` line.
  if (older(version, CLI_GO_VERSION) && !nonEmpty(r.env.GOTOOLCHAIN)) goEnv.GOTOOLCHAIN = 'auto';
  // Build into a private dir and rename, so a concurrent reader never sees a half-written binary.
  const gobin = await fs.mkdtemp(path.join(r.binDir, '.go-build-'));
  try {
    r.log(`building the Temporal CLI with \`go install ${TEMPORAL_CLI_MODULE}\` — this takes several minutes on a cold cache`);
    const started = Date.now();
    const result = await run(go, ['install', TEMPORAL_CLI_MODULE], {
      env: { ...r.env, ...goEnv, GOBIN: gobin },
      timeoutMs: 60 * 60_000,
      onOutput: (line) => r.log(`go: ${line}`),
    });
    if (result.code !== 0) throw new Error(`go install failed (exit ${result.code}): ${lastLines(result.stderr)}`);
    const target = path.join(r.binDir, CLI_NAME);
    await fs.rename(path.join(gobin, CLI_NAME), target);
    r.log(`built ${target} in ${Math.round((Date.now() - started) / 1000)}s`);
    return target;
  } finally {
    await fs.rm(gobin, { recursive: true, force: true });
  }
}

async function buildTestServer(r: Resolved): Promise<string> {
  const java = await findOnPath('java', r.env.PATH);
  const mvn = await findOnPath('mvn', r.env.PATH);
  if (!java || !mvn) throw new Error(`${[!java && '`java`', !mvn && '`mvn`'].filter(Boolean).join(' and ')} not on PATH`);
  const serverDir = path.join(r.cacheDir, 'test-server');
  const libDir = path.join(serverDir, 'lib');
  await fs.mkdir(serverDir, { recursive: true });
  const tmpLib = await fs.mkdtemp(path.join(serverDir, '.lib-'));
  try {
    r.log('fetching the Temporal test server jars from Maven Central (scripts/maven/pom.xml) — may take a minute');
    const args = ['-q', '-B', '-Dstyle.color=never', '-f', TEST_SERVER_POM, 'dependency:copy-dependencies', `-DoutputDirectory=${tmpLib}`];
    const repoLocal = nonEmpty(r.env.PHOENIX_MAVEN_REPO);
    if (repoLocal) args.push(`-Dmaven.repo.local=${path.resolve(repoLocal)}`);
    const result = await run(mvn, args, { env: r.env, timeoutMs: 30 * 60_000, onOutput: (line) => r.log(`mvn: ${line}`) });
    if (result.code !== 0) throw new Error(`mvn failed (exit ${result.code}): ${lastLines(result.stdout + result.stderr)}`);
    const jars = (await fs.readdir(tmpLib)).filter((name) => name.startsWith('temporal-test-server-') && name.endsWith('.jar'));
    if (jars.length === 0) throw new Error(`mvn succeeded but no temporal-test-server jar is in ${tmpLib}`);
    await fs.chmod(tmpLib, 0o755);
    await fs.rm(libDir, { recursive: true, force: true });
    await fs.rename(tmpLib, libDir);
    await fs.writeFile(pomStampFile(r), `${await pomHash()}\n`);
    // New jars may change the API the loopback main compiles against: compile it again.
    await fs.rm(loopbackStampFile(r), { force: true });
  } finally {
    await fs.rm(tmpLib, { recursive: true, force: true });
  }
  return installTestServerWrapper(r);
}

/** Marks wrappers of the current shape; an older cached wrapper is rewritten in place. */
const WRAPPER_MARK = 'phoenix-test-server-wrapper v3';

/**
 * Compiles the loopback main if needed, writes the wrapper around it and records the class-data
 * archive for that exact class path (an archive only maps into a JVM with the class path it was made with).
 */
async function installTestServerWrapper(r: Resolved): Promise<string> {
  const loopback = await ensureLoopbackJar(r);
  // An archive recorded for the previous class path would be refused at every start: drop it first.
  await fs.rm(path.join(r.cacheDir, 'test-server', 'classes.jsa'), { force: true });
  const target = await writeTestServerWrapper(r, loopback);
  r.log(`installed ${target}; recording a class-data archive for faster JVM starts`);
  await recordClassArchive(r, target);
  return target;
}

async function writeTestServerWrapper(r: Resolved, loopbackJar: string | undefined): Promise<string> {
  const target = path.join(r.binDir, TEST_SERVER_NAME);
  const tmpWrapper = `${target}.tmp-${process.pid}`;
  const [classPath, main, binds] = loopbackJar
    ? [`$root/${path.basename(loopbackJar)}:$root/lib/*`, LOOPBACK_MAIN, '127.0.0.1 (PHOENIX_TEST_SERVER_HOST overrides)']
    : ['$root/lib/*', TEST_SERVER_MAIN, 'ALL interfaces: javac was unavailable when this was generated, see `npm run provision`'];
  // Paths are relative to the wrapper itself, so a cache restored at another path keeps working.
  // C1-only JIT, the serial GC and a class-data archive cut JVM start from ~3.5 s to <1 s on 2 busy
  // cores; that matters because the SDK gives the test server only 5 s to start listening.
  await fs.writeFile(
    tmpWrapper,
    [
      '#!/bin/sh',
      `# ${WRAPPER_MARK}: generated by scripts/provision.ts.`,
      '# Starts the Temporal time-skipping test server. Args: PORT [--enable-time-skipping]',
      `# Listens on ${binds}.`,
      'root="$(cd "$(dirname "$0")/../test-server" && pwd)" || exit 1',
      'if [ -f "$root/classes.jsa" ]; then',
      `  set -- -XX:SharedArchiveFile="$root/classes.jsa" -Xshare:auto -cp "${classPath}" ${main} "$@"`,
      'else',
      `  set -- -cp "${classPath}" ${main} "$@"`,
      'fi',
      '# shellcheck disable=SC2086 # extra options are meant to be split',
      'exec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xlog:cds*=off $PHOENIX_TEST_SERVER_JAVA_OPTS "$@"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  await fs.rename(tmpWrapper, target);
  return target;
}

function loopbackJarFile(r: Resolved): string {
  return path.join(r.cacheDir, 'test-server', LOOPBACK_JAR);
}

function loopbackStampFile(r: Resolved): string {
  return path.join(r.cacheDir, 'test-server', 'loopback.sha256');
}

/**
 * True when the loopback jar should be (re)built: its source changed since the last attempt, or the
 * jar a wrapper relies on is gone. Without javac there is nothing to retry, so it is never stale then.
 */
async function loopbackStale(r: Resolved, wrapperText: string): Promise<boolean> {
  if (!(await findOnPath('javac', r.env.PATH))) return false;
  const stamp = (await fs.readFile(loopbackStampFile(r), 'utf8').catch(() => '')).trim();
  if (stamp !== (await loopbackHash())) return true;
  return wrapperText.includes(LOOPBACK_MAIN) && !(await isFile(loopbackJarFile(r)));
}

/**
 * Compiles scripts/maven/LoopbackTestServer.java against the fetched jars into
 * `<cache>/test-server/phoenix-loopback.jar` (a jar, not a classes dir: the JVM refuses to record a
 * class-data archive with a non-empty directory on the class path). Returns the jar, or undefined
 * after one warning when javac is missing or fails; the wrapper then runs the upstream main class.
 */
async function ensureLoopbackJar(r: Resolved): Promise<string | undefined> {
  const jarFile = loopbackJarFile(r);
  const stampFile = loopbackStampFile(r);
  const hash = await loopbackHash();
  const stamp = (await fs.readFile(stampFile, 'utf8').catch(() => '')).trim();
  if (stamp === hash && (await isFile(jarFile))) return jarFile;
  await fs.rm(jarFile, { force: true });
  const javac = await findOnPath('javac', r.env.PATH);
  if (!javac) {
    r.log(
      'WARNING: `javac` is not on PATH, so the test server falls back to its upstream main class, which listens on ' +
        'ALL interfaces; install a JDK (`apt-get install openjdk-17-jdk-headless`) and run `npm run provision` again',
    );
    return undefined;
  }
  const serverDir = path.join(r.cacheDir, 'test-server');
  const classes = await fs.mkdtemp(path.join(serverDir, '.classes-'));
  const tmpJar = `${jarFile}.tmp-${process.pid}`;
  try {
    // --release 8: the oldest Java the Temporal SDK supports, so any runtime that runs the jars runs this too.
    const compiled = await run(
      javac,
      ['--release', '8', '-Xlint:-options', '-cp', `${path.join(serverDir, 'lib')}/*`, '-d', classes, LOOPBACK_SOURCE],
      { env: r.env, timeoutMs: 5 * 60_000 },
    );
    if (compiled.code !== 0) throw new Error(`javac failed (exit ${compiled.code}): ${lastLines(compiled.stdout + compiled.stderr, 5)}`);
    const jarTool = await siblingOrOnPath(javac, 'jar', r.env.PATH);
    if (!jarTool) throw new Error('`jar` is not next to javac nor on PATH');
    const packed = await run(jarTool, ['cf', tmpJar, '-C', classes, '.'], { env: r.env, timeoutMs: 60_000 });
    if (packed.code !== 0) throw new Error(`jar failed (exit ${packed.code}): ${lastLines(packed.stdout + packed.stderr, 5)}`);
    await fs.rename(tmpJar, jarFile);
    return jarFile;
  } catch (err) {
    r.log(
      `WARNING: could not build the loopback test-server main (${firstLine(err)}); falling back to the upstream main ` +
        'class, which listens on ALL interfaces',
    );
    return undefined;
  } finally {
    // Stamped even after a failure, so one broken compile warns once instead of at every test start.
    await fs.writeFile(stampFile, `${hash}\n`);
    await fs.rm(classes, { recursive: true, force: true });
    await fs.rm(tmpJar, { force: true });
  }
}

async function siblingOrOnPath(tool: string, name: string, pathValue: string | undefined): Promise<string | undefined> {
  const sibling = path.join(path.dirname(await fs.realpath(tool)), name);
  return (await isExecutableFile(sibling)) ? sibling : findOnPath(name, pathValue);
}

async function isFile(file: string): Promise<boolean> {
  return fs.stat(file).then(
    (stat) => stat.isFile(),
    () => false,
  );
}

/**
 * Starts the test server once with `-XX:ArchiveClassesAtExit` so later starts map the loaded classes
 * instead of parsing jars. Best effort: without the archive the server still works, just slower.
 */
async function recordClassArchive(r: Resolved, wrapper: string): Promise<void> {
  const archive = path.join(r.cacheDir, 'test-server', 'classes.jsa');
  const tmpArchive = `${archive}.tmp-${process.pid}`;
  await fs.rm(archive, { force: true });
  const port = await freeLocalPort();
  const child = spawn(wrapper, [String(port), '--enable-time-skipping'], {
    // Pinned to loopback: the readiness probe below connects to 127.0.0.1.
    env: { ...r.env, PHOENIX_TEST_SERVER_HOST: '127.0.0.1', PHOENIX_TEST_SERVER_JAVA_OPTS: `-XX:ArchiveClassesAtExit=${tmpArchive}` },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  let done = false;
  void exited.then(() => (done = true));
  const deadline = Date.now() + 60_000;
  while (!done && Date.now() < deadline && !(await canConnect(port))) await sleep(100);
  if (!done) {
    await sleep(1_000);
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killer);
  }
  try {
    if ((await fs.stat(tmpArchive)).size > 0) await fs.rename(tmpArchive, archive);
  } catch {
    // No archive recorded (e.g. a JVM without dynamic CDS): starts stay slower, nothing breaks.
  } finally {
    await fs.rm(tmpArchive, { force: true });
  }
}

/**
 * Brings a cached test server up to date: refetches the jars when the pom changed, recompiles the
 * loopback main when its source changed, and rewrites a wrapper of an older shape.
 */
async function upgradeTestServerWrapper(found: string, r: Resolved): Promise<void> {
  if (found !== path.join(r.binDir, TEST_SERVER_NAME)) return;
  const stale = async (): Promise<{ wrapper: boolean; jars: boolean; loopback: boolean }> => {
    const text = await fs.readFile(found, 'utf8').catch(() => '');
    const ours = text.includes(TEST_SERVER_MAIN) || text.includes(LOOPBACK_MAIN);
    if (!ours) return { wrapper: false, jars: false, loopback: false };
    return {
      wrapper: !text.includes(WRAPPER_MARK),
      // The jars follow scripts/maven/pom.xml: a version bump there must reach every cache.
      jars: r.build && (await readPomStamp(r)) !== (await pomHash()),
      loopback: await loopbackStale(r, text),
    };
  };
  const first = await stale();
  if (!first.wrapper && !first.jars && !first.loopback) return;
  await withLock(path.join(r.cacheDir, 'locks', `${TEST_SERVER_NAME}.lock`), (owner) => r.log(`waiting for another process (pid ${owner}) to provision the test server upgrade`), async () => {
    const now = await stale();
    if (now.jars) {
      r.log('scripts/maven/pom.xml changed since the cached test server was fetched: fetching again');
      await buildTestServer(r);
    } else if (now.wrapper || now.loopback) {
      r.log('upgrading the cached test-server wrapper (loopback-only listener, faster JVM start)');
      await installTestServerWrapper(r);
    }
  });
}

async function pomHash(): Promise<string> {
  return createHash('sha256').update(await fs.readFile(TEST_SERVER_POM)).digest('hex');
}

async function loopbackHash(): Promise<string> {
  return createHash('sha256').update(await fs.readFile(LOOPBACK_SOURCE)).digest('hex');
}

function pomStampFile(r: Resolved): string {
  return path.join(r.cacheDir, 'test-server', 'pom.sha256');
}

async function readPomStamp(r: Resolved): Promise<string> {
  return (await fs.readFile(pomStampFile(r), 'utf8').catch(() => '')).trim();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function lastLines(text: string, count = 15): string {
  return text.trim().split('\n').slice(-count).join('\n');
}

// ---------------------------------------------------------------------------------------------
// (e) the real Temporal server and its SQL tool, for a PostgreSQL-backed server

/**
 * Pinned server version. Checked through proxy.golang.org on 2026-12-01: v1.29.1 has no `replace`
 * directive and needs Go 1.25; v1.29.3 is refused by the proxy; newer minors need Go >= 1.26.10.
 */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
/** The server module's go.mod says `go 1.25.0`. */
export const TEMPORAL_SERVER_GO_VERSION: readonly [number, number] = [1, 25];
/** Toolchain an older local Go fetches from the module proxy to build the server. */
export const TEMPORAL_SERVER_TOOLCHAIN = 'go1.27.3';
const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server';

/** What one wrapper-module build produces, cached under `<cache>/bin` with the version in the name. */
interface ServerBuild {
  label: string;
  envVar: string;
  binName: string;
  pkg: string;
}

const SERVER_BUILD: ServerBuild = {
  label: 'Temporal server',
  envVar: 'TEMPORAL_SERVER_PATH',
  binName: `temporal-server-${TEMPORAL_SERVER_VERSION}`,
  pkg: `${TEMPORAL_SERVER_MODULE}/cmd/server`,
};

const SQL_TOOL_BUILD: ServerBuild = {
  label: 'temporal-sql-tool',
  envVar: 'TEMPORAL_SQL_TOOL_PATH',
  binName: `temporal-sql-tool-${TEMPORAL_SERVER_VERSION}`,
  pkg: `${TEMPORAL_SERVER_MODULE}/cmd/tools/sql`,
};

/**
 * Returns the path of a Temporal server binary ({@link TEMPORAL_SERVER_VERSION}): TEMPORAL_SERVER_PATH,
 * else `<cache>/bin/temporal-server-<version>`, else built with Go (about 2.5 minutes on 2 cores).
 */
export function ensureTemporalServer(options?: ProvisionOptions): Promise<string> {
  return ensureServerBuild(SERVER_BUILD, resolveOptions(options));
}

/** Returns the path of `temporal-sql-tool` ({@link TEMPORAL_SERVER_VERSION}), found or built like the server. */
export function ensureTemporalSqlTool(options?: ProvisionOptions): Promise<string> {
  return ensureServerBuild(SQL_TOOL_BUILD, resolveOptions(options));
}

/**
 * Returns the server's PostgreSQL schema directory (`…/schema/postgresql/v12`, holding `temporal/`
 * and `visibility/`), copied from the module cache into `<cache>/temporal-server-<version>/` so a
 * cache restored without the Go module cache still has it. TEMPORAL_SCHEMA_DIR overrides it.
 */
export async function ensureTemporalPostgresSchema(options?: ProvisionOptions): Promise<string> {
  const r = resolveOptions(options);
  const explicit = nonEmpty(r.env.TEMPORAL_SCHEMA_DIR);
  if (explicit) {
    const dir = path.resolve(explicit);
    if (await isFile(path.join(dir, 'temporal', 'schema.sql'))) return dir;
    throw new ProvisionError(`TEMPORAL_SCHEMA_DIR=${explicit} has no temporal/schema.sql; fix or unset it`, 'TEMPORAL_SCHEMA_DIR');
  }
  const dir = schemaDir(r);
  if (await isFile(path.join(dir, 'temporal', 'schema.sql'))) return dir;
  if (!r.build) throw new ProvisionError(`the Temporal PostgreSQL schema is not in ${dir} and building is disabled (PHOENIX_PROVISION_NO_BUILD=1)`);
  return withLock(serverBuildLock(r), (owner) => r.log(`waiting for another process (pid ${owner}) to provision the Temporal schema`), async () => {
    if (await isFile(path.join(dir, 'temporal', 'schema.sql'))) return dir;
    const { go, env } = await serverGo(r);
    const moduleDir = await writeServerModule(r);
    const listed = await run(go, ['list', '-mod=mod', '-m', '-f', '{{.Dir}}', TEMPORAL_SERVER_MODULE], { cwd: moduleDir, env, timeoutMs: 10 * 60_000 });
    const source = listed.stdout.trim();
    if (listed.code !== 0 || !source) throw new ProvisionError(`go list -m ${TEMPORAL_SERVER_MODULE} failed: ${lastLines(listed.stderr)}`);
    const tmp = `${dir}.tmp-${process.pid}`;
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.mkdir(path.dirname(dir), { recursive: true });
    await fs.cp(path.join(source, 'schema', 'postgresql', 'v12'), tmp, { recursive: true });
    // The module cache is read-only; the copy must be removable by a later cache cleanup.
    await run('chmod', ['-R', 'u+w', tmp]);
    await fs.rename(tmp, dir);
    return dir;
  });
}

function schemaDir(r: Resolved): string {
  return path.join(r.cacheDir, `temporal-server-${TEMPORAL_SERVER_VERSION}`, 'schema', 'postgresql', 'v12');
}

function serverBuildLock(r: Resolved): string {
  // One lock for the server, the tool and the schema: they share one wrapper module and its go.sum.
  return path.join(r.cacheDir, 'locks', `temporal-server-build-${TEMPORAL_SERVER_VERSION}.lock`);
}

async function ensureServerBuild(build: ServerBuild, r: Resolved): Promise<string> {
  const explicit = await fromEnv(build.envVar, r);
  if (explicit) return explicit;
  const target = path.join(r.binDir, build.binName);
  if (await isExecutableFile(target)) return target;
  if (!r.build) {
    throw new ProvisionError(
      `${build.label} ${TEMPORAL_SERVER_VERSION} is not in ${target} and building is disabled (PHOENIX_PROVISION_NO_BUILD=1); ` +
        `set ${build.envVar} to a prebuilt binary or allow the build`,
    );
  }
  await fs.mkdir(r.binDir, { recursive: true });
  return withLock(serverBuildLock(r), (owner) => r.log(`waiting for another process (pid ${owner}) to build the ${build.label}`), async () => {
    if (await isExecutableFile(target)) return target;
    const { go, env } = await serverGo(r);
    const moduleDir = await writeServerModule(r);
    r.log(`building the ${build.label} ${TEMPORAL_SERVER_VERSION} (go build ${build.pkg}) in ${moduleDir} — the server takes about 2.5 minutes on 2 cores`);
    const started = Date.now();
    const tmp = `${target}.tmp-${process.pid}`;
    // -mod=mod lets the build write the wrapper's go.sum.
    const result = await run(go, ['build', '-mod=mod', '-trimpath', '-ldflags=-s -w', '-o', tmp, build.pkg], {
      cwd: moduleDir,
      env,
      timeoutMs: 45 * 60_000,
    });
    if (result.code !== 0) {
      await fs.rm(tmp, { force: true });
      throw new ProvisionError(`go build ${build.pkg} failed (exit ${result.code}): ${lastLines(result.stderr)}`);
    }
    // Renamed into place so a concurrent reader never runs a half-written binary.
    await fs.chmod(tmp, 0o755);
    await fs.rename(tmp, target);
    r.log(`built ${target} in ${Math.round((Date.now() - started) / 1000)}s`);
    return target;
  });
}

/**
 * The local Go and the environment to build the server with. A Go older than 1.25 gets
 * GOTOOLCHAIN={@link TEMPORAL_SERVER_TOOLCHAIN}, fetched from the module proxy; the machine's Go is left as it is.
 */
async function serverGo(r: Resolved): Promise<{ go: string; env: NodeJS.ProcessEnv }> {
  let found: Awaited<ReturnType<typeof findGo>>;
  try {
    found = await findGo(r.env);
  } catch (err) {
    throw new ProvisionError(
      `cannot build the Temporal server ${TEMPORAL_SERVER_VERSION}: it needs Go >= ${TEMPORAL_SERVER_GO_VERSION.join('.')} ` +
        `(or Go >= ${MIN_GO_VERSION.join('.')}, which fetches ${TEMPORAL_SERVER_TOOLCHAIN} itself): ${firstLine(err)}. ` +
        'Install Go (Debian 12: `apt-get install -t bookworm-backports golang-1.23-go`) or set TEMPORAL_SERVER_PATH and TEMPORAL_SQL_TOOL_PATH',
    );
  }
  const env: NodeJS.ProcessEnv = { ...r.env, GOFLAGS: [nonEmpty(r.env.GOFLAGS), '-modcacherw'].filter(Boolean).join(' ') };
  if (older(found.version, TEMPORAL_SERVER_GO_VERSION) && !nonEmpty(r.env.GOTOOLCHAIN)) env.GOTOOLCHAIN = TEMPORAL_SERVER_TOOLCHAIN;
  return { go: found.go, env };
}

/** The wrapper module: `go build go.temporal.io/server/cmd/server` needs a main module that requires it. */
async function writeServerModule(r: Resolved): Promise<string> {
  const moduleDir = path.join(r.cacheDir, 'temporal-server-build', TEMPORAL_SERVER_VERSION);
  await fs.mkdir(moduleDir, { recursive: true });
  const goMod = `module phoenix.local/temporal-server-build\n\ngo ${TEMPORAL_SERVER_GO_VERSION.join('.')}.0\n\nrequire ${TEMPORAL_SERVER_MODULE} ${TEMPORAL_SERVER_VERSION}\n`;
  const file = path.join(moduleDir, 'go.mod');
  // Rewritten only when different: the build adds indirect requirements that must be kept.
  const current = await fs.readFile(file, 'utf8').catch(() => '');
  if (!current.includes(`${TEMPORAL_SERVER_MODULE} ${TEMPORAL_SERVER_VERSION}`)) await fs.writeFile(file, goMod);
  return moduleDir;
}

// ---------------------------------------------------------------------------------------------
// process and lock helpers

const run = runCommand;

/**
 * `tsx scripts/provision.ts` ensures everything; `--skip-temporal-server` leaves out the Temporal
 * server build (npm test asks for it only when a test needs it), `--temporal-server` does only that.
 */
async function main(args: readonly string[]): Promise<void> {
  const started = Date.now();
  if (!args.includes('--temporal-server')) {
    const [cli, testServer] = await Promise.all([ensureTemporalCli(), ensureTestServer()]);
    process.stdout.write(`temporal CLI:         ${cli}\n`);
    process.stdout.write(`time-skipping server: ${testServer}\n`);
  }
  if (!args.includes('--skip-temporal-server')) {
    // After the CLI, not beside it: Go builds are CPU-bound and the machines this runs on have few cores.
    const server = await ensureTemporalServer();
    const sqlTool = await ensureTemporalSqlTool();
    const schema = await ensureTemporalPostgresSchema();
    process.stdout.write(`temporal server:      ${server}\n`);
    process.stdout.write(`temporal-sql-tool:    ${sqlTool}\n`);
    process.stdout.write(`postgresql schema:    ${schema}\n`);
  }
  if (Date.now() - started > 5_000) process.stdout.write(`provisioned in ${Math.round((Date.now() - started) / 1000)}s\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`provision failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
