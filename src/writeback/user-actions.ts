/**
 * Administrators' actions on users, through write-back's read→plan→guard→apply pipeline: create,
 * update, rename, move, disable, enable and delete. A directory user in writable mode is changed
 * in the directory (through the outbox) and in dirbridge in one step; in unsynced mode dirbridge
 * keeps the change and a baseline of the directory's value, so sync does not undo it; otherwise
 * only dirbridge's own records change, and directory-managed fields stay read-only.
 */
import { disableAccount, enableAccount } from '../auth/account-admin.ts';
import { hashPassword } from '../auth/password-hash.ts';
import { isRetryableDirectoryError } from '../directory/index.ts';
import { DirbridgeError } from '../errors.ts';
import { isDescendantOf } from '../ldap/dn.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { PRIMARY_DIRECTORY_ID, type UserPatch, type UserRecord } from '../model/index.ts';
import { isWritableUserField, type Settings, WRITABLE_USER_FIELDS, type WritableUserField } from '../settings/schema.ts';
import type { StoreWriter } from '../store/store.ts';
import { type ActionOptions, checkUserInScope, dnOf, groupNamed, localReason, userNamed, withDirectory, writeModeOf } from './action-context.ts';
import { applyWritePlan, localResult, type PlannedAction, type WriteActionResult, type WriteBackDeps } from './apply-write-plan.ts';
import { resolveEntryShape } from './entry-shape.ts';
import { type GroupTarget, planAddMember } from './plan-group-writes.ts';
import {
  attributeOfField,
  planCreateUser,
  planDeleteUser,
  planMoveUser,
  planRenameUser,
  planSetEnabled,
  planUpdateUser,
  type UserValues,
  type UserWriteContext,
  userFieldPatch,
} from './plan-user-writes.ts';
import { changeMarkerOf, readGroupsListing, readGroupTarget, readUserEntry } from './read-targets.ts';
import { type FieldValue, fieldValues } from './resolve-conflict.ts';
import { plannedDn, type WritePlan } from './write-step.ts';

/** The profile fields an action may set. */
export type UserFields = Partial<Pick<UserValues, 'email' | 'firstName' | 'lastName' | 'displayName'>>;

/** A user to create. */
export interface NewDirectoryUser extends UserFields {
  username: string;
  /** dirbridge groups to add the user to. */
  groups?: readonly string[];
  /** Never stored for a directory user; set in the directory, or hashed for a local account. */
  password?: string;
}

/** An action's result with the user as it stands afterwards (undefined once deleted). */
export type UserActionResult = WriteActionResult & { user?: UserRecord };

function valuesOf(user: UserRecord): UserValues {
  return { username: user.username, email: user.email, firstName: user.firstName, lastName: user.lastName, displayName: user.displayName };
}

function isWritten(settings: Settings, user: Pick<UserRecord, 'source'>): boolean {
  return user.source === 'directory' && writeModeOf(settings) === 'writable';
}

/** Refuses a change to a directory user that write-back does not carry, naming the setting that would. */
function refuseReadOnly(settings: Settings, user: UserRecord, what: string): never {
  throw new DirbridgeError(
    'users.directory_managed',
    `${what} of ${user.username} is managed by the directory and read-only here (${localReason(settings, user)}); set writeBack.enabled and writeBack.mode writable to change it in the directory`,
  );
}

async function reload(deps: WriteBackDeps, id: string): Promise<UserRecord | undefined> {
  return deps.store.users.get(id);
}

