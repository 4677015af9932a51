/**
 * Reasons and counts that say what happened (real OpenLDAP):
 *
 * - a group entry that lacks its name attribute is "skipped (no ou)", counted as skipped, and its
 *   stored group and memberships stay as they are (in a sync and at a member's login), instead of
 *   "deleted: no longer found in the directory";
 * - a user entry that lacks its username or unique-id attribute is skipped and counted
 *   (`users.skipped`), and its stored account is neither disabled nor counted as missing;
 * - a rename names the old and the new name;
 * - `lastSyncedAt` ("Last synced") is the last time a sync saw the user, changed or not.
 *
 * Group names come from `ou` and user ids from `employeeNumber` here, so that an entry can lose
 * them (`cn`, an RDN, and `entryUUID`, operational, cannot be removed).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { settingsFor } from './helpers/harness.ts';
import { until } from './helpers/wait.ts';

const BASE = 'dc=example,dc=org';
const dnOf = (cn: string) => `cn=${cn},ou=people,${BASE}`;
const groupDn = (cn: string) => `cn=${cn},ou=groups,${BASE}`;
const person = (cn: string, uid: string, number: number) =>
  [`dn: ${dnOf(cn)}`, 'objectClass: inetOrgPerson', `cn: ${cn}`, `sn: ${cn}`, `uid: ${uid}`, `employeeNumber: ${number}`, `userPassword: password-${uid}`].join(
    '\n',
  );
const group = (cn: string, ou: string, members: string[]) =>
  [`dn: ${groupDn(cn)}`, 'objectClass: groupOfNames', `cn: ${cn}`, `ou: ${ou}`, ...members.map((member) => `member: ${member}`)].join('\n');

const LDIF = [
  person('Ann Lee', 'ann', 1),
  person('Bob Ray', 'bob', 2),
  person('Cid Moe', 'cid', 3),
  person('Dee Fox', 'dee', 4),
  group('g1', 'Team One', [dnOf('Ann Lee'), dnOf('Bob Ray')]),
  group('g2', 'Team Two', [dnOf('Cid Moe')]),
].join('\n\n');

describe('sync reasons and counts (OpenLDAP)', () => {
  let slapd: Slapd;
  let app: App;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    slapd = await startSlapd({ ldif: LDIF });
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: `ou=people,${BASE}`, uniqueIdAttribute: 'employeeNumber', usernameAttribute: 'uid' },
      groups: { baseDn: `ou=groups,${BASE}`, uniqueIdAttribute: 'cn', nameAttribute: 'ou', memberAttribute: ['member'] },
      // Reasons and counts of full reads (incremental runs see only what changed: test/incremental-*.test.ts).
      sync: {
        incremental: { feed: 'off' },
        disableMissingUsers: true,
        missingGraceRuns: 1,
        guard: { maxDisable: { count: 100, percent: 100 }, maxRevoke: { count: 100, percent: 100 } },
      },
      login: { throttle: { maxFailures: 1000, windowSeconds: 60 } },
    });
    cleanups.push(made.cleanup);
    app = await openApp(made.settings);
    const first = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(first.status, 'succeeded', first.reason ?? '');
  });

  after(async () => {
    await app?.close();
    await slapd?.stop();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const userNamed = async (username: string) => {
    const user = await app.store.users.findByUsername(username);
    assert.ok(user, username);
    return user;
  };
  const groupsOf = async (username: string) => (await app.store.groups.listOfUser((await userNamed(username)).id)).map((found) => found.name).sort();

  it('"Last synced" moves for every user a sync sees, changed or not, and never in a dry run', async () => {
    const { lastSyncedAt: before, updatedAt } = await userNamed('dee');
    assert.ok(before !== null);
    await until(() => (new Date().toISOString() > before ? true : undefined), 5_000, 'the clock to move');
    const dry = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
    assert.deepEqual(dry.steps, []);
    assert.equal((await userNamed('dee')).lastSyncedAt, before, 'a dry run writes nothing');
    const sync = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.deepEqual(sync.steps, [], 'nothing changed');
    const after = (await userNamed('dee')).lastSyncedAt;
    assert.ok(after !== null && after > before, `lastSyncedAt ${before} → ${after}`);
    assert.equal((await userNamed('dee')).updatedAt, updatedAt, 'the record itself did not change');
  });

  it('a group that loses its name is skipped and counted, and keeps its stored group and memberships, in a sync and at login', async () => {
    await slapd.ldapmodify(`dn: ${groupDn('g1')}\nchangetype: modify\ndelete: ou\n`);
    const dry = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
    assert.equal(dry.status, 'succeeded', dry.reason ?? '');
    assert.deepEqual(
      dry.steps.map((step) => `${step.kind}: ${step.reason}`),
      ['skipGroup: skipped (no ou); the stored group Team One and its memberships are kept as they are'],
    );
    assert.equal(dry.groups.skipped, 1);
    assert.equal(dry.groups.deleted, 0);
    const sync = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(sync.status, 'succeeded', sync.reason ?? '');
    assert.deepEqual(await groupsOf('ann'), ['Team One']);
    // A member's login sees the same skipped group and leaves the membership alone too.
    await app.login.login({ username: 'ann', password: 'password-ann' });
    assert.deepEqual(await groupsOf('ann'), ['Team One']);
    assert.deepEqual(await groupsOf('bob'), ['Team One']);

    // Named again: judged as usual once more.
    await slapd.ldapmodify(`dn: ${groupDn('g1')}\nchangetype: modify\nadd: ou\nou: Team One\n`);
    assert.deepEqual((await app.sync.runSync({ trigger: 'cli', isDryRun: true })).steps, []);
  });

  it('a user that loses its username or its unique id is skipped and counted, not disabled nor counted as missing', async () => {
    await slapd.ldapmodify(`dn: ${dnOf('Bob Ray')}\nchangetype: modify\ndelete: uid\n`);
    await slapd.ldapmodify(`dn: ${dnOf('Cid Moe')}\nchangetype: modify\ndelete: employeeNumber\n`);
    for (const run of [1, 2, 3]) {
      const sync = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(sync.status, 'succeeded', sync.reason ?? '');
      assert.deepEqual(
        sync.steps.map((step) => `${step.kind}: ${step.reason}`).sort(),
        [
          'skipUser: skipped (no employeeNumber); cid is kept as it is and not counted as missing',
          'skipUser: skipped (no uid); bob is kept as it is and not counted as missing',
        ],
        `run ${run}`,
      );
      assert.equal(sync.users.skipped, 2);
      assert.equal(sync.users.disabled, 0);
    }
    for (const username of ['bob', 'cid']) {
      const user = await userNamed(username);
      assert.equal(user.isEnabled, true, username);
      assert.equal(user.missingRuns, 0, `${username}: no grace runs counted`);
    }
    assert.deepEqual(await groupsOf('cid'), ['Team Two'], 'its memberships stay');
  });

  it('a rename names the old and the new name', async () => {
    await slapd.ldapmodify(`dn: ${dnOf('Dee Fox')}\nchangetype: modify\nreplace: uid\nuid: dee.fox\n`);
    await slapd.ldapmodify(`dn: ${groupDn('g2')}\nchangetype: modify\nreplace: ou\nou: Team Deux\n`);
    const dry = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
    const reasons = dry.steps.filter((step) => step.kind === 'updateUser' || step.kind === 'updateGroup').map((step) => `${step.kind}: ${step.reason}`);
    assert.deepEqual(reasons, ['updateUser: username changed from dee to dee.fox', 'updateGroup: renamed from Team Two to Team Deux']);
  });
});
