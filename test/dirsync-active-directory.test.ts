/**
 * Incremental reads from Active Directory against a real Samba 4.17 DC: DirSync with and without
 * a cookie, incremental member values on a large group, the uSNChanged polling fallback, the DC's
 * identity, and the typed errors the incremental pipeline falls back on. One DC for the whole file
 * (Samba listens on fixed ports); the tests run in order and build on each other's changes.
 */
import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DirSyncControl } from '../src/directory/controls/dirsync.ts';
import {
  type DirectoryConnection,
  type DirSyncEvent,
  type DirSyncRequest,
  openDirectory,
  parseDirSyncCookie,
  readAdServerIdentity,
  readDirSync,
  readUsnChanges,
  uniqueIdOf,
} from '../src/directory/index.ts';
import { isDirbridgeError } from '../src/errors.ts';
import { dnEquals, normalizeDn } from '../src/ldap/dn.ts';
import type { DirectoryEntry } from '../src/ldap/entry.ts';
import { firstString } from '../src/ldap/entry.ts';
import { type DirectorySettings, directorySettingsSchema } from '../src/settings/schema.ts';
import { ldifLine } from './fixtures/ldif.ts';
import { adUser, type SambaDc, sambaUnavailableReason, startSambaDc } from './fixtures/samba.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const USERS_AND_GROUPS = '(|(objectClass=user)(objectClass=group))';
const BIG_GROUP_SIZE = 2_000;

type Changed = Extract<DirSyncEvent, { type: 'changed' }>;

interface Read {
  changed: Changed[];
  deleted: Array<Extract<DirSyncEvent, { type: 'deleted' }>>;
  outside: Array<Extract<DirSyncEvent, { type: 'outside' }>>;
  cookies: Buffer[];
  /** The last cookie. */
  cookie: Buffer;
}

async function read(connection: DirectoryConnection, request: DirSyncRequest): Promise<Read> {
  const result: Read = { changed: [], deleted: [], outside: [], cookies: [], cookie: Buffer.alloc(0) };
  for await (const event of readDirSync(connection, request)) {
    if (event.type === 'changed') result.changed.push(event);
    else if (event.type === 'deleted') result.deleted.push(event);
    else if (event.type === 'outside') result.outside.push(event);
    else result.cookies.push(event.cookie);
  }
  const last = result.cookies.at(-1);
  assert.ok(last !== undefined && last.length > 0, 'every read ends with a cookie');
  result.cookie = last;
  return result;
}

const sortedDns = (dns: readonly string[]): string[] => dns.map((dn) => normalizeDn(dn)).sort();