/** Creates a user: in the directory (writable mode), else as a local account in dirbridge. */
export async function createUser(deps: WriteBackDeps, input: NewDirectoryUser, options: ActionOptions): Promise<UserActionResult> {
  const settings = deps.settings();
  const isDryRun = options.isDryRun === true;
  const groups = await Promise.all((input.groups ?? []).map((name) => groupNamed(deps.store, name)));
  const values: UserValues = {
    username: input.username,
    email: input.email ?? null,
    firstName: input.firstName ?? '',
    lastName: input.lastName ?? '',
    displayName: input.displayName ?? null,
  };
  if (writeModeOf(settings) !== 'writable') {
    const directoryGroup = groups.find((group) => group.source === 'directory');
    if (directoryGroup !== undefined) {
      throw new DirbridgeError(
        'users.directory_managed',
        `membership in ${directoryGroup.name} is managed by the directory (${localReason(settings, directoryGroup)}); set writeBack.mode writable to add members there`,
      );
    }
    if (isDryRun)
      return localResult(
        'users.create',
        writeModeOf(settings) === 'unsynced' ? 'unsynced' : 'local',
        true,
        'write-back is not writable; a local account would be created',
      );
    const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
    const user = await deps.store.transaction(async (tx) => {
      const [created] = await tx.users.insert([{ ...values, source: 'local', passwordHash }]);
      if (created === undefined) throw new DirbridgeError('store.conflict', `${input.username} was not created`);
      if (groups.length > 0) await tx.groups.addMemberships(groups.map((group) => ({ userId: created.id, groupId: group.id })));
      await tx.audit.append([
        { actor: options.actor, action: 'user.created', userId: created.id, subject: created.username, reason: 'local account (write-back is not writable)' },
      ]);
      return created;
    });
    return { ...localResult('users.create', 'local', false, `${localReason(settings, { source: 'directory' })}; ${user.username} is a local account`), user };
  }
  if ((await deps.store.users.findByUsername(input.username)) !== undefined)
    throw new DirbridgeError('store.conflict', `the username ${input.username} is taken`);
  const hasPassword = input.password !== undefined && input.password !== '';
  const plan = await withDirectory(deps, settings, async (directory, shape) => {
    const created = planCreateUser({ shape, writeBack: settings.writeBack, users: settings.users }, values, { hasPassword });
    const dn = plannedDn(created, '');
    const memberSteps = [];
    for (const group of groups) {
      if (group.source !== 'directory') continue;
      const target = await readGroupTarget(
        directory,
        settings.groups ?? { nameAttribute: 'cn', memberAttribute: ['member'] },
        dnOf(group, `the group ${group.name}`),
        group.name,
      );
      memberSteps.push(...planAddMember({ shape }, { group: target, user: { dn, username: input.username } }).steps);
    }
    // Memberships go before the password: they never wait for it.
    return { ...created, steps: [...created.steps.slice(0, 1), ...memberSteps, ...created.steps.slice(1)], dn, server: shape.server };
  });
  // AD creates the account disabled and enables it only once its password is set: without one, dirbridge's record says so too.
  const isAdWithoutPassword = plan.server === 'active-directory' && !hasPassword;
  const result = await applyWritePlan(deps, {
    action: 'users.create',
    actor: options.actor,
    isDryRun,
    plan,
    objectKind: 'user',
    ...(hasPassword ? { password: input.password } : {}),
    local: async (tx) => {
      const [created] = await tx.users.insert([
        {
          ...values,
          source: 'directory',
          dn: plan.dn,
          externalId: null,
          ...(isAdWithoutPassword ? { isEnabled: false, disabledBy: 'directory' as const, disabledReason: AD_DISABLED_WITHOUT_PASSWORD } : {}),
        },
      ]);
      if (created === undefined) throw new DirbridgeError('store.conflict', `${input.username} was not created`);
      if (groups.length > 0) await tx.groups.addMemberships(groups.map((group) => ({ userId: created.id, groupId: group.id })));
      return created.id;
    },
    audit: {
      action: 'user.created',
      subject: input.username,
      reason: `created in the directory at ${plan.dn}${isAdWithoutPassword ? `; ${AD_DISABLED_WITHOUT_PASSWORD}` : ''}`,
      isUser: true,
    },
  }).catch(async (error: unknown) => {
    // The password was refused (or could not be sent): AD keeps the new account disabled.
    if (plan.server === 'active-directory' && !isDryRun) await recordDisabledWithoutPassword(deps, input.username, options.actor);
    throw error;
  });
  if (plan.server === 'active-directory' && result.steps.some((step) => step.kind === 'setPassword' && step.status !== 'done')) {
    await recordDisabledWithoutPassword(deps, input.username, options.actor);
  }
  const user = isDryRun ? undefined : await deps.store.users.findByUsername(input.username);
  return { ...result, ...(user === undefined ? {} : { user }) };
}

