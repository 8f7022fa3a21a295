/**
 * The Temporal Web UI as an operator's console for rollouts, on a real `temporal server start-dev`
 * with its UI, driven by headless Chromium: find a rollout by its search attributes, read its
 * summary and current details, send `pause` (then `resume` and `abort`) from the signal dialog
 * and run the `status` query from the Queries tab. Every effect of a UI action is checked through
 * the Temporal client, not through the UI alone. Screenshots go to test-artifacts/ui/.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Browser, Page } from 'playwright-core';
import { RolloutClient } from '../../client/rollouts';
import { TASK_QUEUE, rolloutWorkflowId, statusQuery, type RolloutResult, type RolloutStatus } from '../../workflows/contract';
import { ScreenshotTrail, eventually, launchChromium } from '../helpers/browser';
import { startDoubleWorker } from '../helpers/double-worker';
import { startDevServer, type TestDevServer } from '../helpers/temporal';
import { TemporalUi } from '../helpers/temporal-ui';
import { seedSpec } from '../workflows/spec-fixture';

const SERVICE = 'uitest';
const WORKFLOW_ID = rolloutWorkflowId(SERVICE);
const PAUSE_JSON = '{"reason": "from the UI test"}';
const RESUME_JSON = '{"reason": "resumed from the UI test"}';
const ABORT_JSON = '{"reason": "aborted from the UI test"}';

let server: TestDevServer | undefined;
let connection: Connection | undefined;
let client: Client;
let worker: ChildProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let ui: TemporalUi;
let handle: WorkflowHandle;
const trail = new ScreenshotTrail('temporal-ui');

/** Starts the double-activity worker on the rollout task queue; resolves once it polls. */
async function startWorker(address: string, callsFile: string): Promise<ChildProcess> {
  worker = await startDoubleWorker({ TEMPORAL_ADDRESS: address, TASK_QUEUE, CALLS_FILE: callsFile });
  return worker;
}

function status(): Promise<RolloutStatus> {
  return handle.query(statusQuery);
}

/** Polls the live status through the client until `accept` holds. */
function statusWhere(what: string, accept: (s: RolloutStatus) => boolean, timeoutMs = 30_000): Promise<RolloutStatus> {
  return eventually(
    `rollout status: ${what}`,
    async () => {
      const s = await status();
      if (accept(s)) return s;
      throw new Error(`state=${s.state} paused=${s.paused} phase=${s.phase}`);
    },
    { timeoutMs },
  );
}

/** Inputs of the `signalName` signals in the rollout's history, decoded. */
async function signalInputs(signalName: string): Promise<unknown[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? [])
    .map((e) => e.workflowExecutionSignaledEventAttributes)
    .filter((a) => a?.signalName === signalName)
    .map((a) => (a?.input?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p)))
    .map((args) => (args.length === 1 ? args[0] : args));
}

before(async () => {
  server = await startDevServer({ ui: true });
  assert.ok(server.uiUrl, 'dev server started without its UI');
  connection = await Connection.connect({ address: server.address });
  client = new Client({ connection });
  await startWorker(server.address, path.join(server.dir, 'calls.jsonl'));
  // The real client: it sets the search attributes, static summary and details the UI shows.
  // The seed plan with a long warm-up, so the rollout stays in one phase while the UI is used.
  const spec = seedSpec({ service: SERVICE, warmup: { duration: '30m' } });
  const started = await new RolloutClient({ client }).start(spec);
  assert.equal(started.rolloutId, WORKFLOW_ID);
  handle = client.workflow.getHandle(WORKFLOW_ID);
  await statusWhere('warming up', (s) => s.state === 'warming_up' && !s.paused);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  ui = new TemporalUi(page, server.uiUrl);
});

after(async () => {
  // Each teardown step runs even when an earlier one fails.
  try {
    const described = await handle?.describe();
    if (described?.status.name === 'RUNNING') await handle.terminate('temporal-ui test teardown');
  } catch {
    /* the server may already be gone */
  }
  await browser?.close().catch(() => undefined);
  worker?.kill('SIGKILL');
  await connection?.close().catch(() => undefined);
  await server?.teardown();
  if (trail.paths.length > 0) process.stdout.write(`screenshots kept in ${path.dirname(trail.paths[0] as string)}\n`);
});

