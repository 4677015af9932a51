/**
 * Plans the directory writes for an administrator's action on one user: create, update, rename,
 * move, disable, enable, delete. Each write is the least change (only the changed attributes and
 * values; a modify DN for renames and moves) and carries the values it read, so the write fails
 * instead of overwriting a change made in the directory since. Pure.
 */
import { childDn, parseDn } from '../ldap/dn.ts';
import { allStrings, type DirectoryEntry, firstString } from '../ldap/entry.ts';
import { PERMANENT_LOCK_TIME, UAC_ACCOUNT_DISABLED } from '../mapping/account-status.ts';
import type { UserPatch } from '../model/index.ts';
import type { UserSettings, WritableUserField, WriteBackSettings } from '../settings/schema.ts';
import type { AttributeChange, DirectoryChange } from './directory-change.ts';
import { dnAfter } from './directory-change.ts';
import { AD_ACCOUNT_NAME_FORBIDDEN, type EntryShape } from './entry-shape.ts';
import { type GroupTarget, planRemoveMember } from './plan-group-writes.ts';
import { authorityOf, type FieldValue, resolveField } from './resolve-conflict.ts';
import { type ChangeStep, emptyWritePlan, type WritePlan, WritePlanError, type WriteStepKind } from './write-step.ts';

/** What a user write needs to know besides the user: the entry shape and both mappings' settings. */
export interface UserWriteContext {
  shape: EntryShape;
  writeBack: WriteBackSettings;
  users: UserSettings;
}

/** A user's values as dirbridge holds them; empty names are "no value". */
export interface UserValues {
  username: string;
  email: string | null;
  firstName: string;
  lastName: string;
  displayName: string | null;
}

/** AD's 20-character limit for users' `sAMAccountName`. */
const SAM_MAX_USER = 20;

const USERNAME_INVALID = 'writeback.invalid_username';

/** The directory attribute the read mapping takes `field` from. */
export function attributeOfField(users: UserSettings, field: WritableUserField): string {
  switch (field) {
    case 'email':
      return users.emailAttribute;
    case 'firstName':
      return users.firstNameAttribute;
    case 'lastName':
      return users.lastNameAttribute;
    case 'displayName':
      return users.displayNameAttribute;
  }
}

/** The store patch that gives `field` the value `value`: names are never null in the store (absent is ''), email and display name are. */
export function userFieldPatch(field: WritableUserField, value: FieldValue): UserPatch {
  return field === 'email' || field === 'displayName' ? { [field]: value } : { [field]: value ?? '' };
}

/** The attribute usernames are written to: the first the read mapping looks at. */
export function usernameAttribute(users: UserSettings): string {
  const first = users.usernameAttribute[0];
  if (first === undefined) throw new WritePlanError('writeback.no_username_attribute', 'users.usernameAttribute lists no attribute to write the username to');
  return first;
}

function fieldValue(user: UserValues, field: WritableUserField): FieldValue {
  const value = user[field];
  return value === null || value.trim() === '' ? null : value;
}

function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Refuses a username the server cannot hold, naming the rule. */
function checkUsername(shape: EntryShape, username: string): void {
  if (username.trim() === '' || username !== username.trim()) {
    throw new WritePlanError(USERNAME_INVALID, `the username ${JSON.stringify(username)} is empty or has leading or trailing spaces`);
  }
  if (shape.server !== 'active-directory') return;
  if (username.length > SAM_MAX_USER) {
    throw new WritePlanError(
      USERNAME_INVALID,
      `the username ${JSON.stringify(username)} is longer than ${SAM_MAX_USER} characters, the most Active Directory's sAMAccountName holds`,
    );
  }
  if (AD_ACCOUNT_NAME_FORBIDDEN.test(username) || username.endsWith('.')) {
    throw new WritePlanError(
      USERNAME_INVALID,
      `the username ${JSON.stringify(username)} holds a character Active Directory's sAMAccountName refuses (" / \\ [ ] : ; | = , + * ? < > @, or a final dot)`,
    );
  }
}

/** The written fields, refusing one whose attribute names the entry (it can change only by a rename). */
function writtenFields(context: UserWriteContext): Array<{ field: WritableUserField; attribute: string }> {
  const naming = [context.shape.userRdnAttribute.toLowerCase(), usernameAttribute(context.users).toLowerCase()];
  return context.writeBack.fields.map((field) => {
    const attribute = attributeOfField(context.users, field);
    if (naming.includes(attribute.toLowerCase())) {
      throw new WritePlanError(
        'writeback.field_names_entry',
        `writeBack.fields lists ${field}, read from ${attribute}, which also holds the username or names the entry (writeBack.entry.userRdnAttribute); take ${field} out of writeBack.fields or map it to another attribute`,
      );
    }
    return { field, attribute };
  });
}

