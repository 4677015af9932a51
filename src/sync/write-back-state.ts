/**
 * What sync must know of write-back (issue #10) to neither echo nor undo dirbridge's own changes:
 * the user fields that open outbox rows are still carrying to the directory (held: the
 * directory's value is stale, not a change), and, in `unsynced` mode, the baselines of fields an
 * administrator changed locally. Pure: `read-write-back-state.ts` reads the rows and baselines.
 */
import type { BaselineRecord, OutboxRecord } from '../model/index.ts';
import { WRITABLE_USER_FIELDS, type UserSettings, type WritableUserField } from '../settings/schema.ts';

/** A user field sync may hold back: a profile field, the username, the DN, or the enabled state. */
export type HeldField = WritableUserField | 'username' | 'dn' | 'enabled';

/** The write-back side of the planner's input, by store user id. */
export interface UserWriteBackState {
  /** The fields each user's pending or failed outbox rows change. */
  held: ReadonlyMap<string, ReadonlySet<HeldField>>;
  /**
   * `unsynced` mode only (else empty): the local changes, as each field's baseline, the values
   * of the field's attribute in the directory when the administrator changed it in dirbridge.
   */
  baselines: ReadonlyMap<string, ReadonlyMap<WritableUserField, readonly string[]>>;
}

/** The outbox row fields the holds are read from. */
export type OpenUserStep = Pick<OutboxRecord, 'objectKind' | 'objectId' | 'stepKind' | 'change'>;

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
export function fieldsChangedBy(step: OpenUserStep, users: FieldAttributes, byAttribute = fieldsByAttribute(users)): HeldField[] {
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

/** The planner's write-back input from the open rows and (in unsynced mode) the baselines. */
export function userWriteBackState(rows: readonly OpenUserStep[], baselines: readonly BaselineRecord[], users: FieldAttributes): UserWriteBackState {
  const byAttribute = fieldsByAttribute(users);
  const held = new Map<string, Set<HeldField>>();
  for (const row of rows) {
    const fields = fieldsChangedBy(row, users, byAttribute);
    if (fields.length === 0) continue;
    let set = held.get(row.objectId);
    if (set === undefined) held.set(row.objectId, (set = new Set()));
    for (const field of fields) set.add(field);
  }
  const byUser = new Map<string, Map<WritableUserField, readonly string[]>>();
  for (const baseline of baselines) {
    if (baseline.objectKind !== 'user' || !isWritableUserField(baseline.field)) continue;
    let fields = byUser.get(baseline.objectId);
    if (fields === undefined) byUser.set(baseline.objectId, (fields = new Map()));
    fields.set(baseline.field, baseline.values);
  }
  return { held, baselines: byUser };
}

function isWritableUserField(field: string): field is WritableUserField {
  return (WRITABLE_USER_FIELDS as readonly string[]).includes(field);
}
