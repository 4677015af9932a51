/**
 * The write-back actions an administrator makes on users (issue #10): New user, and on a user's
 * page Rename, Reset password and Delete. Each previews (dry run) and applies through the admin
 * API (`POST /api/v1/admin/users`, `users/:id/rename|password|delete`) and shows the result. A
 * password is typed into a password input, sent once, never shown, and cleared once applied.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Card, Link } from '../components.tsx';
import type { User, UserWriteResult, WriteActionResult, WriteBackSettings } from '../types.ts';
import { ActionField, ActionPanel, isWritable, useWriteAction, useWriteBackSettings } from '../write-action.tsx';

/** Why write-back does not write now, in words. */
function notWritingReason(writeBack: WriteBackSettings): string {
  return writeBack.enabled ? `writeBack.mode is ${writeBack.mode}` : 'write-back is off';
}

/** Where a new user goes, in a sentence. */
function creationNote(writeBack: WriteBackSettings | undefined, hasPassword: boolean): string {
  if (writeBack === undefined) return 'Reading the write-back settings…';
  if (!isWritable(writeBack))
    return `Created as a local account in dirbridge only (${notWritingReason(writeBack)})${hasPassword ? '; the password is hashed in dirbridge' : ''}.`;
  const password = !hasPassword
    ? ''
    : writeBack.passwords
      ? '; the password is set there and never stored in dirbridge'
      : '; writeBack.passwords is off, so the directory does not take a password';
  return `Created in the directory under ${writeBack.usersDn ?? '(writeBack.usersDn)'}, then in dirbridge${password}.`;
}

/** What Delete does to a user, in a sentence, from `writeBack.deletion.users`. */
export function deletionNote(user: Pick<User, 'username' | 'source'>, writeBack: WriteBackSettings | undefined): string {
  if (user.source !== 'directory') return `${user.username} is a local account: it is deleted from dirbridge.`;
  if (writeBack === undefined) return 'Reading the write-back settings…';
  if (!isWritable(writeBack))
    return `${user.username} comes from the directory and write-back does not write to it (${notWritingReason(writeBack)}): dirbridge refuses to delete it.`;
  switch (writeBack.deletion.users) {
    case 'disable':
      return `writeBack.deletion.users is disable: the directory entry is kept and disabled; dirbridge keeps the account, disabled.`;
    case 'delete':
      return `writeBack.deletion.users is delete: the directory entry is deleted and taken out of its groups; dirbridge deletes the account too.`;
    case 'keep':
      return `writeBack.deletion.users is keep: the directory entry is left as it is; dirbridge keeps the account, disabled.`;
  }
}

/** Where a reset password goes, in a sentence. */
function passwordNote(user: Pick<User, 'source'>, writeBack: WriteBackSettings | undefined): string {
  if (user.source !== 'directory') return 'Hashed in dirbridge’s store. The user’s sessions end.';
  if (writeBack === undefined) return 'Reading the write-back settings…';
  if (!isWritable(writeBack))
    return `Write-back does not write to the directory (${notWritingReason(writeBack)}): the password of a directory user cannot be set here.`;
  if (!writeBack.passwords) return 'writeBack.passwords is off: the directory’s passwords are not set from dirbridge.';
  return 'Set in the directory under its password policy (a refusal names its rule), never stored in dirbridge. The user’s sessions end.';
}

/** Group names from a comma- or line-separated list. */
function groupNames(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[,\n]/)
        .map((name) => name.trim())
        .filter((name) => name !== ''),
    ),
  ];
}

const EMPTY_NEW_USER = { username: '', email: '', firstName: '', lastName: '', displayName: '', groups: '' };

/** The New user form (on the Users page): `onCreated` after an applied create, to reload the list. */
export function NewUserPanel(props: { onClose: () => void; onCreated: () => void }): JSX.Element {
  const [form, setForm] = useState(EMPTY_NEW_USER);
  const [password, setPassword] = useState('');
  const writeBack = useWriteBackSettings();
  const field = (key: keyof typeof EMPTY_NEW_USER) => ({
    name: `new-user-${key}`,
    value: form[key],
    onInput: (value: string) => setForm((current) => ({ ...current, [key]: value })),
  });
  const state = useWriteAction(
    (isDryRun) => {
      const body: Record<string, unknown> = { username: form.username.trim(), groups: groupNames(form.groups), dryRun: isDryRun };
      for (const key of ['email', 'firstName', 'lastName', 'displayName'] as const) if (form[key].trim() !== '') body[key] = form[key].trim();
      if (password !== '') body['password'] = password;
      return api<UserWriteResult>('POST', '/api/v1/admin/users', body);
    },
    (result) => {
      setPassword('');
      if (result.user !== undefined) setForm(EMPTY_NEW_USER);
      props.onCreated();
    },
  );
  return (
    <Card testId="new-user-card">
      <ActionPanel
        title="New user"
        testId="new-user"
        state={state}
        applyLabel="Create user"
        canSubmit={form.username.trim() !== ''}
        onCancel={props.onClose}
        note={creationNote(writeBack, password !== '')}
        after={(result) =>
          result.user === undefined ? null : (
            <div>
              <Link href={`/users/${result.user.id}`} testId="created-user-link">
                Open {result.user.username}
              </Link>
            </div>
          )
        }
      >
        <div class="action-fields">
          <ActionField label="Username" {...field('username')} />
          <ActionField label="Email" type="email" {...field('email')} />
        </div>
        <div class="action-fields">
          <ActionField label="First name" {...field('firstName')} />
          <ActionField label="Last name" {...field('lastName')} />
          <ActionField label="Display name" {...field('displayName')} />
        </div>
        <ActionField
          label="Groups"
          {...field('groups')}
          placeholder="group names, comma-separated"
          hint="Existing groups the user joins (in the directory too, in writable mode)."
        />
        <ActionField
          label="Password (optional)"
          name="new-user-password"
          type="password"
          autoComplete="new-password"
          value={password}
          onInput={setPassword}
          hint="Sent once; never shown, logged or kept by the console."
        />
      </ActionPanel>
    </Card>
  );
}

