/**
 * Sessions end when the password changes in the directory, against a real OpenLDAP with the
 * ppolicy overlay (which keeps `pwdChangedTime`) and the SQLite store:
 *
 * - an administrator changes a password (ldappasswd, then ldapmodify): pwdChangedTime moves, a dry
 *   run shows the step, the sync revokes that user's sessions with `session.revoked` ("password
 *   changed in the directory"), and a user whose password did not change keeps its session;
 * - a login with the new password ends the older sessions and keeps its own, also with
 *   `login.updateOnLogin` off, and the next sync leaves the new one alone;
 * - with `sync.revokeSessionsOnPasswordChange` off, sessions are kept.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type App, openApp } from '../src/app.ts';
import { fromGeneralizedTime, PASSWORD_NEVER_CHANGED } from '../src/mapping/password-change.ts';
import type { Settings } from '../src/settings/schema.ts';
import { run } from './fixtures/proc.ts';
import { generateOrganisation, type Organisation, type SampleUser } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { merge, settingsFor } from './helpers/harness.ts';

describe('sessions after a password change in OpenLDAP', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let base: Settings;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    organisation = generateOrganisation({ people: 40, groups: 6, seed: 31 });
    slapd = await startSlapd({ ldif: organisation.ldif, pwdMaxFailure: 1000 });
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'] },
      login: { throttle: { maxFailures: 1000, windowSeconds: 60 } },
    });
    cleanups.push(made.cleanup);
    base = made.settings;
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
  });

  /** An app over its own fresh store, with settings overrides. */
  async function appWith(override: Record<string, unknown> = {}): Promise<App> {
    const made = await settingsFor(merge(structuredClone(base) as unknown as Record<string, unknown>, override));
    const app = await openApp(made.settings);
    cleanups.push(made.cleanup, () => app.close());
    return app;
  }

  /** Plain users (no lock, ASCII uid), each test taking its own. */
  let taken = 0;
  const nextUser = (): SampleUser => {
    const found = organisation.users.filter((candidate) => !candidate.locked && /^[a-z][a-z0-9.]*$/.test(candidate.uid))[taken++];
    assert.ok(found, 'enough sample users');
    return found;
  };

  /** pwdChangedTime as the reader sees it (an operational attribute: asked for by name). */
  async function pwdChangedTime(user: SampleUser): Promise<string | null> {
    const { stdout } = await run('ldapsearch', [
      '-x',
      '-LLL',
      '-o',
      'ldif-wrap=no',
      '-H',
      slapd.url,
      '-D',
      slapd.readerDn,
      '-w',
      slapd.readerPassword,
      '-b',
      user.dn,
      '-s',
      'base',
      'pwdChangedTime',
    ]);
    const value = /^pwdChangedTime: (\S+)$/m.exec(stdout)?.[1];
    return value === undefined ? null : fromGeneralizedTime(value);
  }

  /**
   * Changes the password as the administrator and returns the new pwdChangedTime, which must have
   * moved (ppolicy keeps whole seconds, so a change within the second of the last one is waited out).
   */
  async function changePassword(user: SampleUser, password: string, how: 'ldappasswd' | 'ldapmodify'): Promise<string> {
    const before = await pwdChangedTime(user);
    if (before !== null) while (new Date().toISOString().slice(0, 19) <= before.slice(0, 19)) await sleep(200);
    if (how === 'ldappasswd') await run('ldappasswd', ['-x', '-H', slapd.url, '-D', slapd.adminDn, '-w', slapd.adminPassword, '-s', password, user.dn]);
    else await slapd.ldapmodify(`dn: ${user.dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: ${password}\n`);
    const after = await pwdChangedTime(user);
    assert.ok(after !== null && (before === null || after > before), `pwdChangedTime moved (${before} → ${after})`);
    return after;
  }

  async function isValid(app: App, token: string): Promise<boolean> {
    return (await app.sessions.validate(token)) !== undefined;
  }

  async function revokedAudit(app: App, userId: string) {
    return (await app.store.audit.list({ limit: 50, offset: 0, userId, action: 'session.revoked' })).entries;
  }

  it('revokes the sessions of a user whose password an administrator changed, and only theirs; a dry run shows it first', async () => {
    const app = await appWith();
    const first = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(first.status, 'succeeded', first.reason ?? '');
    assert.equal(first.sessions.usersRevoked, 0, 'the first sync records the times and revokes nothing');
    const anna = nextUser();
    const bert = nextUser();
    const annaRecord = await app.store.users.findByUsername(anna.uid);
    assert.equal(annaRecord?.passwordChangedAt, PASSWORD_NEVER_CHANGED, 'loaded with slapadd: no pwdChangedTime yet');

    const annaSession = await app.login.login({ username: anna.uid, password: anna.password });
    const annaSecond = await app.login.login({ username: anna.uid, password: anna.password });
    const bertSession = await app.login.login({ username: bert.uid, password: bert.password });

    const changedAt = await changePassword(anna, 'anna-new-password-1', 'ldappasswd');
    const dry = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
    assert.equal(dry.status, 'succeeded');
    const planned = dry.steps.filter((step) => step.kind === 'revokeSessions');
    assert.deepEqual(
      planned.map((step) => [step.kind, 'username' in step ? step.username : '', step.reason]),
      [['revokeSessions', anna.uid, 'password changed in the directory']],
    );
    assert.equal(dry.sessions.usersRevoked, 1);
    assert.equal(await isValid(app, annaSession.token), true, 'a dry run revokes nothing');

    const synced = await app.sync.runSync({ trigger: 'schedule', isDryRun: false });
    assert.equal(synced.status, 'succeeded', synced.reason ?? '');
    assert.equal(synced.sessions.usersRevoked, 1);
    assert.equal(await isValid(app, annaSession.token), false);
    assert.equal(await isValid(app, annaSecond.token), false);
    assert.equal(await isValid(app, bertSession.token), true, 'a user whose password did not change keeps its session');
    const entries = await revokedAudit(app, annaSession.user.id);
    assert.deepEqual(entries.map((entry) => [entry.actor, entry.reason]).sort(), [
      ['sync', 'password changed in the directory'],
      ['sync', 'password changed in the directory'],
    ]);
    assert.deepEqual(entries.map((entry) => entry.subject).sort(), [annaSession.session.id, annaSecond.session.id].sort());
    assert.equal((await app.store.users.findByUsername(anna.uid))?.passwordChangedAt, changedAt);
    assert.deepEqual(await revokedAudit(app, bertSession.user.id), []);
    // The change feed carries it.
    const feed = await app.store.audit.listAfter({ limit: 100, actionPrefixes: [], actions: ['session.revoked'] });
    assert.equal(feed.filter((entry) => entry.userId === annaSession.user.id).length, 2);

    // Nothing more the next time: the change was recorded.
    const again = await app.sync.runSync({ trigger: 'schedule', isDryRun: false });
    assert.equal(again.sessions.usersRevoked, 0);

    // A second change, with ldapmodify this time, revokes the session made after the first.
    const annaThird = await app.login.login({ username: anna.uid, password: 'anna-new-password-1' });
    await changePassword(anna, 'anna-new-password-2', 'ldapmodify');
    const third = await app.sync.runSync({ trigger: 'schedule', isDryRun: false });
    assert.equal(third.sessions.usersRevoked, 1);
    assert.equal(await isValid(app, annaThird.token), false);
    assert.equal(await isValid(app, bertSession.token), true);
  });

  it('at login with the new password, ends the older sessions and keeps the new one, which the next sync leaves alone', async () => {
    for (const updateOnLogin of [true, false]) {
      const app = await appWith({ login: { updateOnLogin } });
      assert.equal((await app.sync.runSync({ trigger: 'cli', isDryRun: false })).status, 'succeeded');
      const carl = nextUser();
      const old = await app.login.login({ username: carl.uid, password: carl.password });
      const changedAt = await changePassword(carl, `carl-new-password-${updateOnLogin}`, 'ldappasswd');
      const fresh = await app.login.login({ username: carl.uid, password: `carl-new-password-${updateOnLogin}` });
      assert.equal(await isValid(app, old.token), false, `updateOnLogin ${updateOnLogin}: the older session ended`);
      assert.equal(await isValid(app, fresh.token), true, `updateOnLogin ${updateOnLogin}: the new session lives`);
      const entries = await revokedAudit(app, old.user.id);
      assert.deepEqual(
        entries.map((entry) => [entry.actor, entry.subject, entry.reason]),
        [['login', old.session.id, 'password changed in the directory']],
      );
      assert.equal((await app.store.users.findByUsername(carl.uid))?.passwordChangedAt, changedAt);
      const synced = await app.sync.runSync({ trigger: 'schedule', isDryRun: false });
      assert.equal(synced.status, 'succeeded');
      assert.equal(synced.sessions.usersRevoked, 0);
      assert.equal(await isValid(app, fresh.token), true, `updateOnLogin ${updateOnLogin}: the next sync keeps the new session`);
    }
  });

  it('keeps sessions with sync.revokeSessionsOnPasswordChange off, and still records the change', async () => {
    const app = await appWith({ sync: { revokeSessionsOnPasswordChange: false } });
    assert.equal((await app.sync.runSync({ trigger: 'cli', isDryRun: false })).status, 'succeeded');
    const dora = nextUser();
    const session = await app.login.login({ username: dora.uid, password: dora.password });
    const changedAt = await changePassword(dora, 'dora-new-password', 'ldappasswd');
    const dry = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
    assert.match(
      dry.steps.find((step) => step.kind === 'recordPasswordChange' && step.username === dora.uid)?.reason ?? '',
      /sessions kept: sync\.revokeSessionsOnPasswordChange is off/,
    );
    const synced = await app.sync.runSync({ trigger: 'schedule', isDryRun: false });
    assert.equal(synced.sessions.usersRevoked, 0);
    assert.equal(await isValid(app, session.token), true);
    assert.deepEqual(await revokedAudit(app, session.user.id), []);
    assert.equal((await app.store.users.findByUsername(dora.uid))?.passwordChangedAt, changedAt);
    // A login with the new password keeps the older session too.
    const fresh = await app.login.login({ username: dora.uid, password: 'dora-new-password' });
    assert.equal(await isValid(app, session.token), true);
    assert.equal(await isValid(app, fresh.token), true);
  });
});
