/**
 * Search order, errors, caching and locking of scripts/provision.ts, with fake executables in temp
 * dirs (a real build takes minutes; `npm run provision` and the e2e tests exercise the real thing).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ensureTemporalCli,
  ensureTemporalPostgresSchema,
  ensureTemporalServer,
  ensureTemporalSqlTool,
  findGo,
  ensureTestServer,
  findOnPath,
  parseGoVersion,
  ProvisionError,
  type ProvisionOptions,
} from '../../scripts/provision';

let root: string;

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'phoenix-provision-'));
});

after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** A fresh dir under the test root. */
async function dir(name: string): Promise<string> {
  const created = path.join(root, `${name}-${Math.random().toString(36).slice(2, 8)}`);
  await fs.mkdir(created, { recursive: true });
  return created;
}

async function script(file: string, body: string, mode = 0o755): Promise<string> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, `#!/bin/sh\n${body}\n`, { mode });
  return file;
}

/** Options that never touch the network nor a real toolchain unless a test opts in. */
function offline(cacheDir: string, env: NodeJS.ProcessEnv, extra: ProvisionOptions = {}): ProvisionOptions {
  // The real Go in the extra Go dirs (/usr/local/go/bin) must not stand in for a test's fake one.
  return { cacheDir, env: { PHOENIX_EXTRA_GO_DIRS: '', ...env }, sdkDownload: false, build: false, log: () => {}, ...extra };
}

const SYSTEM_PATH = '/usr/bin:/bin';

/**
 * Fake `javac` and `jar` in `tools` (shadowing a real JDK on SYSTEM_PATH): javac logs its args and
 * "compiles" LoopbackTestServer.class into its -d dir, jar packs that dir's listing into the jar file.
 */
async function fakeJdk(tools: string, javacBody?: string): Promise<{ javacCalls: string }> {
  const javacCalls = path.join(tools, 'javac.log');
  await script(
    path.join(tools, 'javac'),
    javacBody ??
      [
        `echo "$@" >> ${javacCalls}`,
        'while [ $# -gt 0 ]; do if [ "$1" = -d ]; then out="$2"; fi; shift; done',
        'echo class > "$out/LoopbackTestServer.class"',
      ].join('\n'),
  );
  await script(path.join(tools, 'jar'), '[ "$1" = cf ] && [ "$3" = -C ] && ls "$4" > "$2"');
  return { javacCalls };
}

/**
 * A fake `mvn` in `tools` that "copies dependencies" by touching `jars` in its -DoutputDirectory,
 * logging its arguments to `<tools>/mvn.log`. Returns the log's path.
 */
async function fakeMvn(tools: string, jars: string[]): Promise<string> {
  const mvnCalls = path.join(tools, 'mvn.log');
  await script(
    path.join(tools, 'mvn'),
    [
      `echo "$@" >> ${mvnCalls}`,
      'for arg in "$@"; do case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}";; esac; done',
      `touch ${jars.map((j) => `"$out/${j}"`).join(' ')}`,
    ].join('\n'),
  );
  return mvnCalls;
}

/** A PATH dir with only the system tools the fakes and the wrapper need: no javac, no jar. */
async function minimalSystemBin(): Promise<string> {
  const bin = await dir('sysbin');
  for (const tool of ['touch', 'dirname']) await fs.symlink(path.join('/usr/bin', tool), path.join(bin, tool));
  return bin;
}

