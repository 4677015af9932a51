/**
 * uniqueMember values with the RFC 4517 optional UID (`uid=a,ou=people,dc=x#'0101'B`) against a
 * real OpenLDAP: first what slapd itself matches (with and without an equality index on
 * uniqueMember), then that login and sync apply that same rule (uniqueMemberMatch: a value with a
 * UID names the entry only while its x500UniqueIdentifier holds that UID), so a login gives the
 * groups and roles the sync gives and two logins in a row change nothing.
 *
 * The reviewer's case: the sync stripped the UID and counted the membership, the login's
 * `(uniqueMember=<dn>)` did not match it, so the membership was removed at every login and added
 * back at every sync, with a change-feed event each time.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { eq } from '../src/ldap/filter.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { settingsFor } from './helpers/harness.ts';

const BASE = 'dc=example,dc=org';
const dnOf = (uid: string) => `uid=${uid},ou=people,${BASE}`;
const groupDn = (cn: string) => `cn=${cn},ou=groups,${BASE}`;
const person = (uid: string, uniqueIdentifiers: string[] = []) =>
  [
    `dn: ${dnOf(uid)}`,
    'objectClass: inetOrgPerson',
    `uid: ${uid}`,
    `cn: ${uid}`,
    `sn: ${uid}`,
    `userPassword: password-${uid}`,
    ...uniqueIdentifiers.map((bits) => `x500UniqueIdentifier: '${bits}'B`),
  ].join('\n');
const uniqueGroup = (cn: string, members: string[]) =>
  [`dn: ${groupDn(cn)}`, 'objectClass: groupOfUniqueNames', `cn: ${cn}`, ...members.map((member) => `uniqueMember: ${member}`)].join('\n');

const LDIF = [
  person('ada', ['0101']), // listed with its own UID: a member
  person('bo'), // listed with a UID it does not hold (it holds none): not a member
  person('cy', ['11']), // listed with a stale UID: not a member; listed plainly elsewhere: a member there
  person('di'), // listed plainly: a member
  uniqueGroup('uid-team', [`${dnOf('ada')}#'0101'B`, `${dnOf('bo')}#'0101'B`, `${dnOf('cy')}#'0101'B`, dnOf('di')]),
  uniqueGroup('plain-team', [dnOf('cy')]),
  // Nested: uid-team inside platform (groupOfNames), so ada gets platform through nesting.
  [`dn: ${groupDn('platform')}`, 'objectClass: groupOfNames', 'cn: platform', `member: ${groupDn('uid-team')}`].join('\n'),
].join('\n\n');

describe('uniqueMember with RFC 4517 UIDs (OpenLDAP)', () => {
  let slapd: Slapd;
  let app: App;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    slapd = await startSlapd({ ldif: LDIF });
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: `ou=people,${BASE}` },
      groups: { baseDn: `ou=groups,${BASE}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
      login: { throttle: { maxFailures: 1000, windowSeconds: 60 } },
      mapping: { roles: { enabled: true, autoRemove: true, map: { 'uid-team': 'uid-role', 'plain-team': 'plain-role', platform: 'platform-role' } } },
    });
    cleanups.push(made.cleanup);
    app = await openApp(made.settings);
  });

  after(async () => {
    await app?.close();
    await slapd?.stop();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  /** The cn of every group whose uniqueMember matches `value` on slapd. */
  async function groupsMatching(value: string): Promise<string[]> {
    const directory = await app.openDirectory();
    try {
      const found = await directory.searchAll({
        baseDn: `ou=groups,${BASE}`,
        scope: 'sub',
        filter: eq('uniqueMember', value),
        attributes: ['cn'],
        maxEntries: 100,
      });
      return found.map((entry) => String(entry.attributes['cn']?.[0])).sort();
    } finally {
      await directory.close();
    }
  }

  it('slapd matches uniqueMember by RFC 4517, with and without an equality index', async () => {
    const conf = path.join(slapd.dataDir, 'slapd.conf');
    for (const indexed of [true, false]) {
      if (!indexed) {
        const text = await readFile(conf, 'utf8');
        assert.match(text, /index member,uniqueMember,memberUid,memberOf eq/);
        await writeFile(conf, text.replace('index member,uniqueMember,memberUid,memberOf eq', 'index member,memberUid,memberOf eq'));
        await slapd.restart();
      }
      const label = indexed ? 'indexed' : 'unindexed';
      assert.deepEqual(await groupsMatching(dnOf('ada')), [], `${label}: the DN alone does not match a value with a UID`);
      assert.deepEqual(await groupsMatching(`${dnOf('ada')}#'0101'B`), ['uid-team'], `${label}: DN and UID match`);
      assert.deepEqual(await groupsMatching(`UID=Ada, OU=People,DC=Example,DC=Org#'0101'B`), ['uid-team'], `${label}: the DN part is compared as a DN`);
      assert.deepEqual(await groupsMatching(`${dnOf('ada')}#'101'B`), [], `${label}: another bit string`);
      assert.deepEqual(await groupsMatching(dnOf('di')), ['uid-team'], `${label}: a value without a UID`);
      assert.deepEqual(await groupsMatching(`${dnOf('di')}#'0101'B`), [], `${label}: a UID the value does not have`);
      assert.deepEqual(await groupsMatching(dnOf('cy')), ['plain-team'], `${label}: cy is listed plainly only in plain-team`);
    }
  });

  /** What the store says a user has: groups and roles. */
  async function holdings(username: string): Promise<{ groups: string[]; roles: string[] }> {
    const user = await app.store.users.findByUsername(username);
    assert.ok(user, username);
    return {
      groups: (await app.store.groups.listOfUser(user.id)).map((group) => group.name).sort(),
      roles: [...(await app.store.mapping.listUserRoles(user.id))].sort(),
    };
  }

  async function membershipEvents(username: string): Promise<number> {
    const user = await app.store.users.findByUsername(username);
    return (await app.store.audit.list({ limit: 1, offset: 0, userId: user?.id ?? '', action: 'membership.changed' })).total;
  }

  const expected: Record<string, { groups: string[]; roles: string[] }> = {
    ada: { groups: ['platform', 'uid-team'], roles: ['platform-role', 'uid-role'] },
    bo: { groups: [], roles: [] },
    cy: { groups: ['plain-team'], roles: ['plain-role'] },
    di: { groups: ['platform', 'uid-team'], roles: ['platform-role', 'uid-role'] },
  };

  it('a sync counts a value with a UID only for the user holding that UID, and logins agree without flipping', async () => {
    const sync = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(sync.status, 'succeeded', sync.reason ?? '');
    for (const [username, holding] of Object.entries(expected)) assert.deepEqual(await holdings(username), holding, `${username} after the sync`);

    for (const username of Object.keys(expected)) {
      const events = await membershipEvents(username);
      for (let round = 1; round <= 2; round += 1) {
        await app.login.login({ username, password: `password-${username}` });
        assert.deepEqual(await holdings(username), expected[username], `${username} after login ${round}`);
        assert.equal(await membershipEvents(username), events, `${username}: login ${round} writes no membership.changed (no add/remove pair)`);
      }
    }

    const again = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
    assert.deepEqual(again.steps, [], 'the next sync has nothing to change either');
  });

  it('a one-user sync of a freshly provisioned user gives what the sync gives', async () => {
    const made = await settingsFor({ ...structuredClone(app.settings), store: undefined } as unknown as Record<string, unknown>);
    cleanups.push(made.cleanup);
    const fresh = await openApp(made.settings);
    try {
      // Logins first, on an empty store, then a full sync: it must find nothing to change.
      for (const username of Object.keys(expected)) await fresh.login.login({ username, password: `password-${username}` });
      const sync = await fresh.sync.runSync({ trigger: 'cli', isDryRun: true });
      assert.equal(sync.status, 'succeeded', sync.reason ?? '');
      assert.deepEqual(
        sync.steps.map((step) => `${step.kind}: ${step.reason}`),
        [],
      );
    } finally {
      await fresh.close();
    }
  });
});
