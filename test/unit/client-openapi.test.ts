import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { buildApiServer, loadOpenApiDocument, registeredRoutes } from '../../client/api/server';
import { CHECK_OUTCOMES, OPERATOR_ACTIONS, ROLLOUT_STATES, type RolloutStatus } from '../../workflows/contract';

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

test('the enums of the document are the lists of the contract', () => {
  const doc = loadOpenApiDocument() as { components: { schemas: Record<string, { enum?: unknown[]; properties?: Record<string, { enum?: unknown[] }> }> } };
  const { schemas } = doc.components;
  assert.deepEqual(schemas.RolloutState?.enum, [...ROLLOUT_STATES]);
  assert.deepEqual(schemas.OperatorAction?.enum, [...OPERATOR_ACTIONS]);
  assert.deepEqual(schemas.CheckStatus?.properties?.outcome?.enum, [...CHECK_OUTCOMES]);
});

test('RolloutStatus documents every field of the contract type', () => {
  // A complete literal: the compiler fails this file when the contract gains a field.
  const status: Required<RolloutStatus> = {
    rolloutId: '', service: '', stableVersion: '', canaryVersion: '', state: 'stuck', paused: false, phase: '', step: 0,
    weight: 0, phaseRemainingMs: 0, phaseDurationMs: 0, checks: [], lastAnalysisAt: null, rollbackReason: null,
    rollbackAction: null, stuckReason: null, timeline: [], operatorEvents: [], startedAt: '', continuedAsNew: 0,
    targets: null,
  };
  const doc = loadOpenApiDocument() as { components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };
  assert.deepEqual(Object.keys(doc.components.schemas.RolloutStatus?.properties ?? {}).sort(), Object.keys(status).sort());
});
