/**
 * Mapping against a real Samba AD DC: nested groups through AD's in-chain matching rule (which
 * only the server can evaluate, so the fallback to server queries is used and reported) and
 * through the in-memory transitive closure.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openApp, type App } from '../src/app.ts';
import { adUser, startSambaDc, type SambaDc } from './fixtures/samba.ts';
import { adSettingsDocument, merge, settingsFor } from './helpers/harness.ts';

describe('mapping against Active Directory (Samba)', () => {
  let dc: SambaDc;
  const apps: App[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    dc = await startSambaDc();
  });

  after(async () => {
    for (const app of apps) await app.close();
    await dc?.stop();
    for (const cleanup of cleanups) await cleanup();
  });

  async function appWith(mapping: Record<string, unknown>): Promise<App> {
    const made = await settingsFor(merge(adSettingsDocument(dc, adUser('svc-dirbridge')), { mapping }));
    cleanups.push(made.cleanup);
    const app = await openApp(made.settings);
    apps.push(app);
    return app;
  }

  const rolesOf = async (app: App, username: string) => {
    const user = await app.store.findUserByUsername(username);
    assert.ok(user, username);
    return app.store.listUserRoles(user.id);
  };

  it('maps AD groups to channels and teams, and AD attributes to custom fields', async () => {
    const app = await appWith({
      channels: { enabled: true, channelAdmin: 'svc-dirbridge', map: { Engineering: 'eng', 'Sales, EMEA': ['sales', 'emea'] } },
      teams: { enabled: true, map: { Operations: 'Ops Team' }, userGroupsQuery: '(&(objectClass=group)(member=#{userdn}))' },
      customFields: { enabled: true, map: { department: 'department' } },
    });
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    const channels = await app.store.listChannels({ limit: 10, offset: 0 });
    assert.deepEqual(channels.channels.map((channel) => [channel.name, channel.memberCount, channel.ownerUsername]), [
      ['emea', 3, 'svc-dirbridge'],
      ['eng', 6, 'svc-dirbridge'],
      ['sales', 3, 'svc-dirbridge'],
    ]);
    const teams = await app.store.listTeams({ limit: 10, offset: 0 });
    assert.deepEqual(teams.teams.map((team) => [team.name, team.memberCount]), [['Ops Team', 2]]);
    const alice = await app.store.findUserByUsername('alice');
    assert.equal((await app.store.getUserAttributes(alice?.id ?? '')).customFields['department'], 'Engineering');
  });

  it('syncs ABAC attributes and thumbnailPhoto avatars from AD in their background jobs', async () => {
    const app = await appWith({ abac: { enabled: true, map: { department: 'dept', proxyAddresses: 'addresses' } }, avatars: { enabled: true, maxBytes: 4096 } });
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(300, 0xaa)]);
    await dc.adModify(`dn: ${adUser('bob').dn}\nchangetype: modify\nreplace: thumbnailPhoto\nthumbnailPhoto:: ${png.toString('base64')}\n-\nadd: proxyAddresses\nproxyAddresses: SMTP:bob@example.test\nproxyAddresses: smtp:bob.brown@example.test\n-\n`);
    await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    const { runAbacSync, runAvatarSync } = await import('../src/sync/attribute-jobs.ts');
    const deps = { store: app.store, openDirectory: app.openDirectory, settings: app.settings };
    const bob = await app.store.findUserByUsername('bob');
    assert.deepEqual((await app.store.getUserAttributes(bob?.id ?? '')).abacAttributes, { dept: ['Engineering'], addresses: ['SMTP:bob@example.test', 'smtp:bob.brown@example.test'] });
    assert.equal((await runAbacSync(deps)).updated, 0, 'the sync already wrote them; the background pass finds nothing to change');
    const avatars = await runAvatarSync(deps);
    assert.equal(avatars.updated, 1);
    const avatar = await app.store.getAvatar(bob?.id ?? '');
    assert.equal(avatar?.mimeType, 'image/png');
    assert.ok(avatar?.data.equals(png));
    assert.equal((await runAvatarSync(deps)).updated, 0);
  });

  for (const [label, groupSearch] of [
    ['the in-chain rule (server-side)', { userGroupFilter: '(&(cn=#{groupName})(member:1.2.840.113556.1.4.1941:=#{userdn}))' }],
    ['the in-memory closure', {}],
  ] as const) {
    it(`grants roles through nested AD groups with ${label}`, async () => {
      const app = await appWith({ groupSearch, roles: { enabled: true, autoRemove: true, map: { Engineering: 'developer', 'Sales, EMEA': 'sales' } } });
      const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'succeeded', result.reason ?? '');
      assert.deepEqual(await rolesOf(app, 'carol'), ['developer'], 'carol is in Engineering through Backend');
      assert.deepEqual(await rolesOf(app, 'alice'), ['developer']);
      assert.deepEqual(await rolesOf(app, 'jsmith'), ['sales'], 'a group name with a comma');
      assert.deepEqual(await rolesOf(app, 'frank'), []);
      const fellBack = result.warnings.some((warning) => warning.includes('cannot be evaluated locally'));
      assert.equal(fellBack, 'userGroupFilter' in groupSearch, 'only the in-chain rule needs the server, and says so once');
      assert.equal(result.warnings.filter((warning) => warning.includes('cannot be evaluated locally')).length, fellBack ? 1 : 0);
    });
  }
});