/** The attributes of AD's account names for `username`, kept in step with it. */
function accountNames(shape: EntryShape, username: string, currentPrincipal?: string): Record<string, string> {
  if (shape.server !== 'active-directory') return {};
  const suffix = currentPrincipal?.includes('@') ? currentPrincipal.slice(currentPrincipal.lastIndexOf('@') + 1) : shape.userPrincipalSuffix;
  return { sAMAccountName: username, ...(suffix === undefined ? {} : { userPrincipalName: `${username}@${suffix}` }) };
}

function step(kind: WriteStepKind, subject: string, reason: string, change: DirectoryChange): ChangeStep {
  return { kind, subject, reason, change };
}

/** AD's NORMAL_ACCOUNT flag; a new account starts as NORMAL_ACCOUNT | ACCOUNTDISABLE until it has a password. */
const UAC_NORMAL_ACCOUNT = 0x200;

/**
 * The entry for a new user under `writeBack.usersDn`, and, when a password comes with it, the
 * password step (and on AD the enable that a password makes possible: AD refuses an enabled
 * account without one).
 */
export function planCreateUser(context: UserWriteContext, user: UserValues, options: { hasPassword: boolean }): WritePlan {
  const { shape, writeBack } = context;
  if (writeBack.usersDn === undefined) throw new WritePlanError('writeback.no_users_dn', 'writeBack.usersDn is not set: there is nowhere to create the user');
  checkUsername(shape, user.username);
  const dn = childDn(writeBack.usersDn, shape.userRdnAttribute, user.username);
  const attributes: Record<string, string[]> = { objectClass: [...shape.userObjectClasses] };
  const put = (attribute: string, value: string) => {
    const existing = Object.keys(attributes).find((name) => same(name, attribute));
    if (existing === undefined) attributes[attribute] = [value];
  };
  put(shape.userRdnAttribute, user.username);
  put(usernameAttribute(context.users), user.username);
  for (const [attribute, value] of Object.entries(accountNames(shape, user.username))) put(attribute, value);
  for (const { field, attribute } of writtenFields(context)) {
    const value = fieldValue(user, field);
    if (value !== null) put(attribute, value);
  }
  const classes = shape.userObjectClasses.map((name) => name.toLowerCase());
  if (classes.includes('person')) {
    // person requires cn and sn (RFC 4519); fill them from the names when the mapping does not.
    put('cn', fieldValue(user, 'displayName') ?? ([user.firstName, user.lastName].join(' ').trim() || user.username));
    put('sn', fieldValue(user, 'lastName') ?? user.username);
  }
  if (shape.server === 'active-directory') put('userAccountControl', String(UAC_NORMAL_ACCOUNT | UAC_ACCOUNT_DISABLED));
  const plan = emptyWritePlan();
  const adNote = shape.server === 'active-directory' ? (options.hasPassword ? '' : '; disabled in Active Directory until a password is set') : '';
  plan.steps.push(step('createUser', user.username, `created by an administrator in ${writeBack.usersDn}${adNote}`, { kind: 'add', dn, attributes }));
  if (options.hasPassword) {
    plan.steps.push({ kind: 'setPassword', subject: user.username, reason: 'initial password', dn });
    if (shape.server === 'active-directory') {
      const created = String(UAC_NORMAL_ACCOUNT | UAC_ACCOUNT_DISABLED);
      plan.steps.push(
        step('enableUser', user.username, 'enabled once its password is set', {
          kind: 'modify',
          dn,
          changes: [{ kind: 'set', attribute: 'userAccountControl', from: [created], to: [String(UAC_NORMAL_ACCOUNT)] }],
        }),
      );
    }
  }
  return plan;
}

/** Replaces the first value of a possibly multi-valued attribute, keeping the others. */
function setFirst(entry: DirectoryEntry, attribute: string, value: string | null): AttributeChange {
  const from = allStrings(entry, attribute);
  const rest = from.slice(1);
  return { kind: 'set', attribute, from, to: value === null ? rest : [value, ...rest] };
}

/**
 * The changed fields of a user, each decided against the directory's value read now and the
 * baseline (what both sides held when dirbridge last saw the entry; by default `before`).
 */
