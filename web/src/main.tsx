/** The dirbridge admin console: session handling, the navigation and the routes. */
import type { JSX } from 'preact';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, setCsrfToken, setUnauthenticatedHandler } from './api.ts';
import { Link, Loading } from './components.tsx';
import { AuditPage } from './pages/audit.tsx';
import { ChannelsPage, GroupPage, GroupsPage, NamedPage, RoleMembersPage, RolesPage, TeamsPage } from './pages/directory.tsx';
import { HistoryPage, RunPage } from './pages/history.tsx';
import { JobsPage } from './pages/jobs.tsx';
import { LogsPage } from './pages/logs.tsx';
import { SettingsPage } from './pages/settings.tsx';
import { SignInPage } from './pages/signin.tsx';
import { UserPage, UsersPage } from './pages/users.tsx';
import { WriteBackPage } from './pages/writeback.tsx';
import { match, navigate, useLocation } from './router.ts';
import { isWriteBackEnabled, onSettingsSaved } from './settings-saved.ts';
import type { AdminSession, SettingsDocument } from './types.ts';

/** `isWriteBack`: shown only while the write-back is on. */
const NAVIGATION: Array<{ href: string; label: string; group: string; isWriteBack?: boolean }> = [
  { href: '/settings', label: 'Settings', group: 'Directory' },
  { href: '/history', label: 'Sync history', group: 'Directory' },
  { href: '/jobs', label: 'Jobs', group: 'Directory' },
  { href: '/writeback', label: 'Write-back', group: 'Directory', isWriteBack: true },
  { href: '/users', label: 'Users', group: 'Identity' },
  { href: '/groups', label: 'Groups', group: 'Identity' },
  { href: '/roles', label: 'Roles', group: 'Identity' },
  { href: '/channels', label: 'Channels', group: 'Identity' },
  { href: '/teams', label: 'Teams', group: 'Identity' },
  { href: '/audit', label: 'Audit log', group: 'Activity' },
  { href: '/logs', label: 'Logs', group: 'Activity' },
];

function Page(props: { path: string; isWriteBackEnabled: boolean | undefined }): JSX.Element {
  const { path } = props;
  let params: Record<string, string> | null;
  if ((params = match('/users/:id', path))) return <UserPage id={params['id'] ?? ''} />;
  if ((params = match('/history/:id', path))) return <RunPage id={params['id'] ?? ''} />;
  if ((params = match('/groups/:id', path))) return <GroupPage id={params['id'] ?? ''} />;
  if ((params = match('/roles/:id', path))) return <RoleMembersPage role={params['id'] ?? ''} />;
  if ((params = match('/channels/:name', path))) return <NamedPage kind="channels" name={params['name'] ?? ''} />;
  if ((params = match('/teams/:name', path))) return <NamedPage kind="teams" name={params['name'] ?? ''} />;
  switch (path) {
    case '/settings':
      return <SettingsPage />;
    case '/history':
      return <HistoryPage />;
    case '/jobs':
      return <JobsPage />;
    case '/users':
      return <UsersPage />;
    case '/groups':
      return <GroupsPage />;
    case '/roles':
      return <RolesPage />;
    case '/channels':
      return <ChannelsPage />;
    case '/teams':
      return <TeamsPage />;
    case '/audit':
      return <AuditPage />;
    case '/logs':
      return <LogsPage />;
    case '/writeback':
      return <WriteBackPage isEnabled={props.isWriteBackEnabled} />;
    default:
      return (
        <div class="card">
          <h1>Page not found</h1>
          <p>
            There is no page at <code>{path}</code>. <Link href="/settings">Go to the settings</Link>.
          </p>
        </div>
      );
  }
}

