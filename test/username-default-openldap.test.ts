/**
 * `users.usernameAttribute` defaults to `uid,cn`, as RustDesk documents it (real OpenLDAP): an
 * entry without `uid` is synced and logs in under its `cn`. A store seeded before the default
 * changed carries the old value (`uid`) in its stored settings document, so it behaves exactly as
 * before: the entry without `uid` stays skipped, and the CLI's drift warning names the path.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openApp, openAppWith } from '../src/app.ts';
import { validateSettings } from '../src/settings/load.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { settingsFor } from './helpers/harness.ts';

const BASE = 'dc=example,dc=org';
const LDIF = [
  [`dn: uid=ann,ou=people,${BASE}`, 'objectClass: inetOrgPerson', 'uid: ann', 'cn: Ann Lee', 'sn: Lee', 'userPassword: password-ann'].join('\n'),
  // A service account named by cn only.
  [`dn: cn=helpdesk,ou=people,${BASE}`, 'objectClass: inetOrgPerson', 'cn: helpdesk', 'sn: Desk', 'userPassword: password-helpdesk'].join('\n'),
].join('\n\n');

describe('users.usernameAttribute defaults to uid,cn (OpenLDAP)', () => {
  let slapd: Slapd;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    slapd = await startSlapd({ ldif: LDIF });
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
  });

  /** A seed without users.usernameAttribute, as most settings files have it. */
  const document = () => ({
    directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
    users: { baseDn: `ou=people,${BASE}` },
    groups: { enabled: false, baseDn: `ou=groups,${BASE}` },
  });

  it('a new store takes uid, then cn: the cn-only entry is synced and logs in by its cn', async () => {
    const made = await settingsFor(document());
    cleanups.push(made.cleanup);
    assert.deepEqual(made.settings.users.usernameAttribute, ['uid', 'cn']);
    const app = await openApp(made.settings);
    cleanups.push(() => app.close());
    const sync = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(sync.status, 'succeeded', sync.reason ?? '');
    assert.deepEqual({ created: sync.users.created, skipped: sync.users.skipped }, { created: 2, skipped: 0 });
    assert.ok(await app.store.users.findByUsername('helpdesk'));
    const login = await app.login.login({ username: 'helpdesk', password: 'password-helpdesk' });
    assert.equal(login.user.username, 'helpdesk');
    // uid still wins where there is one.
    assert.ok(await app.store.users.findByUsername('ann'));
  });

  it('a store seeded with the old default keeps it: the stored document carries its value', async () => {
    const made = await settingsFor(document());
    cleanups.push(made.cleanup);
    // What a store seeded before the change holds: the default written out, usernameAttribute [uid].
    const old = validateSettings({ ...structuredClone(made.settings), users: { ...made.settings.users, usernameAttribute: ['uid'] } }, 'old seed');
    const seeded = await openApp(old);
    await seeded.close();

    const app = await openAppWith(made.settings.store, () => made.settings);
    cleanups.push(() => app.close());
    assert.deepEqual(app.settings.users.usernameAttribute, ['uid'], 'the stored value is in force');
    assert.deepEqual(app.settingsDrift, ['users.usernameAttribute'], 'and the CLI says the file now differs there');
    const sync = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(sync.status, 'succeeded', sync.reason ?? '');
    assert.deepEqual({ created: sync.users.created, skipped: sync.users.skipped }, { created: 1, skipped: 1 });
    assert.equal(await app.store.users.findByUsername('helpdesk'), undefined);
    assert.deepEqual(
      sync.steps.filter((step) => step.kind === 'skipUser').map((step) => step.reason),
      ['skipped (no uid)'],
    );
  });
});
