/**
 * Running rollouts on a local demo stack (scripts/stack/*): render a spec template for the
 * stack's ports, connect a RolloutClient to its Temporal, read the canary weight back from
 * HAProxy and inject faults on the canary. Shared by `npm run demo` and `npm run bench`.
 */
import * as fs from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { loadClientConfig } from '../client/config';
import { RolloutClient } from '../client/rollouts';
import { parseRolloutSpecText } from '../rollout-spec/parse';
import type { RolloutSpec } from '../rollout-spec/types';
import { passDemoAdminToken } from './stack/demo-spec';
import type { DemoInstanceEndpoints, StackEndpoints } from './stack/endpoints';
import { haproxyCommand } from './stack/readiness';

/** A spec rendered for one stack: its YAML text and the normalized spec. */
export interface StackSpec {
  text: string;
  spec: RolloutSpec;
}

/**
 * Renders a spec template (e.g. examples/demo-stack-seed-timings.yaml) for the stack described
 * by `endpoints`, like `stack up` does for examples/demo-stack.yaml, then applies `overrides`
 * (YAML paths → values). Throws naming every invalid field.
 */
export async function renderSpecForStack(
  template: string,
  endpoints: StackEndpoints,
  overrides: [path: (string | number)[], value: unknown][] = [],
): Promise<StackSpec> {
  const doc = parseDocument(await fs.readFile(template, 'utf8'));
  const p = endpoints.ports;
  doc.setIn(['traffic', 'runtimeApi'], endpoints.haproxyRuntimeApi);
  doc.setIn(['platform', 'stablePort'], p.stable);
  doc.setIn(['platform', 'canaryPort'], p.canary);
  doc.setIn(['platform', 'stateDir'], endpoints.platformStateDir);
  passDemoAdminToken(doc);
  doc.setIn(['metrics', 'prometheusUrl'], endpoints.prometheus);
  doc.setIn(['alerts', 'alertmanagerUrl'], endpoints.alertmanager);
  for (const [path, value] of overrides) doc.setIn(path, value);
  const text = doc.toString();
  const parsed = parseRolloutSpecText(text);
  if (!parsed.success) {
    throw new Error(`${template} does not render to a valid spec: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
  return { text, spec: parsed.spec };
}

/** Connects a RolloutClient to the stack's Temporal (other TEMPORAL_* settings from `env`). */
export function connectToStack(endpoints: StackEndpoints, env: NodeJS.ProcessEnv = process.env): Promise<RolloutClient> {
  return RolloutClient.connect(
    loadClientConfig({ ...env, TEMPORAL_ADDRESS: endpoints.temporal, TEMPORAL_NAMESPACE: endpoints.temporalNamespace }),
  );
}

/** The canary server's current weight as HAProxy reports it (`get weight backend/server`). */
export async function haproxyCanaryWeight(endpoints: StackEndpoints, timeoutMs = 1_000): Promise<number> {
  const [host, port] = splitHostPort(endpoints.haproxyRuntimeApi);
  const { backend, canaryServer } = endpoints.haproxyBackend;
  const reply = await haproxyCommand(host, port, `get weight ${backend}/${canaryServer}`, timeoutMs);
  // "12 (initial 0)"
  const match = /^(\d+) \(initial \d+\)/.exec(reply.trim());
  if (!match) throw new Error(`unexpected runtime API reply to get weight: ${JSON.stringify(reply.trim())}`);
  return Number(match[1]);
}

/** The canary's effective share of traffic in percent, from the weights of both servers. */
export async function haproxyCanaryPercent(endpoints: StackEndpoints): Promise<number> {
  const [host, port] = splitHostPort(endpoints.haproxyRuntimeApi);
  const { backend, stableServer } = endpoints.haproxyBackend;
  const canary = await haproxyCanaryWeight(endpoints);
  const reply = await haproxyCommand(host, port, `get weight ${backend}/${stableServer}`);
  const stable = Number(/^(\d+)/.exec(reply.trim())?.[1] ?? NaN);
  if (!Number.isFinite(stable)) throw new Error(`unexpected runtime API reply: ${JSON.stringify(reply.trim())}`);
  return canary + stable === 0 ? 0 : Math.round((canary / (canary + stable)) * 100);
}

/** Faults the demo service accepts on POST /admin/faults. */
export interface DemoFaults {
  errorRate?: number;
  latencyMs?: number;
}

/** The `Authorization` header the demo instance's admin routes require. */
export function demoAdminHeaders(instance: DemoInstanceEndpoints): Record<string, string> {
  return { authorization: `Bearer ${instance.adminToken}` };
}

/**
 * A request to an admin route of a demo instance (`path` below its admin URL, e.g. `/stats`),
 * with its admin token. HAProxy denies /admin, so this always goes to the instance directly.
 */
export function demoAdminFetch(instance: DemoInstanceEndpoints, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(demoAdminHeaders(instance))) headers.set(name, value);
  return fetch(`${instance.admin}${path}`, { ...init, headers });
}

/** Sets the faults of the canary instance (directly, not through HAProxy, which denies /admin). */
export async function setCanaryFaults(endpoints: StackEndpoints, faults: DemoFaults): Promise<void> {
  const res = await demoAdminFetch(endpoints.demo.canary, '/faults', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
    signal: AbortSignal.timeout(2_000),
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`POST ${endpoints.demo.canary.admin}/faults answered ${res.status}: ${body}`);
}

/** The curl command a user types to inject `faults` on the canary (with the stack's admin token). */
export function faultCurl(endpoints: StackEndpoints, faults: DemoFaults): string {
  const { admin, adminToken } = endpoints.demo.canary;
  return `curl -XPOST -H 'authorization: Bearer ${adminToken}' -H 'content-type: application/json' -d '${JSON.stringify(faults)}' ${admin}/faults`;
}

/** The Temporal UI page of a workflow. */
export function workflowUiUrl(endpoints: StackEndpoints, workflowId: string): string {
  return `${endpoints.temporalUi}/namespaces/${endpoints.temporalNamespace}/workflows/${encodeURIComponent(workflowId)}`;
}

function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

/** Promise-based sleep that an AbortSignal can cut short (resolves, never rejects). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