/** Why a user dirbridge created in AD is disabled there (userAccountControl 514). */
const AD_DISABLED_WITHOUT_PASSWORD = 'Active Directory keeps a new account disabled until its password is set';

/**
 * Records in dirbridge that AD keeps a just-created account disabled, as the next sync would read
 * it, so that sync has nothing to change; enabling it (once it has a password) is an administrator's enable.
 */
async function recordDisabledWithoutPassword(deps: WriteBackDeps, username: string, actor: string): Promise<void> {
  const user = await deps.store.users.findByUsername(username);
  if (user === undefined || user.source !== 'directory' || !user.isEnabled) return;
  await deps.store.transaction(async (tx) => {
    await tx.users.update([{ id: user.id, isEnabled: false, disabledBy: 'directory', disabledReason: AD_DISABLED_WITHOUT_PASSWORD }]);
    await tx.audit.append([
      { actor, action: 'user.disabled', userId: user.id, subject: user.username, reason: `${AD_DISABLED_WITHOUT_PASSWORD}; its password was not set` },
    ]);
  });
}

/** The store patch of changed fields, with the directory's value where it won a conflict. */
function patchOf(changes: UserFields, kept: ReadonlyArray<{ field: string; value: string | null }>): UserPatch {
  let patch: UserPatch = { ...changes };
  for (const { field, value } of kept) if (isWritableUserField(field)) patch = { ...patch, ...userFieldPatch(field, value) };
  return patch;
}

function changedFields(user: UserRecord, changes: UserFields): WritableUserField[] {
  return WRITABLE_USER_FIELDS.filter((field) => changes[field] !== undefined && (changes[field] ?? '') !== (user[field] ?? ''));
}

/** Changes profile fields: in the directory (writable), kept locally with baselines (unsynced), or local records only. */
export async function updateUser(deps: WriteBackDeps, username: string, changes: UserFields, options: ActionOptions): Promise<UserActionResult> {
  const settings = deps.settings();
  const isDryRun = options.isDryRun === true;
  const user = await userNamed(deps.store, username);
  const fields = changedFields(user, changes);
  const mode = writeModeOf(settings);
  if (user.source === 'directory' && mode === 'local') refuseReadOnly(settings, user, fields.join(', ') || 'the profile');
  if (user.source === 'directory') await checkUserInScope(deps.store, settings, user);
  if (!isWritten(settings, user)) {
    const isUnsynced = user.source === 'directory' && mode === 'unsynced';
    if (isDryRun) return localResult('users.update', isUnsynced ? 'unsynced' : 'local', true, `would change ${fields.join(', ') || 'nothing'}`);
    await deps.store.transaction(async (tx) => {
      await tx.users.update([{ id: user.id, ...changes }]);
      if (isUnsynced) await keepBaselines(tx, user, fields);
      await tx.audit.append([
        {
          actor: options.actor,
          action: 'user.updated',
          userId: user.id,
          subject: user.username,
          reason: `changed ${fields.join(', ') || 'nothing'}${isUnsynced ? ' (unsynced: kept in dirbridge, not written to the directory)' : ''}`,
        },
      ]);
    });
    return {
      ...localResult(
        'users.update',
        isUnsynced ? 'unsynced' : 'local',
        false,
        isUnsynced ? 'writeBack.mode is unsynced: the change is kept here and sync leaves it alone' : localReason(settings, user),
      ),
      ...withUser(await reload(deps, user.id)),
    };
  }
  const dn = dnOf(user, user.username);
  const baselines = await deps.store.writeBack.readBaselines(PRIMARY_DIRECTORY_ID, [{ objectKind: 'user', objectId: user.id }]);
  const baseline: Partial<Record<WritableUserField, FieldValue>> = {};
  for (const record of baselines) if (isWritableUserField(record.field)) baseline[record.field] = record.values[0] ?? null;
  const after = { ...valuesOf(user), ...changes } as UserValues;
  const { plan, entry } = await withDirectory(deps, settings, async (directory, shape) => {
    const read = await readUserEntry(directory, settings.users, dn);
    return {
      plan: planUpdateUser({ shape, writeBack: settings.writeBack, users: settings.users }, { entry: read, before: valuesOf(user), after, baseline }),
      entry: read,
    };
  }).catch((error: unknown) => {
    // The directory cannot be reached: plan from what dirbridge last saw of the entry. Each `set`
    // still asserts those values at delivery, so a change made there meanwhile is a conflict, not overwritten.
    if (!isRetryableDirectoryError(error)) throw error;
    const read = lastSeenEntry(settings, user, dn);
    return {
      plan: planUpdateUser(
        { shape: offlineShape(settings), writeBack: settings.writeBack, users: settings.users },
        { entry: read, before: valuesOf(user), after, baseline },
      ),
      entry: read,
    };
  });
  const result = await applyWritePlan(deps, {
    action: 'users.update',
    actor: options.actor,
    isDryRun,
    plan,
    objectKind: 'user',
    objectId: user.id,
    local: async (tx) => {
      await tx.users.update([{ id: user.id, ...patchOf(changes, plan.keptDirectoryValues) }]);
    },
    // What the directory held before this change: the deliverer drops each once its write lands.
    baselines: (id) =>
      fields
        .filter((field) => !plan.keptDirectoryValues.some((kept) => kept.field === field))
        .map((field) => ({
          objectKind: 'user' as const,
          objectId: id,
          field,
          values: entry.attributes[attributeOfField(settings.users, field).toLowerCase()]?.map(String) ?? [],
          changeMarker: changeMarkerOf(entry),
        })),
    audit: { action: 'user.updated', subject: user.username, reason: `changed ${fields.join(', ') || 'nothing'}`, isUser: true },
  });
  return { ...result, ...withUser(await reload(deps, user.id)) };
}