async function lineCount(file: string): Promise<number> {
  return (await fs.readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
}

describe('ensureTemporalCli search order', () => {
  it('prefers TEMPORAL_CLI_PATH over PATH and the cache', async () => {
    const cache = await dir('cache');
    const onPath = await dir('path');
    await script(path.join(onPath, 'temporal'), 'echo path');
    await script(path.join(cache, 'bin', 'temporal'), 'echo cache');
    const explicit = await script(path.join(await dir('explicit'), 'my-temporal'), 'echo explicit');
    const found = await ensureTemporalCli(offline(cache, { TEMPORAL_CLI_PATH: explicit, PATH: `${onPath}:${SYSTEM_PATH}` }));
    assert.equal(found, explicit);
  });

  it('fails naming TEMPORAL_CLI_PATH when it points at nothing', async () => {
    const cache = await dir('cache');
    await script(path.join(cache, 'bin', 'temporal'), 'echo cache');
    await assert.rejects(
      ensureTemporalCli(offline(cache, { TEMPORAL_CLI_PATH: path.join(root, 'missing', 'temporal'), PATH: SYSTEM_PATH })),
      (err: unknown) =>
        err instanceof ProvisionError && err.variable === 'TEMPORAL_CLI_PATH' && /TEMPORAL_CLI_PATH=.*not an executable/.test(err.message),
    );
  });

  it('fails naming TEMPORAL_TEST_SERVER_PATH when the file is not executable', async () => {
    const cache = await dir('cache');
    const notExecutable = await script(path.join(await dir('explicit'), 'server'), 'echo hi', 0o644);
    await assert.rejects(
      ensureTestServer(offline(cache, { TEMPORAL_TEST_SERVER_PATH: notExecutable, PATH: SYSTEM_PATH })),
      (err: unknown) => err instanceof ProvisionError && err.variable === 'TEMPORAL_TEST_SERVER_PATH',
    );
  });

  it('rejects a directory given as the explicit path', async () => {
    const cache = await dir('cache');
    await assert.rejects(
      ensureTemporalCli(offline(cache, { TEMPORAL_CLI_PATH: await dir('a-dir'), PATH: SYSTEM_PATH })),
      /TEMPORAL_CLI_PATH/,
    );
  });

  it('finds `temporal` on PATH before the cache, skipping non-executable entries', async () => {
    const cache = await dir('cache');
    const shadow = await dir('shadow');
    await script(path.join(shadow, 'temporal'), 'echo not executable', 0o644);
    const onPath = await dir('path');
    const expected = await script(path.join(onPath, 'temporal'), 'echo path');
    await script(path.join(cache, 'bin', 'temporal'), 'echo cache');
    const found = await ensureTemporalCli(offline(cache, { PATH: `${shadow}:${onPath}:${SYSTEM_PATH}` }));
    assert.equal(found, expected);
  });

  it('falls back to <cache>/bin and treats an empty env path as unset', async () => {
    const cache = await dir('cache');
    const cached = await script(path.join(cache, 'bin', 'temporal-test-server'), 'echo cache');
    const found = await ensureTestServer(offline(cache, { TEMPORAL_TEST_SERVER_PATH: '', PATH: SYSTEM_PATH }));
    assert.equal(found, cached);
  });

  it('reads the cache dir from PHOENIX_CACHE_DIR', async () => {
    const cache = await dir('cache');
    const cached = await script(path.join(cache, 'bin', 'temporal'), 'echo cache');
    const found = await ensureTemporalCli({ env: { PHOENIX_CACHE_DIR: cache, PATH: SYSTEM_PATH }, sdkDownload: false, build: false });
    assert.equal(found, cached);
  });

  it('raises one error saying what to install when nothing is found and nothing may be built', async () => {
    const cache = await dir('cache');
    await assert.rejects(ensureTemporalCli(offline(cache, { PATH: SYSTEM_PATH })), (err: unknown) => {
      assert.ok(err instanceof ProvisionError);
      assert.match(err.message, /Go >= 1\.22/);
      assert.match(err.message, /Temporal CLI/);
      assert.match(err.message, /TEMPORAL_CLI_PATH/);
      return true;
    });
    await assert.rejects(ensureTestServer(offline(cache, { PATH: SYSTEM_PATH })), /Java 17 and Maven/);
  });
});

describe('building from a registry (fake toolchains)', () => {
  /** A fake `go` that logs each call and "installs" a binary into $GOBIN after `delay` seconds. */
  async function fakeGo(version: string, delay = 0): Promise<{ bin: string; calls: string }> {
    const bin = await dir('fake-go');
    const calls = path.join(bin, 'calls.log');
    await script(
      path.join(bin, 'go'),
      [
        `if [ "$1" = version ]; then echo "go version go${version} linux/amd64"; exit 0; fi`,
        `echo "$@ GOBIN=$GOBIN GOTOOLCHAIN=$GOTOOLCHAIN" >> ${calls}`,
        `sleep ${delay}`,
        'printf "#!/bin/sh\\necho built\\n" > "$GOBIN/temporal" && chmod +x "$GOBIN/temporal"',
      ].join('\n'),
    );
    return { bin, calls };
  }

  it('refuses a Go older than 1.22 and says so', async () => {
    const cache = await dir('cache');
    const go = await fakeGo('1.19.4');
    await assert.rejects(
      ensureTemporalCli(offline(cache, { PATH: `${go.bin}:${SYSTEM_PATH}` }, { build: true })),
      /Go >= 1\.22 is required, found 1\.19/,
    );
    await assert.rejects(fs.access(go.calls), 'go install never ran');
  });

  it('finds a recent Go in the extra dirs when the one on PATH is too old (Debian 12 with backports)', async () => {
    const old = await fakeGo('1.19.4');
    const backport = await fakeGo('1.23.5');
    const found = await findGo({ PATH: `${old.bin}:${SYSTEM_PATH}`, PHOENIX_EXTRA_GO_DIRS: backport.bin });
    assert.equal(found.go, path.join(backport.bin, 'go'));
    assert.deepEqual(found.version, [1, 23]);
    await assert.rejects(findGo({ PATH: `${old.bin}:${SYSTEM_PATH}`, PHOENIX_EXTRA_GO_DIRS: '' }), /Go >= 1\.22 is required, found 1\.19/);
  });

  it('go-installs the pinned CLI into the cache once, then serves it from the cache', async () => {
    const cache = await dir('cache');
    const go = await fakeGo('1.26.8');
    const messages: string[] = [];
    const options = offline(cache, { PATH: `${go.bin}:${SYSTEM_PATH}` }, { build: true, log: (m) => messages.push(m) });
    const built = await ensureTemporalCli(options);
    assert.equal(built, path.join(cache, 'bin', 'temporal'));
    assert.equal(execFileSync(built).toString().trim(), 'built');
    assert.match(await fs.readFile(go.calls, 'utf8'), /^install github\.com\/temporalio\/cli\/cmd\/temporal@v1\.5\.1 GOBIN=\S+ GOTOOLCHAIN=$/m);
    assert.ok(messages.some((m) => /several minutes/.test(m)), 'announces the slow build');

    messages.length = 0;
    assert.equal(await ensureTemporalCli(options), built);
    assert.equal((await fs.readFile(go.calls, 'utf8')).trim().split('\n').length, 1, 'second call did not build');
    assert.deepEqual(messages, [], 'silent when nothing is built');
    assert.deepEqual((await fs.readdir(path.join(cache, 'bin'))).sort(), ['temporal'], 'no temp dirs left behind');
  });

  it('builds once when several callers race, the others wait on the lock', async () => {
    const cache = await dir('cache');
    const go = await fakeGo('1.22.0', 1);
    const options = offline(cache, { PATH: `${go.bin}:${SYSTEM_PATH}` }, { build: true });
    const results = await Promise.all([ensureTemporalCli(options), ensureTemporalCli(options), ensureTemporalCli(options)]);
    assert.deepEqual(new Set(results), new Set([path.join(cache, 'bin', 'temporal')]));
    const calls = (await fs.readFile(go.calls, 'utf8')).trim().split('\n');
    assert.equal(calls.length, 1);
    // Go 1.22 cannot build the CLI's `go 1.25.0` module by itself: it must be allowed to switch toolchains.
    assert.match(calls[0] ?? '', /GOTOOLCHAIN=auto$/);
  });

  it('takes over a lock left by a dead process', async () => {
    const cache = await dir('cache');
    const go = await fakeGo('1.22.0');
    await fs.mkdir(path.join(cache, 'locks'), { recursive: true });
    const deadPid = execFileSync('/bin/sh', ['-c', 'echo $$']).toString().trim();
    await fs.writeFile(path.join(cache, 'locks', 'temporal.lock'), `${deadPid}\n`);
    const built = await ensureTemporalCli(offline(cache, { PATH: `${go.bin}:${SYSTEM_PATH}` }, { build: true }));
    assert.equal(built, path.join(cache, 'bin', 'temporal'));
    await assert.rejects(fs.access(path.join(cache, 'locks', 'temporal.lock')), 'lock released');
  });

  it('fetches the test server jars with mvn, compiles the loopback main and writes a wrapper running it', async () => {
    const cache = await dir('cache');
    const tools = await dir('fake-java');
    const mvnCalls = await fakeMvn(tools, ['temporal-test-server-1.38.0.jar', 'grpc-core-1.76.0.jar']);
    await script(path.join(tools, 'java'), 'echo "java $*"');
    const { javacCalls } = await fakeJdk(tools);
    const env = { PATH: `${tools}:${SYSTEM_PATH}` };
    const wrapper = await ensureTestServer(offline(cache, env, { build: true }));
    assert.equal(wrapper, path.join(cache, 'bin', 'temporal-test-server'));
    assert.match(await fs.readFile(mvnCalls, 'utf8'), /-f \S+scripts\/maven\/pom\.xml dependency:copy-dependencies/);
    const serverDir = path.join(cache, 'test-server');
    assert.deepEqual((await fs.readdir(path.join(serverDir, 'lib'))).sort(), [
      'grpc-core-1.76.0.jar',
      'temporal-test-server-1.38.0.jar',
    ]);
    assert.match(
      await fs.readFile(javacCalls, 'utf8'),
      new RegExp(`^--release 8 -Xlint:-options -cp ${serverDir}/lib/\\* -d \\S+ \\S+/scripts/maven/LoopbackTestServer\\.java$`, 'm'),
    );
    assert.equal((await fs.readFile(path.join(serverDir, 'phoenix-loopback.jar'), 'utf8')).trim(), 'LoopbackTestServer.class');
    assert.match(await fs.readFile(path.join(serverDir, 'loopback.sha256'), 'utf8'), /^[0-9a-f]{64}\n$/);
    assert.ok(!(await fs.readdir(serverDir)).some((name) => name.startsWith('.classes-')), 'no temp classes dir left');
    const output = execFileSync(wrapper, ['7234', '--enable-time-skipping'], { env }).toString().trim();
    const root = await fs.realpath(serverDir);
    assert.equal(
      output,
      `java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xlog:cds*=off -cp ${root}/phoenix-loopback.jar:${root}/lib/* LoopbackTestServer 7234 --enable-time-skipping`,
    );
  });

  it('without javac: warns once, and the wrapper runs the upstream main class', async () => {
    const cache = await dir('cache');
    const tools = await dir('fake-java');
    await fakeMvn(tools, ['temporal-test-server-1.38.0.jar']);
    await script(path.join(tools, 'java'), 'echo "java $*"');
    const env = { PATH: `${tools}:${await minimalSystemBin()}` };
    const messages: string[] = [];
    const options = offline(cache, env, { build: true, log: (m) => messages.push(m) });
    const wrapper = await ensureTestServer(options);
    const warnings = messages.filter((m) => /WARNING/.test(m));
    assert.equal(warnings.length, 1, messages.join('\n'));
    assert.match(warnings[0] ?? '', /`javac` is not on PATH.*ALL interfaces/);
    assert.match(execFileSync(wrapper, ['1'], { env }).toString(), / -cp \S+\/lib\/\* io\.temporal\.testserver\.TestServer 1$/m);

    messages.length = 0;
    assert.equal(await ensureTestServer(options), wrapper);
    assert.deepEqual(messages, [], 'no second warning, no rebuild');
  });

  it('when javac fails: warns with its output, falls back, and does not retry the same source', async () => {
    const cache = await dir('cache');
    const tools = await dir('fake-java');
    await script(path.join(tools, 'java'), 'echo "java $*"');
    const javacCalls = path.join(tools, 'javac.log');
    await fakeJdk(tools, `echo "$@" >> ${javacCalls}; echo "LoopbackTestServer.java:3: error: package io.grpc does not exist" >&2; exit 1`);
    await fs.mkdir(path.join(cache, 'test-server', 'lib'), { recursive: true });
    await script(path.join(cache, 'bin', 'temporal-test-server'), 'exec java -cp "/old/lib/*" io.temporal.testserver.TestServer "$@"');
    const env = { PATH: `${tools}:${SYSTEM_PATH}` };
    const messages: string[] = [];
    const wrapper = await ensureTestServer(offline(cache, env, { log: (m) => messages.push(m) }));
    assert.ok(
      messages.some((m) => /WARNING: could not build the loopback.*javac failed \(exit 1\): .*package io\.grpc does not exist/.test(m)),
      messages.join('\n'),
    );
    assert.match(execFileSync(wrapper, ['1'], { env }).toString(), /io\.temporal\.testserver\.TestServer 1$/m);
    await assert.rejects(fs.access(path.join(cache, 'test-server', 'phoenix-loopback.jar')), 'no jar from a failed compile');

    messages.length = 0;
    await ensureTestServer(offline(cache, env, { log: (m) => messages.push(m) }));
    assert.deepEqual(messages, []);
    assert.equal(await lineCount(javacCalls), 1, 'javac ran once');
  });

  it('recompiles when LoopbackTestServer.java changed or its jar vanished, and only then', async () => {
    const cache = await dir('cache');
    const tools = await dir('fake-java');
    await script(path.join(tools, 'java'), 'echo "java $*"');
    const { javacCalls } = await fakeJdk(tools);
    await fs.mkdir(path.join(cache, 'test-server', 'lib'), { recursive: true });
    await script(path.join(cache, 'bin', 'temporal-test-server'), 'exec java -cp "/old/lib/*" io.temporal.testserver.TestServer "$@"');
    const options = offline(cache, { PATH: `${tools}:${SYSTEM_PATH}` });
    const wrapper = await ensureTestServer(options);
    assert.equal(await lineCount(javacCalls), 1);
    await ensureTestServer(options);
    assert.equal(await lineCount(javacCalls), 1, 'unchanged source: not recompiled');

    const stamp = path.join(cache, 'test-server', 'loopback.sha256');
    await fs.writeFile(stamp, 'hash-of-an-older-source\n');
    await ensureTestServer(options);
    assert.equal(await lineCount(javacCalls), 2, 'changed source: recompiled');
    assert.match(await fs.readFile(stamp, 'utf8'), /^[0-9a-f]{64}\n$/);

    await fs.rm(path.join(cache, 'test-server', 'phoenix-loopback.jar'));
    await ensureTestServer(options);
    assert.equal(await lineCount(javacCalls), 3, 'missing jar: recompiled');
    assert.match(await fs.readFile(wrapper, 'utf8'), /LoopbackTestServer "\$@"/);
  });

  it('rewrites a cached wrapper of an older shape and uses a class archive once present', async () => {
    const cache = await dir('cache');
    const tools = await dir('fake-java');
    await script(path.join(tools, 'java'), 'echo "java $*"');
    await fakeJdk(tools);
    await fs.mkdir(path.join(cache, 'test-server', 'lib'), { recursive: true });
    const wrapper = await script(
      path.join(cache, 'bin', 'temporal-test-server'),
      'exec java -cp "/old/lib/*" io.temporal.testserver.TestServer "$@"',
    );
    const env = { PATH: `${tools}:${SYSTEM_PATH}` };
    const messages: string[] = [];
    assert.equal(await ensureTestServer(offline(cache, env, { log: (m) => messages.push(m) })), wrapper);
    assert.match(await fs.readFile(wrapper, 'utf8'), /phoenix-test-server-wrapper v3/);
    assert.match(execFileSync(wrapper, ['1'], { env }).toString(), / LoopbackTestServer 1$/m);
    assert.ok(messages.some((m) => /upgrading/.test(m)));

    await fs.writeFile(path.join(cache, 'test-server', 'classes.jsa'), 'archive');
    const root = await fs.realpath(path.join(cache, 'test-server'));
    assert.match(execFileSync(wrapper, ['1'], { env }).toString(), new RegExp(`-XX:SharedArchiveFile=${root}/classes\\.jsa -Xshare:auto -cp`));
    messages.length = 0;
    await ensureTestServer(offline(cache, env, { log: (m) => messages.push(m) }));
    assert.deepEqual(messages, [], 'an up-to-date wrapper is left alone');
  });

  it('fetches the jars again when scripts/maven/pom.xml changed since the cache was made', async () => {
    const cache = await dir('cache');
    const tools = await dir('fake-java');
    const mvnCalls = await fakeMvn(tools, ['temporal-test-server-1.38.0.jar']);
    await script(path.join(tools, 'java'), 'exit 0');
    const { javacCalls } = await fakeJdk(tools);
    const options = offline(cache, { PATH: `${tools}:${SYSTEM_PATH}` }, { build: true });
    await ensureTestServer(options);
    await ensureTestServer(options);
    const stamp = path.join(cache, 'test-server', 'pom.sha256');
    assert.match(await fs.readFile(stamp, 'utf8'), /^[0-9a-f]{64}\n$/);
    assert.equal((await fs.readFile(mvnCalls, 'utf8')).trim().split('\n').length, 1, 'unchanged pom: no refetch');

    await fs.writeFile(stamp, 'made-from-an-older-pom\n');
    await ensureTestServer(options);
    assert.equal((await fs.readFile(mvnCalls, 'utf8')).trim().split('\n').length, 2, 'changed pom: refetched');
    assert.equal(await lineCount(javacCalls), 2, 'new jars: loopback main compiled again');
    assert.match(await fs.readFile(stamp, 'utf8'), /^[0-9a-f]{64}\n$/);
  });

  it('reports a failing mvn with its output', async () => {
    const cache = await dir('cache');
    const tools = await dir('fake-java');
    await script(path.join(tools, 'mvn'), 'echo "Could not resolve dependencies for project" >&2; exit 1');
    await script(path.join(tools, 'java'), 'exit 0');
    await assert.rejects(
      ensureTestServer(offline(cache, { PATH: `${tools}:${SYSTEM_PATH}` }, { build: true })),
      (err: unknown) => err instanceof ProvisionError && /mvn failed \(exit 1\)/.test(err.message) && /Java 17 and Maven/.test(err.message),
    );
  });
});

describe('the Temporal server build (fake go)', () => {
  /**
   * A fake `go`: logs each call with GOTOOLCHAIN, answers `go list -m` with FAKE_MODULE_DIR, and
   * "builds" an executable into the `-o` path after `delay` seconds.
   */
  async function fakeServerGo(version: string, delay = 0): Promise<{ bin: string; calls: string }> {
    const bin = await dir('fake-go');
    const calls = path.join(bin, 'calls.log');
    await script(
      path.join(bin, 'go'),
      [
        `if [ "$1" = version ]; then echo "go version go${version} linux/amd64"; exit 0; fi`,
        `echo "$* GOTOOLCHAIN=$GOTOOLCHAIN" >> ${calls}`,
        'if [ "$1" = list ]; then echo "$FAKE_MODULE_DIR"; exit 0; fi',
        `sleep ${delay}`,
        'while [ $# -gt 0 ]; do if [ "$1" = -o ]; then out="$2"; fi; shift; done',
        'printf "#!/bin/sh\\necho built\\n" > "$out" && chmod +x "$out"',
      ].join('\n'),
    );
    return { bin, calls };
  }

  it('builds the server and the SQL tool from a wrapper module once each, then serves them from the cache', async () => {
    const cache = await dir('cache');
    const go = await fakeServerGo('1.26.8');
    const options = offline(cache, { PATH: `${go.bin}:${SYSTEM_PATH}` }, { build: true });
    const server = await ensureTemporalServer(options);
    const tool = await ensureTemporalSqlTool(options);
    assert.equal(server, path.join(cache, 'bin', 'temporal-server-v1.29.1'));
    assert.equal(tool, path.join(cache, 'bin', 'temporal-sql-tool-v1.29.1'));
    assert.equal(execFileSync(server).toString().trim(), 'built');
    const calls = (await fs.readFile(go.calls, 'utf8')).trim().split('\n');
    assert.equal(calls.length, 2);
    assert.match(calls[0] ?? '', /^build -mod=mod .* go\.temporal\.io\/server\/cmd\/server GOTOOLCHAIN=$/);
    assert.match(calls[1] ?? '', /^build -mod=mod .* go\.temporal\.io\/server\/cmd\/tools\/sql GOTOOLCHAIN=$/);
    const goMod = await fs.readFile(path.join(cache, 'temporal-server-build', 'v1.29.1', 'go.mod'), 'utf8');
    assert.match(goMod, /^go 1\.25\.0$/m);
    assert.match(goMod, /^require go\.temporal\.io\/server v1\.29\.1$/m);

    assert.equal(await ensureTemporalServer(options), server);
    assert.equal(await ensureTemporalSqlTool(options), tool);
    assert.equal(await lineCount(go.calls), 2, 'cached: not built again');
    assert.deepEqual((await fs.readdir(path.join(cache, 'bin'))).sort(), ['temporal-server-v1.29.1', 'temporal-sql-tool-v1.29.1']);
  });

  it('builds once when several callers race', async () => {
    const cache = await dir('cache');
    const go = await fakeServerGo('1.26.8', 1);
    const options = offline(cache, { PATH: `${go.bin}:${SYSTEM_PATH}` }, { build: true });
    const results = await Promise.all([ensureTemporalServer(options), ensureTemporalServer(options), ensureTemporalServer(options)]);
    assert.deepEqual(new Set(results), new Set([path.join(cache, 'bin', 'temporal-server-v1.29.1')]));
    assert.equal(await lineCount(go.calls), 1);
  });

  it('a Go older than 1.25 builds with GOTOOLCHAIN=go1.27.3 from the module proxy; an explicit GOTOOLCHAIN wins', async () => {
    const go = await fakeServerGo('1.23.5');
    await ensureTemporalServer(offline(await dir('cache'), { PATH: `${go.bin}:${SYSTEM_PATH}` }, { build: true }));
    assert.match(await fs.readFile(go.calls, 'utf8'), /cmd\/server GOTOOLCHAIN=go1\.27\.3$/m);
    await ensureTemporalServer(offline(await dir('cache'), { PATH: `${go.bin}:${SYSTEM_PATH}`, GOTOOLCHAIN: 'go1.26.9' }, { build: true }));
    assert.match(await fs.readFile(go.calls, 'utf8'), /cmd\/server GOTOOLCHAIN=go1\.26\.9$/m);
  });

  it('without a usable Go: one error naming the Go version needed and the variables to set instead', async () => {
    const cache = await dir('cache');
    const old = await fakeServerGo('1.19.4');
    await assert.rejects(
      ensureTemporalServer(offline(cache, { PATH: `${old.bin}:${SYSTEM_PATH}` }, { build: true })),
      (err: unknown) =>
        err instanceof ProvisionError &&
        /needs Go >= 1\.25/.test(err.message) &&
        /found 1\.19/.test(err.message) &&
        /TEMPORAL_SERVER_PATH/.test(err.message),
    );
    await assert.rejects(fs.access(old.calls), 'nothing was built');
    await assert.rejects(ensureTemporalSqlTool(offline(cache, { PATH: SYSTEM_PATH })), /temporal-sql-tool v1\.29\.1 is not in .*building is disabled/);
  });

  it('prefers TEMPORAL_SERVER_PATH and fails naming it when it points at nothing', async () => {
    const bin = await dir('bin');
    const server = await script(path.join(bin, 'my-server'), 'true');
    assert.equal(await ensureTemporalServer(offline(await dir('cache'), { TEMPORAL_SERVER_PATH: server })), server);
    await assert.rejects(
      ensureTemporalServer(offline(await dir('cache'), { TEMPORAL_SERVER_PATH: path.join(bin, 'nope') })),
      (err: unknown) => err instanceof ProvisionError && err.variable === 'TEMPORAL_SERVER_PATH',
    );
  });

  it('copies the PostgreSQL schema out of the module cache once', async () => {
    const cache = await dir('cache');
    const moduleDir = await dir('module');
    const versioned = path.join(moduleDir, 'schema', 'postgresql', 'v12', 'temporal', 'versioned', 'v1.0');
    await fs.mkdir(versioned, { recursive: true });
    await fs.writeFile(path.join(moduleDir, 'schema', 'postgresql', 'v12', 'temporal', 'schema.sql'), '-- schema\n');
    await fs.writeFile(path.join(versioned, 'manifest.json'), '{}\n');
    const go = await fakeServerGo('1.26.8');
    const options = offline(cache, { PATH: `${go.bin}:${SYSTEM_PATH}`, FAKE_MODULE_DIR: moduleDir }, { build: true });
    const schema = await ensureTemporalPostgresSchema(options);
    assert.equal(schema, path.join(cache, 'temporal-server-v1.29.1', 'schema', 'postgresql', 'v12'));
    assert.equal(await fs.readFile(path.join(schema, 'temporal', 'versioned', 'v1.0', 'manifest.json'), 'utf8'), '{}\n');
    assert.match(await fs.readFile(go.calls, 'utf8'), /^list -mod=mod -m -f \{\{\.Dir\}\} go\.temporal\.io\/server /m);
    assert.equal(await ensureTemporalPostgresSchema(options), schema);
    assert.equal(await lineCount(go.calls), 1, 'cached: go list not run again');
  });
});

describe('helpers', () => {
  it('parses go version output', () => {
    assert.deepEqual(parseGoVersion('go version go1.22.3 linux/amd64'), [1, 22]);
    assert.deepEqual(parseGoVersion('go version go1.26.8 linux/amd64'), [1, 26]);
    assert.equal(parseGoVersion('bash: go: not found'), undefined);
  });

  it('findOnPath ignores empty PATH entries and missing dirs', async () => {
    const bin = await dir('bin');
    const tool = await script(path.join(bin, 'tool'), 'true');
    assert.equal(await findOnPath('tool', `::${path.join(root, 'nope')}:${bin}`), tool);
    assert.equal(await findOnPath('tool', undefined), undefined);
  });
});
