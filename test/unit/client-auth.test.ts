/**
 * Authentication of API requests without HTTP: bearer tokens, expiry, and replay-proof HMAC
 * signatures over method, path with query, timestamp, nonce and body hash.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { test } from 'node:test';
import {
  canonicalRequest,
  createAuthenticator,
  hashToken,
  signedHeaders,
  signRequest,
  type AuthRequest,
  type AuthResult,
} from '../../client/api/auth';
import { adminCredentials, type Credential } from '../../client/api/credentials';
import { ReplayCache } from '../../client/api/replay-cache';
import { compileScope, FULL_SCOPE } from '../../client/api/scope';

const TOKEN = 'tok-0123456789abcdef';
const KEY = 'k'.repeat(40);
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const NOW_S = String(NOW / 1000);
const NONCE = 'nonce-0123456789abcdef';

const credentials: Credential[] = [
  ...adminCredentials([hashToken('other-token'), hashToken(TOKEN)], undefined),
  { principal: 'deploy-bot', hmacKey: KEY, scope: compileScope(['*'], ['read', 'start']), source: 'test' },
  { principal: 'old-bot', hmacKey: 'o'.repeat(40), scope: FULL_SCOPE, expiresAt: NOW - 1, source: 'test' },
  { principal: 'old-token', tokenSha256: hashToken('old-token'), scope: FULL_SCOPE, expiresAt: NOW - 1, source: 'test' },
  { principal: 'new-token', tokenSha256: hashToken('new-token'), scope: FULL_SCOPE, expiresAt: NOW + 1000, source: 'test' },
];

function authenticator(now = () => NOW, replayCache?: ReplayCache) {
  return createAuthenticator({ credentials, now, replayCache });
}

const bearer = (authorization?: string): AuthRequest => ({ authorization, method: 'GET', url: '/v1/rollouts', rawBody: '' });

interface Signed {
  keyId?: string;
  key?: string;
  method?: string;
  url?: string;
  timestamp?: string;
  nonce?: string;
  body?: string;
}

/** A request signed with `parts`; `sent` overrides what is actually sent (to tamper). */
function signed(parts: Signed = {}, sent: Partial<AuthRequest> = {}): AuthRequest {
  const p = { keyId: 'deploy-bot', key: KEY, method: 'POST', url: '/v1/rollouts?dryRun=no', timestamp: NOW_S, nonce: NONCE, body: '{"service":"checkout"}', ...parts };
  return {
    keyId: p.keyId,
    timestamp: p.timestamp,
    nonce: p.nonce,
    signature: signRequest({ key: p.key, method: p.method, path: p.url, timestamp: p.timestamp, nonce: p.nonce, body: p.body }),
    method: p.method,
    url: p.url,
    rawBody: p.body,
    ...sent,
  };
}

function refusedWith(result: AuthResult, reason: RegExp | string, what?: string): void {
  assert.equal(result.ok, false, what ?? JSON.stringify(result));
  if (!result.ok) {
    if (typeof reason === 'string') assert.equal(result.reason, reason, what);
    else assert.match(result.reason, reason, what);
  }
}

const principalOf = (result: AuthResult) => (result.ok ? result.credential.principal : `refused: ${result.reason}`);

test('hashToken is the sha256 hex of the token', () => {
  assert.equal(hashToken(TOKEN), createHash('sha256').update(TOKEN).digest('hex'));
});

test('a configured bearer token is accepted, case-insensitive scheme; its principal is token:<12 hex>', () => {
  const auth = authenticator();
  assert.equal(principalOf(auth(bearer(`Bearer ${TOKEN}`))), `token:${hashToken(TOKEN).slice(0, 12)}`);
  assert.equal(principalOf(auth(bearer(`bearer ${TOKEN}`))), `token:${hashToken(TOKEN).slice(0, 12)}`);
});

test('unknown, malformed or missing credentials are refused with a reason', () => {
  const auth = authenticator();
  refusedWith(auth(bearer('Bearer nope')), 'unknown bearer token');
  refusedWith(auth(bearer(`Basic ${TOKEN}`)), /malformed/);
  refusedWith(auth(bearer(`Bearer ${hashToken(TOKEN)}`)), 'unknown bearer token');
  refusedWith(auth(bearer()), /missing credentials/);
});

