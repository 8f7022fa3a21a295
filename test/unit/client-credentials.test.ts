/**
 * API credentials: the YAML file (every problem named by file and path), service globs and
 * actions of a scope, the admin credentials of the older variables, and how `loadApiConfig`
 * puts them together.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashToken } from '../../client/api/auth';
import { ApiConfigError, loadApiConfig } from '../../client/api/config';
import { adminCredentials, CredentialsFileError, mergeCredentials, parseCredentialsFile } from '../../client/api/credentials';
import { API_ACTIONS, compileScope, FULL_SCOPE } from '../../client/api/scope';

const HASH = hashToken('pipeline-token');
const KEY = 'k'.repeat(32);

/** The problems `parseCredentialsFile` reports for `text`, or [] when it parses. */
function problems(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseCredentialsFile(text, 'creds.yaml', env);
    return [];
  } catch (err) {
    assert.ok(err instanceof CredentialsFileError, String(err));
    return err.issues;
  }
}

test('a valid file: tokens and HMAC keys with principals, scopes and expiry', () => {
  const creds = parseCredentialsFile(
    `credentials:
  - principal: ci-checkout
    tokenSha256: ${HASH.toUpperCase()}
    services: ["checkout", "checkout-*"]
    actions: [read, start, pause, resume, abort, promote]
    expires: 2027-01-01T00:00:00Z
  - principal: deploy-bot
    hmacKeyEnv: PHOENIX_HMAC_DEPLOY_BOT
    services: ["*"]
    actions: [read, start]
  - principal: ops@example.com
    tokenSha256: ${hashToken('ops')}
    services: ["*"]
    actions: ["*"]
    expires: 2027-06-01
`,
    'creds.yaml',
    { PHOENIX_HMAC_DEPLOY_BOT: KEY },
  );
  assert.deepEqual(
    creds.map((c) => [c.principal, c.tokenSha256, c.hmacKey, c.scope.services, c.scope.actions, c.expiresAt]),
    [
      ['ci-checkout', HASH, undefined, ['checkout', 'checkout-*'], ['read', 'start', 'pause', 'resume', 'abort', 'promote'], Date.UTC(2027, 0, 1)],
      ['deploy-bot', undefined, KEY, ['*'], ['read', 'start'], undefined],
      ['ops@example.com', hashToken('ops'), undefined, ['*'], '*', Date.UTC(2027, 5, 1)],
    ],
  );
});

test('every problem is listed as file: path: message', () => {
  const text = `credentials:
  - principal: ok
    tokenSha256: ${HASH}
    services: [checkout]
    actions: [read]
  - principal: no-services
    tokenSha256: ${hashToken('b')}
    actions: [read]
  - principal: "has space"
    tokenSha256: my-plain-token
    services: []
    actions: [read, deploy]
    expires: next tuesday
    color: blue
  - principal: both
    tokenSha256: ${hashToken('c')}
    hmacKeyEnv: PHOENIX_HMAC_BOTH
    services: ["*"]
    actions: ["*"]
  - principal: neither
    services: ["*"]
    actions: ["*"]
  - principal: ok
    tokenSha256: ${HASH}
    services: ["checkout/x"]
    actions: "read"
  - principal: unset-key
    hmacKeyEnv: PHOENIX_HMAC_UNSET
    services: ["*"]
    actions: [read]
  - principal: short-key
    hmacKeyEnv: PHOENIX_HMAC_SHORT
    services: ["*"]
    actions: [read]
  - principal: bad-env-name
    hmacKeyEnv: "not a name"
    services: ["*"]
    actions: [read]
`;
  assert.deepEqual(problems(text, { PHOENIX_HMAC_BOTH: KEY, PHOENIX_HMAC_SHORT: 'short' }), [
    'creds.yaml: credentials.1.services: required',
    'creds.yaml: credentials.2.principal: must be 1-128 of [A-Za-z0-9._@:-]',
    'creds.yaml: credentials.2.tokenSha256: must be the sha256 hex digest of the token (64 hex characters), not the token',
    'creds.yaml: credentials.2.services: must not be empty',
    'creds.yaml: credentials.2.actions.1: must be one of read, start, pause, resume, abort, promote, *',
    'creds.yaml: credentials.2.expires: must be an ISO time with a zone, e.g. 2027-01-01T00:00:00Z',
    'creds.yaml: credentials.2.color: unknown key',
    'creds.yaml: credentials.3: exactly one of tokenSha256 / hmacKeyEnv is required',
    'creds.yaml: credentials.4: exactly one of tokenSha256 / hmacKeyEnv is required',
    'creds.yaml: credentials.5.services.0: must be a service name or glob (letters, digits, ".", "_", "-" and * ? [ ] { } ,)',
    'creds.yaml: credentials.5.actions: must be a list of actions',
    'creds.yaml: credentials.6.hmacKeyEnv: environment variable PHOENIX_HMAC_UNSET is not set on the API process',
    'creds.yaml: credentials.7.hmacKeyEnv: the key in PHOENIX_HMAC_SHORT must be at least 32 characters (it has 5)',
    'creds.yaml: credentials.8.hmacKeyEnv: must be an environment variable name',
  ]);
});

