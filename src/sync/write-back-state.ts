/**
 * What sync must know of write-back (issue #10) to neither echo nor undo dirbridge's own changes:
 * what open outbox rows are still carrying to the directory (held: the directory's value is
 * stale, not a change) — user fields, group names, memberships, deletions — and, in `unsynced`
 * mode, the baselines of fields an administrator changed locally. Pure:
 * `read-write-back-state.ts` reads the rows and baselines.
 */
import { dnKeyOf } from '../ldap/dn.ts';
import type { BaselineRecord, OutboxRecord } from '../model/index.ts';
import { isWritableUserField, type UserSettings, WRITABLE_USER_FIELDS, type WritableUserField } from '../settings/schema.ts';

/** A user field sync may hold back: a profile field, the username, the DN, or the enabled state. */
export type HeldField = WritableUserField | 'username' | 'dn' | 'enabled';

/** A group field sync may hold back. */
export type HeldGroupField = 'name' | 'dn';

/** The write-back side of the planner's input, by store user and group id. */
export interface WriteBackState {
  /** The fields each user's pending or failed outbox rows change. */
  held: ReadonlyMap<string, ReadonlySet<HeldField>>;
  /** The fields each group's open rows change (a rename: its name and DN). */
  heldGroups: ReadonlyMap<string, ReadonlySet<HeldGroupField>>;
  /**
   * Per group, the members open rows add or remove, as `memberKey`s: sync neither adds nor
   * removes those memberships until the rows are delivered.
   */
  heldMembers: ReadonlyMap<string, ReadonlySet<string>>;
  /** Normalised DNs of entries an open row deletes: sync does not import them again meanwhile. */
  deletedDns: ReadonlySet<string>;
  /**
   * `unsynced` mode only (else empty): the local changes, as each field's baseline, the values
   * of the field's attribute in the directory when the administrator changed it in dirbridge.
   */
  baselines: ReadonlyMap<string, ReadonlyMap<WritableUserField, readonly string[]>>;
}

/** The outbox row fields the holds are read from. */
export type OpenStep = Pick<OutboxRecord, 'objectKind' | 'objectId' | 'stepKind' | 'change'>;

/** The user settings that say which attribute holds which field. */
export type FieldAttributes = Pick<UserSettings, 'usernameAttribute' | 'emailAttribute' | 'firstNameAttribute' | 'lastNameAttribute' | 'displayNameAttribute'>;

/** Lower-cased attribute name → the user fields the read mapping takes from it. */
function fieldsByAttribute(users: FieldAttributes): Map<string, HeldField[]> {
  const byAttribute = new Map<string, HeldField[]>();
  const map = (attribute: string, field: HeldField) => {
    const key = attribute.toLowerCase();
    byAttribute.set(key, [...(byAttribute.get(key) ?? []), field]);
  };
  map(users.emailAttribute, 'email');
  map(users.firstNameAttribute, 'firstName');
  map(users.lastNameAttribute, 'lastName');
  map(users.displayNameAttribute, 'displayName');
  for (const attribute of users.usernameAttribute) map(attribute, 'username');
  return byAttribute;
}

/**
 * The user fields a row changes: the fields read from the attributes a modify touches, the
 * username of a rename, the DN of a modify DN, the enabled state of a disable or enable. Empty
 * for rows about groups, and for creates and deletes (the store has no linked account to hold).
 */
export function fieldsChangedBy(step: OpenStep, users: FieldAttributes, byAttribute = fieldsByAttribute(users)): HeldField[] {
  if (step.objectKind !== 'user') return [];
  const fields = new Set<HeldField>();
  if (step.stepKind === 'renameUser') fields.add('username');
  if (step.stepKind === 'disableUser' || step.stepKind === 'enableUser') fields.add('enabled');
  const { change } = step;
  if (change.kind === 'modifyDn') fields.add('dn');
  if (change.kind === 'modify') {
    for (const attributeChange of change.changes) for (const field of byAttribute.get(attributeChange.attribute.toLowerCase()) ?? []) fields.add(field);
  }
  return [...fields];
}

/** The attributes groups list members by. */
const MEMBER_ATTRIBUTES = new Set(['member', 'uniquemember', 'memberuid']);

