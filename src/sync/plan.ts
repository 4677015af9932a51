/**
 * The sync plan: a pure diff between what the directory says (the snapshot) and what the
 * store holds. Every step carries a sentence saying why. A dry run is this plan, printed.
 */
import { dnKeyOf } from '../ldap/dn.ts';
import type { MappedUser, SkippedEntry } from '../mapping/user.ts';
import type { GroupRecord, MappingState, UserRecord } from '../model/index.ts';
import type { MappingSettings, SyncSettings, WritableUserField, WriteBackSettings } from '../settings/schema.ts';
import { authorityOf, resolveField } from '../writeback/resolve-conflict.ts';
import { accountStatesAfter, type MappedUserWithInput, type MappingStep, newChannelOwner, planChannelOwners, planMappings } from './plan-mapping.ts';
import { initialPasswordChange, type PasswordStep, planPasswordChanges } from './plan-password-changes.ts';
import type { DirectorySnapshot } from './snapshot.ts';
import { type HeldField, memberKey, type WriteBackState } from './write-back-state.ts';

/** A user as the planner needs to see it from the store. */
export type CurrentUser = Pick<
  UserRecord,
  | 'id'
  | 'username'
  | 'email'
  | 'firstName'
  | 'lastName'
  | 'displayName'
  | 'source'
  | 'externalId'
  | 'dn'
  | 'isEnabled'
  | 'disabledBy'
  | 'isAdmin'
  | 'missingRuns'
> & {
  /** The password change time last seen (`plan-password-changes.ts`); absent when not loaded, and then not planned. */
  passwordChangedAt?: UserRecord['passwordChangedAt'];
};

/** A group as the planner needs to see it from the store. */
export type CurrentGroup = Pick<GroupRecord, 'id' | 'externalId' | 'dn' | 'name' | 'source'>;

/** The store's side of the diff. */
export interface CurrentState {
  users: readonly CurrentUser[];
  groups: readonly CurrentGroup[];
  memberships: ReadonlyArray<{ userId: string; groupId: string }>;
  /** Roles, channels, teams and attributes; needed when mapping is planned. */
  mapping?: MappingState;
  /**
   * Write-back (issue #10): fields pending writes still carry to the directory, which sync holds
   * instead of copying the directory's stale value back; in unsynced mode, the local changes.
   */
  writeBack?: WriteBackState;
}

/** The user fields sync writes. */
export interface UserFields {
  username: string;
  email: string | null;
  firstName: string;
  lastName: string;
  displayName: string | null;
  dn: string;
  /** Set on new and linked accounts only: the directory's password change time as first seen. */
  passwordChangedAt?: string;
}

/** One planned change: to users, groups and memberships, (mapping) to roles, channels, teams and attributes, or to sessions after a password change. */
export type PlanStep = DirectoryStep | MappingStep | PasswordStep;

/** A change to users, groups or memberships. */
export type DirectoryStep =
  | { kind: 'createUser'; externalId: string; fields: UserFields; isEnabled: boolean; reason: string }
  | { kind: 'linkUser'; userId: string; externalId: string; fields: UserFields; reason: string }
  | { kind: 'updateUser'; userId: string; username: string; changes: Partial<UserFields>; reason: string }
  | { kind: 'disableUser'; userId: string; username: string; disabledBy: 'directory' | 'sync'; reason: string }
  | { kind: 'enableUser'; userId: string; username: string; reason: string }
  | { kind: 'markMissing'; userId: string; username: string; missingRuns: number; reason: string }
  | { kind: 'markPresent'; userId: string; username: string; reason: string }
  /**
   * Unsynced mode: a field changed locally (it has a baseline) that the directory has changed
   * since. `settled`: the baseline is dropped (both sides agree now, or the local value is the
   * baseline again). `directoryWins`/`dirbridgeWins`: a conflict, recorded with the loser's value;
   * the directory's win drops the baseline (its value comes in through the user's `updateUser`
   * step), dirbridge's moves the baseline to the directory's new value, so it is recorded once.
   */
  | {
      kind: 'settleLocalChange';
      userId: string;
      username: string;
      field: WritableUserField;
      outcome: 'settled' | 'directoryWins' | 'dirbridgeWins';
      directoryValue: string | null;
      dirbridgeValue: string | null;
      baseline: readonly string[];
      reason: string;
    }
  /** A directory user not planned: not imported, not merged, or an entry that cannot be mapped (no username or unique id; `externalId` null when unknown). */
  | { kind: 'skipUser'; externalId: string | null; dn: string; reason: string }
  | { kind: 'createGroup'; externalId: string; name: string; dn: string; reason: string }
  | { kind: 'updateGroup'; groupId: string; name: string; changes: { name?: string; dn?: string; externalId?: string }; reason: string }
  | { kind: 'deleteGroup'; groupId: string; name: string; reason: string }
  /** A group entry that cannot be mapped (no name or unique id): its stored group (`groupId`, when one matches) and memberships are left as they are. */
  | { kind: 'skipGroup'; dn: string; groupId: string | null; reason: string }
  | { kind: 'addMembership'; userExternalId: string; groupExternalId: string; username: string; group: string; reason: string }
  | { kind: 'removeMembership'; userId: string; groupId: string; username: string; group: string; reason: string };

