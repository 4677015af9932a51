/**
 * The User Group Filter decides mapped groups while groups.nestedGroups is on (real OpenLDAP).
 *
 * The reviewer's case: with nesting on, every membership read through groups.memberAttribute was
 * added to what the filter found, so narrowing the filter could not take a role away. Now the
 * filter decides each mapped group's direct members, users and groups alike, and nesting reaches
 * users only through member groups the filter admitted. A narrower filter revokes in a sync and
 * at login alike, and nesting keeps working where the filter admits the member group.
 *
 *   engineering (groupOfUniqueNames): uniqueMember fay, backend  → role developer
 *   platform    (groupOfNames):       member backend              → role operator
 *   backend     (groupOfNames):       member eve
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { merge, settingsFor } from './helpers/harness.ts';

const BASE = 'dc=example,dc=org';
const dnOf = (uid: string) => `uid=${uid},ou=people,${BASE}`;
const groupDn = (cn: string) => `cn=${cn},ou=groups,${BASE}`;
const person = (uid: string) =>
  [`dn: ${dnOf(uid)}`, 'objectClass: inetOrgPerson', `uid: ${uid}`, `cn: ${uid}`, `sn: ${uid}`, `userPassword: password-${uid}`].join('\n');

const LDIF = [
  person('eve'),
  person('fay'),
  [`dn: ${groupDn('backend')}`, 'objectClass: groupOfNames', 'cn: backend', `member: ${dnOf('eve')}`].join('\n'),
  [
    `dn: ${groupDn('engineering')}`,
    'objectClass: groupOfUniqueNames',
    'cn: engineering',
    `uniqueMember: ${dnOf('fay')}`,
    `uniqueMember: ${groupDn('backend')}`,
  ].join('\n'),
  [`dn: ${groupDn('platform')}`, 'objectClass: groupOfNames', 'cn: platform', `member: ${groupDn('backend')}`].join('\n'),
].join('\n\n');

const BROAD = '(&(cn=#{groupName})(|(member=#{userdn})(uniqueMember=#{userdn})(memberUid=#{username})))';
const GROUP_OF_NAMES_ONLY = '(&(cn=#{groupName})(objectClass=groupOfNames)(member=#{userdn}))';

describe('the User Group Filter decides nested mapped groups (OpenLDAP)', () => {
  let slapd: Slapd;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    slapd = await startSlapd({ ldif: LDIF });
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
  });

  async function appWith(filter: string): Promise<App> {
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: `ou=people,${BASE}` },
      groups: { baseDn: `ou=groups,${BASE}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
      sync: { guard: { maxRevoke: { count: 100, percent: 100 } } },
      login: { throttle: { maxFailures: 1000, windowSeconds: 60 } },
      mapping: {
        groupSearch: { userGroupFilter: filter },
        roles: { enabled: true, autoRemove: true, map: { engineering: 'developer', platform: 'operator' } },
      },
    });
    cleanups.push(made.cleanup);
    const app = await openApp(made.settings);
    cleanups.push(() => app.close());
    return app;
  }

  async function rolesOf(app: App, username: string): Promise<string[]> {
    const user = await app.store.users.findByUsername(username);
    assert.ok(user, username);
    return [...(await app.store.mapping.listUserRoles(user.id))].sort();
  }

  /** Changes the User Group Filter as an administrator would. */
  async function setFilter(app: App, filter: string): Promise<void> {
    const { store: _store, ...document } = app.settings;
    const changed = await app.updateSettings(merge(structuredClone(document), { mapping: { groupSearch: { userGroupFilter: filter } } }), {
      expectedVersion: app.settingsState().version,
      actor: 'test',
    });
    assert.deepEqual(changed.changed, ['mapping.groupSearch.userGroupFilter']);
  }

  it('a narrower filter revokes in a sync: nesting no longer keeps what the filter does not admit', async () => {
    const app = await appWith(BROAD);
    assert.equal((await app.sync.runSync({ trigger: 'cli', isDryRun: false })).status, 'succeeded');
    assert.deepEqual(await rolesOf(app, 'fay'), ['developer'], 'direct uniqueMember of engineering');
    assert.deepEqual(await rolesOf(app, 'eve'), ['developer', 'operator'], 'through backend, in both');

    await setFilter(app, GROUP_OF_NAMES_ONLY);
    const narrowed = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(narrowed.status, 'succeeded', narrowed.reason ?? '');
    assert.deepEqual(await rolesOf(app, 'fay'), [], 'engineering is not a groupOfNames: the filter admits nobody');
    assert.deepEqual(await rolesOf(app, 'eve'), ['operator'], 'nesting still works where the filter admits the member group (platform lists backend)');
    const revoked = narrowed.steps
      .filter((step) => step.kind === 'revokeRole')
      .map((step) => `${step.username} ${step.role}`)
      .sort();
    assert.deepEqual(revoked, ['eve developer', 'fay developer']);
    // The groups themselves still follow groups.memberAttribute: only the mapping is the filter's.
    const eve = await app.store.users.findByUsername('eve');
    assert.deepEqual((await app.store.groups.listOfUser(eve?.id ?? '')).map((group) => group.name).sort(), ['backend', 'engineering', 'platform']);
  });

  it('a narrower filter revokes at login, exactly as the next sync would', async () => {
    const app = await appWith(BROAD);
    assert.equal((await app.sync.runSync({ trigger: 'cli', isDryRun: false })).status, 'succeeded');
    await setFilter(app, GROUP_OF_NAMES_ONLY);
    for (const username of ['eve', 'fay']) await app.login.login({ username, password: `password-${username}` });
    assert.deepEqual(await rolesOf(app, 'fay'), []);
    assert.deepEqual(await rolesOf(app, 'eve'), ['operator']);
    const next = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
    assert.equal(next.status, 'succeeded', next.reason ?? '');
    assert.deepEqual(
      next.steps.map((step) => `${step.kind}: ${step.reason}`),
      [],
      'the login left nothing for the sync to change',
    );
    // And back: the broader filter grants again, at login too.
    await setFilter(app, BROAD);
    await app.login.login({ username: 'eve', password: 'password-eve' });
    assert.deepEqual(await rolesOf(app, 'eve'), ['developer', 'operator']);
  });
});
