/**
 * The dashboard in headless Chromium against the real stack: a Temporal dev server, a worker
 * running the real workflow and activities (test/helpers/client-e2e-world.ts) and the API with
 * the dashboard, built from dashboard/ first. An operator signs in with a token, finds the running
 * rollout in the list, watches its weight go 5 → 20 → 40 on its page, pauses it (the client sees
 * it paused, the page within a second), is asked for a reason before an abort; a read-only token
 * sees no buttons and the API refuses its calls. Every effect is checked through the client.
 * Screenshots go to test-artifacts/ui/dashboard-*.png.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { hashToken } from '../../client/api/auth';
import type { Credential } from '../../client/api/credentials';
import { defaultDashboardDir } from '../../client/api/dashboard/bundle';
import { compileScope } from '../../client/api/scope';
import { buildApiServer } from '../../client/api/server';
import { parseRolloutSpec } from '../../rollout-spec/parse';
import type { RolloutStatus } from '../../workflows/contract';
import { ScreenshotTrail, eventually as eventuallyDefined, launchChromium } from '../helpers/browser';
import { eventually, startRolloutWorld, type RolloutWorld } from '../helpers/client-e2e-world';
import { SECONDS_PLAN } from '../workflows/spec-fixture';

const ADMIN_TOKEN = 'e2e-dashboard-admin-token-0123';
const VIEWER_TOKEN = 'e2e-dashboard-viewer-token-0123';
const SERVICE = 'dash';
const ROLLOUT_ID = `rollout-${SERVICE}`;
const OPERATOR_BUTTONS = ['Pause', 'Resume', 'Abort', 'Promote'];

/**
 * SECONDS_PLAN's shape, with a warm-up long enough to sign in and find the rollout before 5%, and
 * a full-rollout step long enough to pause it at 40% before it moves on.
 */
const PLAN = {
  ...SECONDS_PLAN,
  warmup: { duration: '5s' },
  trafficControl: {
    phases: [
      { name: 'initial_canary', percentage: 5, duration: '3s' },
      { name: 'expanded_canary', percentage: 20, duration: '3s' },
      { name: 'full_rollout', incrementSize: 20, intervalSeconds: 120 },
    ],
  },
};