/** The plan, with the counts the guard and the run summary use. */
export interface SyncPlan {
  steps: PlanStep[];
  counts: PlanCounts;
  warnings: string[];
  /**
   * Store ids of the existing users this read saw (mapped and linked by their unique id): apply
   * records the time as their `lastSyncedAt`, so "Last synced" is the last time a sync saw them.
   */
  seenUserIds: string[];
}

/** Counts of planned changes, in the shape of the sync summary. */
export type PlanCounts = {
  users: { created: number; updated: number; disabled: number; enabled: number; unchanged: number; skipped: number };
  /** `skipped`: group entries that cannot be mapped (see the `skipGroup` step). */
  groups: { created: number; updated: number; deleted: number; skipped: number };
  memberships: { added: number; removed: number };
  roles: { granted: number; revoked: number };
  /** `ownerChanged`: directory channels reassigned to the Channel Admin or left without an owner. */
  channels: { created: number; added: number; removed: number; ownerChanged: number };
  teams: { created: number; added: number; removed: number };
  attributes: { customFields: number; abac: number; admin: number };
  /** `usersRevoked`: users whose sessions are revoked because their password changed in the directory. */
  sessions: { usersRevoked: number };
};

/** The settings slice the planner reads. */
export type PlanOptions = Pick<
  SyncSettings,
  'importNewUsers' | 'updateExistingUsers' | 'mergeExistingUsers' | 'disableMissingUsers' | 'activeState' | 'missingGraceRuns'
> & {
  syncGroups: boolean;
  /**
   * `all`: the snapshot is the whole directory (sync). `listed`: it holds only some users and
   * their groups (a login), so nothing absent from it is disabled or deleted, and only the
   * listed users' memberships are judged. `delta`: an incremental run (`incremental/read-delta.ts`):
   * the snapshot holds the users whose accounts or memberships may have changed and every group;
   * groups are judged as in `all`, users as in `listed`, and `deletedUserIds` are the users that
   * left the directory (judged as a full sync judges users it no longer finds).
   */
  scope: 'all' | 'listed' | 'delta';
  /** Scope `delta`: unique ids of users that left the users' search. */
  deletedUserIds?: ReadonlySet<string>;
  /** Scope `delta`: unique ids of the groups the delta read (added or changed); only these may be created. */
  changedGroupIds?: ReadonlySet<string>;
  /** Role/channel/team/attribute mapping; planned when given together with `current.mapping`. */
  mapping?: MappingSettings;
  /** `sync.revokeSessionsOnPasswordChange` (default on). */
  revokeSessionsOnPasswordChange?: boolean;
  /** `writeBack.authority`: who wins a field both sides changed in unsynced mode (default: the directory). */
  writeBackAuthority?: WriteBackSettings['authority'];
};

/** Diffs the snapshot against the store. Pure: the same inputs always give the same plan. */
export function planSync(snapshot: DirectorySnapshot, current: CurrentState, options: PlanOptions): SyncPlan {
  const warnings: string[] = [];
  const userSteps = planUsers(snapshot, current, options, warnings);
  // concat, not push(...spread): a 100k-user plan has far more steps than the call stack takes arguments.
  let steps = options.syncGroups
    ? userSteps.steps.concat(planGroups(snapshot, current, userSteps.linkedUserIds, userSteps.createdExternalIds, options, warnings))
    : userSteps.steps;
  if (options.mapping !== undefined && current.mapping !== undefined) {
    // Accounts as they will be after this plan: a channel owner disabled by it loses its channels now.
    const stateOf = accountStatesAfter(current.users, userSteps.steps);
    const mappingSteps: PlanStep[] = planMappings(
      snapshot.users as readonly MappedUserWithInput[],
      { users: current.users, mapping: current.mapping },
      options.mapping,
      {
        linked: userSteps.linkedUserIds,
        created: userSteps.createdExternalIds,
        newChannelOwner: newChannelOwner(options.mapping.channels, stateOf),
      },
    );
    steps = steps.concat(mappingSteps);
    // Ownership needs every account, so only a whole-directory sync judges it (a login sees one user).
    if (options.scope !== 'listed') steps = steps.concat(planChannelOwners(current.mapping.channels, options.mapping.channels, stateOf));
  }
  const seenUserIds = snapshot.users.flatMap((user) => {
    const userId = userSteps.linkedUserIds.get(user.externalId);
    return userId === undefined ? [] : [userId];
  });
  // Last, so a dry run lists the changes to accounts first (the first sync after an upgrade records every user's time).
  steps = steps.concat(planPasswordSteps(snapshot, current, options));
  return { steps, counts: countSteps(steps, userSteps.unchanged), warnings, seenUserIds };
}

/** What a skipped entry's step says: "skipped (no cn)", and when it names a stored record, that it is kept. */
function skippedReason(skipped: SkippedEntry, kept: string | undefined): string {
  return `skipped (no ${skipped.missingAttributes.join(' or ')})${kept === undefined ? '' : `; ${kept}`}`;
}

/**
 * The stored records that skipped entries name: by unique id when the entry has one, else by
 * DN (an entry without its unique id is still the record stored under that DN). DNs are
 * normalised only when some skipped entry lacks an id.
 */
