/**
 * One rollout: where it stands, its weight over time, every check over time, the judge, the
 * decision log and the operator's buttons. Loaded once, then kept current by the API's
 * server-sent events; each pushed status also adds its checks' new evaluations to the charts.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { ENDED_STATES, type CheckStatus, type OperatorAction, type RolloutState } from '../../workflows/contract';
import { Actions } from './actions';
import { ApiError, rolloutEvents, rolloutPage, type CheckPoint, type DashboardStatus } from './api';
import { Chart, type Marker } from './chart';
import { decisionLog } from './decision-log';
import { duration, metricValue, time, words } from './format';
import { checkLabel, checkRole, checkStatement } from './wording';

type Live = 'connecting' | 'live' | 'reconnecting' | 'ended';

const toSeconds = (iso: string) => Date.parse(iso) / 1000;

/** Adds each check's evaluation when it is newer than the last point of that check. */
function mergeChecks(history: Record<string, CheckPoint[]>, checks: CheckStatus[]): Record<string, CheckPoint[]> {
  let changed = false;
  const next = { ...history };
  for (const c of checks) {
    const points = next[c.check] ?? [];
    const last = points[points.length - 1];
    if (last && last.at >= c.at) continue;
    next[c.check] = [...points, { at: c.at, value: c.value, threshold: c.threshold, outcome: c.outcome }].slice(-720);
    changed = true;
  }
  return changed ? next : history;
}

