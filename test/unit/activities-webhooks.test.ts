/**
 * Signed webhooks (traffic router and platform) against a real local HTTP receiver that verifies
 * the HMAC over timestamp, delivery id and body, as the README's receiver snippet does, and the
 * command platform running real argv commands.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createActivities } from '../../activities';
import { postSignedJson, signDelivery } from '../../activities/signed-webhook';
import type { HealthResult } from '../../activities/types';
import { startHttpServer } from '../helpers/http-servers';
import { rolloutSpec } from '../helpers/rollout-spec';
import { WORKER_ENV_WITH_SECRETS } from '../helpers/worker-env';
import { withoutAppliedAt } from '../helpers/set-weight-result';

const SECRET = 's3cret-for-tests';
const quiet = { logger: new DefaultLogger('ERROR') };

/** The receiver of the README: signature over `timestamp.delivery.body`, skew, delivery ids seen. */
function receiver(secret = SECRET) {
  const seen = new Set<string>();
  return (headers: Record<string, string | string[] | undefined>, raw: string): boolean => {
    const header = (name: string): string => String(headers[name] ?? '');
    const [ts, id, sig] = [header('x-phoenix-timestamp'), header('x-phoenix-delivery'), header('x-phoenix-signature')];
    const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${id}.${raw}`).digest('hex')}`;
    const ok = sig.length === expected.length && timingSafeEqual(Buffer.from(sig), Buffer.from(expected));
    if (!ok || Math.abs(Date.now() / 1000 - Number(ts)) > 300 || seen.has(id)) return false;
    seen.add(id);
    return true;
  };
}
const verified = receiver();

function activitiesWith(env: Record<string, string>) {
  return createActivities({ logger: pino({ level: 'silent' }), registry: new Registry(), env, healthIntervalMs: 50 });
}

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, String(err));
    return err;
  }
  assert.fail('expected a failure');
}

describe('webhook traffic router', () => {
  it('POSTs a signed {service, canaryWeight, rolloutId} and returns the echoed weight', async () => {
    const received: Array<{ body: unknown; ok: boolean; ts: string; delivery: string; headers: Record<string, string | string[] | undefined>; raw: string }> = [];
    const verify = receiver();
    const hook = await startHttpServer('', (req, res, raw) => {
      received.push({
        body: JSON.parse(raw),
        ok: verify(req.headers, raw),
        ts: String(req.headers['x-phoenix-timestamp']),
        delivery: String(req.headers['x-phoenix-delivery']),
        headers: req.headers,
        raw,
      });
      const { canaryWeight } = JSON.parse(raw) as { canaryWeight: number };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ canaryWeight }));
    });
    try {
      const spec = rolloutSpec({ traffic: { kind: 'webhook', url: hook.url, secretEnv: 'PHOENIX_HOOK_SECRET' } });
      const activities = activitiesWith({ PHOENIX_HOOK_SECRET: SECRET });
      const env = new MockActivityEnvironment(undefined, quiet);
      const result: { weight: number } = await env.run(activities.setCanaryWeight, { rolloutId: 'rollout-checkout', spec, weight: 20 });
      assert.deepEqual(withoutAppliedAt(result), { weight: 20 });
      assert.equal(received.length, 1);
      assert.deepEqual(received[0]?.body, { service: 'checkout', canaryWeight: 20, rolloutId: 'rollout-checkout' });
      assert.equal(received[0]?.ok, true, 'signature verifies with the shared secret');
      assert.ok(Math.abs(Number(received[0]?.ts) - Date.now() / 1000) < 60);
      const first = received[0];
      assert.ok(first);
      assert.match(first.delivery, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      // The same delivery again (a replay) is refused by a receiver that remembers delivery ids.
      assert.equal(receiver()(first.headers, first.raw), true);
      assert.equal(verify(first.headers, first.raw), false, 'a replayed delivery is refused');

      // Each attempt is a new delivery with its own id, signed anew.
      await env.run(activities.setCanaryWeight, { rolloutId: 'rollout-checkout', spec, weight: 20 });
      assert.equal(received[1]?.ok, true);
      assert.notEqual(received[1]?.delivery, received[0]?.delivery);

      const wrong = activitiesWith({ PHOENIX_HOOK_SECRET: 'other' });
      await env.run(wrong.setCanaryWeight, { rolloutId: 'rollout-checkout', spec, weight: 20 });
      assert.equal(received[2]?.ok, false, 'a different secret gives a different signature');
    } finally {
      await hook.stop();
    }
  });

  it('names the missing secret variable (non-retryable) and classifies 4xx/5xx/bad echoes', async () => {
    let status = 500;
    let echo: unknown = { canaryWeight: 99 };
    const hook = await startHttpServer('', (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(echo));
    });
    try {
      const spec = rolloutSpec({ traffic: { kind: 'webhook', url: hook.url, secretEnv: 'PHOENIX_HOOK_SECRET' } });
      const env = new MockActivityEnvironment(undefined, quiet);
      const input = { rolloutId: 'r', spec, weight: 5 };
      const missing = await failure(env.run(activitiesWith({}).setCanaryWeight, input));
      assert.equal(missing.type, 'ConfigError');
      assert.equal(missing.nonRetryable, true);
      assert.match(missing.message, /PHOENIX_HOOK_SECRET/);

      const activities = activitiesWith({ PHOENIX_HOOK_SECRET: SECRET });
      const e5 = await failure(env.run(activities.setCanaryWeight, input));
      assert.deepEqual([e5.type, e5.nonRetryable], ['WebhookUnavailableError', false]);
      status = 403;
      const e4 = await failure(env.run(activities.setCanaryWeight, input));
      assert.deepEqual([e4.type, e4.nonRetryable], ['WebhookRejectedError', true]);
      status = 200;
      const mismatch = await failure(env.run(activities.setCanaryWeight, input));
      assert.deepEqual([mismatch.type, mismatch.nonRetryable], ['WeightMismatchError', false]);
      echo = { ok: true };
      const bad = await failure(env.run(activities.setCanaryWeight, input));
      assert.deepEqual([bad.type, bad.nonRetryable], ['WebhookUnavailableError', false]);
    } finally {
      await hook.stop();
    }
  });
});