function recordsOfSkipped<R extends { id: string; externalId: string | null; dn: string | null }>(
  skipped: readonly SkippedEntry[],
  records: readonly R[],
): Map<SkippedEntry, R> {
  const found = new Map<SkippedEntry, R>();
  if (skipped.length === 0) return found;
  const byExternalId = new Map<string, R>();
  for (const record of records) if (record.externalId !== null) byExternalId.set(record.externalId, record);
  let byDn: Map<string, R> | undefined;
  for (const entry of skipped) {
    let record = entry.externalId === undefined ? undefined : byExternalId.get(entry.externalId);
    if (record === undefined && entry.externalId === undefined) {
      byDn ??= new Map(
        records.flatMap((candidate) => (candidate.dn === null || candidate.externalId === null ? [] : [[dnKeyOf(candidate.dn), candidate] as const])),
      );
      record = byDn.get(dnKeyOf(entry.dn));
    }
    if (record !== undefined) found.set(entry, record);
  }
  return found;
}

/** Directory records write-back created (source directory, a DN, no unique id yet), by DN key. */
function awaitingLinkByDn<R extends { source: string; externalId: string | null; dn: string | null }>(records: readonly R[]): Map<string, R> {
  const found = new Map<string, R>();
  for (const record of records) if (record.source === 'directory' && record.externalId === null && record.dn !== null) found.set(dnKeyOf(record.dn), record);
  return found;
}

/** Password change steps for the users the store already linked to their directory entries. */
function planPasswordSteps(snapshot: DirectorySnapshot, current: CurrentState, options: PlanOptions): PasswordStep[] {
  const byId = new Map(current.users.map((user) => [user.id, user]));
  const linked = new Map<string, string>();
  for (const user of current.users) if (user.externalId !== null) linked.set(user.externalId, user.id);
  return planPasswordChanges(snapshot.users, byId, linked, { revokeSessions: options.revokeSessionsOnPasswordChange ?? true });
}