test('an expired credential is refused as expired; one that has not expired yet is accepted', () => {
  let now = NOW;
  const auth = authenticator(() => now);
  refusedWith(auth(bearer('Bearer old-token')), 'credential expired');
  refusedWith(auth(signed({ keyId: 'old-bot', key: 'o'.repeat(40) })), 'credential expired');
  assert.equal(principalOf(auth(bearer('Bearer new-token'))), 'new-token');
  now = NOW + 1001;
  refusedWith(auth(bearer('Bearer new-token')), 'credential expired');
});

test('the canonical string is METHOD, path with query, timestamp, nonce and the body hash, one per line', () => {
  const body = '{"a":1}';
  const canonical = canonicalRequest({ method: 'post', path: '/v1/rollouts?x=1', timestamp: 1700000000, nonce: NONCE, body });
  assert.equal(canonical, `POST\n/v1/rollouts?x=1\n1700000000\n${NONCE}\n${createHash('sha256').update(body).digest('hex')}`);
  const signature = signRequest({ key: KEY, method: 'POST', path: '/v1/rollouts?x=1', timestamp: '1700000000', nonce: NONCE, body });
  assert.equal(signature, `sha256=${createHmac('sha256', KEY).update(canonical).digest('hex')}`);
  // No body hashes the empty string.
  assert.match(canonicalRequest({ method: 'GET', path: '/', timestamp: 1, nonce: NONCE }), /\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855$/);
});

test('a correctly signed request is accepted as its key id', () => {
  const result = authenticator()(signed());
  assert.equal(principalOf(result), 'deploy-bot');
  const headers = signedHeaders({ keyId: 'deploy-bot', key: KEY, method: 'GET', path: '/v1/rollouts', now: NOW });
  const viaHelper = authenticator()({
    keyId: headers['x-phoenix-key-id'],
    timestamp: headers['x-phoenix-timestamp'],
    nonce: headers['x-phoenix-nonce'],
    signature: headers['x-phoenix-signature'],
    method: 'GET',
    url: '/v1/rollouts',
    rawBody: '',
  });
  assert.equal(principalOf(viaHelper), 'deploy-bot');
});

test('tampering with method, path, query, timestamp, nonce, body or key id breaks the signature', () => {
  const later = String(NOW / 1000 + 10);
  const cases: [string, AuthRequest][] = [
    // A signed GET replayed as a POST to another path.
    ['method', signed({ method: 'GET', url: '/v1/rollouts/checkout' }, { method: 'POST' })],
    ['path', signed({ method: 'GET', url: '/v1/rollouts/checkout' }, { method: 'POST', url: '/v1/rollouts/checkout/promote' })],
    ['query', signed({ url: '/v1/rollouts?state=paused' }, { url: '/v1/rollouts?state=stuck' })],
    ['timestamp', signed({}, { timestamp: later })],
    ['nonce', signed({}, { nonce: 'another-nonce-0123456789' })],
    ['body', signed({}, { rawBody: '{"service":"payments"}' })],
    ['key', signed({ key: 'z'.repeat(40) })],
    ['key id', signed({}, { keyId: 'old-bot' })],
    ['unknown key id', signed({}, { keyId: 'nobody' })],
  ];
  for (const [what, req] of cases) {
    // A fresh cache each time, so a refusal can only come from the signature.
    refusedWith(authenticator()(req), 'bad signature', `tampered ${what}`);
  }
});

test('a nonce is accepted once per key id: the same signed request again is refused', () => {
  const auth = authenticator();
  assert.equal(principalOf(auth(signed())), 'deploy-bot');
  refusedWith(auth(signed()), 'nonce already used');
  // Even with another method, path and body, signed anew: the nonce is spent.
  refusedWith(auth(signed({ method: 'GET', url: '/v1/rollouts', body: '' })), 'nonce already used');
  // Another nonce is fine.
  assert.equal(principalOf(auth(signed({ nonce: 'nonce-fedcba9876543210' }))), 'deploy-bot');
});

test('signed requests more than 5 minutes off are refused, within 5 minutes accepted', () => {
  const at = (offsetS: number) => String(NOW / 1000 + offsetS);
  for (const offset of [-301, 301, -3600]) {
    refusedWith(authenticator()(signed({ timestamp: at(offset) })), /more than 5 minutes off/);
  }
  for (const offset of [-300, -299, 0, 299, 300]) {
    assert.equal(principalOf(authenticator()(signed({ timestamp: at(offset) }))), 'deploy-bot', `offset ${offset}`);
  }
});