describe('signed deliveries', () => {
  it('sign timestamp.deliveryId.body: tampering with any of the three, or a stale timestamp, is refused', async () => {
    const got: { headers: Record<string, string | string[] | undefined>; raw: string }[] = [];
    const hook = await startHttpServer('', (req, res, raw) => {
      got.push({ headers: req.headers, raw });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    try {
      await postSignedJson({ url: hook.url, secret: SECRET, body: { a: 1 }, timeoutMs: 5000, fetch, newDeliveryId: () => 'delivery-1' });
      const { headers, raw } = got[0]!;
      assert.equal(headers['x-phoenix-delivery'], 'delivery-1');
      const ts = String(headers['x-phoenix-timestamp']);
      assert.equal(headers['x-phoenix-signature'], signDelivery(SECRET, ts, 'delivery-1', raw));
      assert.equal(receiver()(headers, raw), true);
      const earlier = String(Number(ts) - 1);
      for (const [what, h, body] of [
        ['timestamp', { ...headers, 'x-phoenix-timestamp': earlier }, raw],
        ['delivery id', { ...headers, 'x-phoenix-delivery': 'delivery-2' }, raw],
        ['body', headers, raw.replace('1', '2')],
      ] as const) {
        assert.equal(receiver()(h, body), false, `tampered ${what}`);
      }
      // Correctly signed, but too old.
      const old = String(Math.floor(Date.now() / 1000) - 301);
      const stale = { ...headers, 'x-phoenix-timestamp': old, 'x-phoenix-signature': signDelivery(SECRET, old, 'delivery-1', raw) };
      assert.equal(receiver()(stale, raw), false);
    } finally {
      await hook.stop();
    }
  });
});

describe('webhook platform', () => {
  it('POSTs signed actions and polls health until the endpoint says healthy', async () => {
    const actions: string[] = [];
    let healthChecks = 0;
    const hook = await startHttpServer('', (req, res, raw) => {
      assert.ok(verified(req.headers, raw));
      const body = JSON.parse(raw) as { action: string; service: string; version: string; rolloutId: string };
      actions.push(`${body.action}:${body.service}:${body.version}:${body.rolloutId}`);
      const answer = body.action === 'health' ? { healthy: ++healthChecks >= 3, detail: `check ${healthChecks}` } : {};
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
    try {
      const spec = rolloutSpec({ platform: { kind: 'webhook', url: hook.url, secretEnv: 'PLATFORM_SECRET' } });
      const activities = activitiesWith({ PLATFORM_SECRET: SECRET });
      const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 20_000 }, quiet);
      const input = { rolloutId: 'rollout-checkout', spec };
      await env.run(activities.deployCanary, input);
      const health: HealthResult = await env.run(activities.checkCanaryHealth, input);
      assert.deepEqual(health, { healthy: true, detail: 'check 3' });
      await env.run(activities.promoteCanary, input);
      await env.run(activities.terminateCanary, input);
      assert.deepEqual(actions, [
        'deploy:checkout:v2:rollout-checkout',
        'health:checkout:v2:rollout-checkout',
        'health:checkout:v2:rollout-checkout',
        'health:checkout:v2:rollout-checkout',
        'promote:checkout:v2:rollout-checkout',
        'terminate:checkout:v2:rollout-checkout',
      ]);
    } finally {
      await hook.stop();
    }
  });
});

describe('command platform', () => {
  const activities = activitiesWith({ PATH: process.env.PATH ?? '' });
  const node = process.execPath;

  it('runs templated argv without a shell and reports health from the exit code', async () => {
    const spec = rolloutSpec({
      platform: {
        kind: 'command',
        // A shell would expand $HOME; argv must arrive verbatim.
        deploy: [node, '-e', 'if (process.argv[1] !== "checkout/v2/v1/rollout-checkout/$HOME") process.exit(9)', '{{service}}/{{canaryVersion}}/{{stableVersion}}/{{rolloutId}}/$HOME'],
        healthCheck: [node, '-e', 'process.exit(process.argv[1] === "v2" ? 0 : 1)', '{{version}}'],
        promote: ['true'],
        terminate: [node, '-e', 'process.stderr.write("boom from terminate"); process.exit(4)'],
        timeout: '5s',
      },
    });
    const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 20_000 }, quiet);
    const input = { rolloutId: 'rollout-checkout', spec };
    await env.run(activities.deployCanary, input);
    const health: HealthResult = await env.run(activities.checkCanaryHealth, input);
    assert.equal(health.healthy, true);
    await env.run(activities.promoteCanary, input);
    const err = await failure(env.run(activities.terminateCanary, input));
    assert.deepEqual([err.type, err.nonRetryable], ['PlatformCommandError', false]);
    assert.match(err.message, /exited with 4.*boom from terminate/);
  });

  describe('environment of the commands', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'phoenix-command-env-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    const workerEnv = WORKER_ENV_WITH_SECRETS;
    // Each command writes its whole environment to the file named by its argument.
    const dumpEnv = (file: string) => [node, '-e', 'require("node:fs").writeFileSync(process.argv[1], JSON.stringify(process.env))', file];

    async function runAll(name: string, platform: Record<string, unknown>): Promise<Record<string, Record<string, string>>> {
      const file = (step: string) => path.join(dir, `${name}-${step}.json`);
      const spec = rolloutSpec({
        platform: {
          kind: 'command',
          deploy: dumpEnv(file('deploy')),
          healthCheck: dumpEnv(file('health')),
          promote: dumpEnv(file('promote')),
          terminate: dumpEnv(file('terminate')),
          timeout: '10s',
          ...platform,
        },
      });
      const activities = activitiesWith(workerEnv);
      const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 20_000 }, quiet);
      const input = { rolloutId: 'rollout-checkout', spec };
      await env.run(activities.deployCanary, input);
      const health: HealthResult = await env.run(activities.checkCanaryHealth, input);
      assert.equal(health.healthy, true, health.detail);
      await env.run(activities.promoteCanary, input);
      await env.run(activities.terminateCanary, input);
      const out: Record<string, Record<string, string>> = {};
      for (const step of ['deploy', 'health', 'promote', 'terminate']) {
        out[step] = JSON.parse(await readFile(file(step), 'utf8')) as Record<string, string>;
      }
      return out;
    }

    it('by default: PATH, HOME, LANG, TZ only; none of the worker secrets', async () => {
      for (const [step, env] of Object.entries(await runAll('default', {}))) {
        assert.equal(env.PATH, workerEnv.PATH, step);
        for (const secret of ['PHOENIX_API_HMAC_SECRET', 'SOME_WEBHOOK_SECRET', 'TEMPORAL_API_KEY']) {
          assert.equal(env[secret], undefined, `${secret} reached the ${step} command`);
        }
        assert.doesNotMatch(JSON.stringify(env), /s3cret/, step);
        assert.deepEqual(Object.keys(env).sort(), ['HOME', 'LANG', 'PATH', 'TZ'], step);
      }
    });

    it('passEnv replaces the default list; platform.env adds values and wins', async () => {
      const all = await runAll('listed', { passEnv: ['PATH', 'PHOENIX_PASSED', 'TZ', 'PHOENIX_NOT_SET'], env: { TZ: 'UTC', DEPLOY_TARGET: 'eu-1' } });
      for (const [step, env] of Object.entries(all)) {
        assert.deepEqual(
          env,
          { PATH: workerEnv.PATH, PHOENIX_PASSED: 'passed-through', TZ: 'UTC', DEPLOY_TARGET: 'eu-1' },
          `environment of the ${step} command`,
        );
      }
    });
  });

  it('kills a command at its timeout and reports unhealthy at the deadline', async () => {
    const spec = rolloutSpec({
      platform: {
        kind: 'command',
        deploy: [node, '-e', 'setTimeout(() => {}, 60000)'],
        healthCheck: [node, '-e', 'process.stderr.write("not yet"); process.exit(1)'],
        promote: ['true'],
        terminate: ['true'],
        timeout: '300ms',
      },
    });
    const input = { rolloutId: 'rollout-checkout', spec };
    const started = Date.now();
    const err = await failure(new MockActivityEnvironment(undefined, quiet).run(activities.deployCanary, input));
    assert.deepEqual([err.type, err.nonRetryable], ['PlatformCommandError', false]);
    assert.match(err.message, /timed out after 300 ms/);
    assert.ok(Date.now() - started < 5000);
    const health: HealthResult = await new MockActivityEnvironment({ startToCloseTimeoutMs: 1000 }, quiet).run(
      activities.checkCanaryHealth,
      input,
    );
    assert.equal(health.healthy, false);
    assert.match(health.detail, /not yet/);
  });
});