function planUsers(
  snapshot: DirectorySnapshot,
  current: CurrentState,
  options: PlanOptions,
  warnings: string[],
): { steps: PlanStep[]; unchanged: number; linkedUserIds: Map<string, string>; createdExternalIds: Set<string> } {
  const steps: PlanStep[] = [];
  const createdExternalIds = new Set<string>();
  const byExternalId = new Map<string, CurrentUser>();
  const byUsername = new Map<string, CurrentUser>();
  const byEmail = new Map<string, CurrentUser[]>();
  for (const user of current.users) {
    if (user.externalId !== null) byExternalId.set(user.externalId, user);
    byUsername.set(user.username.toLowerCase(), user);
    if (user.email !== null) {
      const key = user.email.toLowerCase();
      byEmail.set(key, [...(byEmail.get(key) ?? []), user]);
    }
  }
  /** Directory external id → store user id, for membership planning. */
  const linkedUserIds = new Map<string, string>();

  // A username claimed by two directory entries is ambiguous: neither gets it.
  const claims = new Map<string, number>();
  for (const user of snapshot.users) {
    const key = user.username.toLowerCase();
    claims.set(key, (claims.get(key) ?? 0) + 1);
  }
  const isContested = (username: string) => (claims.get(username.toLowerCase()) ?? 0) > 1;
  const isHeld = (userId: string, field: HeldField) => current.writeBack?.held.get(userId)?.has(field) === true;

  // Usernames held after this plan by accounts that keep them: every store user not renamed by it.
  const renamedAway = new Set<string>();
  for (const user of snapshot.users) {
    const existing = byExternalId.get(user.externalId);
    if (
      existing !== undefined &&
      existing.username.toLowerCase() !== user.username.toLowerCase() &&
      !isContested(user.username) &&
      !isHeld(existing.id, 'username')
    ) {
      renamedAway.add(existing.username.toLowerCase());
    }
  }
  const isHeldByOther = (username: string, selfId: string | undefined): boolean => {
    const holder = byUsername.get(username.toLowerCase());
    return holder !== undefined && holder.id !== selfId && !renamedAway.has(username.toLowerCase());
  };

  // Merge candidates: each local account may be claimed by at most one directory entry.
  const mergeClaims = new Map<string, number>();
  const mergeCandidate = (user: MappedUser): CurrentUser | undefined => {
    if (!options.mergeExistingUsers.enabled) return undefined;
    if (options.mergeExistingUsers.matchBy === 'username') {
      const match = byUsername.get(user.username.toLowerCase());
      return match !== undefined && match.externalId === null ? match : undefined;
    }
    if (user.email === null) return undefined;
    const matches = (byEmail.get(user.email.toLowerCase()) ?? []).filter((candidate) => candidate.externalId === null);
    return matches.length === 1 ? matches[0] : undefined;
  };
  // Accounts write-back created in the directory, waiting for their entry's unique id: linked by DN.
  const awaitingLink = awaitingLinkByDn(current.users);
  const newUsers = snapshot.users.filter((user) => !byExternalId.has(user.externalId));
  for (const user of newUsers) {
    const candidate = mergeCandidate(user);
    if (candidate !== undefined) mergeClaims.set(candidate.id, (mergeClaims.get(candidate.id) ?? 0) + 1);
  }

  let unchanged = 0;
  for (const user of snapshot.users) {
    const existing = byExternalId.get(user.externalId);
    if (existing !== undefined) {
      linkedUserIds.set(user.externalId, existing.id);
      const before = steps.length;
      planExistingUser(user, existing, options, steps, warnings, isContested, isHeldByOther, current.writeBack);
      if (steps.length === before) unchanged += 1;
      continue;
    }
    if (current.writeBack?.deletedDns.has(user.dnKey) === true) {
      steps.push(skip(user, 'not imported: deleted in dirbridge, and the delete is pending in the write-back outbox'));
      continue;
    }
    const fields = fieldsOf(user);
    const created = awaitingLink.get(dnKeyOf(user.dn));
    if (created !== undefined && !isContested(user.username) && !isHeldByOther(user.username, created.id)) {
      awaitingLink.delete(dnKeyOf(user.dn));
      linkedUserIds.set(user.externalId, created.id);
      const held = current.writeBack?.held.get(created.id);
      steps.push({
        kind: 'linkUser',
        userId: created.id,
        externalId: user.externalId,
        fields: held === undefined ? fields : keepHeldFields(fields, created, held),
        reason: `created in the directory by write-back; linked to its entry ${user.dn}${held === undefined ? '' : `; ${[...held].join(', ')} held by a pending write-back`}`,
      });
      continue;
    }
    const candidate = mergeCandidate(user);
    if (candidate !== undefined) {
      if ((mergeClaims.get(candidate.id) ?? 0) > 1) {
        steps.push(skip(user, `not merged: ${mergeClaims.get(candidate.id) ?? 0} directory entries match local account ${candidate.username}`));
      } else if (candidate.isAdmin) {
        steps.push(skip(user, `not merged: local account ${candidate.username} is an administrator and is never taken over`));
      } else if (isContested(user.username) || isHeldByOther(user.username, candidate.id)) {
        steps.push(skip(user, `not merged: username ${user.username} is taken by another account or ambiguous in the directory`));
      } else {
        linkedUserIds.set(user.externalId, candidate.id);
        steps.push({
          kind: 'linkUser',
          userId: candidate.id,
          externalId: user.externalId,
          fields,
          reason: `merged with local account ${candidate.username}: same ${options.mergeExistingUsers.matchBy}`,
        });
      }
      continue;
    }
    if (!options.importNewUsers) {
      steps.push(skip(user, 'not imported: importNewUsers is off'));
      continue;
    }
    if (isContested(user.username)) {
      steps.push(skip(user, `not imported: username ${user.username} is used by ${claims.get(user.username.toLowerCase())} directory entries`));
      continue;
    }
    if (isHeldByOther(user.username, undefined)) {
      steps.push(skip(user, `not imported: username ${user.username} belongs to an existing account that is not linked to this entry`));
      continue;
    }
    const isDisabledInDirectory = user.directoryState === 'disabled' && appliesDisable(options.activeState);
    createdExternalIds.add(user.externalId);
    steps.push({
      kind: 'createUser',
      externalId: user.externalId,
      fields,
      isEnabled: !isDisabledInDirectory,
      reason: isDisabledInDirectory ? `new in directory, created disabled: ${user.directoryStateReason ?? 'disabled in directory'}` : 'new in directory',
    });
  }

  // Entries that cannot be mapped are skipped, counted, and their stored accounts left exactly as they are.
  // An account another entry now carries (by its unique id) is judged through that entry.
  const skippedAccounts = recordsOfSkipped(
    snapshot.skippedUsers,
    current.users.filter((user) => user.source === 'directory' && !linkedUserIds.has(user.externalId ?? '')),
  );
  for (const skipped of snapshot.skippedUsers) {
    const stored = skippedAccounts.get(skipped);
    steps.push({
      kind: 'skipUser',
      externalId: skipped.externalId ?? null,
      dn: skipped.dn,
      reason: skippedReason(skipped, stored === undefined ? undefined : `${stored.username} is kept as it is and not counted as missing`),
    });
  }

  planMissingUsers(snapshot, current, options, steps, new Set([...skippedAccounts.values()].map((user) => user.id)));
  return { steps, unchanged, linkedUserIds, createdExternalIds };
}

