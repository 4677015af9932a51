/**
 * Incremental sync tests' tools: a picture of the store that two stores can be compared by (ids
 * differ between stores, unique ids do not), and a full sync into a fresh second store.
 */
import { type App, openApp } from '../../src/app.ts';
import { escapeDnValue } from '../../src/ldap/dn.ts';
import type { Store } from '../../src/store/store.ts';
import type { Organisation } from '../fixtures/sample-directory.ts';
import { merge, settingsFor } from './harness.ts';

/**
 * What a sync decides, keyed by the directory's unique ids: users (fields and state), groups and
 * memberships. Users a sync disabled because they left the directory, and their memberships, are
 * left out: a fresh store never holds them.
 */
export async function directoryPicture(store: Store): Promise<{ users: string[]; groups: string[]; memberships: string[] }> {
  const state = await store.runs.loadSyncState();
  const kept = state.users.filter((user) => user.source === 'directory' && user.disabledBy !== 'sync');
  const externalIdOf = new Map(kept.map((user) => [user.id, `${user.externalId} (${user.username})`]));
  const groupIdOf = new Map(state.groups.map((group) => [group.id, `${group.externalId} (${group.name})`]));
  const users = kept
    .map((user) =>
      JSON.stringify([user.externalId, user.username, user.email, user.firstName, user.lastName, user.displayName, user.dn, user.isEnabled, user.disabledBy]),
    )
    .sort();
  const groups = state.groups.map((group) => JSON.stringify([group.externalId, group.name, group.dn])).sort();
  const memberships = state.memberships
    .flatMap((pair) => {
      const user = externalIdOf.get(pair.userId);
      return user === undefined ? [] : [`${user} ${groupIdOf.get(pair.groupId)}`];
    })
    .sort();
  return { users, groups, memberships };
}

/** The picture a full sync of `document` into a new, empty store gives. */
export async function freshFullSyncPicture(document: Record<string, unknown>): Promise<ReturnType<typeof directoryPicture>> {
  const made = await settingsFor(merge(document, { sync: { incremental: { feed: 'off' } } }));
  let app: App | undefined;
  try {
    app = await openApp(made.settings);
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    if (result.status !== 'succeeded') throw new Error(`the reference full sync ${result.status}: ${result.reason}`);
    return await directoryPicture(app.store);
  } finally {
    await app?.close();
    await made.cleanup();
  }
}

/** A user as the random changes track it. */
export interface ModelUser {
  dn: string;
  uid: string;
  rdn: 'uid' | 'cn';
}

/** A group as the random changes track it: DNs (member, uniqueMember) or uids (memberUid). */
export interface ModelGroup {
  dn: string;
  cn: string;
  kind: 'groupOfNames' | 'groupOfUniqueNames' | 'posixGroup';
  members: string[];
}

/** The directory as a test changed it, to pick what to change next. */
export interface DirectoryModel {
  users: ModelUser[];
  groups: ModelGroup[];
}

/** The model of a generated organisation. */
export function modelOf(organisation: Organisation): DirectoryModel {
  return {
    users: organisation.users.map((user) => ({ dn: user.dn, uid: user.uid, rdn: user.rdnAttribute })),
    groups: organisation.groups.map((group) => ({
      dn: group.dn,
      cn: group.cn,
      kind: group.kind,
      members: group.kind === 'posixGroup' ? [...group.memberUids] : [...group.members],
    })),
  };
}

/** The server the random changes go to, and how it differs. */
export interface ChangeTarget {
  baseDn: string;
  /** `ldapmodify` as its administrator (changetype records). */
  ldapmodify(ldif: string): Promise<void>;
  /** The modify lines that lock an account, and (when the server has them) unlock it. */
  lock: string;
  unlock?: string;
  /**
   * Whether the server rewrites member values when a DN changes or goes (OpenLDAP's refint), and
   * waits until it did; without it, member values keep naming the old DN, dangling.
   */
  referentialIntegrity?: { settled(dn: string): Promise<void> };
}

const memberAttributeOf = (group: ModelGroup): string =>
  group.kind === 'posixGroup' ? 'memberUid' : group.kind === 'groupOfNames' ? 'member' : 'uniqueMember';

/**
 * Applies `count` random changes to the server (and the model), seeded: adds, modifies, renames,
 * moves (ou=people ↔ ou=staff), locks, member additions and removals, nesting, new groups, and
 * with `deletes` user and group deletions. Returns what was done, for failure messages.
 */
