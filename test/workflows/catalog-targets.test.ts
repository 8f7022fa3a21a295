/**
 * Targets resolved once, at the start, by the real resolveRollout activity over a test catalog on
 * disk (the other activities are doubles): a request names a service; the rollout keeps what it
 * resolved even when the catalog changes under it; a request that does not resolve, or an inline
 * spec on a worker that refuses them, ends `failed` before anything is touched.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowUpdateStage } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { createResolveRollout } from '../../activities/resolve-rollout';
import type { RolloutSpec } from '../../rollout-spec/types';
import { abortUpdate, statusQuery, type OperatorAck, type RolloutStatus } from '../../workflows/contract';
import { createTimeSkippingEnv } from '../helpers/temporal';
import { FakeWorld } from './fake-world';
import { runRollout, workflowBundle } from './harness';
import { seedSpec } from './spec-fixture';

let env: TestWorkflowEnvironment;
let dir: string;

const catalogText = (trafficUrl: string): string => `routers:
  lb: { kind: webhook, url: "${trafficUrl}", secretEnv: LB_SECRET }
platforms:
  hooks: { kind: webhook, url: "http://127.0.0.1:1/platform", secretEnv: PLATFORM_SECRET }
metricSources:
  prom: { prometheusUrl: "http://127.0.0.1:9090" }
services:
  checkout: { router: lb, platform: hooks, metrics: prom, stable: v1 }
`;

before(async () => {
  env = await createTimeSkippingEnv();
  await workflowBundle();
  dir = mkdtempSync(path.join(tmpdir(), 'phoenix-catalog-wf-'));
  writeFileSync(path.join(dir, 'catalog.yaml'), catalogText('http://127.0.0.1:1/traffic'));
});

after(async () => {
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

const logger = pino({ level: 'silent' });

/** A world that resolves with the real activity and remembers the spec each activity was given. */
function catalogWorld(allowInlineTargets = false): { world: FakeWorld; specs: { activity: string; spec: RolloutSpec }[] } {
  const world = new FakeWorld();
  world.resolver = createResolveRollout({ catalogDir: dir, allowInlineTargets }, logger);
  const specs: { activity: string; spec: RolloutSpec }[] = [];
  for (const activity of ['deployCanary', 'setCanaryWeight', 'analyseCanary', 'promoteCanary'] as const) {
    world.failures[activity] = (input) => {
      specs.push({ activity, spec: (input as { spec: RolloutSpec }).spec });
      return undefined;
    };
  }
  return { world, specs };
}

describe('catalog targets', () => {
  it('a request for a service runs with the targets it resolved at its start, whatever the catalog says later', async () => {
    const { world, specs } = catalogWorld();
    let status: RolloutStatus | undefined;
    const run = await runRollout(env, seedSpec(), {
      world,
      record: 'v3-catalog-request-promoted',
      start: { request: { service: 'checkout', canary: { version: 'v2' }, overrides: {} } },
      drive: async (handle) => {
        // Wait for the first traffic step, then change the catalog under the running rollout.
        for (let i = 0; i < 200 && !specs.some((s) => s.activity === 'setCanaryWeight'); i++) await env.sleep(1_000);
        writeFileSync(path.join(dir, 'catalog.yaml'), catalogText('http://127.0.0.1:2/edited'));
        status = await handle.query(statusQuery);
      },
    });
    writeFileSync(path.join(dir, 'catalog.yaml'), catalogText('http://127.0.0.1:1/traffic'));
    assert.equal(run.result.outcome, 'promoted', run.result.reason);
    assert.ok(specs.length > 10);
    for (const { activity, spec } of specs) {
      assert.deepEqual(spec.traffic, { kind: 'webhook', url: 'http://127.0.0.1:1/traffic', secretEnv: 'LB_SECRET' }, activity);
      assert.equal(spec.stable.version, 'v1', 'the stable version comes from the catalog');
    }
    assert.equal(status?.targets?.kind, 'catalog');
    assert.ok(status?.targets?.kind === 'catalog' && status.targets.router === 'lb' && /^[0-9a-f]{16}$/.test(status.targets.revision));
  });

  it('a request that does not resolve ends failed before anything is touched', async () => {
    const { world } = catalogWorld();
    const run = await runRollout(env, seedSpec(), {
      world,
      record: 'v3-catalog-request-rejected',
      start: { request: { service: 'payments', canary: { version: 'v2' }, overrides: {} } },
    });
    assert.equal(run.result.outcome, 'failed');
    assert.match(run.result.reason, /^not started, nothing was touched: .*no service "payments" in the catalog/);
    assert.equal(world.calls.length, 0, JSON.stringify(world.calls));
  });

  it('an abort sent while the targets are still being resolved is accepted, and nothing is deployed', async () => {
    const { world } = catalogWorld();
    const real = world.resolver!;
    let release: () => void = () => undefined;
    const resolving = new Promise<void>((resolve) => {
      release = resolve;
    });
    world.resolver = async (input) => {
      await resolving;
      return real(input);
    };
    let ack: OperatorAck | undefined;
    const run = await runRollout(env, seedSpec(), {
      world,
      record: 'v3-catalog-abort-while-resolving',
      start: { request: { service: 'checkout', canary: { version: 'v2' }, overrides: {} } },
      drive: async (handle) => {
        const status = await handle.query(statusQuery);
        assert.equal(status.phase, 'resolve');
        // Accepted by the workflow while resolveRollout is still running (it waits for `release`).
        const update = await handle.startUpdate(abortUpdate, {
          args: [{ reason: 'wrong version', by: 'test' }],
          waitForStage: WorkflowUpdateStage.ACCEPTED,
        });
        release();
        ack = await update.result();
      },
    });
    assert.equal(ack?.action, 'abort');
    assert.equal(run.result.outcome, 'aborted', run.result.reason);
    assert.equal(world.count('deployCanary'), 0);
    assert.deepEqual(run.result.operatorEvents?.map((e) => [e.action, e.by, e.accepted]), [['abort', 'test', true]]);
  });

  it('an inline spec on a worker that refuses inline targets ends failed before anything is touched', async () => {
    const { world } = catalogWorld(false);
    const run = await runRollout(env, seedSpec(), { world });
    assert.equal(run.result.outcome, 'failed');
    assert.match(run.result.reason, /runs only catalog services/);
    assert.equal(world.calls.length, 0, JSON.stringify(world.calls));

    const allowed = catalogWorld(true);
    const ok = await runRollout(env, seedSpec(), { world: allowed.world });
    assert.equal(ok.result.outcome, 'promoted', ok.result.reason);
  });
});