function planExistingUser(
  user: MappedUser,
  existing: CurrentUser,
  options: PlanOptions,
  steps: PlanStep[],
  warnings: string[],
  isContested: (username: string) => boolean,
  isHeldByOther: (username: string, selfId: string | undefined) => boolean,
  writeBack: WriteBackState | undefined,
): void {
  const changes: Partial<UserFields> = {};
  const reasons: string[] = [];
  // Write-back's hold on this user, if any (most users have none: the plain path allocates nothing more).
  const held = writeBack?.held.get(existing.id);
  const baselines = writeBack?.baselines.get(existing.id);
  /** Fields whose directory value differs but a pending write holds dirbridge's. */
  const heldBack: HeldField[] = [];
  const settles: PlanStep[] = [];
  if (existing.dn !== user.dn) {
    if (held?.has('dn') === true) heldBack.push('dn');
    else {
      changes.dn = user.dn;
      reasons.push(existing.dn === null ? 'DN recorded' : `moved or renamed in directory from ${existing.dn} to ${user.dn}`);
    }
  }
  if (options.updateExistingUsers) {
    if (existing.username !== user.username) {
      if (held?.has('username') === true) {
        heldBack.push('username');
      } else if (isContested(user.username) || isHeldByOther(user.username, existing.id)) {
        warnings.push(`user ${existing.username} keeps its username: ${user.username} is taken or ambiguous`);
      } else {
        changes.username = user.username;
        reasons.push(`username changed from ${existing.username} to ${user.username}`);
      }
    }
    for (const field of PROFILE_FIELDS) {
      if (held === undefined && baselines === undefined) {
        if (existing[field] === user[field]) continue;
      } else if (planHeldField(field, user, existing, { held, baselines, options, heldBack, settles, reasons, changes })) {
        continue;
      }
      Object.assign(changes, { [field]: user[field] });
      reasons.push(`${field} changed`);
    }
  }
  const enabledStep = enabledStepOf(user, existing, options);
  if (held?.has('enabled') === true && enabledStep !== undefined) heldBack.push('enabled');
  if (heldBack.length > 0) {
    const what = `${heldBack.join(', ')} held by a pending write-back`;
    warnings.push(`user ${existing.username} keeps its ${what}: the directory's value is not copied back until it is delivered`);
    // Said in the update's reason too, when the user has one, so the dry run shows it by the step.
    reasons.push(what);
  }
  if (Object.keys(changes).length > 0) {
    steps.push({ kind: 'updateUser', userId: existing.id, username: existing.username, changes, reason: reasons.join('; ') });
  }
  for (const step of settles) steps.push(step);
  if (existing.missingRuns > 0) {
    steps.push({ kind: 'markPresent', userId: existing.id, username: existing.username, reason: `found again after ${existing.missingRuns} runs` });
  }
  if (enabledStep !== undefined && held?.has('enabled') !== true) steps.push(enabledStep);
}

/**
 * One profile field of a user write-back holds or keeps locally. True when the field is planned
 * here (held, kept as the local value, unchanged, or the directory's value taken after winning a
 * conflict); false when the directory's different value is to be taken as usual.
 */
function planHeldField(
  field: WritableUserField,
  user: MappedUser,
  existing: CurrentUser,
  context: {
    held: ReadonlySet<HeldField> | undefined;
    baselines: ReadonlyMap<WritableUserField, readonly string[]> | undefined;
    options: PlanOptions;
    heldBack: HeldField[];
    settles: PlanStep[];
    reasons: string[];
    changes: Partial<UserFields>;
  },
): boolean {
  const differs = existing[field] !== user[field];
  if (context.held?.has(field) === true) {
    if (differs) context.heldBack.push(field);
    return true;
  }
  const baseline = context.baselines?.get(field);
  if (baseline === undefined) return !differs;
  const local = judgeLocalChange(field, existing, user, baseline, context.options);
  if (local.step !== undefined) context.settles.push(local.step);
  if (local.keep) {
    if (differs) context.reasons.push(`${field} kept as changed in dirbridge (writeBack.mode unsynced)`);
    return true;
  }
  if (local.step?.outcome === 'directoryWins') {
    Object.assign(context.changes, { [field]: user[field] });
    context.reasons.push(`${field} changed in the directory too: the directory wins (writeBack.authority)`);
    return true;
  }
  return !differs;
}

/** A link's fields with dirbridge's values of the fields pending writes hold (a record write-back created and changed again since). */
function keepHeldFields(fields: UserFields, stored: CurrentUser, held: ReadonlySet<HeldField>): UserFields {
  const kept = { ...fields };
  if (held.has('username')) kept.username = stored.username;
  if (held.has('dn') && stored.dn !== null) kept.dn = stored.dn;
  for (const field of PROFILE_FIELDS) if (held.has(field)) Object.assign(kept, { [field]: stored[field] });
  return kept;
}

/** The user fields sync copies from the directory, besides the username and DN. */
const PROFILE_FIELDS = ['email', 'firstName', 'lastName', 'displayName'] as const satisfies readonly WritableUserField[];

/**
 * Unsynced mode: one field changed locally (`baseline` is the directory's value then). `keep`:
 * dirbridge's value stays; `step`: what happens to the baseline (and the conflict, if any).
 */
function judgeLocalChange(
  field: WritableUserField,
  existing: CurrentUser,
  user: MappedUser,
  baseline: readonly string[],
  options: PlanOptions,
): { keep: boolean; step?: Extract<PlanStep, { kind: 'settleLocalChange' }> } {
  const values = { baseline: baseline[0] ?? null, current: user[field], desired: existing[field] };
  const settle = (outcome: 'settled' | 'directoryWins' | 'dirbridgeWins', reason: string) => ({
    kind: 'settleLocalChange' as const,
    userId: existing.id,
    username: existing.username,
    field,
    outcome,
    directoryValue: values.current,
    dirbridgeValue: values.desired,
    baseline,
    reason,
  });
  // A local value back at the baseline is no local change any more: the directory's value follows.
  if (sameFieldValue(values.desired, values.baseline)) {
    return { keep: false, step: settle('settled', `${field}: the local value is the directory's earlier value again; the directory's value is taken`) };
  }
  const authority = authorityOf({ authority: options.writeBackAuthority ?? { default: 'directory', fields: {} } }, field);
  const { decision, conflict } = resolveField(field, values, authority);
  if (decision.action === 'none') return { keep: false, step: settle('settled', `${field}: the directory now holds the value changed in dirbridge`) };
  if (conflict === undefined) return { keep: true };
  return authority === 'dirbridge'
    ? {
        keep: true,
        step: settle('dirbridgeWins', `${field} changed in the directory and in dirbridge: dirbridge's value wins (writeBack.authority); conflict recorded`),
      }
    : {
        keep: false,
        step: settle(
          'directoryWins',
          `${field} changed in the directory and in dirbridge: the directory's value wins (writeBack.authority); conflict recorded`,
        ),
      };
}

