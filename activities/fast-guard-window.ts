/**
 * The pure half of the fast guard: reading HAProxy's per-server response counters out of a
 * `show stat` CSV answer, and the sliding-window error-ratio decision over cumulative samples.
 * No I/O, so unit tests drive it with literal answers and clocks.
 */
import { type TrafficProtocolError, TrafficTargetNotFoundError } from './errors';
import { answerError, garbledAnswerError } from './traffic/haproxy-runtime-api';

/** Cumulative response counters of one server (or the sum over a pool) since HAProxy started. */
export interface ResponseCounters {
  /** Every response HAProxy counted for the server: hrsp_1xx + 2xx + 3xx + 4xx + 5xx + other. */
  responses: number;
  /** hrsp_5xx. */
  errors: number;
}

/** The response-class columns; their sum is every response, whatever `req_tot` a version has. */
const RESPONSE_COLUMNS = ['hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other'] as const;
const REQUIRED_COLUMNS = ['pxname', 'svname', ...RESPONSE_COLUMNS] as const;

/**
 * Parses a `show stat` answer (CSV, `# pxname,svname,...` header) into the response counters of
 * `backend`'s servers by name. Columns are found by name, so columns a later HAProxy adds or
 * moves do not change what is read; frontend, backend and other proxies' rows are skipped.
 * @throws TrafficTargetNotFoundError when HAProxy does not know the backend; TrafficProtocolError
 *   for anything that is not a stats CSV, or a server row without HTTP counters (a TCP backend).
 */
export function parseShowStatCounters(command: string, backend: string, answer: string): Map<string, ResponseCounters> {
  const lines = answer.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
  const garbled = (why: string): TrafficProtocolError => garbledAnswerError(command, answer, why);
  const header = lines[0];
  if (header === undefined || !header.startsWith('#')) {
    if (lines.length <= 1) throw answerError(command, backend, (header ?? '').trim());
    throw garbled('missing CSV header');
  }
  const columns = header.replace(/^#\s*/, '').split(',').map((c) => c.trim());
  const index = new Map<string, number>();
  for (const name of REQUIRED_COLUMNS) {
    const i = columns.indexOf(name);
    if (i < 0) throw garbled(`no ${name} column`);
    index.set(name, i);
  }
  const at = (fields: string[], name: (typeof REQUIRED_COLUMNS)[number]): string => (fields[index.get(name) as number] ?? '').trim();
  const servers = new Map<string, ResponseCounters>();
  let sawBackend = false;
  for (const line of lines.slice(1)) {
    if (line.startsWith('#')) continue;
    const fields = line.split(',');
    if (at(fields, 'pxname') !== backend) continue;
    sawBackend = true;
    const server = at(fields, 'svname');
    if (server === 'FRONTEND' || server === 'BACKEND' || server === '') continue;
    let responses = 0;
    for (const column of RESPONSE_COLUMNS) {
      const text = at(fields, column);
      if (!/^\d+$/.test(text)) {
        throw garbled(
          text === ''
            ? `server ${server} has no ${column} counter (is backend ${backend} in mode http?)`
            : `server ${server}: ${column} is ${JSON.stringify(text)}`,
        );
      }
      responses += Number(text);
    }
    servers.set(server, { responses, errors: Number(at(fields, 'hrsp_5xx')) });
  }
  if (!sawBackend) throw new TrafficTargetNotFoundError(`HAProxy does not know backend ${backend}: no rows in show stat`, backend, '');
  return servers;
}

/**
 * The summed counters of `names` in a parsed answer.
 * @throws TrafficTargetNotFoundError naming the first server HAProxy does not have.
 */
export function sumServerCounters(servers: Map<string, ResponseCounters>, backend: string, names: readonly string[]): ResponseCounters {
  let responses = 0;
  let errors = 0;
  for (const name of names) {
    const c = servers.get(name);
    if (!c) throw new TrafficTargetNotFoundError(`HAProxy does not know ${backend}/${name}: no such server in show stat`, `${backend}/${name}`, '');
    responses += c.responses;
    errors += c.errors;
  }
  return { responses, errors };
}

/** One sample: cumulative counters at a wall-clock time (epoch ms). */
export interface GuardSample extends ResponseCounters {
  atMs: number;
}

/** What the guard judges with. */
export interface GuardLimits {
  windowMs: number;
  maxErrorRate: number;
  minRequests: number;
}

/** The judgement after a sample. */
export interface GuardVerdict {
  breached: boolean;
  /** Responses in the window (the newest sample minus the window's oldest). */
  requests: number;
  errors: number;
  /** errors / requests; null with no responses in the window. */
  errorRate: number | null;
  /** The span the window really covers (ms): less than `windowMs` until enough samples exist. */
  spanMs: number;
  /** Why it did or did not fire, for the heartbeat, the status and the rollback reason. */
  detail: string;
}

/**
 * A sliding window over cumulative samples. The ratio over the window is
 * (newest − oldest kept) of errors over the same of responses; samples older than `windowMs` are
 * dropped. Counters that go down (an HAProxy reload or restart, a pool member gone) restart the
 * window at that sample: differences across a reset would be meaningless.
 */
export class GuardWindow {
  private samples: GuardSample[];

  constructor(
    private readonly limits: GuardLimits,
    resumed: readonly GuardSample[] = [],
  ) {
    this.samples = resumed.filter(isSample).map((s) => ({ atMs: s.atMs, responses: s.responses, errors: s.errors }));
  }

  /** The samples kept, oldest first: what a heartbeat carries so a retried attempt can resume. */
  get kept(): GuardSample[] {
    return this.samples.map((s) => ({ ...s }));
  }

  /** Forgets every sample: the next one is the new baseline. */
  restart(): void {
    this.samples = [];
  }

  add(sample: GuardSample): GuardVerdict {
    const last = this.samples[this.samples.length - 1];
    const reset = last !== undefined && (sample.responses < last.responses || sample.errors < last.errors || sample.atMs < last.atMs);
    if (reset) this.samples = [];
    this.samples.push({ ...sample });
    const horizon = sample.atMs - this.limits.windowMs;
    while (this.samples.length > 1 && (this.samples[0] as GuardSample).atMs < horizon) this.samples.shift();
    const oldest = this.samples[0] as GuardSample;
    const requests = sample.responses - oldest.responses;
    const errors = sample.errors - oldest.errors;
    const errorRate = requests > 0 ? errors / requests : null;
    const spanMs = sample.atMs - oldest.atMs;
    const enough = requests >= this.limits.minRequests;
    const breached = enough && errorRate !== null && errorRate >= this.limits.maxErrorRate;
    const ratio = errorRate === null ? 'n/a' : `${round(errorRate * 100)}%`;
    const detail = reset
      ? 'HAProxy counters went back (reload or restart): window restarted'
      : breached
        ? `${errors} of ${requests} canary responses were 5xx (${ratio}) over ${spanMs} ms, at or above ${round(this.limits.maxErrorRate * 100)}%`
        : !enough
          ? `${requests} canary responses in ${spanMs} ms, at least ${this.limits.minRequests} needed to judge (${errors} 5xx)`
          : `${errors} of ${requests} canary responses were 5xx (${ratio}) over ${spanMs} ms, below ${round(this.limits.maxErrorRate * 100)}%`;
    return { breached, requests, errors, errorRate, spanMs, detail };
  }
}

function isSample(value: unknown): value is GuardSample {
  const s = value as Partial<GuardSample> | null;
  return (
    s !== null &&
    typeof s === 'object' &&
    [s.atMs, s.responses, s.errors].every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0)
  );
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
