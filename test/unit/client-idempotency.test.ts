import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdempotencyCache } from '../../client/api/idempotency';

test('same key and fingerprint: executed once, replayed after', async () => {
  const cache = new IdempotencyCache(60_000);
  let calls = 0;
  const execute = async () => ({ statusCode: 201, body: { n: ++calls } });
  const first = await cache.run('k', 'f', execute);
  const second = await cache.run('k', 'f', execute);
  assert.deepEqual(first, { kind: 'fresh', response: { statusCode: 201, body: { n: 1 } } });
  assert.deepEqual(second, { kind: 'replay', response: { statusCode: 201, body: { n: 1 } } });
  assert.equal(calls, 1);
});

test('concurrent duplicates wait for the first execution instead of running again', async () => {
  const cache = new IdempotencyCache(60_000);
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const execute = async () => {
    calls++;
    await gate;
    return { statusCode: 201, body: { calls } };
  };
  const a = cache.run('k', 'f', execute);
  const b = cache.run('k', 'f', execute);
  release();
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(calls, 1);
  assert.equal(ra.kind, 'fresh');
  assert.equal(rb.kind, 'replay');
});

test('same key with another fingerprint is a mismatch and does not execute', async () => {
  const cache = new IdempotencyCache(60_000);
  await cache.run('k', 'f1', async () => ({ statusCode: 201, body: {} }));
  let executed = false;
  const outcome = await cache.run('k', 'f2', async () => {
    executed = true;
    return { statusCode: 201, body: {} };
  });
  assert.deepEqual(outcome, { kind: 'mismatch' });
  assert.equal(executed, false);
});

test('entries expire after the TTL', async () => {
  let now = 1_000;
  const cache = new IdempotencyCache(500, () => now);
  let calls = 0;
  const execute = async () => ({ statusCode: 201, body: { n: ++calls } });
  await cache.run('k', 'f', execute);
  now += 499;
  assert.equal((await cache.run('k', 'f', execute)).kind, 'replay');
  now += 2;
  assert.equal((await cache.run('k', 'f', execute)).kind, 'fresh');
  assert.equal(calls, 2);
});

test('5xx responses and thrown errors are not remembered', async () => {
  const cache = new IdempotencyCache(60_000);
  await cache.run('k', 'f', async () => ({ statusCode: 503, body: {} }));
  assert.equal(cache.size, 0);
  await assert.rejects(cache.run('k2', 'f', async () => Promise.reject(new Error('boom'))), /boom/);
  assert.equal(cache.size, 0);
  const retry = await cache.run('k', 'f', async () => ({ statusCode: 201, body: { ok: true } }));
  assert.equal(retry.kind, 'fresh');
});

test('the oldest keys are dropped beyond maxEntries', async () => {
  const cache = new IdempotencyCache(60_000, Date.now, 3);
  for (const key of ['a', 'b', 'c', 'd']) await cache.run(key, 'f', async () => ({ statusCode: 201, body: key }));
  assert.equal(cache.size, 3);
  assert.equal((await cache.run('a', 'f', async () => ({ statusCode: 201, body: 'again' }))).kind, 'fresh');
  assert.equal((await cache.run('d', 'f', async () => ({ statusCode: 201, body: 'again' }))).kind, 'replay');
});

test('a refused request is not remembered: the same key with a fixed body is judged afresh', async () => {
  const cache = new IdempotencyCache(60_000);
  const refused = await cache.run('k', 'bad-body', async () => ({ statusCode: 400, body: { errors: [] } }));
  assert.equal(refused.kind, 'fresh');
  const fixed = await cache.run('k', 'good-body', async () => ({ statusCode: 201, body: { rolloutId: 'rollout-x' } }));
  assert.equal(fixed.kind, 'fresh');
  assert.equal(fixed.response.statusCode, 201);
  const retried = await cache.run('k', 'good-body', async () => ({ statusCode: 500, body: {} }));
  assert.equal(retried.kind, 'replay');
});