/** Equal as `resolveField` compares values: blanks around and absent values aside. */
function sameFieldValue(a: string | null, b: string | null): boolean {
  return (a?.trim() ?? '') === (b?.trim() ?? '');
}

/** The disable or enable step the directory's account state asks for, if any. */
function enabledStepOf(user: MappedUser, existing: CurrentUser, options: PlanOptions): PlanStep | undefined {
  if (user.directoryState === 'disabled') {
    if (existing.isEnabled && appliesDisable(options.activeState)) {
      return {
        kind: 'disableUser',
        userId: existing.id,
        username: existing.username,
        disabledBy: 'directory',
        reason: user.directoryStateReason ?? 'disabled in directory',
      };
    }
    return undefined;
  }
  if (existing.isEnabled) return undefined;
  if (existing.disabledBy === 'sync') return { kind: 'enableUser', userId: existing.id, username: existing.username, reason: 'back in directory' };
  if (existing.disabledBy === 'directory' && appliesEnable(options.activeState)) {
    return { kind: 'enableUser', userId: existing.id, username: existing.username, reason: 'active again in directory' };
  }
  return undefined;
}

/** Disables (or counts grace runs for) stored directory users the read did not see; `skippedIds` were seen but skipped. */
function planMissingUsers(snapshot: DirectorySnapshot, current: CurrentState, options: PlanOptions, steps: PlanStep[], skippedIds: ReadonlySet<string>): void {
  if (!options.disableMissingUsers || options.scope === 'listed') return;
  const present = new Set<string>(snapshot.users.map((user) => user.externalId));
  // A delta names the users that left; every other user it does not hold is still there.
  const isGone = (externalId: string) => (options.scope === 'delta' ? options.deletedUserIds?.has(externalId) === true : !present.has(externalId));
  for (const user of current.users) {
    if (
      user.source !== 'directory' ||
      user.externalId === null ||
      !isGone(user.externalId) ||
      present.has(user.externalId) ||
      skippedIds.has(user.id) ||
      !user.isEnabled
    )
      continue;
    const missingRuns = user.missingRuns + 1;
    if (missingRuns <= options.missingGraceRuns) {
      steps.push({
        kind: 'markMissing',
        userId: user.id,
        username: user.username,
        missingRuns,
        reason: `not found in the directory (${missingRuns} of ${options.missingGraceRuns} runs of grace)`,
      });
      continue;
    }
    steps.push({
      kind: 'disableUser',
      userId: user.id,
      username: user.username,
      disabledBy: 'sync',
      reason: options.missingGraceRuns === 0 ? 'no longer found in the directory' : `no longer found in the directory for ${missingRuns} runs`,
    });
  }
}