describe('DirSync, uSNChanged polling and the DC identity on Active Directory (Samba)', { skip: skipUnlessCi(sambaUnavailableReason()) }, () => {
  let dc: SambaDc;
  let admin: DirectoryConnection;
  const settings = (bindDn: string, bindPassword: string): DirectorySettings =>
    directorySettingsSchema.parse({
      urls: [dc.ldapsUrl],
      tls: { caFile: dc.caFile },
      bindDn,
      bindPassword,
      connectTimeoutMs: 2_000,
      operationTimeoutMs: 30_000,
    });
  const request = (overrides: Partial<DirSyncRequest> = {}): DirSyncRequest => ({
    namingContext: dc.baseDn,
    baseDn: dc.baseDn,
    filter: USERS_AND_GROUPS,
    attributes: ['cn', 'sAMAccountName', 'description', 'member'],
    incrementalValues: true,
    uniqueIdAttribute: 'objectGUID',
    ...overrides,
  });
  /** The objectGUID-based id of an entry, read the ordinary way. */
  const idOf = async (dn: string): Promise<string> => {
    const [entry] = await admin.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes: ['objectGUID'], maxEntries: 1 });
    const id = entry === undefined ? undefined : uniqueIdOf(entry, 'objectGUID');
    assert.ok(id !== undefined, `no objectGUID for ${dn}`);
    return id;
  };
  let cookie: Buffer;

  before(async () => {
    dc = await startSambaDc();
    // Without fsync per transaction, Samba adds the large group's users about 10x faster on this
    // machine (2,000 users: 6 s instead of 70 s). Test data only; the fixture's conf is per run.
    await appendFile(path.join(dc.dataDir, 'etc', 'smb.conf'), '\tldb:nosync = true\n');
    await dc.restart();
    admin = await openDirectory(settings(dc.adminDn, dc.adminPassword));
  });
  after(async () => {
    await admin?.close();
    await dc?.stop();
  });

  it('first read without a cookie: every user and group, with ids as uniqueIdOf gives them, members as added values, and a cookie', async () => {
    const first = await read(admin, request());
    cookie = first.cookie;
    const byDn = new Map(first.changed.map((event) => [normalizeDn(event.dn), event]));
    for (const { dn } of [...dc.users, ...dc.groups]) {
      const event = byDn.get(normalizeDn(dn));
      assert.ok(event !== undefined, `${dn} is in the first read`);
      assert.equal(event.uniqueId, await idOf(dn));
    }
    assert.deepEqual(first.deleted, []);
    assert.deepEqual(first.outside, []);
    const allStaff = dc.groups.find((group) => group.cn === 'All Staff');
    assert.ok(allStaff !== undefined);
    const event = byDn.get(normalizeDn(allStaff.dn));
    assert.deepEqual(
      event?.valueChanges.map((change) => ({ ...change, added: sortedDns(change.added) })),
      [{ attribute: 'member', added: sortedDns(allStaff.members), removed: [] }],
    );
    assert.equal(event?.entry.attributes['member'], undefined, 'incremental member values are not left in the entry');
    assert.equal(parseDirSyncCookie(cookie).invocationId, (await readAdServerIdentity(admin)).invocationId);
  });

  it('reports entries outside baseDn as outside (DirSync always searches the whole naming context)', async () => {
    const people = await read(admin, request({ baseDn: dc.ous.people.toLowerCase() }));
    const outside = new Set(people.outside.map((event) => normalizeDn(event.dn)));
    assert.ok(outside.has(normalizeDn(adUser('frank').dn)), 'a user of OU=Staff is outside OU=People');
    assert.ok(outside.has(normalizeDn(dc.groups[0]?.dn ?? '')), 'a group of OU=Groups is outside OU=People');
    assert.ok(people.changed.length > 0 && people.changed.every((event) => normalizeDn(event.dn).endsWith(normalizeDn(dc.ous.people))));
  });

  it('with the cookie, reports exactly the changes: add, modify, rename, move, delete (tombstone), member added, member removed', async () => {
    const alice = adUser('alice');
    const bob = adUser('bob');
    const carol = adUser('carol');
    const gone = adUser('disabled.user');
    const erin = adUser('erin');
    const mallory = adUser('mallory');
    const emptyGroup = dc.groups.find((group) => group.cn === 'Empty Group')?.dn ?? '';
    const operations = dc.groups.find((group) => group.cn === 'Operations')?.dn ?? '';
    const ids = {
      alice: await idOf(alice.dn),
      bob: await idOf(bob.dn),
      carol: await idOf(carol.dn),
      gone: await idOf(gone.dn),
      emptyGroup: await idOf(emptyGroup),
      operations: await idOf(operations),
    };
    const [added] = await dc.adAddUsers([{ sAMAccountName: 'newbie', cn: 'New Bie' }]);
    assert.ok(added !== undefined);
    await dc.adModify(`${ldifLine('dn', alice.dn)}\nchangetype: modify\nreplace: description\ndescription: changed by DirSync test\n-\n`);
    await dc.adModify(`${ldifLine('dn', bob.dn)}\nchangetype: modrdn\nnewrdn: CN=Bobby Brown\ndeleteoldrdn: 1\n`);
    await dc.adModify(
      `${ldifLine('dn', carol.dn)}\nchangetype: modrdn\n${ldifLine('newrdn', `CN=${carol.cn}`)}\ndeleteoldrdn: 1\n${ldifLine('newsuperior', dc.ous.staff)}\n`,
    );
    await dc.adModify(`${ldifLine('dn', gone.dn)}\nchangetype: delete\n`);
    await dc.addMembers(emptyGroup, [erin.dn]);
    await dc.adModify(`${ldifLine('dn', operations)}\nchangetype: modify\ndelete: member\n${ldifLine('member', mallory.dn)}\n-\n`);

    const delta = await read(admin, request({ cookie }));
    cookie = delta.cookie;
    assert.deepEqual(delta.outside, []);
    assert.deepEqual(
      delta.deleted.map((event) => event.uniqueId),
      [ids.gone],
      'the deleted user comes as a tombstone with its objectGUID id',
    );
    assert.match(delta.deleted[0]?.dn ?? '', /CN=Deleted Objects,DC=example,DC=test$/i);
    const byId = new Map(delta.changed.map((event) => [event.uniqueId, event]));
    const addedId = await idOf(added.dn);
    assert.deepEqual([...byId.keys()].sort(), [addedId, ids.alice, ids.bob, ids.carol, ids.emptyGroup, ids.operations].sort());

    assert.equal(firstString(byId.get(addedId)?.entry ?? { dn: '', attributes: {} }, 'sAMAccountName'), 'newbie');
    const aliceEvent = byId.get(ids.alice);
    assert.deepEqual(aliceEvent?.entry.attributes['description'], ['changed by DirSync test']);
    assert.equal(aliceEvent?.entry.attributes['samaccountname'], undefined, 'only the changed attributes are sent');
    assert.ok(dnEquals(byId.get(ids.bob)?.dn ?? '', `CN=Bobby Brown,${dc.ous.people}`), 'a rename comes with the new DN');
    assert.ok(dnEquals(byId.get(ids.carol)?.dn ?? '', `CN=${carol.cn},${dc.ous.staff}`), 'a move comes with the new DN');
    assert.deepEqual(byId.get(ids.emptyGroup)?.valueChanges, [{ attribute: 'member', added: [erin.dn], removed: [] }]);
    assert.deepEqual(byId.get(ids.operations)?.valueChanges, [{ attribute: 'member', added: [], removed: [mallory.dn] }]);

    const again = await read(admin, request({ cookie }));
    assert.deepEqual([again.changed, again.deleted, again.outside], [[], [], []], 'nothing changed since the last cookie');
    cookie = again.cookie;
  });

  it(`adding one member to a ${BIG_GROUP_SIZE}-member group reports one added value with incremental values, the whole list without`, async () => {
    const users = await dc.adAddUsers(
      Array.from({ length: BIG_GROUP_SIZE + 1 }, (_, i) => ({ sAMAccountName: `bulk${i}`, cn: `Bulk ${i}`, parentDn: dc.ous.staff })),
    );
    const last = users.pop();
    assert.ok(last !== undefined);
    const big = await dc.createGroup(
      'Big Group',
      users.map((user) => user.dn),
    );
    const before = await read(admin, request({ cookie }));
    const bigEvent = before.changed.find((event) => dnEquals(event.dn, big.dn));
    assert.equal(bigEvent?.valueChanges[0]?.added.length, BIG_GROUP_SIZE, 'a new group comes with all its members as added values');
    const plainCookie = before.cookie;

    await dc.addMembers(big.dn, [last.dn]);
    const incremental = await read(admin, request({ cookie: before.cookie }));
    assert.deepEqual(
      incremental.changed.map((event) => ({ dn: normalizeDn(event.dn), valueChanges: event.valueChanges, member: event.entry.attributes['member'] })),
      [{ dn: normalizeDn(big.dn), valueChanges: [{ attribute: 'member', added: [last.dn], removed: [] }], member: undefined }],
    );
    cookie = incremental.cookie;
    const whole = await read(admin, request({ cookie: plainCookie, incrementalValues: false }));
    assert.equal(whole.changed.length, 1);
    assert.deepEqual(whole.changed[0]?.valueChanges, []);
    assert.equal(whole.changed[0]?.entry.attributes['member']?.length, BIG_GROUP_SIZE + 1, 'without the flag the whole member list comes back');
  });

  it('readAdServerIdentity: the same DC and invocationId on every read, highestCommittedUSN moving with changes', async () => {
    const first = await readAdServerIdentity(admin);
    const second = await readAdServerIdentity(admin);
    assert.deepEqual(second, first);
    assert.match(first.dsServiceName, /^CN=NTDS Settings,CN=DC1,CN=Servers,/i);
    assert.match(first.invocationId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    await dc.adModify(`${ldifLine('dn', adUser('ivan').dn)}\nchangetype: modify\nreplace: description\ndescription: usn moves\n-\n`);
    const third = await readAdServerIdentity(admin);
    assert.deepEqual({ ...third, highestCommittedUsn: first.highestCommittedUsn }, first);
    assert.ok(BigInt(third.highestCommittedUsn) > BigInt(first.highestCommittedUsn));
  });

  it('readUsnChanges: entries changed since a USN, but not users whose only change is a group membership', async () => {
    const since = (await readAdServerIdentity(admin)).highestCommittedUsn;
    const judy = adUser('judy');
    const heidi = adUser('heidi');
    await dc.adModify(`${ldifLine('dn', judy.dn)}\nchangetype: modify\nreplace: description\ndescription: polled\n-\n`);
    const emptyGroup = dc.groups.find((group) => group.cn === 'Empty Group')?.dn ?? '';
    await dc.addMembers(emptyGroup, [heidi.dn]);
    const collect = async (filter: string, sinceUsn = since): Promise<DirectoryEntry[]> => {
      const entries: DirectoryEntry[] = [];
      for await (const page of readUsnChanges(admin, {
        baseDn: dc.baseDn,
        scope: 'sub',
        filter,
        attributes: ['cn', 'description', 'member'],
        pageSize: 100,
        sinceUsn,
      }))
        entries.push(...page);
      return entries;
    };
    const users = await collect('(&(objectClass=user)(!(objectClass=computer)))');
    assert.deepEqual(
      users.map((entry) => normalizeDn(entry.dn)),
      [normalizeDn(judy.dn)],
      'heidi, only added to a group, keeps her uSNChanged',
    );
    assert.ok(BigInt(firstString(users[0] ?? { dn: '', attributes: {} }, 'uSNChanged') ?? '0') > BigInt(since), 'uSNChanged is returned');
    const groups = await collect('(objectClass=group)');
    assert.deepEqual(
      groups.map((entry) => normalizeDn(entry.dn)),
      [normalizeDn(emptyGroup)],
      'the membership change shows on the group',
    );
    const now = (await readAdServerIdentity(admin)).highestCommittedUsn;
    assert.deepEqual(await collect('(objectClass=*)', now), [], 'nothing above the current highestCommittedUSN');
  });

  it('an account without the replication right gets directory.sync_not_permitted, and can still poll uSNChanged', async () => {
    const reader = adUser('svc-dirbridge');
    await using unprivileged = await openDirectory(settings(reader.dn, reader.password ?? ''));
    await assert.rejects(
      read(unprivileged, request()),
      (error) => isDirbridgeError(error, 'directory.sync_not_permitted') && /Replicating Directory Changes/.test(error.message),
    );
    const pages: DirectoryEntry[][] = [];
    for await (const page of readUsnChanges(unprivileged, {
      baseDn: dc.baseDn,
      scope: 'sub',
      filter: '(objectClass=user)',
      attributes: ['cn'],
      pageSize: 50,
      sinceUsn: '0',
    }))
      pages.push(page);
    assert.ok(pages.flat().length >= dc.users.length);
  });

  it('a cookie the DC cannot use throws directory.sync_cookie_invalid before anything is read', async () => {
    const identity = await readAdServerIdentity(admin);
    const invalid = (problem: RegExp) => (error: unknown) => isDirbridgeError(error, 'directory.sync_cookie_invalid') && problem.test(error.message);
    await assert.rejects(read(admin, request({ cookie: Buffer.from('garbage') })), invalid(/shorter than/));
    const resigned = Buffer.from(cookie);
    resigned.write('XXXX', 0, 'latin1');
    await assert.rejects(read(admin, request({ cookie: resigned })), invalid(/signature/));
    const foreign = Buffer.from(cookie);
    foreign.fill(0x42, 52, 68);
    await assert.rejects(read(admin, request({ cookie: foreign })), invalid(/another domain controller/));
    const ahead = Buffer.from(cookie);
    ahead.writeBigUInt64LE(BigInt(identity.highestCommittedUsn) + 1000n, 44);
    await assert.rejects(read(admin, request({ cookie: ahead, serverIdentity: identity })), invalid(/ahead of the server/));
  });

  it('Samba quirks the client-side cookie check is there for', async () => {
    const raw = async (value: Buffer): Promise<{ entries: number; cookie: boolean }> => {
      const control = new DirSyncControl({ flags: 0, maxBytes: 0, cookie: value });
      const entries = await admin.searchWithControls({ baseDn: dc.baseDn, scope: 'sub', filter: USERS_AND_GROUPS, attributes: ['objectGUID'] }, [control]);
      return { entries: entries.length, cookie: control.response !== undefined };
    };
    // A wrong signature is answered with success and no changes: silence a caller would take for "nothing changed".
    const resigned = Buffer.from(cookie);
    resigned.write('XXXX', 0, 'latin1');
    assert.deepEqual(await raw(resigned), { entries: 0, cookie: true });
    // So is a cookie whose USNs the DC has not reached (a restored DC would look like this).
    const ahead = Buffer.from(cookie);
    ahead.writeBigUInt64LE(10n ** 12n, 28);
    ahead.writeBigUInt64LE(10n ** 12n, 44);
    assert.deepEqual(await raw(ahead), { entries: 0, cookie: true });
    // Only a cookie it cannot unmarshal is refused (unavailableCriticalExtension, 0000202C).
    await assert.rejects(raw(Buffer.from('garbage')), (error) => isDirbridgeError(error, 'directory.unsupported') && error.details['resultCode'] === 12);
    // Tombstones are returned without the Show Deleted control, but a filter on an attribute a
    // tombstone loses (mail) hides the deletion.
    const first = await read(admin, request({ filter: '(&(objectClass=user)(mail=*))' }));
    const judy = adUser('judy');
    const judyId = await idOf(judy.dn);
    await dc.adModify(`${ldifLine('dn', judy.dn)}\nchangetype: delete\n`);
    const mailFiltered = await read(admin, request({ filter: '(&(objectClass=user)(mail=*))', cookie: first.cookie }));
    assert.deepEqual(mailFiltered.deleted, []);
    const broad = await read(admin, request({ cookie }));
    assert.deepEqual(
      broad.deleted.map((event) => event.uniqueId),
      [judyId],
    );
  });
});
