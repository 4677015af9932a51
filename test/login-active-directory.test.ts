/** Directory login against a real Samba AD DC: the three name forms, AD's bind sub-codes, nested groups. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openApp, type App } from '../src/app.ts';
import { adUser, startSambaDc, type SambaDc } from './fixtures/samba.ts';
import { adSettingsDocument, settingsFor } from './helpers/harness.ts';
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
    const groups = (await app.store.listUserGroups(byName.user.id)).map((group) => group.name).sort();
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
    for (const username of ['*', '*)(sAMAccountName=*', 'admin)(|(sAMAccountName=*']) await rejectsLogin(app.login.login({ username, password: dave.password ?? '' }), 'unknown_user');
  });
});