type UserAction = 'rename' | 'password' | 'delete';

/**
 * A user's write-back actions (on its page): Rename, Reset password, Delete. `onChanged` after an
 * applied action (reload the user); `onGone` once the account no longer exists in dirbridge.
 */
export function UserActionsCard(props: { user: User; onChanged: () => void; onGone: () => void }): JSX.Element {
  const { user } = props;
  const [open, setOpen] = useState<UserAction | null>(null);
  const writeBack = useWriteBackSettings();
  const toggle = (action: UserAction) => setOpen((current) => (current === action ? null : action));
  return (
    <Card title="Directory actions" testId="user-actions">
      <p class="muted small">
        {user.source === 'directory'
          ? writeBack === undefined
            ? ''
            : isWritable(writeBack)
              ? 'Written back to the directory (writable mode); preview first to see the steps.'
              : `Write-back does not write to the directory now (${notWritingReason(writeBack)}).`
          : 'A local account: these change dirbridge only.'}
      </p>
      <div class="button-row">
        <button type="button" class="btn" onClick={() => toggle('rename')} data-testid="user-action-rename" aria-expanded={open === 'rename'}>
          Rename
        </button>
        <button type="button" class="btn" onClick={() => toggle('password')} data-testid="user-action-password" aria-expanded={open === 'password'}>
          Reset password
        </button>
        <button type="button" class="btn btn-danger" onClick={() => toggle('delete')} data-testid="user-action-delete" aria-expanded={open === 'delete'}>
          Delete
        </button>
      </div>
      {open === 'rename' ? <RenameUserPanel key={`rename-${user.id}`} user={user} onClose={() => setOpen(null)} onApplied={props.onChanged} /> : null}
      {open === 'password' ? (
        <PasswordPanel key={`password-${user.id}`} user={user} note={passwordNote(user, writeBack)} onClose={() => setOpen(null)} onApplied={props.onChanged} />
      ) : null}
      {open === 'delete' ? (
        <DeleteUserPanel
          key={`delete-${user.id}`}
          user={user}
          note={deletionNote(user, writeBack)}
          onClose={() => setOpen(null)}
          onApplied={(result) => (result.user === undefined && result.outcome !== 'failed' ? props.onGone() : props.onChanged())}
        />
      ) : null}
    </Card>
  );
}

function RenameUserPanel(props: { user: User; onClose: () => void; onApplied: () => void }): JSX.Element {
  const [username, setUsername] = useState(props.user.username);
  const state = useWriteAction(
    (isDryRun) =>
      api<UserWriteResult>('POST', `/api/v1/admin/users/${encodeURIComponent(props.user.id)}/rename`, { username: username.trim(), dryRun: isDryRun }),
    props.onApplied,
  );
  return (
    <ActionPanel
      title={`Rename ${props.user.username}`}
      testId="rename-user"
      state={state}
      applyLabel="Rename"
      canSubmit={username.trim() !== '' && username.trim() !== props.user.username}
      onCancel={props.onClose}
    >
      <ActionField label="New username" name="rename-username" value={username} onInput={setUsername} />
    </ActionPanel>
  );
}

function PasswordPanel(props: { user: User; note: string; onClose: () => void; onApplied: () => void }): JSX.Element {
  const [password, setPassword] = useState('');
  const state = useWriteAction(
    (isDryRun) => api<WriteActionResult>('POST', `/api/v1/admin/users/${encodeURIComponent(props.user.id)}/password`, { password, dryRun: isDryRun }),
    () => {
      setPassword('');
      props.onApplied();
    },
  );
  return (
    <ActionPanel
      title={`Reset the password of ${props.user.username}`}
      testId="reset-password"
      state={state}
      applyLabel="Set password"
      canSubmit={password !== ''}
      onCancel={props.onClose}
      note={props.note}
    >
      <ActionField
        label="New password"
        name="reset-password"
        type="password"
        autoComplete="new-password"
        value={password}
        onInput={setPassword}
        hint="Sent once; never shown, logged or kept by the console."
      />
    </ActionPanel>
  );
}

function DeleteUserPanel(props: { user: User; note: string; onClose: () => void; onApplied: (result: UserWriteResult) => void }): JSX.Element {
  const state = useWriteAction(
    (isDryRun) => api<UserWriteResult>('POST', `/api/v1/admin/users/${encodeURIComponent(props.user.id)}/delete`, { dryRun: isDryRun }),
    props.onApplied,
  );
  return (
    <ActionPanel
      title={`Delete ${props.user.username}?`}
      testId="delete-user"
      state={state}
      applyLabel={`Delete ${props.user.username}`}
      isDanger
      canSubmit
      onCancel={props.onClose}
      note={<span data-testid="deletion-policy">{props.note}</span>}
      after={(result) =>
        result.isDryRun || result.user !== undefined || result.outcome === 'failed' ? null : (
          <Link href="/users">The account is gone from dirbridge: back to Users</Link>
        )
      }
    />
  );
}