test('duplicate principals and tokens name the earlier entry', () => {
  const entry = (principal: string, token: string) => `  - principal: ${principal}\n    tokenSha256: ${hashToken(token)}\n    services: ["*"]\n    actions: [read]\n`;
  assert.deepEqual(problems(`credentials:\n${entry('a', 'x')}${entry('b', 'y')}${entry('a', 'z')}${entry('c', 'y')}`), [
    'creds.yaml: credentials.2.principal: duplicate principal a (also credentials.0)',
    'creds.yaml: credentials.3.tokenSha256: same token as credentials.1',
  ]);
});

test('the file itself: YAML syntax, no mapping, no or an empty list, unknown top-level keys', () => {
  assert.match(problems('credentials: [unclosed\n')[0] ?? '', /^creds\.yaml: line \d+: /);
  assert.deepEqual(problems(''), ['creds.yaml: (root): must be a mapping with a `credentials` list']);
  assert.deepEqual(problems('- a\n- b\n'), ['creds.yaml: (root): must be a mapping with a `credentials` list']);
  assert.deepEqual(problems('tokens: []\n'), ['creds.yaml: credentials: required', 'creds.yaml: tokens: unknown key']);
  assert.deepEqual(problems('credentials: []\n'), ['creds.yaml: credentials: must list at least one credential']);
  assert.deepEqual(problems('credentials: [42]\n'), ['creds.yaml: credentials.0: Invalid input: expected object, received number']);
});

test('service globs: names, picomatch globs, "*" for all; actions: a list or "*"', () => {
  const scope = compileScope(['checkout', 'checkout-*', 'search-{eu,us}'], ['read', 'abort']);
  const may = (action: 'read' | 'abort' | 'start', service: string) => scope.allows(action, service);
  assert.equal(may('read', 'checkout'), true);
  assert.equal(may('read', 'checkout-eu'), true);
  assert.equal(may('abort', 'search-us'), true);
  assert.equal(may('read', 'search-asia'), false);
  assert.equal(may('read', 'checkout2'), false, 'checkout-* needs the dash');
  assert.equal(may('read', 'payments'), false);
  assert.equal(may('read', 'my-checkout'), false, 'globs are anchored');
  assert.equal(may('start', 'checkout'), false, 'start is not granted');
  assert.equal(scope.grants('abort'), true);
  assert.equal(scope.grants('promote'), false);
  for (const action of API_ACTIONS) assert.equal(FULL_SCOPE.allows(action, '.hidden-service'), true);
  assert.equal(compileScope(['*'], ['*']).actions, '*');
  assert.equal(compileScope(['pay?ents'], ['read']).allows('read', 'payments'), true);
  assert.throws(() => compileScope(['a/b'], ['read']), /must be a service name or glob/);
});