function planGroups(
  snapshot: Pick<DirectorySnapshot, 'groups' | 'users' | 'skippedGroups'>,
  current: CurrentState,
  linkedUserIds: ReadonlyMap<string, string>,
  createdExternalIds: ReadonlySet<string>,
  options: Pick<PlanOptions, 'scope' | 'changedGroupIds'>,
  warnings: string[],
): PlanStep[] {
  const { scope } = options;
  const steps: PlanStep[] = [];
  const groups = snapshot.groups;
  const writeBack = current.writeBack;
  const isMembershipHeld = heldMembershipCheck(snapshot, current);
  const byExternalId = new Map<string, CurrentGroup>();
  for (const group of current.groups) if (group.externalId !== null) byExternalId.set(group.externalId, group);
  // Names for the steps, so a plan reads "anna → staff" rather than two ids.
  const usernameByExternalId = new Map<string, string>();
  for (const user of snapshot.users) usernameByExternalId.set(user.externalId, user.username);
  const usernameById = new Map<string, string>();
  for (const user of current.users) usernameById.set(user.id, user.username);
  const membersByGroupId = new Map<string, Set<string>>();
  for (const { userId, groupId } of current.memberships) {
    let members = membersByGroupId.get(groupId);
    if (members === undefined) membersByGroupId.set(groupId, (members = new Set()));
    members.add(userId);
  }
  const externalIdByUserId = new Map<string, string>();
  for (const [externalId, userId] of linkedUserIds) externalIdByUserId.set(userId, externalId);

  const awaitingLink = awaitingLinkByDn(current.groups);
  const present = new Set<string>();
  for (const group of groups) {
    present.add(group.externalId);
    const created = byExternalId.has(group.externalId) ? undefined : awaitingLink.get(dnKeyOf(group.dn));
    if (created !== undefined) awaitingLink.delete(dnKeyOf(group.dn));
    const existing = byExternalId.get(group.externalId) ?? created;
    // A delta creates only groups it read: a stored group entry the store lacks (deleted in
    // dirbridge, its delete in the directory not seen by a feed that cannot see deletes) waits for a full read.
    if (existing === undefined && scope === 'delta' && options.changedGroupIds?.has(group.externalId) !== true) continue;
    if (existing === undefined) {
      if (writeBack?.deletedDns.has(group.dnKey) === true) {
        steps.push({
          kind: 'skipGroup',
          dn: group.dn,
          groupId: null,
          reason: 'not imported: deleted in dirbridge, and the delete is pending in the write-back outbox',
        });
        continue;
      }
      steps.push({ kind: 'createGroup', externalId: group.externalId, name: group.name, dn: group.dn, reason: 'new in directory' });
    } else if (created !== undefined) {
      steps.push({
        kind: 'updateGroup',
        groupId: created.id,
        name: created.name,
        changes: { externalId: group.externalId, name: group.name, dn: group.dn },
        reason: `created in the directory by write-back; linked to its entry ${group.dn}`,
      });
    } else {
      const changes: { name?: string; dn?: string } = {};
      const held = writeBack?.heldGroups.get(existing.id);
      const heldBack: string[] = [];
      if (existing.name !== group.name) {
        if (held?.has('name') === true) heldBack.push('name');
        else changes.name = group.name;
      }
      if (existing.dn !== group.dn) {
        if (held?.has('dn') === true) heldBack.push('dn');
        else changes.dn = group.dn;
      }
      if (heldBack.length > 0)
        warnings.push(
          `group ${existing.name} keeps its ${heldBack.join(', ')} held by a pending write-back: the directory's value is not copied back until it is delivered`,
        );
      if (Object.keys(changes).length > 0) {
        const reasons = [
          ...(changes.name === undefined ? [] : [`renamed from ${existing.name} to ${group.name}`]),
          ...(changes.dn === undefined ? [] : [existing.dn === null ? 'DN recorded' : `moved or renamed in directory from ${existing.dn} to ${group.dn}`]),
        ];
        steps.push({ kind: 'updateGroup', groupId: existing.id, name: existing.name, changes, reason: reasons.join('; ') });
      }
    }
    const wanted = new Set(group.memberUserIds);
    const had = existing === undefined ? new Set<string>() : (membersByGroupId.get(existing.id) ?? new Set<string>());
    for (const userExternalId of wanted) {
      const userId = linkedUserIds.get(userExternalId);
      if (userId === undefined ? !createdExternalIds.has(userExternalId) : had.has(userId)) continue;
      if (existing !== undefined && isMembershipHeld(existing.id, { externalId: userExternalId, userId })) {
        warnings.push(
          `${usernameByExternalId.get(userExternalId) ?? userExternalId} is not added to ${group.name}: a pending write-back removes it from the group`,
        );
        continue;
      }
      steps.push({
        kind: 'addMembership',
        userExternalId,
        groupExternalId: group.externalId,
        username: usernameByExternalId.get(userExternalId) ?? userExternalId,
        group: group.name,
        reason: `member of ${group.name}`,
      });
    }
    if (existing !== undefined) {
      for (const userId of had) {
        const userExternalId = externalIdByUserId.get(userId);
        // Only users this sync saw are judged; memberships of users absent from the snapshot are left alone.
        if (userExternalId === undefined || wanted.has(userExternalId)) continue;
        if (isMembershipHeld(existing.id, { externalId: userExternalId, userId })) {
          warnings.push(`${usernameById.get(userId) ?? userId} stays in ${group.name}: a pending write-back adds it to the group`);
          continue;
        }
        steps.push({
          kind: 'removeMembership',
          userId,
          groupId: existing.id,
          username: usernameById.get(userId) ?? userId,
          group: group.name,
          reason: `no longer a member of ${group.name}`,
        });
      }
    }
  }
  // Entries that cannot be mapped: their stored groups are neither deleted nor judged, memberships included.
  const skippedGroups = recordsOfSkipped(
    snapshot.skippedGroups,
    current.groups.filter((group) => group.source === 'directory'),
  );
  const kept = new Set<string>();
  for (const skipped of snapshot.skippedGroups) {
    const named = skippedGroups.get(skipped);
    // A stored group another entry now carries (by its unique id) is judged through that entry.
    const stored = named !== undefined && !present.has(named.externalId ?? '') ? named : undefined;
    if (stored !== undefined) kept.add(stored.id);
    steps.push({
      kind: 'skipGroup',
      dn: skipped.dn,
      groupId: stored?.id ?? null,
      reason: skippedReason(skipped, stored === undefined ? undefined : `the stored group ${stored.name} and its memberships are kept as they are`),
    });
  }
  for (const group of current.groups) {
    if (group.source !== 'directory' || group.externalId === null || present.has(group.externalId) || kept.has(group.id)) continue;
    if (scope !== 'listed') {
      steps.push({ kind: 'deleteGroup', groupId: group.id, name: group.name, reason: 'no longer found in the directory' });
      continue;
    }
    // A login's snapshot lists every group of its users: membership elsewhere has ended.
    for (const userId of membersByGroupId.get(group.id) ?? []) {
      const userExternalId = externalIdByUserId.get(userId);
      if (userExternalId === undefined) continue;
      if (isMembershipHeld(group.id, { externalId: userExternalId, userId })) {
        warnings.push(`${usernameById.get(userId) ?? userId} stays in ${group.name}: a pending write-back adds it to the group`);
        continue;
      }
      steps.push({
        kind: 'removeMembership',
        userId,
        groupId: group.id,
        username: usernameById.get(userId) ?? userId,
        group: group.name,
        reason: `no longer a member of ${group.name}`,
      });
    }
  }
  return steps;
}