/** The entry as dirbridge last saw it: its mapped fields from the store (first values only). */
function lastSeenEntry(settings: Settings, user: UserRecord, dn: string): DirectoryEntry {
  const attributes: DirectoryEntry['attributes'] = {};
  for (const field of WRITABLE_USER_FIELDS) {
    const value = user[field];
    if (value !== null && value !== '') attributes[attributeOfField(settings.users, field).toLowerCase()] = [value];
  }
  return { dn, attributes };
}

/** The entry shape without the RootDSE (only the naming matters to an update plan). */
function offlineShape(settings: Settings) {
  return resolveEntryShape(settings.writeBack, 'unknown');
}

function withUser(user: UserRecord | undefined): { user?: UserRecord } {
  return user === undefined ? {} : { user };
}

/** Unsynced mode: the directory's value (dirbridge's value before the first local change) is the baseline sync compares with. */
async function keepBaselines(tx: StoreWriter, user: UserRecord, fields: readonly WritableUserField[]): Promise<void> {
  if (fields.length === 0) return;
  const existing = new Set((await tx.writeBack.readBaselines(PRIMARY_DIRECTORY_ID, [{ objectKind: 'user', objectId: user.id }])).map((record) => record.field));
  const fresh = fields.filter((field) => !existing.has(field));
  if (fresh.length === 0) return;
  await tx.writeBack.upsertBaselines(
    PRIMARY_DIRECTORY_ID,
    fresh.map((field) => {
      const value = user[field];
      return { objectKind: 'user' as const, objectId: user.id, field, values: fieldValues(value), changeMarker: null };
    }),
  );
}

/** The groups a user's rename or move must follow: AD keeps linked values itself; memberUid groups follow a rename only. */
async function groupsToFollow(directory: Parameters<typeof readGroupsListing>[0], settings: Settings, user: { dn: string; username: string }) {
  if (settings.groups === undefined || !settings.groups.enabled) return [];
  return readGroupsListing(directory, settings.groups, user);
}

/** What a user action reads before planning: the entry, and the groups that list it when asked. */
interface UserRead {
  entry: DirectoryEntry;
  groups: GroupTarget[];
}

