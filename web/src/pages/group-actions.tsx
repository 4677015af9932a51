/**
 * The write-back actions an administrator makes on groups (issue #10): New group, and on a
 * group's page Rename, Delete, Add member and Remove member. Each previews (dry run) and applies
 * through the admin API (`POST /api/v1/admin/groups`, `groups/:id/rename|delete|members/add|members/remove`)
 * and shows the result.
 */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, query } from '../api.ts';
import { Card, ErrorBox, Link, useAsync } from '../components.tsx';
import type { Group, GroupWriteResult, UserPage, WriteBackSettings } from '../types.ts';
import { ActionField, ActionPanel, isWritable, useWriteAction, useWriteBackSettings } from '../write-action.tsx';

/** Why write-back does not write now, in words. */
function notWritingReason(writeBack: WriteBackSettings): string {
  return writeBack.enabled ? `writeBack.mode is ${writeBack.mode}` : 'write-back is off';
}

/** What Delete does to a group, in a sentence, from `writeBack.deletion.groups`. */
export function groupDeletionNote(group: Pick<Group, 'name' | 'source'>, writeBack: WriteBackSettings | undefined): string {
  if (group.source !== 'directory') return `${group.name} is a local group: it is deleted from dirbridge.`;
  if (writeBack === undefined) return 'Reading the write-back settings…';
  if (!isWritable(writeBack))
    return `${group.name} comes from the directory and write-back does not write to it (${notWritingReason(writeBack)}): dirbridge refuses to delete it.`;
  return writeBack.deletion.groups === 'delete'
    ? 'writeBack.deletion.groups is delete: the directory group is deleted, and the group in dirbridge.'
    : 'writeBack.deletion.groups is keep: the directory group is left as it is and only dirbridge’s group is deleted (the next sync imports it again while groups are synced).';
}

/** The New group form (on the Groups page): `onCreated` after an applied create, to reload the list. */
export function NewGroupPanel(props: { onClose: () => void; onCreated: () => void }): JSX.Element {
  const [name, setName] = useState('');
  const writeBack = useWriteBackSettings();
  const state = useWriteAction(
    (isDryRun) => api<GroupWriteResult>('POST', '/api/v1/admin/groups', { name: name.trim(), dryRun: isDryRun }),
    (result) => {
      if (result.group !== undefined) setName('');
      props.onCreated();
    },
  );
  const note =
    writeBack === undefined
      ? 'Reading the write-back settings…'
      : isWritable(writeBack)
        ? `Created in the directory under ${writeBack.groupsDn ?? '(writeBack.groupsDn)'} (with the placeholder member where the schema requires one), then in dirbridge.`
        : `Created as a local group in dirbridge only (${notWritingReason(writeBack)}).`;
  return (
    <Card testId="new-group-card">
      <ActionPanel
        title="New group"
        testId="new-group"
        state={state}
        applyLabel="Create group"
        canSubmit={name.trim() !== ''}
        onCancel={props.onClose}
        note={note}
        after={(result) =>
          result.group === undefined ? null : (
            <div>
              <Link href={`/groups/${result.group.id}`} testId="created-group-link">
                Open {result.group.name}
              </Link>
            </div>
          )
        }
      >
        <ActionField label="Name" name="new-group-name" value={name} onInput={setName} />
      </ActionPanel>
    </Card>
  );
}

type GroupAction = 'rename' | 'delete' | 'add' | 'remove';

/**
 * A group's write-back actions (on its page). `onChanged` after an applied action (reload the
 * group and its members); `onGone` once the group no longer exists in dirbridge.
 */
