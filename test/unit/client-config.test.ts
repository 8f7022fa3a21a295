import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApiConfigError, loadApiConfig } from '../../client/api/config';
import { hashToken } from '../../client/api/auth';
import { ClientConfigError, loadClientConfig } from '../../client/config';

const HASH = hashToken('secret-token');
// Keep the developer's own ~/.config/temporalio profile out of these tests.
const NO_FILE = { TEMPORAL_CONFIG_FILE: '/nonexistent/temporal.toml' };

test('client config defaults to the local dev server', () => {
  const config = loadClientConfig({ ...NO_FILE });
  assert.equal(config.address, '127.0.0.1:7233');
  assert.equal(config.namespace, 'default');
  assert.equal(config.connection.connectTimeout, 5000);
});

test('client config reads TEMPORAL_* through envconfig and our own vars through zod', () => {
  const config = loadClientConfig({
    ...NO_FILE,
    TEMPORAL_ADDRESS: 'temporal.example:7233',
    TEMPORAL_NAMESPACE: 'rollouts',
    TEMPORAL_API_KEY: 'k',
    PHOENIX_CONNECT_TIMEOUT_MS: '1500',
  });
  assert.equal(config.address, 'temporal.example:7233');
  assert.equal(config.namespace, 'rollouts');
  assert.equal(config.connection.apiKey, 'k');
  // An API key implies TLS.
  assert.equal(config.connection.tls, true);
  assert.equal(config.connection.connectTimeout, 1500);
});

test('bad client config names the variable', () => {
  assert.throws(() => loadClientConfig({ ...NO_FILE, PHOENIX_CONNECT_TIMEOUT_MS: 'soon' }), (err: unknown) => {
    assert.ok(err instanceof ClientConfigError);
    assert.match(err.message, /PHOENIX_CONNECT_TIMEOUT_MS/);
    return true;
  });
});

test('API config: defaults to 127.0.0.1:8088 and hashes from env and file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-api-config-'));
  const file = join(dir, 'tokens');
  const other = hashToken('other');
  writeFileSync(file, `# ops team\n${other.toUpperCase()}\n\n${HASH}  # dup\n`);
  const config = loadApiConfig({ PHOENIX_API_TOKEN_HASHES: HASH, PHOENIX_API_TOKENS_FILE: file });
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.port, 8088);
  assert.deepEqual([...config.tokenHashes].sort(), [HASH, other].sort());
  assert.equal(config.bodyLimitBytes, 256 * 1024);
});

test('API config: listen address, HMAC-only auth', () => {
  const config = loadApiConfig({ PHOENIX_API_ADDR: '[::1]:9000', PHOENIX_API_HMAC_SECRET: 'x'.repeat(16) });
  assert.equal(config.host, '::1');
  assert.equal(config.port, 9000);
  assert.deepEqual(config.tokenHashes, []);
});

test('API config errors name every bad variable, and plaintext tokens are refused', () => {
  assert.throws(
    () => loadApiConfig({ PHOENIX_API_ADDR: 'localhost', PHOENIX_API_TOKEN_HASHES: 'my-plain-token', PHOENIX_API_HMAC_SECRET: 'short' }),
    (err: unknown) => {
      assert.ok(err instanceof ApiConfigError);
      assert.deepEqual(err.issues.map((i) => i.split(':')[0]).sort(), ['PHOENIX_API_ADDR', 'PHOENIX_API_HMAC_SECRET', 'PHOENIX_API_TOKEN_HASHES']);
      return true;
    },
  );
  assert.throws(() => loadApiConfig({}), /configure at least one way to authenticate/);
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-api-config-'));
  writeFileSync(join(dir, 't'), 'plaintext-token\n');
  assert.throws(() => loadApiConfig({ PHOENIX_API_TOKENS_FILE: join(dir, 't') }), /:1: expected a sha256 hex digest/);
});