/**
 * The common path of a directory user's action in writable mode: read the entry (and the groups
 * that list it, for renames, moves and deletes), plan, then guard and apply it on the user's record.
 */
async function writeUser(
  deps: WriteBackDeps,
  user: UserRecord,
  input: {
    action: string;
    options: ActionOptions;
    readGroups: boolean;
    plan: (context: UserWriteContext, read: UserRead) => WritePlan;
    local: (tx: StoreWriter, plan: WritePlan) => Promise<void>;
    audit: PlannedAction['audit'];
  },
): Promise<UserActionResult> {
  const settings = deps.settings();
  const dn = dnOf(user, user.username);
  const plan = await withDirectory(deps, settings, async (directory, shape) => {
    const entry = await readUserEntry(directory, settings.users, dn);
    const groups = input.readGroups ? await groupsToFollow(directory, settings, { dn, username: user.username }) : [];
    return input.plan({ shape, writeBack: settings.writeBack, users: settings.users }, { entry, groups });
  });
  const result = await applyWritePlan(deps, {
    action: input.action,
    actor: input.options.actor,
    isDryRun: input.options.isDryRun === true,
    plan,
    objectKind: 'user',
    objectId: user.id,
    local: (tx) => input.local(tx, plan),
    audit: input.audit,
  });
  return { ...result, ...withUser(await reload(deps, user.id)) };
}

/** Renames a user: a modify DN and the username attributes in the directory (writable), or a local account's username. */
export async function renameUser(deps: WriteBackDeps, username: string, newUsername: string, options: ActionOptions): Promise<UserActionResult> {
  const settings = deps.settings();
  const isDryRun = options.isDryRun === true;
  const user = await userNamed(deps.store, username);
  const holder = await deps.store.users.findByUsername(newUsername);
  if (holder !== undefined && holder.id !== user.id) throw new DirbridgeError('store.conflict', `the username ${newUsername} is taken`);
  if (user.source !== 'directory') {
    if (isDryRun) return localResult('users.rename', 'local', true, `would rename ${user.username} to ${newUsername}`);
    await deps.store.transaction(async (tx) => {
      await tx.users.update([{ id: user.id, username: newUsername }]);
      await tx.audit.append([{ actor: options.actor, action: 'user.renamed', userId: user.id, subject: newUsername, reason: `renamed from ${user.username}` }]);
    });
    return { ...localResult('users.rename', 'local', false, localReason(settings, user)), ...withUser(await reload(deps, user.id)) };
  }
  if (!isWritten(settings, user)) refuseReadOnly(settings, user, 'the username');
  await checkUserInScope(deps.store, settings, user);
  return writeUser(deps, user, {
    action: 'users.rename',
    options,
    readGroups: true,
    plan: (context, { entry, groups }) => planRenameUser(context, { entry, username: user.username, newUsername, groups }),
    local: (tx, plan) => tx.users.update([{ id: user.id, username: newUsername, dn: plannedDn(plan, user.dn ?? '') }]),
    audit: { action: 'user.renamed', subject: newUsername, reason: `renamed from ${user.username}`, isUser: true },
  });
}

/** Moves a directory user's entry under another parent (writable mode only). */
export async function moveUser(deps: WriteBackDeps, username: string, newParent: string, options: ActionOptions): Promise<UserActionResult> {
  const settings = deps.settings();
  const user = await userNamed(deps.store, username);
  if (!isWritten(settings, user)) refuseReadOnly(settings, user, "the entry's place");
  await checkUserInScope(deps.store, settings, user);
  if (!isDescendantOf(newParent, settings.users.baseDn, { includeSelf: true })) {
    throw new DirbridgeError(
      'writeback.invalid',
      `${newParent} is outside users.baseDn (${settings.users.baseDn}): the next sync would not find the user there`,
    );
  }
  return writeUser(deps, user, {
    action: 'users.move',
    options,
    readGroups: true,
    plan: (context, { entry, groups }) => planMoveUser(context, { entry, username: user.username, newParent, groups }),
    local: (tx, plan) => tx.users.update([{ id: user.id, dn: plannedDn(plan, user.dn ?? '') }]),
    audit: { action: 'user.moved', subject: user.username, reason: `moved to ${newParent}`, isUser: true },
  });
}