function WeightChart({ status, now }: { status: DashboardStatus; now: number }) {
  const { data, markers } = useMemo(() => {
    const xs: number[] = [];
    const ys: number[] = [];
    const marks: Marker[] = [];
    let phase: string | null = null;
    for (const w of status.timeline) {
      const x = toSeconds(w.at);
      xs.push(x);
      ys.push(w.weight);
      if (w.phase !== phase) {
        marks.push(w.phase === 'rollback' ? { x, label: 'rollback', color: '#b3261e' } : { x, label: w.phase.replace(/_/g, ' '), color: '#5f6b7a' });
        phase = w.phase;
      }
    }
    // The weight holds until now (or until the rollout ended).
    const last = status.timeline[status.timeline.length - 1];
    if (last && !(ENDED_STATES as readonly RolloutState[]).includes(status.state)) {
      xs.push(Math.max(now / 1000, toSeconds(last.at)));
      ys.push(status.weight);
    }
    return { data: [xs, ys] as [number[], number[]], markers: marks };
  }, [status.timeline, status.weight, status.state, Math.floor(now / 5000)]);
  const weights = [...new Set(status.timeline.map((w) => w.weight))];
  return (
    <section aria-labelledby="weight-title">
      <h2 id="weight-title">Canary weight</h2>
      <div data-testid="weight-chart" data-weights={status.timeline.map((w) => w.weight).join(',')}>
        <Chart
          data={data}
          height={220}
          yRange={[0, 100]}
          yValues={(v) => `${v}%`}
          markers={markers}
          series={[{ label: 'canary weight', stroke: '#1f6feb', width: 2, fill: 'rgba(31,111,235,0.08)', paths: stepped(), value: (_u, v) => (v === null ? '–' : `${v}%`) }]}
          label={`Canary weight over time: ${weights.map((w) => `${w}%`).join(', ') || 'no weight set yet'}; now ${status.weight}%`}
        />
      </div>
      <details>
        <summary>Weight changes as a table</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Weight</th>
              <th scope="col">Phase</th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {status.timeline.map((w) => (
              <tr>
                <td>{time(w.at)}</td>
                <td class="num">{w.weight}%</td>
                <td>{words(w.phase)}</td>
                <td>{w.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </section>
  );
}

/** uPlot's step renderer: the weight stays until the next change. */
function stepped(): uPlot.Series.PathBuilder | undefined {
  return uPlot.paths.stepped?.({ align: 1 });
}

function CheckChart({ check, points }: { check: CheckStatus; points: CheckPoint[] }) {
  const data = useMemo(() => {
    const xs = points.map((p) => toSeconds(p.at));
    const values = points.map((p) => (p.value === null || !Number.isFinite(p.value) ? null : p.value));
    const limits = points.map((p) => p.threshold);
    return [xs, values, limits] as [number[], (number | null)[], number[]];
  }, [points]);
  const label = checkLabel(check);
  return (
    <figure class={`check outcome-${check.outcome}`} data-check={check.check}>
      <figcaption>
        <span class="check-label">{label}</span>
        <span class={`badge outcome-${check.outcome}`}>{words(check.outcome)}</span>
        <span class="statement">{checkStatement(check)}</span>
        {checkRole(check) && <span class="streak">{checkRole(check)}</span>}
        {check.streak > 1 && <span class="streak">{check.streak} in a row</span>}
      </figcaption>
      <Chart
        data={data}
        height={120}
        legend={false}
        yValues={(v) => metricValue(check.metric, v)}
        series={[
          { label: 'value', stroke: '#1f6feb', width: 2, points: { show: points.length < 60 }, value: (_u, v) => metricValue(check.metric, v) },
          { label: 'threshold', stroke: '#b3261e', width: 1, dash: [5, 4], value: (_u, v) => metricValue(check.metric, v) },
        ]}
        label={`${label}: ${points.length} evaluations; latest ${checkStatement(check)}`}
      />
    </figure>
  );
}

function JudgePanel({ judge }: { judge: NonNullable<DashboardStatus['judge']> }) {
  return (
    <section aria-labelledby="judge-title" class="judge">
      <h2 id="judge-title">Judge</h2>
      <p>
        <span class={`badge verdict-${judge.verdict}`} data-testid="judge-verdict">
          {judge.verdict}
        </span>{' '}
        score <strong data-testid="judge-score">{Math.round(judge.score)}</strong> of 100 (pass ≥ {judge.passThreshold}, marginal ≥ {judge.marginalThreshold}) at {time(judge.at)}
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Metric</th>
            <th scope="col">Class</th>
            <th scope="col">p-value</th>
            <th scope="col">Effect (canary/baseline)</th>
            <th scope="col">Samples (canary / baseline)</th>
            <th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>
          {judge.metrics.map((m) => (
            <tr>
              <th scope="row">
                {m.metric}
                {m.critical ? ' (critical)' : ''}
                {m.group ? ` · ${m.group}` : ''}
              </th>
              <td>
                <span class={`badge judge-${m.classification}`}>{m.classification}</span>
              </td>
              <td class="num">{m.pValue === null ? '–' : m.pValue.toPrecision(3)}</td>
              <td class="num">{m.effectSize === null ? '–' : m.effectSize.toFixed(3)}</td>
              <td class="num">
                {m.canarySamples} / {m.baselineSamples}
              </td>
              <td>{m.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function RolloutPage({ rolloutId, onUnauthorized }: { rolloutId: string; onUnauthorized: () => void }) {
  const [status, setStatus] = useState<DashboardStatus | null>(null);
  const [history, setHistory] = useState<Record<string, CheckPoint[]>>({});
  const [allowed, setAllowed] = useState<OperatorAction[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState<Live>('connecting');
  const [receivedAt, setReceivedAt] = useState(Date.now());
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    let source: EventSource | null = null;
    let stopped = false;
    const apply = (s: DashboardStatus) => {
      setStatus(s);
      setReceivedAt(Date.now());
      setHistory((h) => mergeChecks(h, s.checks));
      document.title = `${s.service}: ${words(s.state)} · Phoenix Rollouts`;
    };
    let retry: number | undefined;
    const load = () =>
      rolloutPage(rolloutId).then(
        (page) => {
          if (stopped) return;
          setError(null);
          setAllowed(page.allowedActions);
          setHistory(page.checkHistory);
          apply(page.status);
          source = rolloutEvents(rolloutId);
          source.addEventListener('open', () => setLive('live'));
          source.addEventListener('status', (e) => {
            const s = JSON.parse((e as MessageEvent<string>).data) as DashboardStatus;
            apply(s);
            setError(null);
            setLive((ENDED_STATES as readonly RolloutState[]).includes(s.state) ? 'ended' : 'live');
          });
          source.addEventListener('error', (e) => {
            const data = (e as MessageEvent<string>).data;
            if (data) setError((JSON.parse(data) as { message: string }).message);
            else if (source?.readyState !== EventSource.CLOSED) setLive((l) => (l === 'ended' ? l : 'reconnecting'));
          });
        },
        (err: unknown) => {
          if (stopped) return;
          if (err instanceof ApiError && err.status === 401) return onUnauthorized();
          setError(err instanceof Error ? err.message : String(err));
          // A busy or restarting server (503: no worker answered in time) is asked again.
          if (!(err instanceof ApiError) || err.status >= 500) retry = window.setTimeout(() => void load(), 2000);
        },
      );
    void load();
    const tick = window.setInterval(() => setNow(Date.now()), 1000);
    return () => {
      stopped = true;
      source?.close();
      clearTimeout(retry);
      clearInterval(tick);
    };
  }, [rolloutId]);

  const labels = useMemo(() => Object.fromEntries((status?.checks ?? []).map((c) => [c.check, checkLabel(c)])), [status?.checks]);
  const log = useMemo(() => (status ? decisionLog(status, history, labels) : []), [status, history, labels]);

  if (!status) {
    return (
      <main>
        <p>
          <a href="/dashboard/">← All rollouts</a>
        </p>
        {error ? (
          <p role="alert" class="error">
            {error}
          </p>
        ) : (
          <p>Loading {rolloutId}…</p>
        )}
      </main>
    );
  }
  const ended = (ENDED_STATES as readonly RolloutState[]).includes(status.state);
  const remaining = status.paused || ended ? status.phaseRemainingMs : Math.max(0, status.phaseRemainingMs - (now - receivedAt));

  return (
    <main>
      <p>
        <a href="/dashboard/">← All rollouts</a>
      </p>
      <h1>
        {status.service}: {status.stableVersion || '?'} → {status.canaryVersion || '?'}
      </h1>
      <p class="live" data-testid="live">
        {live === 'live' ? 'Live: updates arrive as they happen' : live === 'ended' ? 'Finished: this rollout does not change any more' : live === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
      </p>
      <dl class="summary">
        <div>
          <dt>State</dt>
          <dd>
            <span class={`badge state-${status.state}`} data-testid="state">
              {words(status.state)}
            </span>
            {status.paused && status.state !== 'paused' && <span class="badge state-paused">paused</span>}
          </dd>
        </div>
        <div>
          <dt>Phase</dt>
          <dd data-testid="phase">{words(status.phase)}</dd>
        </div>
        <div>
          <dt>Weight</dt>
          <dd data-testid="weight">{status.weight}%</dd>
        </div>
        <div>
          <dt>Time left in phase</dt>
          <dd>{status.phaseDurationMs > 0 ? `${duration(remaining)} of ${duration(status.phaseDurationMs)}${status.paused ? ' (paused)' : ''}` : '–'}</dd>
        </div>
        <div>
          <dt>Last analysis</dt>
          <dd>{time(status.lastAnalysisAt)}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{time(status.startedAt)}</dd>
        </div>
      </dl>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {status.rollbackReason && (
        <p class="alert rollback" role="note">
          {words(status.rollbackAction ?? 'rollback')}: {status.rollbackReason}
        </p>
      )}
      {status.stuckReason && (
        <p class="alert stuck" role="alert">
          Stuck: {status.stuckReason}
        </p>
      )}
      {!ended && allowed.length > 0 && <Actions rolloutId={status.rolloutId} allowed={allowed} paused={status.paused} onUnauthorized={onUnauthorized} />}
      <WeightChart status={status} now={now} />
      {status.judge && <JudgePanel judge={status.judge} />}
      <section aria-labelledby="checks-title">
        <h2 id="checks-title">Checks</h2>
        {status.checks.length === 0 ? (
          <p>No analysis yet (warm-up carries no traffic).</p>
        ) : (
          <div class="checks">
            {status.checks.map((c) => (
              <CheckChart key={c.check} check={c} points={history[c.check] ?? []} />
            ))}
          </div>
        )}
        <p class="help">Charts start when this API first saw the rollout; the latest evaluation of every check is always shown.</p>
      </section>
      <section aria-labelledby="log-title">
        <h2 id="log-title">Decision log</h2>
        <table class="log">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">What</th>
              <th scope="col">Who</th>
            </tr>
          </thead>
          <tbody>
            {log.map((e) => (
              <tr class={`log-${e.kind}`}>
                <td>{time(e.at)}</td>
                <td>
                  <span class={`badge log-${e.kind}`}>{words(e.kind)}</span> {e.text}
                </td>
                <td>{e.by ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </main>
  );
}
