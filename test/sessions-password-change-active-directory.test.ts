/**
 * Sessions end when the password changes in Active Directory (a real Samba AD DC): `pwdLastSet`
 * moves when an administrator resets a password (`samba-tool user setpassword`), and becomes 0
 * with "must change at next logon", which counts as a change too; a user whose password did not
 * change keeps its session; a login with the new password ends the older sessions and keeps its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { MUST_CHANGE_PASSWORD } from '../src/mapping/password-change.ts';
import { adUser, type SambaDc, startSambaDc } from './fixtures/samba.ts';
import { adSettingsDocument, settingsFor } from './helpers/harness.ts';
import { rejectsLogin } from './helpers/login.ts';

describe('sessions after a password change in Active Directory (Samba)', () => {
  let dc: SambaDc;
  let app: App;
  let cleanup: () => Promise<void>;

  before(async () => {
    dc = await startSambaDc();
    const made = await settingsFor(adSettingsDocument(dc, adUser('svc-dirbridge')));
    cleanup = made.cleanup;
    app = await openApp(made.settings);
  });

  after(async () => {
    await app?.close();
    await dc?.stop();
    await cleanup?.();
  });

  const isValid = async (token: string) => (await app.sessions.validate(token)) !== undefined;
  const revokedAudit = async (userId: string) => (await app.store.audit.list({ limit: 50, offset: 0, userId, action: 'session.revoked' })).entries;

  it('reads pwdLastSet, revokes the sessions of a user whose password was reset, and only theirs', async () => {
    const first = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(first.status, 'succeeded', first.reason ?? '');
    const grace = adUser('grace');
    const heidi = adUser('heidi');
    const before = (await app.store.users.findByUsername('grace'))?.passwordChangedAt;
    assert.ok(before !== null && before !== undefined && before > '2000-01-01', `pwdLastSet read as a time: ${before}`);

    const graceSession = await app.login.login({ username: 'grace', password: grace.password ?? '' });
    const heidiSession = await app.login.login({ username: 'heidi', password: heidi.password ?? '' });
    await dc.tool(['user', 'setpassword', 'grace', '--newpassword=Grace-New-Pass-1!']);

    const dry = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
    assert.deepEqual(
      dry.steps.filter((step) => step.kind === 'revokeSessions').map((step) => [step.reason, 'username' in step ? step.username : '']),
      [['password changed in the directory', 'grace']],
    );
    const synced = await app.sync.runSync({ trigger: 'schedule', isDryRun: false });
    assert.equal(synced.status, 'succeeded', synced.reason ?? '');
    assert.equal(synced.sessions.usersRevoked, 1);
    assert.equal(await isValid(graceSession.token), false);
    assert.equal(await isValid(heidiSession.token), true, "heidi's password did not change");
    assert.deepEqual(
      (await revokedAudit(graceSession.user.id)).map((entry) => [entry.actor, entry.subject, entry.reason]),
      [['sync', graceSession.session.id, 'password changed in the directory']],
    );
    const after = (await app.store.users.findByUsername('grace'))?.passwordChangedAt;
    assert.ok(after !== null && after !== undefined && before !== undefined && before !== null && after > before, `${before} → ${after}`);
    assert.deepEqual(await revokedAudit(heidiSession.user.id), []);
  });

  it('counts "must change at next logon" (pwdLastSet 0) as a change, and the new password again', async () => {
    const ivan = adUser('ivan');
    const session = await app.login.login({ username: 'ivan', password: ivan.password ?? '' });
    await dc.tool(['user', 'setpassword', 'ivan', '--newpassword=Ivan-Reset-Pass-1!', '--must-change-at-next-login']);
    const synced = await app.sync.runSync({ trigger: 'schedule', isDryRun: false });
    assert.equal(synced.status, 'succeeded', synced.reason ?? '');
    assert.equal((await app.store.users.findByUsername('ivan'))?.passwordChangedAt, MUST_CHANGE_PASSWORD);
    assert.equal(await isValid(session.token), false);
    assert.deepEqual(
      (await revokedAudit(session.user.id)).map((entry) => entry.reason),
      ['password changed in the directory (must change at next logon)'],
    );
    // AD refuses the reset password until it is changed.
    await rejectsLogin(app.login.login({ username: 'ivan', password: 'Ivan-Reset-Pass-1!' }), 'password_expired');
    assert.equal((await app.sync.runSync({ trigger: 'schedule', isDryRun: false })).sessions.usersRevoked, 0, 'acted on once');

    // The user sets a new password; the login with it records the change and keeps its session.
    await dc.tool(['user', 'setpassword', 'ivan', '--newpassword=Ivan-Own-Pass-2!']);
    const fresh = await app.login.login({ username: 'ivan', password: 'Ivan-Own-Pass-2!' });
    assert.equal(await isValid(fresh.token), true);
    assert.ok(((await app.store.users.findByUsername('ivan'))?.passwordChangedAt ?? '') > '2000-01-01');
    const next = await app.sync.runSync({ trigger: 'schedule', isDryRun: false });
    assert.equal(next.sessions.usersRevoked, 0);
    assert.equal(await isValid(fresh.token), true, 'the next sync keeps the session made with the new password');
  });
});
