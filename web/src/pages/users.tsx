/**
 * Users: server-side search, filters (source, state) and paging (fine for 100k users), the source
 * and state of each, and a detail view where directory-managed fields are read-only and local
 * fields editable. Avatars come with the page: each listed user carries its avatar's hash (one
 * query per page on the server), and the browser fetches only the small images it shows.
 */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, apiResponse, messageOf, query } from '../api.ts';
import {
  Avatar,
  Badge,
  Card,
  Details,
  Empty,
  ErrorBox,
  formatDate,
  formatNumber,
  Link,
  Loading,
  PageHeader,
  Pager,
  SearchBox,
  SourceBadge,
  StateBadge,
  useAsync,
} from '../components.tsx';
import { namedHref, navigate, useLocation } from '../router.ts';
import type { ListedUser, UnthrottleResult, User, UserDetail, UserPage as UserPageData, UserState, WriteOutcome } from '../types.ts';
import { HeaderOutcome, headerOutcomes } from '../write-action.tsx';
import { NewUserPanel, UserActionsCard } from './user-actions.tsx';

const PAGE = 25;

/** The state filter's choices; the empty value shows every user (the API's default, `all`). */
const STATE_OPTIONS: ReadonlyArray<{ value: UserState | ''; label: string }> = [
  { value: '', label: 'All states' },
  { value: 'active', label: 'Active' },
  { value: 'disabled', label: 'Disabled' },
];

/** The name to show for a user: the display name, else first and last name, else the username. */
function displayNameOf(user: User): string {
  return user.displayName ?? (`${user.firstName} ${user.lastName}`.trim() || user.username);
}