export function planUpdateUser(
  context: UserWriteContext,
  input: { entry: DirectoryEntry; before: UserValues; after: UserValues; baseline?: Partial<Record<WritableUserField, FieldValue>> },
): WritePlan {
  const { entry, before, after } = input;
  const plan = emptyWritePlan();
  const changes: AttributeChange[] = [];
  const changed: string[] = [];
  for (const { field, attribute } of writtenFields(context)) {
    const desired = fieldValue(after, field);
    if ((fieldValue(before, field) ?? '') === (desired ?? '')) continue;
    const current = firstString(entry, attribute) ?? null;
    const baseline = input.baseline && field in input.baseline ? (input.baseline[field] ?? null) : fieldValue(before, field);
    const { decision, conflict } = resolveField(field, { baseline, current, desired }, authorityOf(context.writeBack, field));
    if (conflict !== undefined) plan.conflicts.push({ ...conflict, subject: before.username });
    if (decision.action === 'write') {
      changes.push(setFirst(entry, attribute, desired));
      changed.push(`${field} (${attribute})`);
    } else if (decision.action === 'keepDirectory') {
      plan.keptDirectoryValues.push({ subject: before.username, field, value: current });
    }
  }
  if (changes.length > 0) {
    plan.steps.push(step('updateUser', before.username, `changed by an administrator: ${changed.join(', ')}`, { kind: 'modify', dn: entry.dn, changes }));
  }
  return plan;
}

/** The RDN type and value of `dn`. */
function rdnOf(dn: string): { type: string; value: string } {
  const ava = parseDn(dn)[0]?.[0];
  if (ava === undefined) throw new WritePlanError('writeback.invalid_dn', `the entry's DN ${JSON.stringify(dn)} has no RDN`);
  return { type: ava.type, value: ava.value };
}

/** Group values that name the user by DN or by username, moved to the user's new DN or name. */
function followSteps(
  shape: EntryShape,
  subject: string,
  groups: readonly GroupTarget[],
  from: { dn: string; username: string },
  to: { dn: string; username: string },
): ChangeStep[] {
  const steps: ChangeStep[] = [];
  for (const group of groups) {
    const byName = group.memberAttribute === 'memberUid';
    // AD keeps linked member values pointing at the object across renames and moves itself.
    if (!byName && shape.server === 'active-directory') continue;
    const [oldValue, newValue] = byName ? [from.username, to.username] : [from.dn, to.dn];
    if (oldValue === newValue) continue;
    // Two writes, each idempotent: a server with referential integrity may already have moved the value.
    steps.push(
      step('followRename', subject, `${group.name} lists the user by ${group.memberAttribute}`, {
        kind: 'modify',
        dn: group.dn,
        changes: [{ kind: 'addValues', attribute: group.memberAttribute, values: [newValue] }],
      }),
    );
    steps.push(
      step('followRename', subject, `${group.name} no longer lists the old ${byName ? 'username' : 'DN'}`, {
        kind: 'modify',
        dn: group.dn,
        changes: [{ kind: 'deleteValues', attribute: group.memberAttribute, values: [oldValue] }],
      }),
    );
  }
  return steps;
}

/** A new username: a modify DN when the RDN holds the username, the username attribute, AD's account names, and the groups that list the old name or DN. */
export function planRenameUser(
  context: UserWriteContext,
  input: { entry: DirectoryEntry; username: string; newUsername: string; groups: readonly GroupTarget[] },
): WritePlan {
  const { shape } = context;
  const { entry, username, newUsername } = input;
  checkUsername(shape, newUsername);
  const plan = emptyWritePlan();
  if (username === newUsername) return plan;
  const rdn = rdnOf(entry.dn);
  const nameAttribute = usernameAttribute(context.users);
  let dn = entry.dn;
  if (same(rdn.value, username) || same(rdn.type, nameAttribute)) {
    if (!same(rdn.value, username)) {
      throw new WritePlanError(
        'writeback.rdn_mismatch',
        `the entry ${entry.dn} is named by ${rdn.type}=${rdn.value}, not by the username ${username}; rename it in the directory`,
      );
    }
    const change: DirectoryChange = { kind: 'modifyDn', dn: entry.dn, newRdn: childDn('', rdn.type, newUsername) };
    plan.steps.push(step('renameUser', username, `renamed by an administrator to ${newUsername}`, change));
    dn = dnAfter(change) ?? dn;
  }
  const changes: AttributeChange[] = [];
  if (!same(rdn.type, nameAttribute)) changes.push(setFirst(entry, nameAttribute, newUsername));
  const principal = firstString(entry, 'userPrincipalName');
  for (const [attribute, value] of Object.entries(accountNames(shape, newUsername, principal))) {
    if (!same(attribute, nameAttribute)) changes.push({ kind: 'set', attribute, from: allStrings(entry, attribute), to: [value] });
  }
  if (changes.length > 0) {
    plan.steps.push(step('renameUser', username, `username attributes follow the new name ${newUsername}`, { kind: 'modify', dn, changes }));
  }
  plan.steps.push(...followSteps(shape, username, input.groups, { dn: entry.dn, username }, { dn, username: newUsername }));
  return plan;
}