test('the older variables are admin credentials; a principal or token configured twice is refused', () => {
  const admin = adminCredentials([HASH, HASH.toUpperCase()], 'legacy-secret-value');
  assert.deepEqual(
    admin.map((c) => [c.principal, c.scope === FULL_SCOPE]),
    [[`token:${HASH.slice(0, 12)}`, true], ['hmac', true]],
  );
  const scoped = parseCredentialsFile(`credentials:\n  - principal: hmac\n    tokenSha256: ${HASH}\n    services: [a]\n    actions: [read]\n`, 'creds.yaml', {});
  assert.throws(
    () => mergeCredentials(scoped, admin),
    (err: unknown) => {
      assert.ok(err instanceof CredentialsFileError);
      assert.deepEqual(err.issues, [
        `PHOENIX_API_TOKEN_HASHES / PHOENIX_API_TOKENS_FILE: the token of token:${HASH.slice(0, 12)} is also configured by creds.yaml (as hmac)`,
        'PHOENIX_API_HMAC_SECRET: principal hmac is also configured by creds.yaml',
      ]);
      return true;
    },
  );
});

test('loadApiConfig reads PHOENIX_API_CREDENTIALS_FILE next to the older variables, HMAC keys from its env', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-creds-'));
  const file = join(dir, 'creds.yaml');
  writeFileSync(file, `credentials:\n  - principal: deploy-bot\n    hmacKeyEnv: PHOENIX_HMAC_DEPLOY_BOT\n    services: ["*"]\n    actions: [read]\n`);
  const config = loadApiConfig({ PHOENIX_API_CREDENTIALS_FILE: file, PHOENIX_HMAC_DEPLOY_BOT: KEY, PHOENIX_API_TOKEN_HASHES: HASH });
  assert.deepEqual(config.credentials.map((c) => c.principal), ['deploy-bot', `token:${HASH.slice(0, 12)}`]);
  assert.equal(config.credentials[0]?.hmacKey, KEY);
  assert.equal(config.rateLimitPerMin, 300);
  assert.equal(config.tls, undefined);
  assert.equal(config.host, '127.0.0.1');
  // A credentials file alone is enough to start.
  assert.equal(loadApiConfig({ PHOENIX_API_CREDENTIALS_FILE: file, PHOENIX_HMAC_DEPLOY_BOT: KEY }).credentials.length, 1);
  assert.equal(loadApiConfig({ PHOENIX_API_TOKEN_HASHES: HASH, PHOENIX_API_RATE_LIMIT_PER_MIN: '0' }).rateLimitPerMin, 0);

  // The file's problems are the config error's lines; the env variable is not set here.
  assert.throws(
    () => loadApiConfig({ PHOENIX_API_CREDENTIALS_FILE: file }),
    (err: unknown) => {
      assert.ok(err instanceof ApiConfigError);
      assert.deepEqual(err.issues, [`${file}: credentials.0.hmacKeyEnv: environment variable PHOENIX_HMAC_DEPLOY_BOT is not set on the API process`]);
      return true;
    },
  );
  assert.throws(() => loadApiConfig({ PHOENIX_API_CREDENTIALS_FILE: join(dir, 'missing.yaml') }), /^ApiConfigError: invalid API configuration:\n {2}PHOENIX_API_CREDENTIALS_FILE: cannot read .*missing\.yaml: ENOENT/);
  assert.throws(() => loadApiConfig({ PHOENIX_API_TOKEN_HASHES: HASH, PHOENIX_API_RATE_LIMIT_PER_MIN: 'lots' }), /PHOENIX_API_RATE_LIMIT_PER_MIN/);
});

test('examples/api/credentials.yaml is a valid credentials file: a scoped pipeline token, an operator, a dashboard', () => {
  const file = 'examples/api/credentials.yaml';
  const creds = parseCredentialsFile(readFileSync(file, 'utf8'), file, {});
  const byName = new Map(creds.map((c) => [c.principal, c.scope]));
  assert.equal(creds.length, 3);
  const pipeline = byName.get('ci-checkout')!;
  assert.deepEqual([pipeline.services, pipeline.actions], [['checkout'], ['read', 'start', 'pause', 'resume', 'abort']]);
  assert.equal(pipeline.allows('promote', 'checkout'), false);
  assert.equal(byName.get('operator@example.com')?.actions, '*');
  const dashboard = byName.get('dashboard')!;
  assert.deepEqual([dashboard.services, dashboard.actions], [['*'], ['read']]);
  // The placeholder token of the comment is the one hashed.
  assert.equal(creds.find((c) => c.principal === 'ci-checkout')?.tokenSha256, hashToken('example-pipeline-token'));
});