test('the nonce is remembered for the skew window: a replay within it is refused, after it the timestamp is', () => {
  let now = NOW;
  const auth = authenticator(() => now);
  assert.ok(auth(signed()).ok);
  now = NOW + 5 * 60 * 1000;
  refusedWith(auth(signed()), 'nonce already used');
  now = NOW + 5 * 60 * 1000 + 1000;
  refusedWith(auth(signed()), /more than 5 minutes off/);
});

test('incomplete or malformed signed requests are refused, naming what is missing; the old body-only scheme is gone', () => {
  const auth = authenticator();
  const oldScheme: AuthRequest = {
    timestamp: NOW_S,
    signature: `sha256=${createHmac('sha256', KEY).update(`${NOW_S}.{}`).digest('hex')}`,
    method: 'POST',
    url: '/v1/rollouts',
    rawBody: '{}',
  };
  refusedWith(auth(oldScheme), /missing X-Phoenix-Key-Id, X-Phoenix-Nonce$/);
  refusedWith(auth(signed({}, { signature: undefined })), /missing X-Phoenix-Signature$/);
  refusedWith(auth(signed({ nonce: 'short' })), /X-Phoenix-Nonce must be 16-128/);
  refusedWith(auth(signed({ nonce: 'has spaces in the nonce!' })), /X-Phoenix-Nonce must be 16-128/);
  refusedWith(auth(signed({ timestamp: '2026-01-01T00:00:00Z' })), /Unix seconds/);
  refusedWith(auth(signed({}, { signature: 'md5=abc' })), /sha256=<hex>/);
});

test('signed requests are refused when no HMAC key is configured', () => {
  const tokensOnly = createAuthenticator({ credentials: adminCredentials([hashToken(TOKEN)], undefined), now: () => NOW });
  refusedWith(tokensOnly(signed()), 'signed requests are not enabled');
});

test('the legacy PHOENIX_API_HMAC_SECRET signs as key id and principal hmac', () => {
  const legacy = createAuthenticator({ credentials: adminCredentials([], 'legacy-secret-16ch'), now: () => NOW });
  assert.equal(principalOf(legacy(signed({ keyId: 'hmac', key: 'legacy-secret-16ch' }))), 'hmac');
});

test('a full replay cache refuses new signed requests with 503 rather than forgetting nonces', () => {
  let now = NOW;
  const cache = new ReplayCache({ windowMs: 5 * 60 * 1000, maxEntriesPerKey: 2, now: () => now });
  const auth = authenticator(() => now, cache);
  assert.ok(auth(signed({ nonce: 'nonce-aaaaaaaaaaaaaaaa' })).ok);
  assert.ok(auth(signed({ nonce: 'nonce-bbbbbbbbbbbbbbbb' })).ok);
  const full = auth(signed({ nonce: 'nonce-cccccccccccccccc' }));
  assert.equal(full.ok, false);
  assert.ok(!full.ok && full.status === 503, JSON.stringify(full));
  assert.ok(!full.ok && full.status === 503 && full.retryAfterS > 0 && full.retryAfterS <= 301);
  // The remembered nonces are still refused: nothing was forgotten to make room.
  refusedWith(auth(signed({ nonce: 'nonce-aaaaaaaaaaaaaaaa' })), 'nonce already used');
  // Bearer tokens are not affected.
  assert.ok(auth(bearer(`Bearer ${TOKEN}`)).ok);
  // Once the first nonces can no longer be replayed (window over), there is room again.
  now = NOW + 5 * 60 * 1000 + 1;
  assert.ok(auth(signed({ nonce: 'nonce-dddddddddddddddd', timestamp: String(Math.floor(now / 1000)) })).ok);
  assert.equal(cache.size('deploy-bot'), 1);
});

test('the replay cache is per key id', () => {
  const cache = new ReplayCache({ windowMs: 1000, now: () => NOW });
  assert.deepEqual(cache.record('a', 'n', NOW), { kind: 'recorded' });
  assert.deepEqual(cache.record('b', 'n', NOW), { kind: 'recorded' });
  assert.deepEqual(cache.record('a', 'n', NOW), { kind: 'replayed' });
  assert.equal(cache.size(), 2);
});
