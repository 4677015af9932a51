/**
 * Mapping against a real Samba AD DC: nested groups through AD's in-chain matching rule (which
 * only the server can evaluate: asked once per mapped group, never once per user, with the
 * answers the per-user queries give) and through the in-memory transitive closure.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import type { DirectoryConnection } from '../src/directory/index.ts';
import { formatFilter } from '../src/ldap/filter.ts';
import { mappingSettingsSchema } from '../src/settings/schema.ts';
import { readGroupNamesForSync } from '../src/sync/read-mapping-inputs.ts';
import { readSnapshot } from '../src/sync/read-snapshot.ts';
import { adGroupDn, adUser, type SambaDc, startSambaDc } from './fixtures/samba.ts';
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
    const user = await app.store.users.findByUsername(username);
    assert.ok(user, username);
    return app.store.mapping.listUserRoles(user.id);
  };

  it('maps AD groups to channels and teams, and AD attributes to custom fields', async () => {
    const app = await appWith({
      channels: { enabled: true, channelAdmin: 'svc-dirbridge', map: { Engineering: 'eng', 'Sales, EMEA': ['sales', 'emea'] } },
      teams: { enabled: true, map: { Operations: 'Ops Team' }, userGroupsQuery: '(&(objectClass=group)(member=#{userdn}))' },
      customFields: { enabled: true, map: { department: 'department' } },
    });
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    const channels = await app.store.mapping.listChannels({ limit: 10, offset: 0 });
    assert.deepEqual(
      channels.channels.map((channel) => [channel.name, channel.memberCount, channel.ownerUsername]),
      [
        ['emea', 3, 'svc-dirbridge'],
        ['eng', 6, 'svc-dirbridge'],
        ['sales', 3, 'svc-dirbridge'],
      ],
    );
    const teams = await app.store.mapping.listTeams({ limit: 10, offset: 0 });
    assert.deepEqual(
      teams.teams.map((team) => [team.name, team.memberCount]),
      [['Ops Team', 2]],
    );
    const alice = await app.store.users.findByUsername('alice');
    assert.equal((await app.store.mapping.getUserAttributes(alice?.id ?? '')).customFields['department'], 'Engineering');
  });

  it('syncs ABAC attributes and thumbnailPhoto avatars from AD in their background jobs', async () => {
    const app = await appWith({
      abac: { enabled: true, map: { department: 'dept', proxyAddresses: 'addresses' } },
      avatars: { enabled: true, maxBytes: 4096 },
    });
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(300, 0xaa)]);
    await dc.adModify(
      `dn: ${adUser('bob').dn}\nchangetype: modify\nreplace: thumbnailPhoto\nthumbnailPhoto:: ${png.toString('base64')}\n-\nadd: proxyAddresses\nproxyAddresses: SMTP:bob@example.test\nproxyAddresses: smtp:bob.brown@example.test\n-\n`,
    );
    await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    const { runAbacSync, runAvatarSync } = await import('../src/sync/attribute-jobs.ts');
    const deps = { store: app.store, openDirectory: app.openDirectory, settings: app.settings };
    const bob = await app.store.users.findByUsername('bob');
    assert.deepEqual((await app.store.mapping.getUserAttributes(bob?.id ?? '')).abacAttributes, {
      dept: ['Engineering'],
      addresses: ['SMTP:bob@example.test', 'smtp:bob.brown@example.test'],
    });
    assert.equal((await runAbacSync(deps)).updated, 0, 'the sync already wrote them; the background pass finds nothing to change');
    const avatars = await runAvatarSync(deps);
    assert.equal(avatars.updated, 1);
    const avatar = await app.store.mapping.getAvatar(bob?.id ?? '');
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
      // The in-chain rule is asked per mapped group now, so neither path falls back to per-user queries.
      assert.deepEqual(
        result.warnings.filter((warning) => warning.includes('cannot be evaluated locally')),
        [],
      );
    });
  }

  /** A connection that records every search; with `notAd`, it reports a server that is not AD (so the per-user fallback runs). */
  function recording(directory: DirectoryConnection, options: { notAd?: boolean } = {}): DirectoryConnection & { searches: string[] } {
    const searches: string[] = [];
    const text = (filter: Parameters<DirectoryConnection['searchAll']>[0]['filter']) => (typeof filter === 'string' ? filter : formatFilter(filter));
    return {
      searches,
      url: directory.url,
      security: directory.security,
      rootDse: options.notAd === true ? { ...directory.rootDse, serverType: 'unknown' } : directory.rootDse,
      searchPages: (request) => {
        searches.push(text(request.filter));
        return directory.searchPages(request);
      },
      searchAll: (request) => {
        searches.push(text(request.filter));
        return directory.searchAll(request);
      },
      searchWithControls: (request, controls) => {
        searches.push(text(request.filter));
        return directory.searchWithControls(request, controls);
      },
      bind: (dn, password) => directory.bind(dn, password),
      close: () => directory.close(),
      [Symbol.asyncDispose]: () => directory.close(),
    };
  }

  it('asks the in-chain filter once per mapped group and gives every user the names the per-user queries give', async () => {
    // A group whose name and DN hold filter and DN specials, nesting Backend (carol, dave) and Sales, EMEA.
    const special = await dc.createGroup('R&D (core) *\\ #1', [adGroupDn('Backend'), adGroupDn('Sales, EMEA')]);
    const app = await appWith({});
    const { settings } = app;
    assert.ok(settings.groups);
    const groups = { ...settings.groups, nestedGroups: false };
    await using directory = await app.openDirectory();
    assert.equal(directory.rootDse.serverType, 'active-directory', 'Samba says it is AD, so the per-group path is taken');
    const snapshot = await readSnapshot(directory, { directory: settings.directory, users: settings.users, groups: settings.groups });
    assert.equal(snapshot.failure, undefined);
    const users = snapshot.users;
    assert.ok(users.length >= 15, `${users.length} users`);
    const names = ['Engineering', 'Backend', 'Sales, EMEA', 'Cycle A', 'All Staff', 'Empty Group', special.cn, 'No Such Group'];
    const roles = Object.fromEntries(names.map((name, index) => [name, `role-${index}`]));
    const IN_CHAIN = '(member:1.2.840.113556.1.4.1941:=#{userdn})';
    const variants: Array<{ label: string; groupSearch: Record<string, unknown>; teams?: Record<string, unknown>; groupSideSearches: number }> = [
      { label: 'each, by cn', groupSearch: { userGroupFilter: `(&(cn=#{groupName})${IN_CHAIN})` }, groupSideSearches: names.length },
      {
        label: 'each, group-side conditions',
        groupSearch: { userGroupFilter: `(&(objectClass=group)(|(cn=#{groupName})(sAMAccountName=#{groupName}))(!(cn=Cycle*))${IN_CHAIN})` },
        groupSideSearches: names.length,
      },
      { label: 'each, no #{groupName}', groupSearch: { userGroupFilter: `(&(cn=Engineering)${IN_CHAIN})` }, groupSideSearches: 1 },
      {
        label: 'once, with in-chain teams',
        groupSearch: { strategy: 'once', userGroupFilter: `(&(objectClass=group)${IN_CHAIN})`, nameAttribute: ['cn', 'sAMAccountName'] },
        teams: {
          enabled: true,
          map: { Engineering: 'Eng', 'Cycle B': 'Cycles', [special.cn]: 'RD' },
          userGroupsQuery: `(&(objectCategory=group)(member:1.2.840.113556.1.4.1941:=#{userdn}))`,
        },
        groupSideSearches: 2,
      },
    ];
    for (const variant of variants) {
      const mapping = mappingSettingsSchema.parse({
        groupSearch: { baseDn: dc.ous.groups, ...variant.groupSearch },
        roles: { enabled: true, map: roles },
        ...(variant.teams === undefined ? {} : { teams: variant.teams }),
      });
      const read = async (connection: DirectoryConnection) => {
        const warnings: string[] = [];
        const result = await readGroupNamesForSync(connection, { mapping, users: settings.users, groups }, users, snapshot.groups, (message) =>
          warnings.push(message),
        );
        return { ...result, warnings };
      };
      const perGroupConnection = recording(directory);
      const perGroup = await read(perGroupConnection);
      const perUserConnection = recording(directory, { notAd: true });
      const perUser = await read(perUserConnection);
      let members = 0;
      for (const user of users) {
        const sorted = (map: Map<string, string[]>) => [...(map.get(user.externalId) ?? ['(missing)'])].sort();
        assert.deepEqual(sorted(perGroup.groupNames), sorted(perUser.groupNames), `${variant.label}: ${user.username}`);
        assert.deepEqual(sorted(perGroup.teamGroupNames), sorted(perUser.teamGroupNames), `${variant.label}: ${user.username} (teams)`);
        members += perGroup.groupNames.get(user.externalId)?.length ?? 0;
      }
      assert.ok(members > 0, `${variant.label}: somebody is in a mapped group`);
      assert.deepEqual(perGroup.warnings, [], `${variant.label}: no per-user fallback`);
      assert.equal(perUser.warnings.length, variant.teams === undefined ? 1 : 2, `${variant.label}: the fallback is reported once per question`);
      // Per group: the group-side searches, then one memberOf search per distinct group entry found.
      const memberSearches = perGroupConnection.searches.filter((filter) => filter.startsWith('(memberOf:1.2.840.113556.1.4.1941:='));
      assert.equal(
        perGroupConnection.searches.length - memberSearches.length,
        variant.groupSideSearches,
        `${variant.label}: ${perGroupConnection.searches.join(' ')}`,
      );
      assert.ok(memberSearches.length <= names.length + 3, `${variant.label}: ${memberSearches.length} member searches`);
      // Per user: one search per user and question ('once'), or per user and mapped name ('each').
      const perUserExpected = variant.groupSearch['strategy'] === 'once' ? users.length * 2 : users.length * names.length;
      assert.equal(perUserConnection.searches.length, perUserExpected, variant.label);
      console.log(
        `in-chain ${variant.label}: ${users.length} users, ${perGroupConnection.searches.length} searches per group vs ${perUserConnection.searches.length} per user`,
      );
    }
    // The group with specials was found by name and its DN sent escaped: carol (through Backend) and heidi (through Sales, EMEA) are in it.
    const mapping = mappingSettingsSchema.parse({
      groupSearch: { baseDn: dc.ous.groups, userGroupFilter: `(&(cn=#{groupName})${IN_CHAIN})` },
      roles: { enabled: true, map: { [special.cn]: 'rd' } },
    });
    const found = await readGroupNamesForSync(directory, { mapping, users: settings.users, groups }, users, snapshot.groups, () => {});
    const inSpecial = users
      .filter((user) => (found.groupNames.get(user.externalId) ?? []).length > 0)
      .map((user) => user.username)
      .sort();
    assert.deepEqual(inSpecial, ['carol', 'dave', 'heidi', 'jose', 'jsmith']);
  });

  it('fails the in-chain read on a directory fault, never yielding partial group lists', async () => {
    const app = await appWith({});
    const { settings } = app;
    await using directory = await app.openDirectory();
    const snapshot = await readSnapshot(directory, { directory: settings.directory, users: settings.users, groups: settings.groups });
    const mapping = mappingSettingsSchema.parse({
      groupSearch: { baseDn: dc.ous.groups, userGroupFilter: '(&(cn=#{groupName})(member:1.2.840.113556.1.4.1941:=#{userdn}))' },
      roles: { enabled: true, map: { Engineering: 'dev', 'Sales, EMEA': 'sales', Operations: 'ops' } },
    });
    for (const notAd of [false, true]) {
      let searches = 0;
      const base = recording(directory, { notAd });
      const faulty: DirectoryConnection = {
        ...base,
        searchPages: (request) => {
          searches += 1;
          if (searches === 4)
            // biome-ignore lint/correctness/useYield: a paged search that fails on its first read
            return (async function* () {
              throw new Error('injected fault');
            })();
          return base.searchPages(request);
        },
        searchAll: async (request) => {
          searches += 1;
          if (searches === 4) throw new Error('injected fault');
          return base.searchAll(request);
        },
      };
      await assert.rejects(
        readGroupNamesForSync(faulty, { mapping, users: settings.users, groups: settings.groups }, snapshot.users, snapshot.groups, () => {}),
        /injected fault/,
      );
    }
  });
});
