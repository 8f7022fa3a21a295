/**
 * The dashboard's shell: who is signed in (or the login form), and the page the address names:
 * `/dashboard/` lists rollouts, `/dashboard/rollouts/<id>` shows one. Links are plain links.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, logout, session, type Session } from './api';
import { RolloutList } from './list';
import { Login } from './login';
import { RolloutPage } from './rollout';

function route(): { page: 'list' } | { page: 'rollout'; id: string } {
  const match = /^\/dashboard\/rollouts\/([^/]+)\/?$/.exec(location.pathname);
  return match?.[1] ? { page: 'rollout', id: decodeURIComponent(match[1]) } : { page: 'list' };
}

export function App() {
  const [who, setWho] = useState<Session | null | 'unknown'>('unknown');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    session().then(setWho, (err: unknown) => {
      if (err instanceof ApiError && err.status === 401) setWho(null);
      else setError(err instanceof Error ? err.message : String(err));
    });
  }, []);

  if (error) {
    return (
      <main>
        <p role="alert" class="error">
          {error}
        </p>
      </main>
    );
  }
  if (who === 'unknown') return <main aria-busy="true" />;
  if (who === null) return <Login onSession={setWho} />;

  const signedOut = () => setWho(null);
  const current = route();
  const readOnly = !who.actions.some((a) => a === '*' || ['pause', 'resume', 'abort', 'promote'].includes(a));
  return (
    <>
      <header class="top">
        <a href="/dashboard/" class="brand">
          Phoenix Rollouts
        </a>
        <span class="who">
          Signed in as <strong data-testid="principal">{who.principal}</strong>
          {readOnly ? ' (read only)' : ''}
        </span>
        <button type="button" onClick={() => void logout().finally(signedOut)}>
          Sign out
        </button>
      </header>
      {current.page === 'rollout' ? <RolloutPage rolloutId={current.id} onUnauthorized={signedOut} /> : <RolloutList onUnauthorized={signedOut} />}
    </>
  );
}