/** The entry moved under `newParent`, keeping its RDN; groups that list it by DN follow. */
export function planMoveUser(
  context: UserWriteContext,
  input: { entry: DirectoryEntry; username: string; newParent: string; groups: readonly GroupTarget[] },
): WritePlan {
  const plan = emptyWritePlan();
  const rdn = rdnOf(input.entry.dn);
  const change: DirectoryChange = { kind: 'modifyDn', dn: input.entry.dn, newRdn: childDn('', rdn.type, rdn.value), newParent: input.newParent };
  const dn = dnAfter(change) ?? input.entry.dn;
  if (dn.toLowerCase() === input.entry.dn.toLowerCase()) return plan;
  plan.steps.push(step('moveUser', input.username, `moved by an administrator to ${input.newParent}`, change));
  plan.steps.push(
    ...followSteps(context.shape, input.username, input.groups, { dn: input.entry.dn, username: input.username }, { dn, username: input.username }),
  );
  return plan;
}

/**
 * Disables or enables the account the way its server does (the same attribute
 * `mapping/account-status.ts` reads): OpenLDAP's permanent ppolicy lock, AD's ACCOUNTDISABLE bit
 * with the other bits kept, 389-DS's nsAccountLock. Enabling never clears a lockout after failed
 * binds: that is the password policy's, not an administrator's.
 */
export function planSetEnabled(context: UserWriteContext, input: { entry: DirectoryEntry; username: string; enabled: boolean; reason: string }): WritePlan {
  const { entry, username, enabled } = input;
  const plan = emptyWritePlan();
  const kind = enabled ? 'enableUser' : 'disableUser';
  const modify = (change: AttributeChange) => plan.steps.push(step(kind, username, input.reason, { kind: 'modify', dn: entry.dn, changes: [change] }));
  switch (context.shape.disableMethod) {
    case 'pwdAccountLockedTime': {
      const current = allStrings(entry, 'pwdAccountLockedTime');
      const isDisabled = current.includes(PERMANENT_LOCK_TIME);
      if (!enabled && !isDisabled) modify({ kind: 'set', attribute: 'pwdAccountLockedTime', from: current, to: [PERMANENT_LOCK_TIME] });
      if (enabled && isDisabled) modify({ kind: 'deleteValues', attribute: 'pwdAccountLockedTime', values: [PERMANENT_LOCK_TIME] });
      break;
    }
    case 'userAccountControl': {
      const text = firstString(entry, 'userAccountControl');
      if (text === undefined || !/^-?\d+$/.test(text)) {
        throw new WritePlanError(
          'writeback.unreadable_account_control',
          `the entry ${entry.dn} shows no userAccountControl: the bind account needs read access to it`,
        );
      }
      const flags = Number.parseInt(text, 10);
      const next = enabled ? flags & ~UAC_ACCOUNT_DISABLED : flags | UAC_ACCOUNT_DISABLED;
      if (next !== flags) modify({ kind: 'set', attribute: 'userAccountControl', from: [text], to: [String(next)] });
      break;
    }
    case 'nsAccountLock': {
      const current = allStrings(entry, 'nsAccountLock');
      const isDisabled = current.some((value) => value.toLowerCase() === 'true');
      if (!enabled && !isDisabled) modify({ kind: 'set', attribute: 'nsAccountLock', from: current, to: ['TRUE'] });
      if (enabled && isDisabled) modify({ kind: 'set', attribute: 'nsAccountLock', from: current, to: [] });
      break;
    }
  }
  return plan;
}

/**
 * A user deleted in dirbridge, under `writeBack.deletion.users`: `disable` disables the entry,
 * `delete` deletes it (and takes its name out of groups that list it by username, which no
 * server does itself), `keep` leaves the directory alone.
 */
export function planDeleteUser(context: UserWriteContext, input: { entry: DirectoryEntry; username: string; groups: readonly GroupTarget[] }): WritePlan {
  switch (context.writeBack.deletion.users) {
    case 'keep':
      return emptyWritePlan();
    case 'disable':
      return planSetEnabled(context, {
        entry: input.entry,
        username: input.username,
        enabled: false,
        reason: 'deleted in dirbridge; writeBack.deletion.users is disable',
      });
    case 'delete': {
      const plan = emptyWritePlan();
      const user = { dn: input.entry.dn, username: input.username };
      for (const group of input.groups) {
        // AD removes linked member values of a deleted object itself.
        if (group.memberAttribute !== 'memberUid' && context.shape.server === 'active-directory') continue;
        plan.steps.push(...planRemoveMember(context, { group, user, reason: `${input.username} is deleted` }).steps);
      }
      plan.steps.push(step('deleteUser', input.username, 'deleted in dirbridge; writeBack.deletion.users is delete', { kind: 'delete', dn: input.entry.dn }));
      return plan;
    }
  }
}
