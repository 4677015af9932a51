/**
 * The User Group Filter decides nested mapped groups on Active Directory too (real Samba DC),
 * where a filter with the in-chain rule is asked per mapped group and follows nesting itself.
 *
 * Before, with groups.nestedGroups on, the memberships read through groups.memberAttribute were
 * added to whatever the filter found, so a narrower in-chain filter could not take Engineering's
 * role from alice (a direct member) or carol (through Backend). Now the filter's answer stands, in
 * a sync and at login alike; and a plain filter still reaches carol through Backend, because it
 * admits Backend into Engineering.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { adUser, type SambaDc, startSambaDc } from './fixtures/samba.ts';
import { adSettingsDocument, merge, settingsFor } from './helpers/harness.ts';

const IN_CHAIN = '(&(cn=#{groupName})(member:1.2.840.113556.1.4.1941:=#{userdn}))';
/** Universal groups only (groupType bit 0x8): the dataset's groups are global, so it admits nobody. */
const UNIVERSAL_IN_CHAIN = '(&(cn=#{groupName})(groupType:1.2.840.113556.1.4.803:=8)(member:1.2.840.113556.1.4.1941:=#{userdn}))';
const DIRECT = '(&(cn=#{groupName})(member=#{userdn}))';

describe('the User Group Filter decides nested mapped groups (Samba AD)', () => {
  let dc: SambaDc;
  let app: App;
  let cleanup: () => Promise<void>;

  before(async () => {
    dc = await startSambaDc();
    const made = await settingsFor(
      merge(adSettingsDocument(dc, adUser('svc-dirbridge')), {
        sync: { guard: { maxRevoke: { count: 100, percent: 100 } } },
        login: { throttle: { maxFailures: 1000, windowSeconds: 60 } },
        mapping: { groupSearch: { userGroupFilter: IN_CHAIN }, roles: { enabled: true, autoRemove: true, map: { Engineering: 'developer' } } },
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

  const rolesOf = async (username: string) => {
    const user = await app.store.users.findByUsername(username);
    assert.ok(user, username);
    return [...(await app.store.mapping.listUserRoles(user.id))].sort();
  };

  async function setFilter(filter: string): Promise<void> {
    const { store: _store, ...document } = app.settings;
    await app.updateSettings(merge(structuredClone(document), { mapping: { groupSearch: { userGroupFilter: filter } } }), {
      expectedVersion: app.settingsState().version,
      actor: 'test',
    });
  }

  async function login(username: string): Promise<void> {
    await app.login.login({ username, password: adUser(username).password ?? '' });
  }

  it('a narrower in-chain filter revokes in a sync and at login; a plain filter still nests through admitted groups', async () => {
    const first = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(first.status, 'succeeded', first.reason ?? '');
    assert.deepEqual(await rolesOf('alice'), ['developer']);
    assert.deepEqual(await rolesOf('carol'), ['developer'], 'through Backend, by the in-chain rule');

    await setFilter(UNIVERSAL_IN_CHAIN);
    await login('carol');
    assert.deepEqual(await rolesOf('carol'), [], 'the login revokes: the filter admits nobody into Engineering');
    const narrowed = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(narrowed.status, 'succeeded', narrowed.reason ?? '');
    assert.deepEqual(await rolesOf('alice'), [], 'a direct member too: memberAttribute does not override the filter');
    const revoked = narrowed.steps.filter((step) => step.kind === 'revokeRole').map((step) => step.username);
    assert.ok(revoked.includes('alice') && revoked.includes('dave'), `directly and through Backend: ${revoked.join(', ')}`);
    assert.equal(revoked.includes('carol'), false, "carol's login already took it: the sync agrees");
    assert.equal(
      narrowed.steps.some((step) => step.kind === 'grantRole'),
      false,
    );

    await setFilter(DIRECT);
    const direct = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(direct.status, 'succeeded', direct.reason ?? '');
    assert.deepEqual(await rolesOf('carol'), ['developer'], 'Engineering lists Backend: the filter admits it, and carol is in Backend');
    assert.deepEqual(await rolesOf('alice'), ['developer']);
    await login('carol');
    await login('alice');
    assert.deepEqual((await app.sync.runSync({ trigger: 'cli', isDryRun: true })).steps, [], 'logins and the sync agree');
  });
});
