/**
 * Temporal environments for tests: the time-skipping test server for workflow tests and a real
 * `temporal server start-dev` for e2e tests. Binaries come from scripts/provision.ts.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { SEARCH_ATTRIBUTES } from '../../workflows/contract';
import { ensureTestServer } from '../../scripts/provision';
import {
  DevServerError,
  freePorts,
  startTemporalDevServer,
  type DevServerHandle,
  type DevServerOptions,
} from '../../scripts/temporal-server';

let runtimeInstalled = false;

/**
 * Installs the SDK runtime with a WARN logger, once per process, so worker chatter does not drown
 * test output. A runtime someone else already installed is left alone.
 */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch (err) {
    // Runtime.install throws once a runtime exists; whoever created it chose its logger.
    if (!(err instanceof Error && /already/i.test(err.message))) throw err;
  }
}

const INDEXED_VALUE_TYPES: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  Text: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  Keyword: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  Double: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  Bool: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  Datetime: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KeywordList: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/**
 * Registers search attributes through the OperatorService (the Java test server implements
 * AddSearchAttributes but not ListSearchAttributes). Already-registered ones are fine.
 */
export async function registerSearchAttributes(
  connection: Connection,
  attributes: Readonly<Record<string, string>> = SEARCH_ATTRIBUTES,
  namespace = 'default',
): Promise<void> {
  for (const [name, type] of Object.entries(attributes)) {
    const indexedType = INDEXED_VALUE_TYPES[type];
    if (indexedType === undefined) throw new TypeError(`search attribute ${name}: unknown type ${type}`);
    try {
      await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: { [name]: indexedType } });
    } catch (err) {
      // gRPC ALREADY_EXISTS (6): registered by an earlier call on the same server.
      if ((err as { code?: number }).code !== 6) throw err;
    }
  }
}

/**
 * Starts the Java time-skipping test server (provisioned, not downloaded), registers the project's
 * custom search attributes on it and returns the SDK's TestWorkflowEnvironment. Call
 * `env.teardown()` in `after()`.
 *
 * Why the registration: the test server rejects starts and upserts that use an unregistered search
 * attribute ("search attribute PhoenixWeight is not defined"), which fails the workflow task over and
 * over, so the workflow hangs. Listing workflows (visibility queries) is not implemented by it at all.
 */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  installQuietRuntime();
  const testServerPath = await ensureTestServer();
  const env = await startWithRetry(() =>
    TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: testServerPath } },
    }),
  );
  try {
    await registerSearchAttributes(env.connection);
  } catch (err) {
    await env.teardown();
    throw err;
  }
  return env;
}

/**
 * The SDK gives the test server a fixed 5 s to start listening; a JVM on 2 cores shared with other
 * test files can miss that. Only that error is retried; anything else fails at once.
 */
async function startWithRetry<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      const slowStart = err instanceof Error && /did not start within/.test(err.message);
      if (!slowStart || attempt >= attempts) throw err;
    }
  }
}

/** A dev server started for one test file, with its own temp dir and db file. */
export interface TestDevServer extends DevServerHandle {
  /** The SQLite file the server persists to (survives `restart()`). */
  readonly dbFile: string;
  /** Temp dir holding the db file; removed by `teardown()`. */
  readonly dir: string;
  /** Stops the server and removes the temp dir. Safe to call twice. */
  teardown(): Promise<void>;
}

/**
 * Starts a real `temporal server start-dev` for e2e tests on free ports with a file-backed db in a
 * fresh temp dir. Headless unless `ui: true`.
 */
export async function startDevServer(
  options: Partial<Omit<DevServerOptions, 'port' | 'uiPort' | 'detached' | 'pidFile'>> & { ui?: boolean } = {},
): Promise<TestDevServer> {
  installQuietRuntime();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'phoenix-temporal-'));
  const dbFile = options.dbFile ?? path.join(dir, 'temporal.sqlite');
  const { ui, ...rest } = options;
  let handle: DevServerHandle | undefined;
  for (let attempt = 1; !handle; attempt++) {
    // Chosen together so they differ; another process can still take one before the server binds it.
    const [port, uiPort] = await freePorts(2);
    try {
      handle = await startTemporalDevServer({ ...rest, dbFile, port: port as number, uiPort: ui ? uiPort : null });
    } catch (err) {
      const raced = err instanceof DevServerError && /already in use/.test(err.message);
      if (raced && attempt < 3) continue;
      await fs.rm(dir, { recursive: true, force: true });
      throw err;
    }
  }
  let tornDown = false;
  return {
    get address() {
      return handle.address;
    },
    get uiUrl() {
      return handle.uiUrl;
    },
    get namespace() {
      return handle.namespace;
    },
    get pid() {
      return handle.pid;
    },
    stop: () => handle.stop(),
    kill: () => handle.kill(),
    restart: () => handle.restart(),
    output: () => handle.output(),
    dbFile,
    dir,
    async teardown() {
      if (tornDown) return;
      tornDown = true;
      await handle.stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
