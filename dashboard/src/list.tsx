/** All rollouts: running ones and those finished in the last days, filtered by state and service. */
import { useEffect, useState } from 'preact/hooks';
import { ROLLOUT_STATES } from '../../workflows/contract';
import { ApiError, listRollouts, type ListRow } from './api';
import { duration, time, words } from './format';

/** How often the list is read again (it is a summary; a rollout's own page is live). */
const REFRESH_MS = 3000;

function verdictText(row: ListRow): string {
  const v = row.lastVerdict;
  if (!v) return row.statusError ? `status unavailable: ${row.statusError}` : '–';
  const checks = v.outcome ? words(v.outcome) : 'no analysis yet';
  return v.judge ? `${checks}; judge ${v.judge.verdict} ${Math.round(v.judge.score)}` : checks;
}

export function RolloutList({ onUnauthorized }: { onUnauthorized: () => void }) {
  const params = new URLSearchParams(location.search);
  const [state, setState] = useState(params.get('state') ?? '');
  const [service, setService] = useState(params.get('service') ?? '');
  const [days, setDays] = useState(Number(params.get('days') ?? 7) || 7);
  const [rows, setRows] = useState<ListRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    const query = new URLSearchParams();
    if (state) query.set('state', state);
    if (service) query.set('service', service);
    if (days !== 7) query.set('days', String(days));
    history.replaceState(null, '', `/dashboard/${query.size ? `?${query.toString()}` : ''}`);
    const load = async () => {
      try {
        const answer = await listRollouts({ state, service, days });
        if (stopped) return;
        setRows(answer.rollouts);
        setError(null);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return onUnauthorized();
        if (!stopped) setError(err instanceof Error ? err.message : String(err));
      }
      if (!stopped) timer = window.setTimeout(() => void load(), REFRESH_MS);
    };
    // Typing a service name waits for a pause before asking.
    const debounce = window.setTimeout(() => void load(), 250);
    return () => {
      stopped = true;
      clearTimeout(debounce);
      clearTimeout(timer);
    };
  }, [state, service, days]);

  return (
    <main>
      <h1>Rollouts</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <div>
          <label for="filter-state">State</label>
          <select id="filter-state" value={state} onChange={(e) => setState(e.currentTarget.value)}>
            <option value="">any</option>
            {ROLLOUT_STATES.map((s) => (
              <option value={s}>{words(s)}</option>
            ))}
          </select>
        </div>
        <div>
          <label for="filter-service">Service</label>
          <input id="filter-service" type="search" value={service} placeholder="e.g. checkout" onInput={(e) => setService(e.currentTarget.value)} />
        </div>
        <div>
          <label for="filter-days">Finished within</label>
          <select id="filter-days" value={String(days)} onChange={(e) => setDays(Number(e.currentTarget.value))}>
            {[1, 3, 7, 14, 30].map((d) => (
              <option value={String(d)}>{d === 1 ? 'the last day' : `the last ${d} days`}</option>
            ))}
          </select>
        </div>
      </form>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {rows === null ? (
        <p>Loading…</p>
      ) : rows.length === 0 ? (
        <p>No rollouts match.</p>
      ) : (
        <table class="rollouts">
          <caption>
            {rows.length} rollout{rows.length === 1 ? '' : 's'}: running, and finished within {days === 1 ? 'the last day' : `the last ${days} days`}
          </caption>
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Versions</th>
              <th scope="col">State</th>
              <th scope="col">Phase</th>
              <th scope="col">Weight</th>
              <th scope="col">Time in phase</th>
              <th scope="col">Last verdict</th>
              <th scope="col">Started</th>
              <th scope="col">Finished</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr data-rollout={row.rolloutId} key={`${row.rolloutId}/${row.startedAt}`}>
                <th scope="row">{row.latest ? <a href={`/dashboard/rollouts/${row.rolloutId}`}>{row.service}</a> : row.service}</th>
                <td>{row.stableVersion && row.canaryVersion ? `${row.stableVersion} → ${row.canaryVersion}` : '–'}</td>
                <td>
                  <span class={`badge state-${row.state ?? 'unknown'}`}>{words(row.state)}</span>
                </td>
                <td>{words(row.phase)}</td>
                <td class="num">{row.weight === null ? '–' : `${row.weight}%`}</td>
                <td class="num">{duration(row.timeInPhaseMs)}</td>
                <td>{verdictText(row)}</td>
                <td>{time(row.startedAt)}</td>
                <td>{time(row.closedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
