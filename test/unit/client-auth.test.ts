import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { createAuthenticator, hashToken, signRequest } from '../../client/api/auth';

const TOKEN = 'tok-0123456789abcdef';
const SECRET = 'an-hmac-secret-of-some-length';
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const nowSeconds = String(NOW / 1000);

const auth = createAuthenticator({ tokenHashes: [hashToken('other-token'), hashToken(TOKEN)], hmacSecret: SECRET, now: () => NOW });

test('hashToken is the sha256 hex of the token', () => {
  assert.equal(hashToken(TOKEN), createHash('sha256').update(TOKEN).digest('hex'));
});

test('a configured bearer token is accepted, case-insensitive scheme', () => {
  const r1 = auth({ authorization: `Bearer ${TOKEN}`, rawBody: '' });
  assert.equal(r1.ok, true);
  const r2 = auth({ authorization: `bearer ${TOKEN}`, rawBody: '' });
  assert.equal(r2.ok, true);
});

test('unknown, malformed or missing credentials are refused with a reason', () => {
  const cases: [Parameters<typeof auth>[0], RegExp][] = [
    [{ authorization: 'Bearer nope', rawBody: '' }, /unknown bearer token/],
    [{ authorization: `Basic ${TOKEN}`, rawBody: '' }, /malformed/],
    [{ authorization: `Bearer ${hashToken(TOKEN)}`, rawBody: '' }, /unknown bearer token/],
    [{ rawBody: '' }, /missing credentials/],
  ];
  for (const [req, reason] of cases) {
    const result = auth(req);
    assert.equal(result.ok, false);
    if (!result.ok) assert.match(result.reason, reason);
  }
});

test('a correctly signed request is accepted', () => {
  const body = '{"service":"checkout"}';
  const result = auth({ signature: signRequest(SECRET, nowSeconds, body), timestamp: nowSeconds, rawBody: body });
  assert.deepEqual(result, { ok: true, principal: 'hmac' });
});

test('a signature over another body, secret or timestamp is refused', () => {
  const body = '{"service":"checkout"}';
  const other = String(NOW / 1000 - 10);
  for (const signature of [
    signRequest(SECRET, nowSeconds, `${body} `),
    signRequest('another-secret-xxxxxxxx', nowSeconds, body),
    signRequest(SECRET, other, body),
  ]) {
    const result = auth({ signature, timestamp: nowSeconds, rawBody: body });
    assert.deepEqual(result, { ok: false, reason: 'bad signature' });
  }
});

test('signed requests more than 5 minutes off are refused, within 5 minutes accepted', () => {
  const body = '';
  const at = (offsetS: number) => String(NOW / 1000 + offsetS);
  for (const offset of [-301, 301, -3600]) {
    const ts = at(offset);
    const result = auth({ signature: signRequest(SECRET, ts, body), timestamp: ts, rawBody: body });
    assert.equal(result.ok, false, `offset ${offset}`);
    if (!result.ok) assert.match(result.reason, /5 minutes/);
  }
  for (const offset of [-299, 0, 299]) {
    const ts = at(offset);
    assert.equal(auth({ signature: signRequest(SECRET, ts, body), timestamp: ts, rawBody: body }).ok, true);
  }
});

test('signed requests are refused when no HMAC secret is configured', () => {
  const tokensOnly = createAuthenticator({ tokenHashes: [hashToken(TOKEN)], now: () => NOW });
  const result = tokensOnly({ signature: signRequest(SECRET, nowSeconds, ''), timestamp: nowSeconds, rawBody: '' });
  assert.deepEqual(result, { ok: false, reason: 'signed requests are not enabled' });
});
