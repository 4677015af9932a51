/**
 * Directory login against a real Samba AD DC: the three name forms, AD's bind sub-codes, nested
 * groups, and a login that agrees with the full sync on them (even where AD's in-chain rule would not).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { syncOneUser } from '../src/sync/sync-one-user.ts';
import { AD_OUS, AD_USERS, adAddMembersLdif, adGroupDn, adUser, type SambaDc, startSambaDc } from './fixtures/samba.ts';
import { adSettingsDocument, merge, settingsFor } from './helpers/harness.ts';
import { adLockoutState, bindWrongPassword } from './helpers/lockout.ts';
import { rejectsLogin } from './helpers/login.ts';

describe('login against Active Directory (Samba)', () => {
  let dc: SambaDc;
  let app: App;
  let cleanup: () => Promise<void>;

  before(async () => {
    dc = await startSambaDc();
    const service = adUser('svc-dirbridge');
    const made = await settingsFor(adSettingsDocument(dc, service));
    cleanup = made.cleanup;
    app = await openApp(made.settings);
  });

  after(async () => {
    await app?.close();
    await dc?.stop();
    await cleanup?.();
  });

  it('accepts sAMAccountName, userPrincipalName and DOMAIN\\name for the same account', async () => {
    const carol = adUser('carol');
    const byName = await app.login.login({ username: carol.sAMAccountName, password: carol.password ?? '' });
    assert.equal(byName.isNewUser, true);
    assert.equal(byName.user.username, 'carol');
    const byUpn = await app.login.login({ username: carol.userPrincipalName, password: carol.password ?? '' });
    const byDownLevel = await app.login.login({ username: carol.downLevelName, password: carol.password ?? '' });
    assert.equal(byUpn.user.id, byName.user.id);
    assert.equal(byDownLevel.user.id, byName.user.id);
    const groups = (await app.store.groups.listOfUser(byName.user.id)).map((group) => group.name).sort();
    assert.deepEqual(groups, ['All Staff', 'Backend', 'Engineering'], 'nested Engineering through Backend');
  });

  it('maps AD failures to reasons while answering uniformly', async () => {
    const dave = adUser('dave');
    await rejectsLogin(app.login.login({ username: 'dave', password: 'Wrong-Password-1' }), 'wrong_password');
    await rejectsLogin(app.login.login({ username: 'EXAMPLE\\nobody', password: 'Whatever-1' }), 'unknown_user');
    const disabled = adUser('disabled.user');
    await rejectsLogin(app.login.login({ username: disabled.sAMAccountName, password: disabled.password ?? '' }), 'disabled_in_directory');
    await dc.disableUser('dave');
    await rejectsLogin(app.login.login({ username: dave.userPrincipalName, password: dave.password ?? '' }), 'disabled_in_directory');
    await dc.enableUser('dave');
    assert.ok(await app.login.login({ username: dave.userPrincipalName, password: dave.password ?? '' }));
    for (const username of ['*', '*)(sAMAccountName=*', 'admin)(|(sAMAccountName=*'])
      await rejectsLogin(app.login.login({ username, password: dave.password ?? '' }), 'unknown_user');
  });

  it('refuses an account the domain locked out before any bind (msDS-User-Account-Control-Computed), and sync does not disable it', async () => {
    await dc.tool(['domain', 'passwordsettings', 'set', '--account-lockout-threshold=3']);
    const made = await settingsFor(adSettingsDocument(dc, adUser('svc-dirbridge')));
    const locking = await openApp(made.settings);
    const target = adUser('judy');
    try {
      let binds = 0;
      locking.observe({ directory: (operation) => (binds += operation === 'verify' ? 1 : 0) });
      const home = '192.0.2.77';
      const session = await locking.login.login({ username: target.sAMAccountName, password: target.password ?? '', clientAddress: home });
      // Another application's three wrong passwords lock it out (lockoutTime, UF_LOCKOUT).
      await bindWrongPassword({ url: dc.ldapsUrl, caFile: dc.caFile }, target.dn, 3);
      const admin = { url: dc.ldapsUrl, adminDn: dc.adminDn, adminPassword: dc.adminPassword, caFile: dc.caFile };
      assert.deepEqual(await adLockoutState(admin, target.dn), { badPwdCount: 3, isLocked: true });

      const result = await locking.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'succeeded', result.reason ?? '');
      assert.equal((await locking.store.users.findByUsername(target.sAMAccountName))?.isEnabled, true, 'a lockout is not a disable');
      assert.ok(await locking.sessions.validate(session.token), 'the session goes on');

      await rejectsLogin(
        locking.login.login({ username: target.userPrincipalName, password: target.password ?? '', clientAddress: home }),
        'locked_in_directory',
      );
      assert.equal(binds, 1, 'refused before any bind');
      assert.deepEqual(await adLockoutState(admin, target.dn), { badPwdCount: 3, isLocked: true });
    } finally {
      await locking.close();
      await made.cleanup();
      await dc.tool(['domain', 'passwordsettings', 'set', '--account-lockout-threshold=0']);
      await dc.adModify(`dn: ${target.dn}\nchangetype: modify\nreplace: lockoutTime\nlockoutTime: 0\n`);
    }
  });

  it('agrees with the full sync on nested groups, including a chain through a group the sync does not read', async () => {
    // Contractors lives outside OU=Groups, holds frank, and sits in Engineering. AD's in-chain rule
    // would follow it; the sync reads only OU=Groups and does not, so a login must not either.
    const contractors = await dc.createGroup('Contractors', [adUser('frank').dn], AD_OUS.staff);
    await dc.adModify(adAddMembersLdif(adGroupDn('Engineering'), [contractors.dn]));
    const made = await settingsFor(
      merge(adSettingsDocument(dc, adUser('svc-dirbridge')), {
        mapping: { roles: { enabled: true, autoRemove: true, map: { Engineering: 'developer', Backend: 'backend' } }, adminGroup: 'Cycle A' },
      }),
    );
    const mapped = await openApp(made.settings);
    try {
      const result = await mapped.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'succeeded', result.reason ?? '');
      const lookup = {
        use: async <T>(work: (directory: Awaited<ReturnType<App['openDirectory']>>) => Promise<T>) => {
          const directory = await mapped.openDirectory();
          try {
            return await work(directory);
          } finally {
            await directory.close();
          }
        },
      };
      const disagreements: string[] = [];
      for (const user of AD_USERS.filter((candidate) => candidate.sAMAccountName !== 'svc-dirbridge')) {
        const one = await syncOneUser({ store: mapped.store, settings: mapped.settings, lookup }, user.sAMAccountName, { actor: 'test' });
        for (const step of one.steps) disagreements.push(`${user.sAMAccountName}: ${step.kind} ${step.subject} (${step.reason})`);
      }
      assert.deepEqual(disagreements, [], 'a one-user sync right after the full sync plans nothing');

      const carol = adUser('carol');
      const carolLogin = await mapped.login.login({ username: carol.sAMAccountName, password: carol.password ?? '' });
      assert.deepEqual(
        [...(await mapped.store.mapping.listUserRoles(carolLogin.user.id))].sort(),
        ['backend', 'developer'],
        'developer through Backend ⊂ Engineering',
      );
      const heidi = adUser('heidi');
      assert.equal(
        (await mapped.login.login({ username: heidi.sAMAccountName, password: heidi.password ?? '' })).user.isAdmin,
        true,
        'admin through Cycle B ⊂ Cycle A (a cycle)',
      );
      const frank = adUser('frank');
      const frankLogin = await mapped.login.login({ username: frank.sAMAccountName, password: frank.password ?? '' });
      assert.deepEqual(await mapped.store.mapping.listUserRoles(frankLogin.user.id), [], 'not through a group outside OU=Groups');
      assert.equal(
        (await mapped.store.groups.listOfUser(frankLogin.user.id)).some((group) => group.name === 'Engineering'),
        false,
      );
    } finally {
      await mapped.close();
      await made.cleanup();
    }
  });
});