export function GroupActionsCard(props: { group: Group; generation: number; onChanged: () => void; onGone: () => void }): JSX.Element {
  const { group } = props;
  const [open, setOpen] = useState<GroupAction | null>(null);
  const writeBack = useWriteBackSettings();
  const toggle = (action: GroupAction) => setOpen((current) => (current === action ? null : action));
  const close = () => setOpen(null);
  return (
    <Card title="Directory actions" testId="group-actions">
      <p class="muted small">
        {group.source === 'directory'
          ? writeBack === undefined
            ? ''
            : isWritable(writeBack)
              ? 'Written back to the directory (writable mode); preview first to see the steps.'
              : `Write-back does not write to the directory now (${notWritingReason(writeBack)}).`
          : 'A local group: these change dirbridge only.'}
      </p>
      <div class="button-row">
        <button type="button" class="btn" onClick={() => toggle('add')} data-testid="group-action-add" aria-expanded={open === 'add'}>
          Add member
        </button>
        <button type="button" class="btn" onClick={() => toggle('remove')} data-testid="group-action-remove" aria-expanded={open === 'remove'}>
          Remove member
        </button>
        <button type="button" class="btn" onClick={() => toggle('rename')} data-testid="group-action-rename" aria-expanded={open === 'rename'}>
          Rename
        </button>
        <button type="button" class="btn btn-danger" onClick={() => toggle('delete')} data-testid="group-action-delete" aria-expanded={open === 'delete'}>
          Delete
        </button>
      </div>
      {open === 'add' ? <AddMemberPanel key={`add-${group.id}`} group={group} onClose={close} onApplied={props.onChanged} /> : null}
      {open === 'remove' ? (
        <RemoveMemberPanel key={`remove-${group.id}`} group={group} generation={props.generation} onClose={close} onApplied={props.onChanged} />
      ) : null}
      {open === 'rename' ? <RenameGroupPanel key={`rename-${group.id}`} group={group} onClose={close} onApplied={props.onChanged} /> : null}
      {open === 'delete' ? (
        <DeleteGroupPanel
          key={`delete-${group.id}`}
          group={group}
          note={groupDeletionNote(group, writeBack)}
          onClose={close}
          onApplied={(result) => (result.outcome === 'failed' ? props.onChanged() : props.onGone())}
        />
      ) : null}
    </Card>
  );
}

function RenameGroupPanel(props: { group: Group; onClose: () => void; onApplied: () => void }): JSX.Element {
  const [name, setName] = useState(props.group.name);
  const state = useWriteAction(
    (isDryRun) => api<GroupWriteResult>('POST', `/api/v1/admin/groups/${encodeURIComponent(props.group.id)}/rename`, { name: name.trim(), dryRun: isDryRun }),
    props.onApplied,
  );
  return (
    <ActionPanel
      title={`Rename ${props.group.name}`}
      testId="rename-group"
      state={state}
      applyLabel="Rename"
      canSubmit={name.trim() !== '' && name.trim() !== props.group.name}
      onCancel={props.onClose}
    >
      <ActionField label="New name" name="rename-group-name" value={name} onInput={setName} />
    </ActionPanel>
  );
}

function DeleteGroupPanel(props: { group: Group; note: string; onClose: () => void; onApplied: (result: GroupWriteResult) => void }): JSX.Element {
  const state = useWriteAction(
    (isDryRun) => api<GroupWriteResult>('POST', `/api/v1/admin/groups/${encodeURIComponent(props.group.id)}/delete`, { dryRun: isDryRun }),
    props.onApplied,
  );
  return (
    <ActionPanel
      title={`Delete ${props.group.name}?`}
      testId="delete-group"
      state={state}
      applyLabel={`Delete ${props.group.name}`}
      isDanger
      canSubmit
      onCancel={props.onClose}
      note={<span data-testid="group-deletion-policy">{props.note}</span>}
      after={(result) => (result.isDryRun || result.outcome === 'failed' ? null : <Link href="/groups">The group is gone from dirbridge: back to Groups</Link>)}
    />
  );
}

