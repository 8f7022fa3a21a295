/** The login form: a bearer token, checked by the API and kept by the browser as an HttpOnly cookie. */
import { useState } from 'preact/hooks';
import { login, type Session } from './api';

export function Login({ onSession }: { onSession: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSession(await login(token));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <h1>Phoenix Rollouts</h1>
      <form onSubmit={(e) => void submit(e)} aria-describedby="login-help">
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required value={token} onInput={(e) => setToken(e.currentTarget.value)} autofocus />
        <p id="login-help" class="help">
          The bearer token you use with the API. It is checked by the server and kept in a cookie this page cannot read.
        </p>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
