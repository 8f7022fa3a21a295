/**
 * The page's calls to the API it is served by. The session cookie goes along by itself
 * (same origin); every call also carries `X-Phoenix-Dashboard: 1`, which the API requires of
 * cookie-authenticated state changes. Operator actions use the API's own `/v1` routes.
 */
import type { JudgeStatus, OperatorAction, RolloutState, RolloutStatus } from '../../workflows/contract';

/** A status as the page reads it: the judge is optional (absent without one, or from older workflows). */
export type DashboardStatus = RolloutStatus & { judge?: JudgeStatus };

/** One evaluation of one check, as the API recorded it. */
export interface CheckPoint {
  at: string;
  value: number | null;
  threshold: number;
  outcome: string;
}

/** Who is signed in and what the credential grants. */
export interface Session {
  principal: string;
  services: string[];
  actions: string[];
}

/** A row of the list (client/api/dashboard/list-rows.ts `DashboardRow`). */
export interface ListRow {
  rolloutId: string;
  service: string;
  stableVersion: string | null;
  canaryVersion: string | null;
  state: RolloutState | null;
  paused: boolean;
  phase: string | null;
  weight: number | null;
  startedAt: string;
  closedAt: string | null;
  timeInPhaseMs: number | null;
  lastVerdict: { outcome: string | null; at: string | null; judge: { score: number; verdict: string } | null } | null;
  statusError: string | null;
  latest: boolean;
}

/** What the rollout page loads first. */
export interface RolloutPageData {
  status: DashboardStatus;
  checkHistory: Record<string, CheckPoint[]>;
  principal: string;
  allowedActions: OperatorAction[];
}

/** The answer to an operator action: accepted with the rollout's message, or refused with why. */
export interface ActionAnswer {
  accepted: boolean;
  action: OperatorAction;
  message: string;
}

/** Thrown for a non-2xx answer; `status` 401 sends the page back to the login. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const HEADERS = { 'x-phoenix-dashboard': '1' };

function messageOf(body: unknown, status: number): string {
  const errors = (body as { errors?: { path: string; message: string }[] } | null)?.errors;
  if (errors && errors.length > 0) return errors.map((e) => e.message).join('; ');
  return `HTTP ${status}`;
}

async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? HEADERS : { ...HEADERS, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const parsed: unknown = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, messageOf(parsed, res.status));
  return parsed as T;
}

export const login = (token: string): Promise<Session> => call('POST', '/dashboard/login', { token });
export const logout = (): Promise<unknown> => call('POST', '/dashboard/logout');
export const session = (): Promise<Session> => call('GET', '/dashboard/api/session');

export function listRollouts(filter: { state: string; service: string; days: number }): Promise<{ rollouts: ListRow[]; days: number }> {
  const query = new URLSearchParams({ days: String(filter.days) });
  if (filter.state) query.set('state', filter.state);
  if (filter.service.trim()) query.set('service', filter.service.trim());
  return call('GET', `/dashboard/api/rollouts?${query.toString()}`);
}

export const rolloutPage = (id: string): Promise<RolloutPageData> => call('GET', `/dashboard/api/rollouts/${encodeURIComponent(id)}`);

/** The live status stream of a rollout (server-sent events `status` and `error`). */
export function rolloutEvents(id: string): EventSource {
  return new EventSource(`/dashboard/api/rollouts/${encodeURIComponent(id)}/events`);
}

/**
 * Sends an operator action through `POST /v1/rollouts/:id/<action>`, the route the CLI's
 * client functions and pipelines use. A refusal (409) is an answer, not an error.
 */
export async function operate(id: string, action: OperatorAction, reason: string): Promise<ActionAnswer> {
  const res = await fetch(`/v1/rollouts/${encodeURIComponent(id)}/${action}`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { ...HEADERS, 'content-type': 'application/json' },
    body: JSON.stringify(reason.trim() ? { reason: reason.trim() } : {}),
  });
  const body = (await res.json().catch(() => null)) as { accepted?: boolean; message?: string; reason?: string } | null;
  if (res.status === 200 && body?.accepted) return { accepted: true, action, message: body.message ?? `${action} accepted` };
  if (res.status === 409 && body) return { accepted: false, action, message: body.reason ?? `${action} refused` };
  throw new ApiError(res.status, messageOf(body, res.status));
}
