import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { buildApiServer, loadOpenApiDocument, registeredRoutes } from '../../client/api/server';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** `/v1/rollouts/:id` → `/v1/rollouts/{id}` */
const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

test('every route the server registers is in openapi/openapi.yaml and vice versa', async () => {
  const app = buildApiServer({
    rollouts: {} as never,
    logger: pino({ level: 'silent' }),
    tokenHashes: ['0'.repeat(64)],
  });
  await app.ready();
  try {
    const served = registeredRoutes(app)
      .map((r) => `${r.method.toUpperCase()} ${toOpenApiPath(r.url)}`)
      .sort();
    const doc = loadOpenApiDocument() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths)
      .flatMap(([path, item]) => Object.keys(item).filter((k) => METHODS.includes(k)).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    assert.ok(served.length >= 10, `expected the API's routes, got ${served.join(', ')}`);
    assert.deepEqual(served, documented);
  } finally {
    await app.close();
  }
});

test('the document is served as JSON and is the checked-in file', async () => {
  const app = buildApiServer({ rollouts: {} as never, logger: pino({ level: 'silent' }), tokenHashes: ['0'.repeat(64)] });
  try {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), loadOpenApiDocument());
  } finally {
    await app.close();
  }
});

test('every path parameter in the document is declared', () => {
  const doc = loadOpenApiDocument() as { paths: Record<string, { parameters?: { $ref?: string }[] }> };
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!path.includes('{id}')) continue;
    assert.ok(item.parameters?.some((p) => p.$ref === '#/components/parameters/RolloutId'), path);
  }
});
