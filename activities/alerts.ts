/**
 * Alertmanager API v2 client for rollout alerts. Alerts carry `rollout_id` so that one rollout's
 * alerts can be found and resolved together.
 */
import { z } from 'zod';
import type { AlertSettings } from '../rollout-spec/types';
import { AlertDeliveryError, ConfigError } from './errors';

/** An alert as Alertmanager's `POST /api/v2/alerts` takes it. */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

const gettableAlerts = z.array(
  z.object({
    labels: z.record(z.string(), z.string()),
    annotations: z.record(z.string(), z.string()).default({}),
    startsAt: z.string(),
    endsAt: z.string(),
    generatorURL: z.string().optional(),
  }),
);

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** How long a sent alert stays active unless resolved: long enough that a rollback stays visible. */
export const ALERT_TTL_MS = 60 * 60 * 1000;

/** Inputs of {@link buildAlert}. */
export interface BuildAlertInput {
  name: string;
  service: string;
  rolloutId: string;
  severity: string;
  reason: string;
  settings: AlertSettings;
  now: number;
}

/**
 * Builds the alert for one rollout event. The identifying labels (alertname, service,
 * rollout_id, severity, origin) win over `settings.labels`, so extra labels can never break resolution.
 * @throws ConfigError for an invalid extra label name.
 */
export function buildAlert(input: BuildAlertInput): PostableAlert {
  for (const name of Object.keys(input.settings.labels)) {
    if (!LABEL_NAME.test(name)) {
      throw new ConfigError(`alerts.labels: ${JSON.stringify(name)} is not a valid Prometheus label name`, `alerts.labels.${name}`);
    }
  }
  return {
    labels: {
      ...input.settings.labels,
      alertname: input.name,
      service: input.service,
      rollout_id: input.rolloutId,
      severity: input.severity,
      // Marks alerts as Phoenix's own, so the API's Alertmanager receiver never aborts a rollout
      // because of an alert that rollout raised itself.
      origin: 'phoenix',
    },
    annotations: { summary: `${input.name} for ${input.service} (${input.rolloutId})`, reason: input.reason },
    startsAt: new Date(input.now).toISOString(),
    endsAt: new Date(input.now + ALERT_TTL_MS).toISOString(),
  };
}

/** A small Alertmanager v2 client. */
export class AlertmanagerClient {
  private readonly base: string;

  constructor(
    baseUrl: string,
    private readonly fetchImpl: typeof fetch,
    private readonly timeoutMs = 10_000,
  ) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new ConfigError(`alerts.alertmanagerUrl is not a URL: ${JSON.stringify(baseUrl)}`, 'alerts.alertmanagerUrl');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(`alerts.alertmanagerUrl must be http(s), got ${url.protocol}`, 'alerts.alertmanagerUrl');
    }
    this.base = baseUrl.replace(/\/+$/, '');
  }

  /** Posts alerts (idempotent: Alertmanager merges alerts with identical labels). */
  async post(alerts: PostableAlert[], signal?: AbortSignal): Promise<void> {
    if (alerts.length === 0) return;
    await this.request('POST', '/api/v2/alerts', JSON.stringify(alerts), signal);
  }

  /** Lists active alerts whose `label` equals `value`. */
  async listByLabel(label: string, value: string, signal?: AbortSignal): Promise<PostableAlert[]> {
    const matcher = `${label}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    const text = await this.request('GET', `/api/v2/alerts?filter=${encodeURIComponent(matcher)}`, undefined, signal);
    const parsed = gettableAlerts.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new AlertDeliveryError(`unexpected Alertmanager alert list: ${parsed.error.message}`, this.base, false);
    }
    return parsed.data;
  }

  private async request(method: string, path: string, body: string | undefined, signal?: AbortSignal): Promise<string> {
    const url = `${this.base}${path}`;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers: body ? { 'content-type': 'application/json' } : undefined,
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new AlertDeliveryError(`Alertmanager ${method} ${url} failed: ${(err as Error).message}`, url, false, { cause: err });
    }
    const text = await res.text();
    if (!res.ok) {
      // 400 means our alert is malformed (a bug or bad labels): retrying sends the same thing.
      throw new AlertDeliveryError(`Alertmanager ${method} ${url} answered HTTP ${res.status}: ${text.slice(0, 200)}`, url, res.status === 400);
    }
    return text;
  }
}
