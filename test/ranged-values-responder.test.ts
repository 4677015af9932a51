/**
 * AD range retrieval at scale, against a responder that enforces MaxValRange (1500) and
 * MaxPageSize (1000) over the wire as a domain controller does (Samba enforces neither):
 * groups of 1,499 / 1,500 / 1,501 / 10,000 / 50,000 members read whole through the directory
 * layer, synced whole into a real SQLite store, and found by a login; a responder that breaks the
 * range sequence (a missing range, a gap, a short range) makes the read fail with
 * `directory.protocol` and the guard refuse, so a large group is never kept as its first 1,500.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { type DirectoryConnection, openDirectory } from '../src/directory/index.ts';
import { isDirbridgeError } from '../src/errors.ts';
import { allStrings, type DirectoryEntry } from '../src/ldap/entry.ts';
import { findDirectoryUser } from '../src/sync/find-directory-user.ts';
import { membersByGroup, settingsFor, storePicture } from './helpers/harness.ts';
import { guidFor, type RangedResponder, type ResponderEntry, startRangedResponder } from './helpers/ranged-responder.ts';

const BASE_DN = 'DC=ranged,DC=test';
const USERS_DN = `CN=Users,${BASE_DN}`;
const GROUPS_DN = `OU=Groups,${BASE_DN}`;
const PERSON_CATEGORY = `CN=Person,CN=Schema,CN=Configuration,${BASE_DN}`;
const PEOPLE = 50_000;
const SERVICE = { dn: `CN=svc-dirbridge,${USERS_DN}`, password: 'Service-Password-1' };

const username = (index: number): string => `u${String(index).padStart(5, '0')}`;
const userDn = (index: number): string => `CN=User ${String(index).padStart(5, '0')},${USERS_DN}`;
const passwordOf = (index: number): string => `Password-${index}`;

/** The groups under test: name, first user index and member count (members are consecutive users). */
const GROUPS = [
  { cn: 'Range 1499', first: 0, size: 1499 },
  { cn: 'Range 1500', first: 0, size: 1500 },
  { cn: 'Range 1501', first: 0, size: 1501 },
  { cn: 'Range 10k', first: 20_000, size: 10_000 },
  { cn: 'Range 50k', first: 0, size: 50_000 },
  { cn: 'Small', first: 7, size: 3 },
] as const;
const groupDn = (cn: string): string => `CN=${cn},${GROUPS_DN}`;
const TOTAL_MEMBERSHIPS = GROUPS.reduce((sum, group) => sum + group.size, 0);

/** Follow-up range requests a complete read of every group costs: one per slice after the first. */
const FOLLOW_UPS = GROUPS.reduce((sum, group) => sum + (group.size > 1500 ? Math.ceil(group.size / 1500) - 1 : 0), 0);

function user(index: number): ResponderEntry {
  const dn = userDn(index);
  return {
    dn,
    attributes: {
      objectClass: ['top', 'person', 'organizationalPerson', 'user'],
      objectCategory: [PERSON_CATEGORY],
      cn: [`User ${String(index).padStart(5, '0')}`],
      sAMAccountName: [username(index)],
      userPrincipalName: [`${username(index)}@ranged.test`],
      givenName: ['User'],
      sn: [String(index)],
      mail: [`${username(index)}@ranged.test`],
      userAccountControl: ['512'],
      objectGUID: [guidFor(dn)],
    },
  };
}

