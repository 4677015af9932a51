/**
 * Plans the directory writes for groups: create, rename, delete, and adding or removing one
 * member. A membership change adds or deletes exactly one value, so the group's other members are
 * never rewritten. A group whose schema requires a member keeps `writeBack.entry.placeholderMember`
 * while it has no other (never deleted for being empty, unlike Defguard #1697). Pure.
 */
import { childDn, dnEquals, parseDn } from '../ldap/dn.ts';
import type { GroupSettings, WriteBackSettings } from '../settings/schema.ts';
import { type AttributeChange, type DirectoryChange, dnAfter } from './directory-change.ts';
import { AD_ACCOUNT_NAME_FORBIDDEN, type EntryShape } from './entry-shape.ts';
import { emptyWritePlan, type WritePlan, WritePlanError } from './write-step.ts';

/** What a group write needs besides the group. */
export interface GroupWriteContext {
  shape: EntryShape;
  writeBack: WriteBackSettings;
  groups: Pick<GroupSettings, 'nameAttribute'>;
}

/** A membership write needs only the entry shape (the member attribute, the placeholder). */
export type MemberContext = Pick<GroupWriteContext, 'shape'>;

/** A group as read just before the write: which attribute lists its members and what it holds now. */
export interface GroupTarget {
  dn: string;
  name: string;
  memberAttribute: 'member' | 'uniqueMember' | 'memberUid';
  /** The group's current values of `memberAttribute`. */
  memberValues: readonly string[];
}

/** The value a group lists a user by: its DN, or its username for `memberUid`. */
export function memberValueOf(target: Pick<GroupTarget, 'memberAttribute'>, user: { dn: string; username: string }): string {
  return target.memberAttribute === 'memberUid' ? user.username : user.dn;
}

function isPlaceholder(context: MemberContext, target: GroupTarget, value: string): boolean {
  return target.memberAttribute !== 'memberUid' && safeDnEquals(value, context.shape.placeholderMember);
}

function safeDnEquals(a: string, b: string): boolean {
  try {
    return dnEquals(a, b);
  } catch {
    return false;
  }
}

function holds(target: GroupTarget, value: string): boolean {
  return target.memberValues.some((existing) =>
    target.memberAttribute === 'memberUid' ? existing.toLowerCase() === value.toLowerCase() : safeDnEquals(existing, value),
  );
}

/** True when the group's schema needs a member value (OpenLDAP's groupOfNames, groupOfUniqueNames). */
function needsMember(context: MemberContext, target: GroupTarget): boolean {
  return context.shape.groupNeedsMember && target.memberAttribute !== 'memberUid';
}

/**
 * Refuses on AD a group name its `sAMAccountName` cannot hold: dirbridge keeps that name with the
 * group's, and AD would refuse the write only at delivery, after dirbridge had changed.
 */
function checkAccountName(shape: EntryShape, name: string): void {
  if (shape.server !== 'active-directory') return;
  if (AD_ACCOUNT_NAME_FORBIDDEN.test(name) || name.endsWith('.')) {
    throw new WritePlanError(
      'writeback.invalid_group_name',
      `the group name ${JSON.stringify(name)} holds a character Active Directory's sAMAccountName refuses (" / \\ [ ] : ; | = , + * ? < > @, or a final dot), and dirbridge keeps the group's sAMAccountName with its name`,
    );
  }
}

/** A new group under `writeBack.groupsDn`, with its first members, or the placeholder where the schema needs one. */
export function planCreateGroup(context: GroupWriteContext, input: { name: string; members: ReadonlyArray<{ dn: string; username: string }> }): WritePlan {
  const { shape, writeBack } = context;
  if (writeBack.groupsDn === undefined)
    throw new WritePlanError('writeback.no_groups_dn', 'writeBack.groupsDn is not set: there is nowhere to create the group');
  if (input.name.trim() === '' || input.name !== input.name.trim()) {
    throw new WritePlanError('writeback.invalid_group_name', `the group name ${JSON.stringify(input.name)} is empty or has leading or trailing spaces`);
  }
  checkAccountName(shape, input.name);
  const nameAttribute = context.groups.nameAttribute;
  const dn = childDn(writeBack.groupsDn, nameAttribute, input.name);
  const target = { memberAttribute: shape.groupMemberAttribute } as const;
  const members = [...new Set(input.members.map((user) => memberValueOf(target, user)))];
  const attributes: Record<string, string[]> = { objectClass: [...shape.groupObjectClasses], [nameAttribute]: [input.name] };
  if (shape.server === 'active-directory') attributes['sAMAccountName'] = [input.name];
  if (members.length > 0) attributes[shape.groupMemberAttribute] = members;
  else if (shape.groupNeedsMember && shape.groupMemberAttribute !== 'memberUid') attributes[shape.groupMemberAttribute] = [shape.placeholderMember];
  const plan = emptyWritePlan();
  plan.steps.push({
    kind: 'createGroup',
    subject: input.name,
    reason: `created by an administrator in ${writeBack.groupsDn}`,
    change: { kind: 'add', dn, attributes },
  });
  return plan;
}