/** A table of users, each linking to its detail page. */
export function UsersTable(props: { users: ListedUser[] }): JSX.Element {
  if (props.users.length === 0) return <Empty>No users match.</Empty>;
  return (
    <div class="table-wrap">
      <table class="table table-hover" data-testid="users-table">
        <thead>
          <tr>
            <th>Username</th>
            <th>Name</th>
            <th>Email</th>
            <th>Source</th>
            <th>State</th>
            <th title="The last time a sync read this user from the directory, changed or not">Last synced</th>
          </tr>
        </thead>
        <tbody>
          {props.users.map((user) => (
            <tr key={user.id} onClick={() => navigate(`/users/${user.id}`)}>
              <td>
                <span class="user-cell">
                  <Avatar userId={user.id} hash={user.avatarHash} name={displayNameOf(user)} size={24} />
                  <span>
                    <Link href={`/users/${user.id}`}>{user.username}</Link> {user.isAdmin ? <Badge tone="warn">admin</Badge> : null}
                  </span>
                </span>
              </td>
              <td>{user.displayName ?? (`${user.firstName} ${user.lastName}`.trim() || '—')}</td>
              <td class="muted">{user.email ?? '—'}</td>
              <td>
                <SourceBadge source={user.source} />
              </td>
              <td>
                <StateBadge user={user} />
              </td>
              <td class="muted small">{formatDate(user.lastSyncedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function UsersPage(): JSX.Element {
  const { search: params } = useLocation();
  const search = params.get('search') ?? '';
  const source = params.get('source') ?? '';
  const state = params.get('state') ?? '';
  const offset = Number(params.get('offset') ?? '0') || 0;
  const update = (changes: Record<string, string | number>) => {
    // From the address as it is now: a search typed just before (applied after its debounce) keeps a filter chosen meanwhile.
    const next = new URLSearchParams(window.location.search);
    for (const [key, value] of Object.entries(changes)) {
      if (value === '' || value === 0) next.delete(key);
      else next.set(key, String(value));
    }
    const text = next.toString();
    navigate(`/users${text === '' ? '' : `?${text}`}`, { replace: true });
  };
  const page = useAsync(
    () => api<UserPageData>('GET', `/api/v1/admin/users${query({ search, source, state, limit: PAGE, offset })}`),
    [search, source, state, offset],
  );
  const [isCreating, setCreating] = useState(false);
  return (
    <div>
      <PageHeader title="Users" subtitle="Accounts in dirbridge's store: imported from the directory, or local.">
        <button
          type="button"
          class="btn btn-primary"
          onClick={() => setCreating((current) => !current)}
          aria-expanded={isCreating}
          data-testid="new-user-button"
        >
          New user
        </button>
      </PageHeader>
      {isCreating ? <NewUserPanel onClose={() => setCreating(false)} onCreated={page.reload} /> : null}
      <Card>
        <div class="toolbar">
          <SearchBox
            value={search}
            placeholder="Search username, email or name"
            onSearch={(value) => update({ search: value, offset: 0 })}
            testId="user-search"
          />
          <select value={source} onChange={(event) => update({ source: event.currentTarget.value, offset: 0 })} aria-label="Source">
            <option value="">All sources</option>
            <option value="directory">Directory</option>
            <option value="local">Local</option>
          </select>
          <select value={state} onChange={(event) => update({ state: event.currentTarget.value, offset: 0 })} aria-label="State" data-testid="user-state">
            {STATE_OPTIONS.map((option) => (
              <option key={option.value} value={option.value}>
                {option.label}
              </option>
            ))}
          </select>
          {page.isLoading ? <span class="spinner" role="status" aria-label="Loading" /> : null}
        </div>
        <ErrorBox error={page.error} />
        {page.data === undefined ? (
          page.error === undefined ? (
            <Loading />
          ) : null
        ) : (
          <>
            <UsersTable users={page.data.users} />
            <Pager offset={offset} limit={PAGE} total={page.data.total} onChange={(next) => update({ offset: next })} />
          </>
        )}
      </Card>
    </div>
  );
}

/** Channel or team names, each linking to its page. */
function NameLinks(props: { kind: 'channels' | 'teams'; names: string[] }): JSX.Element {
  return (
    <>
      {props.names.map((name, index) => (
        <span key={name}>
          {index === 0 ? '' : ', '}
          <Link href={namedHref(props.kind, name)}>{props.kind === 'channels' ? `#${name}` : name}</Link>
        </span>
      ))}
    </>
  );
}

const PROFILE_FIELDS: Array<{
  key: 'username' | 'email' | 'firstName' | 'lastName' | 'displayName' | 'notes';
  label: string;
  isMultiline?: boolean;
  isNullable: boolean;
}> = [
  { key: 'username', label: 'Username', isNullable: false },
  { key: 'email', label: 'Email', isNullable: true },
  { key: 'firstName', label: 'First name', isNullable: false },
  { key: 'lastName', label: 'Last name', isNullable: false },
  { key: 'displayName', label: 'Display name', isNullable: true },
  { key: 'notes', label: 'Notes', isMultiline: true, isNullable: true },
];

export function UserPage(props: { id: string }): JSX.Element {
  const detail = useAsync(() => api<UserDetail>('GET', `/api/v1/admin/users/${encodeURIComponent(props.id)}`), [props.id]);
  const [draft, setDraft] = useState<Record<string, string | boolean>>({});
  const [message, setMessage] = useState<{ tone: 'success' | 'error'; text: string } | null>(null);
  const [isBusy, setBusy] = useState(false);
  const [reason, setReason] = useState('');
  /** How the last profile save or disable/enable went in the directory (its `Dirbridge-Write-Back` header). */
  const [outcomes, setOutcomes] = useState<WriteOutcome[]>([]);
  const [isGone, setGone] = useState(false);

  const data = detail.data;
  useEffect(() => {
    if (data === undefined) return;
    const user = data.user;
    setDraft({
      username: user.username,
      email: user.email ?? '',
      firstName: user.firstName,
      lastName: user.lastName,
      displayName: user.displayName ?? '',
      notes: user.notes ?? '',
      isAdmin: user.isAdmin,
    });
  }, [data]);

  if (data === undefined) return detail.error === undefined ? <Loading /> : <ErrorBox error={detail.error} />;
  const { user } = data;
  const readOnly = new Set(data.readOnlyFields);

  const act = async <T,>(work: () => Promise<T>, success: string | ((result: T) => string)) => {
    setBusy(true);
    setMessage(null);
    setOutcomes([]);
    try {
      const result = await work();
      setReason('');
      setMessage({ tone: 'success', text: typeof success === 'string' ? success : success(result) });
      detail.reload();
    } catch (error) {
      const fields = error instanceof ApiError && error.fields.length > 0 ? ` (${error.fields.join(', ')})` : '';
      setMessage({ tone: 'error', text: `${messageOf(error)}${fields}` });
    } finally {
      setBusy(false);
    }
  };

  const changes: Record<string, string | boolean | null> = {};
  for (const field of PROFILE_FIELDS) {
    if (readOnly.has(field.key)) continue;
    const value = draft[field.key];
    if (typeof value !== 'string') continue;
    const current = user[field.key] ?? '';
    if (value !== current) changes[field.key] = field.isNullable && value.trim() === '' ? null : value;
  }
  if (!readOnly.has('isAdmin') && typeof draft['isAdmin'] === 'boolean' && draft['isAdmin'] !== user.isAdmin) changes['isAdmin'] = draft['isAdmin'];
  const changeCount = Object.keys(changes).length;
  /** Sends a change whose directory side the `Dirbridge-Write-Back` header reports, and keeps that report. */
  const writeBack = async (method: 'PATCH' | 'POST', path: string, body: unknown) => {
    const { headers } = await apiResponse<unknown>(method, path, body);
    setOutcomes(headerOutcomes(headers));
  };

  return (
    <div>
      <PageHeader
        leading={<Avatar userId={user.id} hash={data.avatar?.hash ?? null} name={displayNameOf(user)} size={64} testId="user-avatar" />}
        title={user.displayName ?? user.username}
        subtitle={
          <>
            <Link href="/users">← Users</Link> · <SourceBadge source={user.source} /> <StateBadge user={user} />{' '}
            {user.isAdmin ? <Badge tone="warn">admin</Badge> : null}
          </>
        }
      />
      {message === null ? null : (
        <div class={`alert alert-${message.tone}`} role={message.tone === 'error' ? 'alert' : 'status'} data-testid="user-message">
          {message.text}
        </div>
      )}
      <HeaderOutcome outcomes={outcomes} />
      {isGone ? (
        <div class="alert alert-warn" data-testid="user-gone">
          This account was deleted from dirbridge. <Link href="/users">Back to Users</Link>
        </div>
      ) : null}
      {!user.isEnabled && user.disabledBy !== null ? (
        <div class="alert alert-warn">
          Disabled by <strong>{user.disabledBy}</strong>
          {user.disabledReason === null ? '' : `: ${user.disabledReason}`}.{' '}
          {user.disabledBy === 'admin' ? 'Sync never re-enables an account an administrator disabled.' : 'Sync enables it again when the directory does.'}
        </div>
      ) : null}
      <div class="two-columns">
        <Card title="Profile" testId="user-profile">
          {PROFILE_FIELDS.some((field) => readOnly.has(field.key)) || readOnly.has('isAdmin') ? (
            <p class="muted small">Fields marked “Directory” are managed by the directory and change only there; the others are local to dirbridge.</p>
          ) : null}
          <form
            onSubmit={(event) => {
              event.preventDefault();
              void act(() => writeBack('PATCH', `/api/v1/admin/users/${user.id}`, changes), 'The profile was saved.');
            }}
          >
            {PROFILE_FIELDS.map((field) => {
              const isReadOnly = readOnly.has(field.key);
              const value = String(draft[field.key] ?? '');
              const props = {
                id: `user-${field.key}`,
                name: field.key,
                value,
                readOnly: isReadOnly,
                'data-readonly': isReadOnly ? 'true' : 'false',
                onInput: (event: JSX.TargetedEvent<HTMLInputElement | HTMLTextAreaElement>) =>
                  setDraft((current) => ({ ...current, [field.key]: event.currentTarget.value })),
              };
              return (
                <div class={`field ${isReadOnly ? 'field-readonly' : ''}`} key={field.key} data-testid={`user-field-${field.key}`}>
                  <label for={`user-${field.key}`} class="field-label">
                    {field.label}{' '}
                    {isReadOnly ? (
                      <Badge tone="info" title="Managed by the directory: read-only here">
                        Directory
                      </Badge>
                    ) : null}
                  </label>
                  {field.isMultiline ? <textarea rows={3} {...props} /> : <input {...props} />}
                </div>
              );
            })}
            <label class={`checkbox ${readOnly.has('isAdmin') ? 'field-readonly' : ''}`}>
              <input
                type="checkbox"
                name="isAdmin"
                checked={draft['isAdmin'] === true}
                disabled={readOnly.has('isAdmin')}
                onChange={(event) => setDraft((current) => ({ ...current, isAdmin: event.currentTarget.checked }))}
              />
              Administrator of dirbridge {readOnly.has('isAdmin') ? <Badge tone="info">Directory</Badge> : null}
            </label>
            <div class="form-actions">
              <span class="muted small" style={{ flex: 1 }}>
                {changeCount === 0 ? 'No unsaved changes.' : `${changeCount} unsaved change${changeCount === 1 ? '' : 's'}.`}
              </span>
              <button class="btn btn-primary" type="submit" disabled={isBusy || changeCount === 0} data-testid="save-user">
                Save {changeCount === 0 ? '' : `${changeCount} change${changeCount === 1 ? '' : 's'}`}
              </button>
            </div>
          </form>
        </Card>
        <div>
          <Card title="Account" testId="user-account">
            <Details
              rows={[
                ['State', <StateBadge user={user} />],
                ['Disabled by', user.isEnabled ? null : user.disabledBy],
                ['Reason', user.isEnabled ? null : user.disabledReason],
                [
                  'Login throttle',
                  <span data-testid="user-throttle">
                    {data.loginThrottle.isThrottled ? (
                      <Badge tone="warn" title="Logins from addresses this user has not signed in from are refused as throttled">
                        Throttled for strangers
                      </Badge>
                    ) : (
                      <Badge tone="good">Not throttled</Badge>
                    )}{' '}
                    <span class="muted small">
                      {formatNumber(data.loginThrottle.failures)} failed attempt{data.loginThrottle.failures === 1 ? '' : 's'}; strangers are refused at{' '}
                      {formatNumber(data.loginThrottle.limit)}
                    </span>
                  </span>,
                ],
              ]}
            />
            <div class="account-actions">
              <input
                value={reason}
                onInput={(event) => setReason(event.currentTarget.value)}
                placeholder={`Reason to ${user.isEnabled ? 'disable' : 'enable'} (optional, goes to the audit log)`}
                aria-label="Reason"
              />
              {user.isEnabled ? (
                <button
                  type="button"
                  class="btn btn-danger"
                  disabled={isBusy}
                  onClick={() =>
                    void act(
                      () => writeBack('POST', `/api/v1/admin/users/${user.id}/disable`, reason.trim() === '' ? {} : { reason: reason.trim() }),
                      'The account was disabled and its sessions ended.',
                    )
                  }
                  data-testid="disable-user"
                >
                  Disable account
                </button>
              ) : (
                <button
                  type="button"
                  class="btn"
                  disabled={isBusy}
                  onClick={() =>
                    void act(
                      () => writeBack('POST', `/api/v1/admin/users/${user.id}/enable`, reason.trim() === '' ? {} : { reason: reason.trim() }),
                      'The account was enabled.',
                    )
                  }
                  data-testid="enable-user"
                >
                  Enable account
                </button>
              )}
              <button
                type="button"
                class="btn"
                disabled={isBusy}
                onClick={() => void act(() => api('DELETE', `/api/v1/admin/users/${user.id}/sessions`), 'Every session of this user was revoked.')}
                data-testid="revoke-sessions"
              >
                Revoke sessions
              </button>
              <button
                type="button"
                class="btn"
                disabled={isBusy}
                title="Forget the failed logins dirbridge counted for this user. The directory's own failure counter is not cleared: where the directory counts failures itself, logins stay refused until its count allows another attempt."
                onClick={() =>
                  void act(
                    () => api<UnthrottleResult>('POST', `/api/v1/admin/users/${user.id}/unthrottle`),
                    (result) =>
                      `Cleared ${formatNumber(result.cleared)} failed login attempt${result.cleared === 1 ? '' : 's'}. The directory's own failure counter is unchanged.`,
                  )
                }
                data-testid="unthrottle-user"
              >
                Clear login throttle
              </button>
            </div>
            <p class="muted small">
              Clear login throttle forgets the failed logins dirbridge counted for this user. The directory's own failure counter is not cleared: where the
              directory counts failures itself, logins stay refused until its count allows another attempt.
            </p>
          </Card>
          <UserActionsCard user={user} onChanged={detail.reload} onGone={() => setGone(true)} />
          <Card title="Directory">
            <Details
              rows={[
                ['DN', user.dn === null ? null : <code class="wrap">{user.dn}</code>],
                ['Unique id', user.externalId === null ? null : <code>{user.externalId}</code>],
                ['Created', formatDate(user.createdAt)],
                ['Last synced', formatDate(user.lastSyncedAt)],
                ['Missing from runs', user.missingRuns > 0 ? String(user.missingRuns) : null],
                ['Local password', user.hasPassword ? 'yes' : 'no'],
                [
                  'Avatar',
                  data.avatar === null ? null : (
                    <span data-testid="user-avatar-details">
                      {data.avatar.mimeType.replace('image/', '').toUpperCase()}, {formatNumber(data.avatar.byteLength)} bytes, synced{' '}
                      {formatDate(data.avatar.updatedAt)}
                    </span>
                  ),
                ],
              ]}
            />
          </Card>
          <Card title={`Groups (${data.groups.length})`}>
            {data.groups.length === 0 ? (
              <Empty>No groups.</Empty>
            ) : (
              <ul class="chips">
                {data.groups.map((group) => (
                  <li key={group.id}>
                    <Link href={`/groups/${group.id}`}>{group.name}</Link>
                  </li>
                ))}
              </ul>
            )}
          </Card>
          <Card title="Roles, channels and teams">
            <Details
              rows={[
                ['Roles', data.roles.length === 0 ? null : data.roles.join(', ')],
                ['Channels', data.channels.length === 0 ? null : <NameLinks kind="channels" names={data.channels.map((channel) => channel.name)} />],
                ['Teams', data.teams.length === 0 ? null : <NameLinks kind="teams" names={data.teams.map((team) => team.name)} />],
              ]}
            />
          </Card>
          <Card title="Custom fields and ABAC attributes">
            <Details
              rows={[
                ...Object.entries(data.customFields).map(([key, value]): [string, string] => [key, value]),
                ...Object.entries(data.abacAttributes).map(([key, values]): [string, string] => [`ABAC ${key}`, values.join(', ')]),
              ]}
            />
            {Object.keys(data.customFields).length + Object.keys(data.abacAttributes).length === 0 ? <Empty>None.</Empty> : null}
          </Card>
        </div>
      </div>
    </div>
  );
}
