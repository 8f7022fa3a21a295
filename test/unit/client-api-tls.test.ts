/**
 * HTTPS for the API: PHOENIX_API_TLS_CERT_FILE / PHOENIX_API_TLS_KEY_FILE with a self-signed
 * certificate made by openssl, and a client that trusts exactly that certificate.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { hashToken } from '../../client/api/auth';
import { ApiConfigError, loadApiConfig } from '../../client/api/config';
import { buildApiServer } from '../../client/api/server';

const TOKEN = 'tls-test-token';

function get(url: string, options: https.RequestOptions = {}): Promise<{ status: number; body: string }> {
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('HTTPS', () => {
  let dir: string;
  let cert: string;
  let key: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'phoenix-tls-'));
    cert = join(dir, 'cert.pem');
    key = join(dir, 'key.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', key, '-out', cert,
    ], { stdio: 'ignore' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('with both files set', () => {
    let app: FastifyInstance;
    let base: string;

    before(async () => {
      const config = loadApiConfig({ PHOENIX_API_TOKEN_HASHES: hashToken(TOKEN), PHOENIX_API_TLS_CERT_FILE: cert, PHOENIX_API_TLS_KEY_FILE: key });
      assert.ok(config.tls);
      app = buildApiServer({ rollouts: { list: async () => [] } as never, logger: pino({ level: 'silent' }), credentials: config.credentials, tls: config.tls });
      base = await app.listen({ host: config.host, port: 0 });
    });
    after(() => app?.close());

    test('the API serves HTTPS on 127.0.0.1 to a client that trusts the certificate', async () => {
      assert.match(base, /^https:\/\/127\.0\.0\.1:\d+$/);
      const ca = readFileSync(cert, 'utf8');
      const health = await get(`${base}/healthz`, { ca });
      assert.deepEqual([health.status, JSON.parse(health.body)], [200, { ok: true }]);
      const list = await get(`${base}/v1/rollouts`, { ca, headers: { authorization: `Bearer ${TOKEN}` } });
      assert.deepEqual([list.status, JSON.parse(list.body)], [200, { rollouts: [] }]);
      assert.equal((await get(`${base}/v1/rollouts`, { ca })).status, 401);
    });

    test('a client that does not trust the certificate, or speaks plain HTTP, gets nowhere', async () => {
      await assert.rejects(get(`${base}/healthz`), /self-signed certificate|self signed certificate/);
      await assert.rejects(get(`${base.replace('https:', 'http:')}/healthz`), /socket hang up|ECONNRESET|Parse Error/);
    });
  });

  test('config: both or neither, readable, a certificate and its key', () => {
    const base = { PHOENIX_API_TOKEN_HASHES: hashToken(TOKEN) };
    const issues = (env: Record<string, string>): string[] => {
      try {
        loadApiConfig({ ...base, ...env });
        return [];
      } catch (err) {
        assert.ok(err instanceof ApiConfigError, String(err));
        return err.issues;
      }
    };
    assert.deepEqual(issues({ PHOENIX_API_TLS_CERT_FILE: cert }), ['PHOENIX_API_TLS_KEY_FILE: required when PHOENIX_API_TLS_CERT_FILE is set (set both to serve HTTPS, or neither)']);
    assert.deepEqual(issues({ PHOENIX_API_TLS_KEY_FILE: key }), ['PHOENIX_API_TLS_CERT_FILE: required when PHOENIX_API_TLS_KEY_FILE is set (set both to serve HTTPS, or neither)']);
    const missing = join(dir, 'missing.pem');
    const unreadable = issues({ PHOENIX_API_TLS_CERT_FILE: cert, PHOENIX_API_TLS_KEY_FILE: missing });
    assert.equal(unreadable.length, 1);
    assert.match(unreadable[0]!, /^PHOENIX_API_TLS_KEY_FILE: cannot read .*missing\.pem: ENOENT/);
    assert.match(issues({ PHOENIX_API_TLS_CERT_FILE: missing, PHOENIX_API_TLS_KEY_FILE: key })[0] ?? '', /^PHOENIX_API_TLS_CERT_FILE: cannot read/);
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a pem\n');
    assert.match(issues({ PHOENIX_API_TLS_CERT_FILE: garbage, PHOENIX_API_TLS_KEY_FILE: key })[0] ?? '', /^PHOENIX_API_TLS_CERT_FILE \/ PHOENIX_API_TLS_KEY_FILE: not a usable PEM certificate and key/);
    assert.deepEqual(issues({}), []);
    assert.equal(loadApiConfig(base).tls, undefined);
  });
});