export async function randomChanges(
  target: ChangeTarget,
  model: DirectoryModel,
  random: () => number,
  count: number,
  options: { deletes: boolean },
): Promise<string[]> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const base = target.baseDn;
  const refint = target.referentialIntegrity;
  const done: string[] = [];
  let serial = Math.floor(random() * 1e6);
  /** After a DN changed or went: where the server rewrites member values, the model does too. */
  const dnChanged = async (from: string, to: string | undefined): Promise<void> => {
    if (refint === undefined) return;
    await refint.settled(from);
    for (const group of model.groups) {
      if (group.kind === 'posixGroup') continue;
      group.members = to === undefined ? group.members.filter((dn) => dn !== from) : group.members.map((dn) => (dn === from ? to : dn));
    }
  };
  const kinds = [
    'addUser',
    'modifyUser',
    'renameUser',
    'moveUser',
    'lockUser',
    ...(target.unlock === undefined ? [] : ['unlockUser']),
    'addMember',
    'removeMember',
    'nestGroup',
    'addGroup',
    ...(options.deletes ? ['deleteUser', 'deleteGroup'] : []),
  ];
  for (let index = 0; index < count; index += 1) {
    const kind = pick(kinds);
    serial += 1;
    switch (kind) {
      case 'addUser': {
        const uid = `new.user${serial}`;
        const dn = `uid=${uid},ou=people,${base}`;
        await target.ldapmodify(
          `dn: ${dn}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: New User ${serial}\nsn: User${serial}\ngivenName: New\nmail: ${uid}@example.org\n`,
        );
        model.users.push({ dn, uid, rdn: 'uid' });
        done.push(`add ${dn}`);
        break;
      }
      case 'modifyUser': {
        const user = pick(model.users);
        await target.ldapmodify(
          `dn: ${user.dn}\nchangetype: modify\nreplace: displayName\ndisplayName: Changed ${serial}\n-\nreplace: mail\nmail: changed${serial}@example.org\n`,
        );
        done.push(`modify ${user.dn}`);
        break;
      }
      case 'renameUser': {
        const user = pick(model.users.filter((candidate) => candidate.rdn === 'uid'));
        const uid = `renamed${serial}`;
        const to = `uid=${uid},${user.dn.slice(user.dn.indexOf(',') + 1)}`;
        await target.ldapmodify(`dn: ${user.dn}\nchangetype: modrdn\nnewrdn: uid=${uid}\ndeleteoldrdn: 1\n`);
        // memberUid values keep the old name everywhere (as a full sync sees them).
        await dnChanged(user.dn, to);
        done.push(`rename ${user.dn} to uid=${uid}`);
        user.dn = to;
        user.uid = uid;
        break;
      }
      case 'moveUser': {
        const user = pick(model.users);
        const [rdn] = user.dn.split(/(?<!\\),/);
        const parent = user.dn.includes(',ou=people,') ? `ou=staff,${base}` : `ou=people,${base}`;
        await target.ldapmodify(`dn: ${user.dn}\nchangetype: modrdn\nnewrdn: ${rdn}\ndeleteoldrdn: 1\nnewsuperior: ${parent}\n`);
        await dnChanged(user.dn, `${rdn},${parent}`);
        done.push(`move ${user.dn} to ${parent}`);
        user.dn = `${rdn},${parent}`;
        break;
      }
      case 'lockUser':
      case 'unlockUser': {
        const user = pick(model.users);
        await target.ldapmodify(`dn: ${user.dn}\nchangetype: modify\n${kind === 'lockUser' ? target.lock : target.unlock}\n`);
        done.push(`${kind === 'lockUser' ? 'lock' : 'unlock'} ${user.dn}`);
        break;
      }
      case 'addMember': {
        const group = pick(model.groups);
        const user = pick(model.users);
        const value = group.kind === 'posixGroup' ? user.uid : user.dn;
        if (group.members.includes(value)) break;
        await target.ldapmodify(`dn: ${group.dn}\nchangetype: modify\nadd: ${memberAttributeOf(group)}\n${memberAttributeOf(group)}: ${value}\n`);
        group.members.push(value);
        done.push(`add ${value} to ${group.cn}`);
        break;
      }
      case 'removeMember': {
        const group = pick(model.groups.filter((candidate) => candidate.members.length > 1));
        const value = pick(group.members);
        await target.ldapmodify(`dn: ${group.dn}\nchangetype: modify\ndelete: ${memberAttributeOf(group)}\n${memberAttributeOf(group)}: ${value}\n`);
        group.members = group.members.filter((member) => member !== value);
        done.push(`remove ${value} from ${group.cn}`);
        break;
      }
      case 'nestGroup': {
        const parent = pick(model.groups.filter((candidate) => candidate.kind === 'groupOfNames'));
        const child = pick(model.groups.filter((candidate) => candidate.dn !== parent.dn && candidate.kind !== 'posixGroup'));
        if (parent.members.includes(child.dn)) break;
        await target.ldapmodify(`dn: ${parent.dn}\nchangetype: modify\nadd: member\nmember: ${child.dn}\n`);
        parent.members.push(child.dn);
        done.push(`nest ${child.cn} in ${parent.cn}`);
        break;
      }
      case 'addGroup': {
        const cn = `new-group-${serial}`;
        const dn = `cn=${escapeDnValue(cn)},ou=groups,${base}`;
        const first = pick(model.users);
        await target.ldapmodify(`dn: ${dn}\nchangetype: add\nobjectClass: groupOfNames\ncn: ${cn}\nmember: ${first.dn}\n`);
        model.groups.push({ dn, cn, kind: 'groupOfNames', members: [first.dn] });
        done.push(`add group ${cn}`);
        break;
      }
      case 'deleteUser': {
        const user = pick(model.users);
        // With refint, a group of names keeps at least one member: refint would leave it without one.
        if (refint !== undefined && model.groups.some((group) => group.kind !== 'posixGroup' && group.members.length === 1 && group.members[0] === user.dn))
          break;
        await target.ldapmodify(`dn: ${user.dn}\nchangetype: delete\n`);
        model.users = model.users.filter((candidate) => candidate !== user);
        await dnChanged(user.dn, undefined);
        done.push(`delete ${user.dn}`);
        break;
      }
      case 'deleteGroup': {
        const group = pick(model.groups);
        if (refint !== undefined && model.groups.some((parent) => parent.members.length === 1 && parent.members[0] === group.dn)) break;
        await target.ldapmodify(`dn: ${group.dn}\nchangetype: delete\n`);
        model.groups = model.groups.filter((candidate) => candidate !== group);
        await dnChanged(group.dn, undefined);
        done.push(`delete group ${group.cn}`);
        break;
      }
    }
  }
  return done;
}