/**
 * Disables or enables a user. dirbridge's account changes in every mode (a disable ends its
 * sessions, and sync never undoes an administrator's disable); in writable mode the directory
 * account follows, the way its server marks it.
 */
export async function setUserEnabled(
  deps: WriteBackDeps,
  username: string,
  enabled: boolean,
  options: ActionOptions & { reason?: string },
): Promise<UserActionResult> {
  const settings = deps.settings();
  const isDryRun = options.isDryRun === true;
  const user = await userNamed(deps.store, username);
  const action = enabled ? 'users.enable' : 'users.disable';
  const reason = options.reason ?? (enabled ? 'enabled by an administrator' : 'disabled by an administrator');
  const local = async (tx: StoreWriter) => {
    if (enabled) await enableAccount(tx, user, { actor: options.actor, reason });
    else await disableAccount(tx, user, { actor: options.actor, reason, at: deps.now().toISOString() });
  };
  const isInScope =
    isWritten(settings, user) &&
    (await checkUserInScope(deps.store, settings, user).then(
      () => true,
      () => false,
    ));
  if (!isInScope) {
    if (!isDryRun) await deps.store.transaction(local);
    return {
      ...localResult(
        action,
        writeModeOf(settings) === 'unsynced' && user.source === 'directory' ? 'unsynced' : 'local',
        isDryRun,
        user.source === 'directory' && isWritten(settings, user) ? `${user.username} is outside writeBack.scopeGroups` : localReason(settings, user),
      ),
      ...withUser(await reload(deps, user.id)),
    };
  }
  return writeUser(deps, user, {
    action,
    options,
    readGroups: false,
    plan: (context, { entry }) => planSetEnabled(context, { entry, username: user.username, enabled, reason }),
    local,
    audit: { action: enabled ? 'writeback.user_enabled' : 'writeback.user_disabled', subject: user.username, reason, isUser: true },
  });
}

/**
 * Deletes a user. A local account is deleted. A directory user in writable mode follows
 * `writeBack.deletion.users`: `delete` deletes the entry and dirbridge's account; `disable` and
 * `keep` keep dirbridge's account, disabled by an administrator (deleting it would only let the
 * next sync import the entry again), and `disable` disables the entry too.
 */
export async function deleteUser(deps: WriteBackDeps, username: string, options: ActionOptions): Promise<UserActionResult> {
  const settings = deps.settings();
  const isDryRun = options.isDryRun === true;
  const user = await userNamed(deps.store, username);
  if (user.source !== 'directory') {
    if (isDryRun) return localResult('users.delete', 'local', true, `would delete the local account ${user.username}`);
    await deps.store.transaction(async (tx) => {
      await tx.users.delete([user.id]);
      await tx.audit.append([{ actor: options.actor, action: 'user.deleted', subject: user.username, reason: 'local account deleted by an administrator' }]);
    });
    return localResult('users.delete', 'local', false, localReason(settings, user));
  }
  if (!isWritten(settings, user)) refuseReadOnly(settings, user, 'the account');
  await checkUserInScope(deps.store, settings, user);
  const policy = settings.writeBack.deletion.users;
  const reason = `deleted in dirbridge; writeBack.deletion.users is ${policy}`;
  return writeUser(deps, user, {
    action: 'users.delete',
    options,
    readGroups: policy === 'delete',
    plan: (context, { entry, groups }) => planDeleteUser(context, { entry, username: user.username, groups }),
    local: async (tx) => {
      if (policy === 'delete') await tx.users.delete([user.id]);
      else await disableAccount(tx, user, { actor: options.actor, reason, at: deps.now().toISOString() });
    },
    audit: { action: policy === 'delete' ? 'user.deleted' : 'writeback.user_deleted', subject: user.username, reason, isUser: policy !== 'delete' },
  });
}