describe('Temporal UI: an operator finds and steers a rollout', () => {
  it('finds the rollout by PhoenixService, PhoenixPhase and PhoenixState', async () => {
    const live = await status();
    await trail.step(page, 'search by service', async () => {
      await ui.expectListed(`PhoenixService="${SERVICE}"`, WORKFLOW_ID);
      await trail.shot(page, 'list filtered by PhoenixService');
    });
    await trail.step(page, 'search by phase and state', async () => {
      await ui.expectListed(`PhoenixPhase="${live.phase}" AND PhoenixState="${live.state}"`, WORKFLOW_ID);
      await trail.shot(page, 'list filtered by PhoenixPhase and PhoenixState');
      await ui.expectListed(`PhoenixWeight <= ${live.weight} AND ExecutionStatus="Running"`, WORKFLOW_ID);
    });
    // The filters really filter: another service's name matches nothing.
    await trail.step(page, 'search for another service', async () => {
      await ui.expectNoResults(`PhoenixService="not-${SERVICE}"`);
      await trail.shot(page, 'list filtered by an unknown service');
    });
  });

  it('shows the static summary and details and the current details', async () => {
    await trail.step(page, 'user metadata', async () => {
      await ui.searchWorkflows(`PhoenixService="${SERVICE}"`);
      await ui.workflowLink(WORKFLOW_ID).click();
      await page.getByTestId('workflow-id-heading').getByText(WORKFLOW_ID).first().waitFor();
      await ui.openTab('user-metadata');
      assert.equal(await ui.metadataText('Summary'), `${SERVICE}: v1 → v2`);
      const details = await ui.metadataText('Details');
      for (const line of ['warm_up: 0% for 30m', 'initial_canary: 5% for 10m', 'expanded_canary: 20% for 15m']) {
        assert.ok(details.includes(line), `Details lack "${line}": ${details}`);
      }
      assert.ok(
        (await ui.metadataText('Current Details')).includes('State: warming_up · phase warm_up · canary weight 0%'),
        'Current Details show the live state',
      );
      await trail.shot(page, 'user metadata');
    });
  });

  it('sends pause from the signal dialog and the client sees the rollout paused', async () => {
    assert.equal((await status()).paused, false, 'precondition: not paused yet');
    await trail.step(page, 'send pause', async () => {
      await ui.openWorkflow(WORKFLOW_ID);
      await ui.sendSignal('pause', PAUSE_JSON);
      await trail.shot(page, 'pause sent');
    });
    const paused = await statusWhere('paused', (s) => s.state === 'paused' && s.paused);
    assert.equal(paused.phase, 'warm_up', 'pausing keeps the rollout in its phase');
    // The JSON typed into the dialog reached the workflow as an object, not as a string.
    assert.deepEqual(await signalInputs('pause'), [{ reason: 'from the UI test' }]);

    await trail.step(page, 'paused in current details and search', async () => {
      await ui.openWorkflow(WORKFLOW_ID);
      await ui.openTab('user-metadata');
      await eventually('current details to say paused', async () => {
        const text = await ui.metadataText('Current Details');
        if (text.includes('State: paused (paused)')) return text;
        await page.reload();
        throw new Error(text);
      });
      await trail.shot(page, 'current details paused');
      await ui.expectListed(`PhoenixState="paused"`, WORKFLOW_ID);
      await trail.shot(page, 'list filtered by PhoenixState paused');
    });
  });

  it('runs the status query from the Queries tab', async () => {
    const text = await trail.step(page, 'status query', async () => {
      await ui.openWorkflow(WORKFLOW_ID);
      const result = await ui.runQuery('status');
      await trail.shot(page, 'status query result');
      return result;
    });
    assert.match(text, /"rolloutId": "rollout-uitest"/);
    assert.match(text, /"state": "paused"/);
    assert.match(text, /"paused": true/);
  });

  it('sends resume and then abort from the dialog; the rollout ends aborted', async () => {
    assert.equal((await status()).paused, true, 'precondition: paused from the UI by the earlier test');
    await trail.step(page, 'send resume', async () => {
      await ui.openWorkflow(WORKFLOW_ID);
      await ui.sendSignal('resume', RESUME_JSON);
      await trail.shot(page, 'resume sent');
    });
    await statusWhere('resumed', (s) => !s.paused && s.state === 'warming_up');
    assert.deepEqual(await signalInputs('resume'), [{ reason: 'resumed from the UI test' }]);

    await trail.step(page, 'send abort', async () => {
      await ui.openWorkflow(WORKFLOW_ID);
      await ui.sendSignal('abort', ABORT_JSON);
      await trail.shot(page, 'abort sent');
    });
    const result: RolloutResult = await handle.result();
    assert.equal(result.outcome, 'aborted');
    assert.match(result.reason, /aborted from the UI test/);
    assert.equal(result.finalWeight, 0);
    await trail.step(page, 'completed', async () => {
      await ui.openWorkflow(WORKFLOW_ID);
      await page.getByText('Completed', { exact: true }).first().waitFor();
      await trail.shot(page, 'rollout completed');
    });
  });
});
