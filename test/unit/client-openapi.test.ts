import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { rolloutRequestSchema } from '../../catalog/request';
import { POLICY_FIELDS, REQUEST_ALERTS_FIELDS, REQUEST_METRICS_FIELDS } from '../../catalog/types';
import { KEY_ID_HEADER, NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../client/api/auth';
import { buildApiServer, loadOpenApiDocument, registeredRoutes } from '../../client/api/server';
import { normalizeRolloutId } from '../../client/ids';
import { SAFE_LABEL_VALUE } from '../../rollout-spec/queries';
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
    targets: null, fastGuard: { running: false, starts: 0, failures: 0, lastError: null, lastResult: null, at: '' },
    judge: { at: '', score: 100, verdict: 'pass', passThreshold: 95, marginalThreshold: 75, metrics: [], history: [] },
    freshBaseline: { version: '', state: 'running', weight: 0 },
  };
  const doc = loadOpenApiDocument() as { components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };
  assert.deepEqual(Object.keys(doc.components.schemas.RolloutStatus?.properties ?? {}).sort(), Object.keys(status).sort());
});

type Doc = {
  paths: Record<string, Record<string, { responses?: Record<string, unknown>; security?: unknown[] }>>;
  components: {
    parameters: Record<string, { schema?: { pattern?: string } }>;
    securitySchemes: Record<string, { type: string; in?: string; name?: string }>;
    schemas: Record<string, { pattern?: string; required?: string[]; properties?: Record<string, { properties?: Record<string, unknown> }> }>;
  };
};

test('every /v1 operation documents 400, 401, 403, 429 and 503', () => {
  const doc = loadOpenApiDocument() as Doc;
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const [method, operation] of Object.entries(item)) {
      if (!METHODS.includes(method)) continue;
      const codes = Object.keys(operation.responses ?? {});
      for (const code of ['400', '401', '403', '429', '503']) assert.ok(codes.includes(code), `${method.toUpperCase()} ${path} lacks ${code}`);
    }
  }
});

test('the HMAC security schemes are the headers client/api/auth.ts reads', () => {
  const { securitySchemes } = (loadOpenApiDocument() as Doc).components;
  const headers = Object.values(securitySchemes)
    .filter((s) => s.type === 'apiKey' && s.in === 'header')
    .map((s) => s.name?.toLowerCase())
    .sort();
  assert.deepEqual(headers, [KEY_ID_HEADER, NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER].sort());
});

test('the RolloutId pattern accepts exactly the ids normalizeRolloutId accepts', () => {
  const pattern = new RegExp((loadOpenApiDocument() as Doc).components.parameters.RolloutId?.schema?.pattern ?? '(?!)');
  const accepts = (id: string) => {
    try {
      normalizeRolloutId(id);
      return true;
    } catch {
      return false;
    }
  };
  const samples = [
    'checkout', 'rollout-checkout', 'rollout-rollout-x', 'a', 'A.b_c-9', 'x'.repeat(63), 'x'.repeat(64),
    `rollout-${'x'.repeat(63)}`, `rollout-${'x'.repeat(64)}`, 'rollout-', 'rollout', 'rollout-_x', 'rollout-.x', 'rollout--x',
    '', '-x', '.x', '_x', 'a/b', 'a b', 'a"b', "a'b", 'ä', 'rolloutx', 'Rollout-x',
  ];
  for (const id of samples) assert.equal(pattern.test(id), accepts(id), JSON.stringify(id));
});

test('RolloutRequest documents the fields catalog/request.ts accepts', () => {
  const { schemas } = (loadOpenApiDocument() as Doc).components;
  const request = schemas.RolloutRequest;
  assert.deepEqual(request?.required, ['service', 'canary']);
  assert.deepEqual(Object.keys(request?.properties ?? {}).sort(), Object.keys(rolloutRequestSchema.shape).sort());
  assert.deepEqual(Object.keys(request?.properties?.metrics?.properties ?? {}), [...REQUEST_METRICS_FIELDS]);
  assert.deepEqual(Object.keys(request?.properties?.alerts?.properties ?? {}), [...REQUEST_ALERTS_FIELDS]);
  for (const field of POLICY_FIELDS) assert.ok(request?.properties?.[field], field);
  assert.equal(schemas.ServiceName?.pattern, SAFE_LABEL_VALUE.source);
});