/** A user chosen by searching usernames, emails and names (up to 20 matches; the first is chosen until another is). */
function UserPicker(props: { userId: string; onPick: (userId: string) => void }): JSX.Element {
  const [search, setSearch] = useState('');
  const matches = useAsync(
    () =>
      search.trim() === ''
        ? Promise.resolve([])
        : api<UserPage>('GET', `/api/v1/admin/users${query({ search: search.trim(), limit: 20 })}`).then((page) => page.users),
    [search],
  );
  const users = matches.data ?? [];
  useEffect(() => {
    if (!users.some((user) => user.id === props.userId)) props.onPick(users[0]?.id ?? '');
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [matches.data]);
  return (
    <div class="field">
      <label for="action-member-search" class="field-label">
        User
      </label>
      <input
        id="action-member-search"
        name="member-search"
        value={search}
        placeholder="Search username, email or name"
        autoComplete="off"
        onInput={(event) => setSearch(event.currentTarget.value)}
      />
      <ErrorBox error={matches.error} />
      <select
        aria-label="Matching users"
        value={props.userId}
        onChange={(event) => props.onPick(event.currentTarget.value)}
        disabled={users.length === 0}
        data-testid="member-pick"
      >
        {users.length === 0 ? <option value="">{search.trim() === '' ? 'Type to search users' : 'No user matches'}</option> : null}
        {users.map((user) => (
          <option key={user.id} value={user.id}>
            {user.username}
            {user.email === null ? '' : ` (${user.email})`}
          </option>
        ))}
      </select>
    </div>
  );
}

function AddMemberPanel(props: { group: Group; onClose: () => void; onApplied: () => void }): JSX.Element {
  const [userId, setUserId] = useState('');
  const state = useWriteAction(
    (isDryRun) => api<GroupWriteResult>('POST', `/api/v1/admin/groups/${encodeURIComponent(props.group.id)}/members/add`, { userId, dryRun: isDryRun }),
    props.onApplied,
  );
  return (
    <ActionPanel
      title={`Add a member to ${props.group.name}`}
      testId="add-member"
      state={state}
      applyLabel="Add member"
      canSubmit={userId !== ''}
      onCancel={props.onClose}
    >
      <UserPicker userId={userId} onPick={setUserId} />
    </ActionPanel>
  );
}

/** The members a group's Remove member offers (the first 1000, by username). */
const MEMBER_CHOICES = 1000;

function RemoveMemberPanel(props: { group: Group; generation: number; onClose: () => void; onApplied: () => void }): JSX.Element {
  const [userId, setUserId] = useState('');
  const members = useAsync(
    () => api<UserPage>('GET', `/api/v1/admin/groups/${encodeURIComponent(props.group.id)}/members${query({ limit: MEMBER_CHOICES })}`),
    [props.group.id, props.generation],
  );
  const users = members.data?.users ?? [];
  useEffect(() => {
    if (!users.some((user) => user.id === userId)) setUserId(users[0]?.id ?? '');
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [members.data]);
  const state = useWriteAction(
    (isDryRun) => api<GroupWriteResult>('POST', `/api/v1/admin/groups/${encodeURIComponent(props.group.id)}/members/remove`, { userId, dryRun: isDryRun }),
    props.onApplied,
  );
  return (
    <ActionPanel
      title={`Remove a member from ${props.group.name}`}
      testId="remove-member"
      state={state}
      applyLabel="Remove member"
      canSubmit={userId !== ''}
      onCancel={props.onClose}
    >
      <div class="field">
        <label for="action-member-remove" class="field-label">
          Member
        </label>
        <ErrorBox error={members.error} />
        <select
          id="action-member-remove"
          name="member-remove"
          value={userId}
          onChange={(event) => setUserId(event.currentTarget.value)}
          disabled={users.length === 0}
          data-testid="member-remove-pick"
        >
          {users.length === 0 ? <option value="">{members.data === undefined ? 'Loading…' : 'The group has no members'}</option> : null}
          {users.map((user) => (
            <option key={user.id} value={user.id}>
              {user.username}
            </option>
          ))}
        </select>
      </div>
    </ActionPanel>
  );
}