/**
 * Whether a pending write adds or removes this user in this group: the group's held member
 * values name the user by DN or username, as the directory shows it or as the store holds it.
 */
function heldMembershipCheck(
  snapshot: Pick<DirectorySnapshot, 'users'>,
  current: CurrentState,
): (groupId: string, user: { externalId: string; userId: string | undefined }) => boolean {
  const heldMembers = current.writeBack?.heldMembers;
  if (heldMembers === undefined || heldMembers.size === 0) return () => false;
  let directoryUsers: Map<string, MappedUser> | undefined;
  let storeUsers: Map<string, CurrentUser> | undefined;
  return (groupId, { externalId, userId }) => {
    const held = heldMembers.get(groupId);
    if (held === undefined) return false;
    directoryUsers ??= new Map(snapshot.users.map((user) => [user.externalId, user]));
    storeUsers ??= new Map(current.users.map((user) => [user.id, user]));
    const named = [directoryUsers.get(externalId), userId === undefined ? undefined : storeUsers.get(userId)];
    return named.some(
      (user) => user !== undefined && ((user.dn !== null && held.has(memberKey('dn', user.dn))) || held.has(memberKey('username', user.username))),
    );
  };
}

function fieldsOf(user: MappedUser): UserFields {
  const passwordChangedAt = initialPasswordChange(user.passwordChangedAt);
  return {
    username: user.username,
    email: user.email,
    firstName: user.firstName,
    lastName: user.lastName,
    displayName: user.displayName,
    dn: user.dn,
    ...(passwordChangedAt === undefined ? {} : { passwordChangedAt }),
  };
}

function skip(user: MappedUser, reason: string): PlanStep {
  return { kind: 'skipUser', externalId: user.externalId, dn: user.dn, reason };
}

function appliesDisable(activeState: SyncSettings['activeState']): boolean {
  return activeState === 'disable' || activeState === 'both';
}

function appliesEnable(activeState: SyncSettings['activeState']): boolean {
  return activeState === 'enable' || activeState === 'both';
}

/** Counts the steps by outcome; `unchanged` is the number of existing users with no step. */
export function countSteps(steps: readonly PlanStep[], unchanged: number): PlanCounts {
  const counts: PlanCounts = {
    users: { created: 0, updated: 0, disabled: 0, enabled: 0, unchanged, skipped: 0 },
    groups: { created: 0, updated: 0, deleted: 0, skipped: 0 },
    memberships: { added: 0, removed: 0 },
    roles: { granted: 0, revoked: 0 },
    channels: { created: 0, added: 0, removed: 0, ownerChanged: 0 },
    teams: { created: 0, added: 0, removed: 0 },
    attributes: { customFields: 0, abac: 0, admin: 0 },
    sessions: { usersRevoked: 0 },
  };
  for (const step of steps) {
    switch (step.kind) {
      case 'createUser':
        counts.users.created += 1;
        break;
      case 'linkUser':
      case 'updateUser':
        counts.users.updated += 1;
        break;
      case 'disableUser':
        counts.users.disabled += 1;
        break;
      case 'enableUser':
        counts.users.enabled += 1;
        break;
      case 'markMissing':
      case 'markPresent':
      case 'settleLocalChange':
        break;
      case 'skipUser':
        counts.users.skipped += 1;
        break;
      case 'createGroup':
        counts.groups.created += 1;
        break;
      case 'updateGroup':
        counts.groups.updated += 1;
        break;
      case 'deleteGroup':
        counts.groups.deleted += 1;
        break;
      case 'skipGroup':
        counts.groups.skipped += 1;
        break;
      case 'addMembership':
        counts.memberships.added += 1;
        break;
      case 'removeMembership':
        counts.memberships.removed += 1;
        break;
      case 'grantRole':
        counts.roles.granted += 1;
        break;
      case 'revokeRole':
        counts.roles.revoked += 1;
        break;
      case 'createChannel':
        counts.channels.created += 1;
        break;
      case 'addChannelMember':
        counts.channels.added += 1;
        break;
      case 'removeChannelMember':
        counts.channels.removed += 1;
        break;
      case 'setChannelOwner':
        counts.channels.ownerChanged += 1;
        break;
      case 'createTeam':
        counts.teams.created += 1;
        break;
      case 'addTeamMember':
        counts.teams.added += 1;
        break;
      case 'removeTeamMember':
        counts.teams.removed += 1;
        break;
      case 'setCustomFields':
        counts.attributes.customFields += 1;
        break;
      case 'setAbacAttributes':
        counts.attributes.abac += 1;
        break;
      case 'setAdmin':
        counts.attributes.admin += 1;
        break;
      case 'revokeSessions':
        counts.sessions.usersRevoked += 1;
        break;
      case 'recordPasswordChange':
        break;
    }
  }
  return counts;
}
