/**
 * Sync and search against a real Samba AD DC: objectGUID ids, userAccountControl state,
 * nested groups (in memory for sync, level by level for login and search), a cycle, referrals from
 * the domain root, renames and moves, TLS and credential failures, and a killed server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { openDirectory } from '../src/directory/index.ts';
import { isDirbridgeError } from '../src/errors.ts';
import type { Settings } from '../src/settings/schema.ts';
import { findDirectoryUser } from '../src/sync/find-directory-user.ts';
import { testConnection } from '../src/sync/test-connection.ts';
import { testSearch } from '../src/sync/test-search.ts';
import { adUser, type SambaDc, startSambaDc } from './fixtures/samba.ts';
import { adSettingsDocument, membersByGroup, merge, settingsFor, storePicture, syncInterruptedAfter, usersByName } from './helpers/harness.ts';

describe('sync against Active Directory (Samba)', () => {
  let dc: SambaDc;
  let app: App;
  let cleanup: () => Promise<void>;

  before(async () => {
    dc = await startSambaDc();
    const service = adUser('svc-dirbridge');
    const made = await settingsFor(
      merge(adSettingsDocument(dc, service), {
        directory: { pageSize: 5 },
        sync: { disableMissingUsers: true, guard: { maxDisable: { count: 5, percent: 50 } } },
      }),
    );
    cleanup = made.cleanup;
    app = await openApp(made.settings);
  });

  after(async () => {
    await app?.close();
    await dc?.stop();
    await cleanup?.();
  });

  it('imports users keyed by objectGUID, with userAccountControl state and nested groups', async () => {
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    const users = await usersByName(app.store);
    for (const expected of dc.users) assert.ok(users.has(expected.sAMAccountName.toLowerCase()), expected.sAMAccountName);
    const alice = users.get('alice');
    assert.match(alice?.externalId ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'objectGUID as a GUID string');
    assert.equal(alice?.email, 'alice@example.test');
    assert.equal(users.get('zoe')?.lastName, 'Ångström');
    assert.equal(users.get('jsmith')?.dn, adUser('jsmith').dn, 'escaped comma in the DN');
    assert.equal(users.get('disabled.user')?.isEnabled, false, 'ACCOUNTDISABLE honoured');
    assert.equal(users.get('disabled.user')?.disabledBy, 'directory');
    assert.equal(users.get('alice')?.isEnabled, true);

    const members = await membersByGroup(app.store);
    assert.deepEqual(members.get('Engineering'), ['alice', 'bob', 'carol', 'dave', 'erin', 'zoe']);
    assert.deepEqual(members.get('Backend'), ['carol', 'dave']);
    assert.deepEqual(members.get('Cycle A'), ['grace', 'heidi']);
    assert.deepEqual(members.get('Cycle B'), ['grace', 'heidi']);
    assert.deepEqual(members.get('Sales, EMEA'), ['heidi', 'jose', 'jsmith']);
    assert.deepEqual(members.get('Empty Group'), []);
  });

  it('finds a user by sAMAccountName with nested groups through nested groups', async () => {
    const directory = await app.openDirectory();
    try {
      const found = await findDirectoryUser(directory, app.settings, 'carol');
      assert.ok(found);
      assert.equal(found.user.username, 'carol');
      assert.deepEqual(found.groups.map((group) => `${group.name}${group.isNested ? '*' : ''}`).sort(), ['All Staff', 'Backend', 'Engineering*']);
      assert.equal(await findDirectoryUser(directory, app.settings, 'nobody'), undefined);
    } finally {
      await directory.close();
    }
  });

  it('fails a sync, Test Connection and a search under a base DN that does not exist, naming the setting', async () => {
    const nowhere = `OU=Nowhere,${dc.baseDn}`;
    const made = await settingsFor(merge(adSettingsDocument(dc, adUser('svc-dirbridge')), { users: { baseDn: nowhere } }));
    const wrong = await openApp(made.settings);
    try {
      const result = await wrong.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'failed');
      assert.match(result.reason ?? '', /^users\.baseDn: the base DN "OU=Nowhere,DC=example,DC=test" does not exist/);
      assert.equal((await usersByName(wrong.store)).size, 0);
      await assert.rejects(
        testConnection(wrong),
        (error: unknown) => isDirbridgeError(error, 'directory.no_such_object') && /^users\.baseDn: .*naming contexts are /.test(error.message),
      );
      await assert.rejects(
        testSearch(wrong, 'alice'),
        (error: unknown) => isDirbridgeError(error, 'directory.no_such_object') && /^users\.baseDn: /.test(error.message),
      );
    } finally {
      await wrong.close();
      await made.cleanup();
    }
  });

  it('follows a disable, a rename, a move, a deletion and a membership change', async () => {
    const before = await usersByName(app.store);
    const ivan = adUser('ivan');
    const judy = adUser('judy');
    const frank = adUser('frank');
    const mallory = adUser('mallory');
    await dc.disableUser('ivan');
    await dc.adModify(
      [
        `dn: ${judy.dn}\nchangetype: modify\nreplace: sAMAccountName\nsAMAccountName: judy.jones\n-\n`,
        `dn: ${frank.dn}\nchangetype: modrdn\nnewrdn: CN=Frank Fischer\ndeleteoldrdn: 1\nnewsuperior: ${dc.ous.people}\n`,
        `dn: ${mallory.dn}\nchangetype: delete\n`,
        `dn: CN=Backend,${dc.ous.groups}\nchangetype: modify\ndelete: member\nmember: ${adUser('dave').dn}\n-\n`,
      ].join('\n'),
    );
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    const after = await usersByName(app.store);
    assert.equal(after.get('ivan')?.isEnabled, false);
    assert.equal(after.get('ivan')?.disabledBy, 'directory');
    assert.equal(after.get('judy.jones')?.id, before.get('judy')?.id, 'renamed user keeps the account');
    assert.equal(after.get('frank')?.id, before.get('frank')?.id, 'moved user keeps the account');
    assert.equal(after.get('frank')?.dn, `CN=Frank Fischer,${dc.ous.people}`);
    assert.equal(after.get('mallory')?.isEnabled, false);
    assert.equal(after.get('mallory')?.disabledBy, 'sync');
    const members = await membersByGroup(app.store);
    assert.deepEqual(members.get('Backend'), ['carol']);
    assert.equal(members.get('Engineering')?.includes('dave'), false);

    await dc.enableUser('ivan');
    const again = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(again.users.enabled, 1);
    assert.equal((await usersByName(app.store)).get('ivan')?.isEnabled, true);
    void ivan;
  });

  it('verifies TLS and credentials: StartTLS works, a wrong CA and a wrong password fail with their codes', async () => {
    const service = adUser('svc-dirbridge');
    const settings = (override: Record<string, unknown>) => merge(app.settings.directory, override) as Settings['directory'];
    const startTls = await openDirectory(settings({ urls: [dc.url], startTls: true }));
    assert.equal(startTls.security, 'starttls');
    assert.equal(startTls.rootDse.serverType, 'active-directory');
    await startTls.close();
    await assert.rejects(openDirectory(settings({ tls: { caFile: dc.otherCaFile } })), (error) => isDirbridgeError(error, 'directory.tls_failure'));
    await assert.rejects(openDirectory(settings({ bindPassword: 'wrong-password' })), (error) => {
      assert.ok(isDirbridgeError(error, 'directory.invalid_credentials'));
      assert.equal(error.details['adCode'], '52e');
      return true;
    });
    void service;
  });

  it('refuses, changing nothing, when the DC dies in the middle of a paged read', async () => {
    const picture = await storePicture(app.store);
    const { result, interrupted: killed } = await syncInterruptedAfter(app, 5, () => dc.kill('SIGKILL'));
    assert.ok(killed);
    assert.equal(result.status, 'refused', result.reason ?? '');
    assert.match(result.reason ?? '', /incomplete read of users/);
    assert.equal(await storePicture(app.store), picture);
    await dc.restart();
  });
});