describe('dashboard (real dev server + worker + API, headless Chromium)', () => {
  let world: RolloutWorld;
  let app: FastifyInstance;
  let base: string;
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;
  const trail = new ScreenshotTrail('dashboard');
  const status = (): Promise<RolloutStatus> => world.rollouts.status(ROLLOUT_ID);
  /** A step of the trail, with its duration printed (the whole file should stay under 90 s). */
  const step = async <T,>(target: Page, name: string, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await trail.step(target, name, fn);
    } finally {
      process.stdout.write(`dashboard: step "${name}" took ${Date.now() - started} ms\n`);
    }
  };

  const signIn = async (target: Page, token: string, where = '/dashboard/') => {
    await target.goto(`${base}${where}`);
    await target.getByLabel('API token').fill(token);
    await target.getByRole('button', { name: 'Sign in' }).click();
    await target.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: 10_000 });
  };
  const weightShown = (target: Page) => target.getByTestId('weight').textContent();

  before(async () => {
    // The bundle the API serves; up to date after `npm test`'s pretest, built here when run alone.
    execFileSync(process.execPath, [path.resolve(__dirname, '../../dashboard/build.mjs')], { stdio: 'inherit' });
    world = await startRolloutWorld();
    const credentials: Credential[] = [{ principal: 'viewer', tokenSha256: hashToken(VIEWER_TOKEN), scope: compileScope(['*'], ['read']), source: 'test' }];
    app = buildApiServer({
      rollouts: world.rollouts,
      logger: pino({ level: 'silent' }),
      tokenHashes: [hashToken(ADMIN_TOKEN)],
      credentials,
      dashboard: { assetsDir: defaultDashboardDir() },
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();
    admin = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    page = await admin.newPage();
  });

  after(async () => {
    try {
      const run = await world?.rollouts.run(ROLLOUT_ID);
      if (run?.executionStatus === 'RUNNING') await world.rollouts.temporal.workflow.getHandle(ROLLOUT_ID).terminate('dashboard test teardown');
    } catch {
      /* nothing was started */
    }
    await browser?.close().catch(() => undefined);
    await app?.close();
    await world?.teardown();
  });

  test('sign in, list, weight 5 → 20 → 40, read-only view, pause within a second, abort needs a reason', async () => {
    await step(page, 'a wrong token is refused', async () => {
      await page.goto(`${base}/dashboard/`);
      await page.getByLabel('API token').fill('not-a-token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'unknown bearer token' }).waitFor({ timeout: 5000 });
    });

    const parsed = parseRolloutSpec(world.spec(SERVICE, PLAN));
    assert.ok(parsed.success, JSON.stringify(parsed));
    await world.rollouts.start(parsed.spec);

    await step(page, 'the list shows the running rollout', async () => {
      await signIn(page, ADMIN_TOKEN);
      const row = page.locator(`tr[data-rollout="${ROLLOUT_ID}"]`);
      await row.waitFor({ timeout: 15_000 });
      await eventuallyDefined('the row shows a running state and the versions', async () => {
        const text = (await row.textContent()) ?? '';
        return /v1 → v2/.test(text) && /(deploying|warming up|progressing)/.test(text) ? text : undefined;
      }, { timeoutMs: 10_000 });
      // The cookie is HttpOnly and SameSite=Strict: the page's scripts cannot read it.
      const cookie = (await admin.cookies()).find((c) => c.name === 'phoenix_dashboard');
      assert.ok(cookie?.httpOnly, 'session cookie is HttpOnly');
      assert.equal(cookie?.sameSite, 'Strict');
      assert.equal(await page.evaluate('document.cookie'), '');
      await trail.shot(page, 'list with the running rollout');
    });

    // A reader, in a browser context of its own, meanwhile: it signs in on the rollout's own address.
    const viewer = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    const other = await viewer.newPage();
    const reader = step(other, 'a read-only token sees no buttons and the API refuses its calls', async () => {
      await signIn(other, VIEWER_TOKEN, `/dashboard/rollouts/${ROLLOUT_ID}`);
      await other.getByTestId('weight').waitFor({ timeout: 30_000 });
      await other.getByTestId('live').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
      for (const name of OPERATOR_BUTTONS) assert.equal(await other.getByRole('button', { name, exact: true }).count(), 0, `${name} shown to a reader`);
      assert.match((await other.locator('header').textContent()) ?? '', /read only/);
      const refused = await other.request.post(`${base}/v1/rollouts/${ROLLOUT_ID}/pause`, { headers: { 'x-phoenix-dashboard': '1' }, data: {} });
      assert.equal(refused.status(), 403);
      await trail.shot(other, 'read-only view without buttons');
    }).then(
      () => null,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    await step(page, 'the rollout page shows the weight rising 5 → 20 → 40', async () => {
      await page.getByRole('link', { name: SERVICE, exact: true }).click();
      await page.getByRole('heading', { name: `${SERVICE}: v1 → v2` }).waitFor();
      const seen: string[] = [];
      await eventuallyDefined('weight 40% on the page', async () => {
        const shown = (await weightShown(page)) ?? '';
        if (seen[seen.length - 1] !== shown) seen.push(shown);
        return shown === '40%' ? shown : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100 });
      // Seen live, in order, as the page updated itself (no reload).
      const order = ['5%', '20%', '40%'].map((w) => seen.indexOf(w));
      assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > (order[k - 1] as number))), `weights seen: ${seen.join(' → ')}`);
      const charted = (await page.getByTestId('weight-chart').getAttribute('data-weights')) ?? '';
      assert.match(charted, /^0,5,20,40$/, 'the chart has every weight change');
      await page.locator('figure.check').first().waitFor();
      await trail.shot(page, 'rollout page at 40 percent');
    });

    const readerFailed = await reader;
    await viewer.close();
    if (readerFailed) throw readerFailed;
    assert.equal((await status()).paused, false, 'the reader changed nothing');

    await step(page, 'Pause pauses the rollout and the page shows it within a second', async () => {
      assert.equal((await status()).paused, false);
      await page.getByRole('button', { name: 'Pause', exact: true }).click();
      await page.getByTestId('action-answer').filter({ hasText: 'pause accepted' }).waitFor({ timeout: 10_000 });
      // The update has been applied when it answers: from here the page has a second.
      const acknowledged = Date.now();
      await page.getByTestId('state').filter({ hasText: 'paused' }).waitFor({ timeout: 1000 });
      const shownAfterMs = Date.now() - acknowledged;
      const paused = await status();
      assert.equal(paused.paused, true);
      assert.equal(paused.state, 'paused');
      const event = paused.operatorEvents.at(-1);
      assert.equal(event?.action, 'pause');
      assert.equal(event?.by, `api:token:${hashToken(ADMIN_TOKEN).slice(0, 12)}`, 'the workflow records who paused it');
      await page.getByRole('button', { name: 'Resume', exact: true }).waitFor();
      await page.getByRole('row').filter({ hasText: 'pause accepted' }).first().waitFor({ timeout: 5000 });
      process.stdout.write(`dashboard: paused state shown ${shownAfterMs} ms after the acknowledgement\n`);
      await trail.shot(page, 'paused');
    });

    await step(page, 'Abort asks for a reason and refuses to go without one', async () => {
      await page.getByRole('button', { name: 'Abort', exact: true }).click();
      const dialog = page.getByRole('dialog', { name: 'Abort this rollout?' });
      await dialog.waitFor();
      const reason = dialog.getByLabel('Reason (required)');
      // The modal dialog takes the keyboard focus to its first field.
      assert.equal(await page.evaluate('document.activeElement && document.activeElement.id'), 'abort-reason');
      await dialog.getByRole('button', { name: 'Abort rollout' }).click();
      await dialog.getByRole('alert').filter({ hasText: 'A reason is required' }).waitFor();
      assert.equal((await status()).state, 'paused', 'nothing was sent without a reason');
      await trail.shot(page, 'abort asks for a reason');
      await reason.fill('dashboard e2e: aborting on purpose');
      await dialog.getByRole('button', { name: 'Abort rollout' }).click();
      await page.getByTestId('action-answer').filter({ hasText: 'abort accepted' }).waitFor({ timeout: 10_000 });
      const ended = await eventually('aborted', status, (s) => s.state === 'aborted', { timeoutMs: 30_000 });
      assert.equal(ended.operatorEvents.find((e) => e.action === 'abort')?.reason, 'dashboard e2e: aborting on purpose');
      await page.getByTestId('state').filter({ hasText: 'aborted' }).waitFor({ timeout: 5000 });
      for (const name of OPERATOR_BUTTONS) assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, `${name} shown after the end`);
      await trail.shot(page, 'aborted');
    });
  });
});