/** Whether the write-back is on in the settings in force: read once signed in, and again after each save. */
function useWriteBackEnabled(isSignedIn: boolean): boolean | undefined {
  const [isEnabled, setEnabled] = useState<boolean | undefined>(undefined);
  useEffect(() => {
    if (!isSignedIn) return undefined;
    let isCurrent = true;
    api<SettingsDocument>('GET', '/api/v1/admin/settings').then(
      (document) => {
        if (isCurrent) setEnabled(isWriteBackEnabled(document.settings));
      },
      (error: unknown) => console.warn('could not read whether write-back is on', error),
    );
    const stop = onSettingsSaved((settings) => setEnabled(isWriteBackEnabled(settings)));
    return () => {
      isCurrent = false;
      stop();
    };
  }, [isSignedIn]);
  return isEnabled;
}

function App(): JSX.Element {
  const { path } = useLocation();
  const [session, setSession] = useState<AdminSession | null | undefined>(undefined);
  const isWriteBackOn = useWriteBackEnabled(session !== null && session !== undefined);

  useEffect(() => {
    setUnauthenticatedHandler(() => {
      setCsrfToken(null);
      setSession(null);
    });
    api<AdminSession>('GET', '/api/v1/admin/session', undefined, { quiet401: true }).then(
      (current) => {
        setCsrfToken(current.csrfToken);
        setSession(current);
      },
      (error: unknown) => {
        if (!(error instanceof ApiError) || (error.status !== 401 && error.status !== 403)) console.error(error);
        setSession(null);
      },
    );
  }, []);

  useEffect(() => {
    if (session && (path === '/' || path === '/signin')) navigate('/settings', { replace: true });
  }, [session, path]);

  if (session === undefined) return <Loading />;
  if (session === null) {
    return (
      <SignInPage
        onSignedIn={(signedIn) => {
          setCsrfToken(signedIn.csrfToken);
          setSession(signedIn);
          if (path === '/' || path === '/signin') navigate('/settings', { replace: true });
        }}
      />
    );
  }

  const signOut = async () => {
    try {
      await api('DELETE', '/api/v1/admin/session');
    } finally {
      setCsrfToken(null);
      setSession(null);
      navigate('/signin', { replace: true });
    }
  };

  const navigation = NAVIGATION.filter((item) => item.isWriteBack !== true || isWriteBackOn === true);
  const groups = [...new Set(navigation.map((item) => item.group))];
  return (
    <div class="shell">
      <aside class="sidebar">
        <div class="brand">
          <span class="brand-mark" aria-hidden="true">
            db
          </span>
          <span>dirbridge</span>
        </div>
        <nav aria-label="Main">
          {groups.map((group) => (
            <div class="nav-group" key={group}>
              <div class="nav-group-title">{group}</div>
              {navigation
                .filter((item) => item.group === group)
                .map((item) => (
                  <Link
                    key={item.href}
                    href={item.href}
                    isCurrent={path === item.href || path.startsWith(`${item.href}/`)}
                    class={path === item.href || path.startsWith(`${item.href}/`) ? 'nav-link active' : 'nav-link'}
                  >
                    {item.label}
                  </Link>
                ))}
            </div>
          ))}
        </nav>
        <div class="sidebar-footer">
          <div class="whoami" data-testid="whoami">
            <span class="avatar" aria-hidden="true">
              {(session.user.displayName ?? session.user.username).slice(0, 1).toUpperCase()}
            </span>
            <span>
              <strong>{session.user.displayName ?? session.user.username}</strong>
              <span class="muted small">{session.user.source === 'directory' ? 'directory administrator' : 'local administrator'}</span>
            </span>
          </div>
          <button type="button" class="btn btn-ghost btn-block" onClick={() => void signOut()} data-testid="sign-out">
            Sign out
          </button>
        </div>
      </aside>
      <main class="content">
        <Page path={path} isWriteBackEnabled={isWriteBackOn} />
      </main>
    </div>
  );
}

const root = document.getElementById('app');
if (root !== null) {
  root.textContent = '';
  render(<App />, root);
}
