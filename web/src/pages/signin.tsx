/** Sign-in: a local administrator, or a directory user in the admin group. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError, api, messageOf } from '../api.ts';
import type { AdminSession } from '../types.ts';

export function SignInPage(props: { onSignedIn: (session: AdminSession) => void }): JSX.Element {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [isBusy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      props.onSignedIn(await api<AdminSession>('POST', '/api/v1/admin/session', { username, password }, { quiet401: true }));
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 403) setError('This account is not an administrator of dirbridge.');
      else if (caught instanceof ApiError && caught.status === 401) setError('Invalid username or password.');
      else setError(messageOf(caught));
      setBusy(false);
    }
  };

  return (
    <div class="signin">
      <form class="signin-card" onSubmit={(event) => void submit(event)} data-testid="signin-form">
        <div class="brand brand-large">
          <span class="brand-mark" aria-hidden="true">
            db
          </span>
          <span>dirbridge</span>
        </div>
        <h1>Sign in to the console</h1>
        <p class="muted">Use a local administrator account, or your directory account if you are in the admin group.</p>
        {error === null ? null : (
          <div class="alert alert-error" role="alert">
            {error}
          </div>
        )}
        <label class="field">
          <span class="field-label">Username</span>
          {/* biome-ignore lint/a11y/noAutofocus: signing in is all this page is for */}
          <input name="username" autoComplete="username" value={username} onInput={(event) => setUsername(event.currentTarget.value)} required autoFocus />
        </label>
        <label class="field">
          <span class="field-label">Password</span>
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onInput={(event) => setPassword(event.currentTarget.value)}
            required
          />
        </label>
        <button class="btn btn-primary btn-block" type="submit" disabled={isBusy}>
          {isBusy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