/**
 * A new name: a modify DN (the RDN holds the name). On AD, `sAMAccountName` follows when it held
 * the old name (as dirbridge creates groups): left behind, it would keep the old name taken in
 * the domain. One an administrator set apart from the name is left as it is.
 */
export function planRenameGroup(
  context: GroupWriteContext,
  input: { dn: string; name: string; newName: string /** AD: the group's `sAMAccountName` values as read. */; accountName?: readonly string[] },
): WritePlan {
  const plan = emptyWritePlan();
  if (input.name === input.newName) return plan;
  const rdn = parseDn(input.dn)[0]?.[0];
  if (rdn === undefined) throw new WritePlanError('writeback.invalid_dn', `the group's DN ${JSON.stringify(input.dn)} has no RDN`);
  if (rdn.type.toLowerCase() !== context.groups.nameAttribute.toLowerCase()) {
    throw new WritePlanError(
      'writeback.rdn_mismatch',
      `the group ${input.dn} is named by ${rdn.type}, not by groups.nameAttribute (${context.groups.nameAttribute}); rename it in the directory`,
    );
  }
  const accountName = input.accountName ?? [];
  const followsName = context.shape.server === 'active-directory' && accountName.length === 1 && accountName[0]?.toLowerCase() === input.name.toLowerCase();
  if (followsName) checkAccountName(context.shape, input.newName);
  const change: DirectoryChange = { kind: 'modifyDn', dn: input.dn, newRdn: childDn('', rdn.type, input.newName) };
  plan.steps.push({ kind: 'renameGroup', subject: input.name, reason: `renamed by an administrator to ${input.newName}`, change });
  if (followsName) {
    plan.steps.push({
      kind: 'renameGroup',
      subject: input.name,
      reason: `sAMAccountName follows the new name ${input.newName}`,
      change: {
        kind: 'modify',
        dn: dnAfter(change) ?? input.dn,
        changes: [{ kind: 'set', attribute: 'sAMAccountName', from: [...accountName], to: [input.newName] }],
      },
    });
  }
  return plan;
}

/** A group deleted in dirbridge, under `writeBack.deletion.groups`. */
export function planDeleteGroup(context: GroupWriteContext, input: { dn: string; name: string }): WritePlan {
  const plan = emptyWritePlan();
  if (context.writeBack.deletion.groups === 'delete') {
    plan.steps.push({
      kind: 'deleteGroup',
      subject: input.name,
      reason: 'deleted in dirbridge; writeBack.deletion.groups is delete',
      change: { kind: 'delete', dn: input.dn },
    });
  }
  return plan;
}

/** One member added: one value, and the placeholder taken out in the same modify. */
export function planAddMember(context: MemberContext, input: { group: GroupTarget; user: { dn: string; username: string } }): WritePlan {
  const { group } = input;
  const value = memberValueOf(group, input.user);
  const plan = emptyWritePlan();
  if (holds(group, value)) return plan;
  const changes: AttributeChange[] = [{ kind: 'addValues', attribute: group.memberAttribute, values: [value] }];
  const placeholders = group.memberValues.filter((existing) => isPlaceholder(context, group, existing));
  if (placeholders.length > 0) changes.push({ kind: 'deleteValues', attribute: group.memberAttribute, values: placeholders });
  plan.steps.push({
    kind: 'addMember',
    subject: group.name,
    reason: `${input.user.username} added by an administrator`,
    change: { kind: 'modify', dn: group.dn, changes },
  });
  return plan;
}

/** One member removed: one value; the placeholder goes in first when it was the last member and the schema needs one. */
export function planRemoveMember(context: MemberContext, input: { group: GroupTarget; user: { dn: string; username: string }; reason?: string }): WritePlan {
  const { group } = input;
  const value = memberValueOf(group, input.user);
  const plan = emptyWritePlan();
  const matching = group.memberValues.filter((existing) => holds({ ...group, memberValues: [existing] }, value));
  if (matching.length === 0) return plan;
  const remaining = group.memberValues.length - matching.length;
  const changes: AttributeChange[] = [];
  if (remaining === 0 && needsMember(context, group))
    changes.push({ kind: 'addValues', attribute: group.memberAttribute, values: [context.shape.placeholderMember] });
  changes.push({ kind: 'deleteValues', attribute: group.memberAttribute, values: matching });
  plan.steps.push({
    kind: 'removeMember',
    subject: group.name,
    reason: input.reason ?? `${input.user.username} removed by an administrator`,
    change: { kind: 'modify', dn: group.dn, changes },
  });
  return plan;
}