function tree(): ResponderEntry[] {
  const entries: ResponderEntry[] = [
    { dn: BASE_DN, attributes: { objectClass: ['top', 'domain', 'domainDNS'], dc: ['ranged'], objectGUID: [guidFor(BASE_DN)] } },
    { dn: USERS_DN, attributes: { objectClass: ['top', 'container'], cn: ['Users'], objectGUID: [guidFor(USERS_DN)] } },
    { dn: GROUPS_DN, attributes: { objectClass: ['top', 'organizationalUnit'], ou: ['Groups'], objectGUID: [guidFor(GROUPS_DN)] } },
    {
      dn: SERVICE.dn,
      attributes: {
        objectClass: ['top', 'person', 'organizationalPerson', 'user'],
        objectCategory: [PERSON_CATEGORY],
        cn: ['svc-dirbridge'],
        sAMAccountName: ['svc-dirbridge'],
        userAccountControl: ['512'],
        objectGUID: [guidFor(SERVICE.dn)],
      },
    },
  ];
  for (let index = 0; index < PEOPLE; index += 1) entries.push(user(index));
  for (const group of GROUPS) {
    const dn = groupDn(group.cn);
    const member = Array.from({ length: group.size }, (_, offset) => userDn(group.first + offset));
    entries.push({
      dn,
      attributes: {
        objectClass: ['top', 'group'],
        objectCategory: [`CN=Group,CN=Schema,CN=Configuration,${BASE_DN}`],
        cn: [group.cn],
        sAMAccountName: [group.cn.replace(' ', '-')],
        member,
        objectGUID: [guidFor(dn)],
      },
    });
  }
  return entries;
}

function settingsDocument(url: string): Record<string, unknown> {
  return {
    directory: { urls: [url], bindDn: SERVICE.dn, bindPassword: SERVICE.password, operationTimeoutMs: 60_000 },
    users: { baseDn: BASE_DN, filter: '(&(objectClass=user)(objectCategory=person))', usernameAttribute: 'sAMAccountName' },
    groups: { baseDn: GROUPS_DN, filter: '(objectClass=group)', memberAttribute: ['member'], nestedGroups: true },
    // Wide open on purpose: were a group read as its first 1,500 members, the plan would pass the
    // revoke limits and be applied; only the read's own failure may stop it.
    sync: { disableMissingUsers: true, guard: { maxRevoke: { count: 1_000_000, percent: 100 }, maxDisable: { count: 1_000_000, percent: 100 } } },
  };
}

async function readGroups(directory: DirectoryConnection): Promise<Map<string, DirectoryEntry>> {
  const groups = new Map<string, DirectoryEntry>();
  for await (const page of directory.searchPages({ baseDn: GROUPS_DN, scope: 'sub', filter: '(objectClass=group)', attributes: ['cn', 'member'] })) {
    for (const entry of page) groups.set(allStrings(entry, 'cn')[0] ?? entry.dn, entry);
  }
  return groups;
}

