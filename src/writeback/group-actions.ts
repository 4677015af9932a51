/**
 * Administrators' actions on groups, through write-back's pipeline: create, rename, delete, and
 * adding or removing one member. A directory group in writable mode changes in the directory
 * (one member value at a time, never the whole list) and in dirbridge together; a local group
 * changes in dirbridge only. A group is never deleted for being empty.
 */
import { DirbridgeError } from '../errors.ts';
import { allStrings } from '../ldap/entry.ts';
import type { GroupRecord, UserRecord } from '../model/index.ts';
import type { Settings } from '../settings/schema.ts';
import type { StoreWriter } from '../store/store.ts';
import { type ActionOptions, dnOf, groupNamed, localReason, userNamed, withDirectory, writeModeOf } from './action-context.ts';
import { applyWritePlan, localResult, type WriteActionResult, type WriteBackDeps } from './apply-write-plan.ts';
import { planAddMember, planCreateGroup, planDeleteGroup, planRemoveMember, planRenameGroup } from './plan-group-writes.ts';
import { readEntry, readGroupTarget } from './read-targets.ts';
import { emptyWritePlan, plannedDn } from './write-step.ts';

/** An action's result with the group as it stands afterwards (undefined once deleted). */
export type GroupActionResult = WriteActionResult & { group?: GroupRecord };

function groupSettings(settings: Settings): NonNullable<Settings['groups']> {
  if (settings.groups === undefined)
    throw new DirbridgeError('writeback.not_supported', 'groups are not configured (groups.baseDn): dirbridge does not know where the directory keeps groups');
  return settings.groups;
}

function isWritten(settings: Settings, group: Pick<GroupRecord, 'source'>): boolean {
  return group.source === 'directory' && writeModeOf(settings) === 'writable';
}

function refuseReadOnly(settings: Settings, group: GroupRecord, what: string): never {
  throw new DirbridgeError(
    'users.directory_managed',
    `${what} of the group ${group.name} is managed by the directory and read-only here (${localReason(settings, group)}); set writeBack.enabled and writeBack.mode writable to change it in the directory`,
  );
}

async function withGroup(deps: WriteBackDeps, id: string): Promise<{ group?: GroupRecord }> {
  const group = await deps.store.groups.get(id);
  return group === undefined ? {} : { group };
}

/** Creates a group: in the directory (writable mode), else a local group. */
export async function createGroup(deps: WriteBackDeps, name: string, options: ActionOptions): Promise<GroupActionResult> {
  const settings = deps.settings();
  const isDryRun = options.isDryRun === true;
  const taken = (await deps.store.groups.list({ search: name, limit: 100, offset: 0 })).groups.some((group) => group.name.toLowerCase() === name.toLowerCase());
  if (taken) throw new DirbridgeError('store.conflict', `a group named ${name} exists`);
  if (writeModeOf(settings) !== 'writable') {
    if (isDryRun) return localResult('groups.create', 'local', true, 'write-back is not writable; a local group would be created');
    const group = await deps.store.transaction(async (tx) => {
      const [created] = await tx.groups.insert([{ name, source: 'local' }]);
      if (created === undefined) throw new DirbridgeError('store.conflict', `${name} was not created`);
      await tx.audit.append([{ actor: options.actor, action: 'group.created', subject: name, reason: 'local group (write-back is not writable)' }]);
      return created;
    });
    return { ...localResult('groups.create', 'local', false, `${localReason(settings, { source: 'directory' })}; ${name} is a local group`), group };
  }
  const groups = groupSettings(settings);
  const plan = await withDirectory(deps, settings, async (_directory, shape) =>
    planCreateGroup({ shape, writeBack: settings.writeBack, groups }, { name, members: [] }),
  );
  const dn = plannedDn(plan, '');
  const result = await applyWritePlan(deps, {
    action: 'groups.create',
    actor: options.actor,
    isDryRun,
    plan,
    objectKind: 'group',
    local: async (tx) => {
      const [created] = await tx.groups.insert([{ name, source: 'directory', dn, externalId: null }]);
      if (created === undefined) throw new DirbridgeError('store.conflict', `${name} was not created`);
      return created.id;
    },
    audit: { action: 'group.created', subject: name, reason: `created in the directory at ${dn}`, isUser: false },
  });
  const created = isDryRun
    ? undefined
    : (await deps.store.groups.list({ search: name, limit: 100, offset: 0 })).groups.find((group) => group.name.toLowerCase() === name.toLowerCase());
  return { ...result, ...(created === undefined ? {} : { group: created }) };
}

/** Renames a group: a modify DN in the directory (writable), or a local group's name. */
export async function renameGroup(deps: WriteBackDeps, name: string, newName: string, options: ActionOptions): Promise<GroupActionResult> {
  const settings = deps.settings();
  const isDryRun = options.isDryRun === true;
  const group = await groupNamed(deps.store, name);
  if (group.source !== 'directory') {
    if (isDryRun) return localResult('groups.rename', 'local', true, `would rename ${group.name} to ${newName}`);
    await deps.store.transaction(async (tx) => {
      await tx.groups.update([{ id: group.id, name: newName }]);
      await tx.audit.append([{ actor: options.actor, action: 'group.renamed', subject: newName, reason: `renamed from ${group.name}` }]);
    });
    return { ...localResult('groups.rename', 'local', false, localReason(settings, group)), ...(await withGroup(deps, group.id)) };
  }
  if (!isWritten(settings, group)) refuseReadOnly(settings, group, 'the name');
  const groups = groupSettings(settings);
  const dn = dnOf(group, `the group ${group.name}`);
  const plan = await withDirectory(deps, settings, async (directory, shape) => {
    // AD: the plan moves sAMAccountName with the name when it held the old one.
    const accountName =
      shape.server === 'active-directory' ? allStrings((await readEntry(directory, dn, ['sAMAccountName'])) ?? { dn, attributes: {} }, 'sAMAccountName') : [];
    return planRenameGroup({ shape, writeBack: settings.writeBack, groups }, { dn, name: group.name, newName, accountName });
  });
  const newDn = plannedDn(plan, dn);
  const result = await applyWritePlan(deps, {
    action: 'groups.rename',
    actor: options.actor,
    isDryRun,
    plan,
    objectKind: 'group',
    objectId: group.id,
    local: async (tx) => {
      await tx.groups.update([{ id: group.id, name: newName, dn: newDn }]);
    },
    audit: { action: 'group.renamed', subject: newName, reason: `renamed from ${group.name}`, isUser: false },
  });
  return { ...result, ...(await withGroup(deps, group.id)) };
}