/** How a group lists a user, as a key both a member value and a user give: by DN or by username (`memberUid`). */
export function memberKey(by: 'dn' | 'username', value: string): string {
  return by === 'dn' ? `dn:${dnKeyOf(value)}` : `uid:${value.toLowerCase()}`;
}

/** The planner's write-back input from the open rows and (in unsynced mode) the baselines. */
export function writeBackState(rows: readonly OpenStep[], baselines: readonly BaselineRecord[], users: FieldAttributes): WriteBackState {
  const byAttribute = fieldsByAttribute(users);
  const held = new Map<string, Set<HeldField>>();
  const heldGroups = new Map<string, Set<HeldGroupField>>();
  const heldMembers = new Map<string, Set<string>>();
  const deletedDns = new Set<string>();
  const add = <T>(map: Map<string, Set<T>>, id: string, values: Iterable<T>) => {
    let set = map.get(id);
    if (set === undefined) map.set(id, (set = new Set()));
    for (const value of values) set.add(value);
  };
  for (const row of rows) {
    if (row.change.kind === 'delete') deletedDns.add(dnKeyOf(row.change.dn));
    if (row.objectKind === 'group') {
      if (row.change.kind === 'modifyDn') add(heldGroups, row.objectId, ['name', 'dn'] as const);
      if (row.change.kind === 'modify') {
        for (const change of row.change.changes) {
          if (change.kind === 'set' || !MEMBER_ATTRIBUTES.has(change.attribute.toLowerCase())) continue;
          const by = change.attribute.toLowerCase() === 'memberuid' ? 'username' : 'dn';
          add(
            heldMembers,
            row.objectId,
            change.values.map((value) => memberKey(by, value)),
          );
        }
      }
      continue;
    }
    const fields = fieldsChangedBy(row, users, byAttribute);
    if (fields.length > 0) add(held, row.objectId, fields);
  }
  const byUser = new Map<string, Map<WritableUserField, readonly string[]>>();
  for (const baseline of baselines) {
    if (baseline.objectKind !== 'user' || !isWritableUserField(baseline.field)) continue;
    let fields = byUser.get(baseline.objectId);
    if (fields === undefined) byUser.set(baseline.objectId, (fields = new Map()));
    fields.set(baseline.field, baseline.values);
  }
  return { held, heldGroups, heldMembers, deletedDns, baselines: byUser };
}

/** True when the state holds nothing and keeps nothing: the planner's plain path. */
export function isEmptyWriteBackState(state: WriteBackState): boolean {
  return state.held.size === 0 && state.heldGroups.size === 0 && state.heldMembers.size === 0 && state.deletedDns.size === 0 && state.baselines.size === 0;
}

/** The user fields an `updateUser` step may carry that write-back can hold. */
const UPDATABLE_FIELDS = ['username', 'dn', ...WRITABLE_USER_FIELDS] as const;

/**
 * `updateUser` changes as they may still be written at apply time: without the fields that
 * write-back (read again, in the applying transaction) now holds or keeps as a local change the
 * plan did not know of. A change the plan made deliberately for a local change (`settled`: user
 * id → fields the plan settles, e.g. the directory winning a conflict) stays. The step stays
 * too, emptied at most, so the user's sync time is still recorded.
 */
export function withoutHeldChanges<S extends { userId: string; changes: Partial<Record<(typeof UPDATABLE_FIELDS)[number], unknown>> }>(
  steps: readonly S[],
  state: WriteBackState | undefined,
  settled: ReadonlyMap<string, ReadonlySet<string>>,
): S[] {
  if (state === undefined) return [...steps];
  return steps.map((step) => {
    const held = state.held.get(step.userId);
    const baselines = state.baselines.get(step.userId);
    if (held === undefined && baselines === undefined) return step;
    const changes = { ...step.changes };
    for (const field of UPDATABLE_FIELDS) {
      if (!(field in changes)) continue;
      const isLocal = field !== 'username' && field !== 'dn' && baselines?.has(field) === true && settled.get(step.userId)?.has(field) !== true;
      if (held?.has(field) === true || isLocal) delete changes[field];
    }
    return { ...step, changes };
  });
}