describe('AD range retrieval at scale (responder enforcing MaxValRange)', () => {
  let responder: RangedResponder;
  let app: App;
  let cleanup: () => Promise<void>;

  before(async () => {
    const accounts = [SERVICE, ...[0, 1499, 1500, 25_000, 49_999].map((index) => ({ dn: userDn(index), password: passwordOf(index) }))];
    responder = await startRangedResponder({ baseDn: BASE_DN, entries: tree(), accounts });
    const made = await settingsFor(settingsDocument(responder.url));
    cleanup = made.cleanup;
    app = await openApp(made.settings);
  });

  after(async () => {
    await app?.close();
    await responder?.stop();
    await cleanup?.();
  });

  it('reads every member of each group through the directory layer, one range at a time', async () => {
    const directory = await openDirectory(app.settings.directory);
    try {
      assert.equal(directory.rootDse.serverType, 'active-directory');
      const before = responder.stats.rangeRequests;
      const groups = await readGroups(directory);
      assert.equal(responder.stats.rangeRequests - before, FOLLOW_UPS, 'the server cut every group over 1,500 values and each slice was asked for');
      for (const group of GROUPS) {
        const entry = groups.get(group.cn);
        assert.ok(entry, group.cn);
        assert.deepEqual(Object.keys(entry.attributes).sort(), ['cn', 'member'], `${group.cn}: ranges folded into member`);
        const members = allStrings(entry, 'member');
        assert.equal(members.length, group.size, group.cn);
        assert.equal(new Set(members).size, group.size, `${group.cn}: no value twice`);
        assert.equal(members[0], userDn(group.first));
        assert.equal(members.at(-1), userDn(group.first + group.size - 1), `${group.cn}: the last value`);
        // The values either side of each range boundary.
        for (let boundary = 1500; boundary < group.size; boundary += 1500) {
          assert.equal(members[boundary - 1], userDn(group.first + boundary - 1), `${group.cn} value ${boundary - 1}`);
          assert.equal(members[boundary], userDn(group.first + boundary), `${group.cn} value ${boundary}`);
        }
      }
    } finally {
      await directory.close();
    }
  });

  it('syncs all 50,000 users and every membership (64,503) into SQLite', async () => {
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    const members = await membersByGroup(app.store);
    for (const group of GROUPS) {
      const names = members.get(group.cn) ?? [];
      assert.equal(names.length, group.size, group.cn);
      const expected = new Set(Array.from({ length: group.size }, (_, offset) => username(group.first + offset)));
      assert.ok(
        names.every((name) => expected.has(name)),
        `${group.cn}: exactly its members`,
      );
    }
    assert.ok(members.get('Range 1501')?.includes(username(1500)), 'the one value past the first range');
    assert.ok(members.get('Range 50k')?.includes(username(49_999)));
    assert.ok(!members.get('Range 1500')?.includes(username(1500)));
    const state = await app.store.runs.loadSyncState();
    assert.equal(state.users.length, PEOPLE + 1, 'every user and the service account');
    assert.equal(state.memberships.length, TOTAL_MEMBERSHIPS);
  });

  it('finds the groups of users past the first range at login (the server matches every value)', async () => {
    const directory = await app.openDirectory();
    try {
      const cases: Array<[number, string[]]> = [
        [1499, ['Range 1500', 'Range 1501', 'Range 50k']],
        [1500, ['Range 1501', 'Range 50k']],
        [25_000, ['Range 10k', 'Range 50k']],
        [49_999, ['Range 50k']],
      ];
      for (const [index, expected] of cases) {
        const found = await findDirectoryUser(directory, app.settings, username(index));
        assert.ok(found, username(index));
        assert.deepEqual(found.groups.map((group) => group.name).sort(), expected, username(index));
      }
    } finally {
      await directory.close();
    }
    const login = await app.login.login({ username: username(49_999), password: passwordOf(49_999) });
    const groups = (await app.store.groups.listOfUser(login.user.id)).map((group) => group.name);
    assert.deepEqual(groups, ['Range 50k']);
  });

  // Each broken answer makes the read throw; two of them also go through a whole sync to the guard
  // (a sync first reads 50,000 users, about 20 s here, so not all five).
  for (const [fault, at, group, throughSync] of [
    ['short', 0, 'Range 10k', false],
    ['gap', 0, 'Range 1501', false],
    ['missing', 4500, 'Range 10k', false],
    ['gap', 48_000, 'Range 50k', true],
    ['short', 3000, 'Range 50k', true],
  ] as const) {
    it(`fails the read${throughSync ? ' and the guard refuses' : ''} when the server sends a ${fault} range at ${at} of ${group}`, async () => {
      const before = await storePicture(app.store);
      responder.setRangeFault((request) => (request.dn === groupDn(group) && request.start === at ? fault : undefined));
      try {
        const directory = await openDirectory(app.settings.directory);
        try {
          await assert.rejects(readGroups(directory), (error: unknown) => {
            assert.ok(isDirbridgeError(error), String(error));
            assert.equal(error.code, 'directory.protocol');
            assert.match(error.message, new RegExp(`member.*${group}`, 'i'));
            return true;
          });
        } finally {
          await directory.close();
        }
        if (!throughSync) return;
        const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
        assert.equal(result.status, 'refused', `${result.status}: ${result.reason ?? ''}`);
        assert.match(result.reason ?? '', /incomplete read of groups .*directory\.protocol/);
        assert.equal(await storePicture(app.store), before, 'nothing changed: no group kept as a part of its members');
        assert.equal((await membersByGroup(app.store)).get(group)?.length, GROUPS.find((candidate) => candidate.cn === group)?.size);
      } finally {
        responder.setRangeFault(undefined);
      }
    });
  }
});