/**
 * Deletes a group in dirbridge. A directory group in writable mode follows
 * `writeBack.deletion.groups`: `delete` deletes the entry, `keep` leaves it (and the next sync
 * imports it again while groups are synced).
 */
export async function deleteGroup(deps: WriteBackDeps, name: string, options: ActionOptions): Promise<GroupActionResult> {
  const settings = deps.settings();
  const isDryRun = options.isDryRun === true;
  const group = await groupNamed(deps.store, name);
  const local = async (tx: StoreWriter) => {
    await tx.groups.delete([group.id]);
    await tx.audit.append([
      {
        actor: options.actor,
        action: 'group.deleted',
        subject: group.name,
        reason: group.source === 'directory' ? `writeBack.deletion.groups is ${settings.writeBack.deletion.groups}` : 'local group',
      },
    ]);
  };
  if (group.source !== 'directory') {
    if (!isDryRun) await deps.store.transaction(local);
    return localResult('groups.delete', 'local', isDryRun, localReason(settings, group));
  }
  if (!isWritten(settings, group)) refuseReadOnly(settings, group, 'the group');
  const groups = groupSettings(settings);
  const dn = dnOf(group, `the group ${group.name}`);
  const plan = await withDirectory(deps, settings, async (_directory, shape) =>
    planDeleteGroup({ shape, writeBack: settings.writeBack, groups }, { dn, name: group.name }),
  );
  return applyWritePlan(deps, {
    action: 'groups.delete',
    actor: options.actor,
    isDryRun,
    plan,
    objectKind: 'group',
    objectId: group.id,
    local,
    audit: {
      action: 'writeback.group_deleted',
      subject: group.name,
      reason: `writeBack.deletion.groups is ${settings.writeBack.deletion.groups}`,
      isUser: false,
    },
  });
}

/** Adds or removes one member: one value in the directory group (writable), or a local membership. */
export async function setGroupMember(
  deps: WriteBackDeps,
  groupName: string,
  username: string,
  isMember: boolean,
  options: ActionOptions,
): Promise<GroupActionResult & { user?: UserRecord }> {
  const settings = deps.settings();
  const isDryRun = options.isDryRun === true;
  const group = await groupNamed(deps.store, groupName);
  const user = await userNamed(deps.store, username);
  const action = isMember ? 'groups.add-member' : 'groups.remove-member';
  const auditAction = isMember ? 'membership.added' : 'membership.removed';
  const local = async (tx: StoreWriter) => {
    if (isMember) await tx.groups.addMemberships([{ userId: user.id, groupId: group.id }]);
    else await tx.groups.removeMemberships([{ userId: user.id, groupId: group.id }]);
  };
  if (group.source !== 'directory') {
    if (user.source === 'directory' && writeModeOf(settings) !== 'writable') {
      throw new DirbridgeError(
        'users.directory_managed',
        `the memberships of ${user.username} are managed by the directory and read-only here (${localReason(settings, user)})`,
      );
    }
    if (!isDryRun) {
      await deps.store.transaction(async (tx) => {
        await local(tx);
        await tx.audit.append([{ actor: options.actor, action: auditAction, userId: user.id, subject: group.name, reason: 'local group' }]);
      });
    }
    return { ...localResult(action, 'local', isDryRun, localReason(settings, group)), ...(await withGroup(deps, group.id)) };
  }
  if (!isWritten(settings, group)) refuseReadOnly(settings, group, 'membership');
  if (user.dn === null)
    throw new DirbridgeError(
      'writeback.not_supported',
      `${user.username} has no directory entry: only directory users can be members of the directory group ${group.name}`,
    );
  const groups = groupSettings(settings);
  const dn = dnOf(group, `the group ${group.name}`);
  const member = { dn: user.dn, username: user.username };
  const plan = await withDirectory(deps, settings, async (directory, shape) => {
    const target = await readGroupTarget(directory, groups, dn, group.name);
    return isMember ? planAddMember({ shape }, { group: target, user: member }) : planRemoveMember({ shape }, { group: target, user: member });
  });
  const result = await applyWritePlan(deps, {
    action,
    actor: options.actor,
    isDryRun,
    plan: plan.steps.length === 0 ? emptyWritePlan() : plan,
    objectKind: 'group',
    objectId: group.id,
    local,
    audit: {
      action: auditAction,
      subject: group.name,
      reason: `${user.username} ${isMember ? 'added' : 'removed'} by an administrator`,
      isUser: false,
      userId: user.id,
    },
  });
  return { ...result, ...(await withGroup(deps, group.id)) };
}
