/**
 * Group and attribute mapping against a real OpenLDAP: roles (overlapping, nested, auto-remove
 * on and off), channels created with their admin, teams, custom fields, multi-valued ABAC
 * attributes, the admin group, a renamed group, dry-run reasons — and proof that a sync's
 * number of directory searches does not grow with users × mapped groups.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { type DirectoryConnection, openDirectory } from '../src/directory/index.ts';
import type { Settings } from '../src/settings/schema.ts';
import { createSyncService } from '../src/sync/run-sync.ts';
import { generateOrganisation, type Organisation, type SampleUser } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { merge, settingsFor } from './helpers/harness.ts';

const MAPPING = {
  roles: {
    enabled: true,
    autoRemove: true,
    map: { 'division-1': 'support', engineering: ['developer', 'reviewer'], backend: 'developer', 'division-3': 'tester' },
  },
  channels: {
    enabled: true,
    autoRemove: true,
    channelAdmin: 'admin',
    map: { everyone: 'general', 'unix-admins': ['ops', 'helpdesk'], 'project-unique': 'project' },
  },
  teams: { enabled: true, map: { 'division-2': 'Team Two' }, userGroupsQuery: '(&(objectClass=groupOfNames)(member=#{userdn}))' },
  customFields: { enabled: true, map: { departmentNumber: 'department', employeeType: 'roleType' } },
  abac: { enabled: true, map: { title: 'title' } },
  adminGroup: 'cycle-a',
};

describe('mapping against OpenLDAP', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let app: App;
  const cleanups: Array<() => Promise<void>> = [];

  const document = (override: Record<string, unknown> = {}) =>
    merge(
      {
        directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword, pageSize: 50 },
        users: { baseDn: slapd.baseDn },
        groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
        mapping: MAPPING,
      },
      override,
    );

  before(async () => {
    organisation = generateOrganisation({ people: 120, groups: 20, seed: 8 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    const made = await settingsFor(document());
    cleanups.push(made.cleanup);
    app = await openApp(made.settings);
  });

  after(async () => {
    await app?.close();
    await slapd?.stop();
    for (const cleanup of cleanups) await cleanup();
  });

  const inGroup = (cn: string) => organisation.users.filter((user) => user.groups.includes(cn));
  const detail = async (user: SampleUser) => {
    const stored = await app.store.users.findByUsername(user.uid);
    assert.ok(stored, user.uid);
    return {
      stored,
      roles: await app.store.mapping.listUserRoles(stored.id),
      channels: (await app.store.mapping.listUserChannels(stored.id)).map((channel) => channel.name).sort(),
      teams: (await app.store.mapping.listUserTeams(stored.id)).map((team) => team.name),
      attributes: await app.store.mapping.getUserAttributes(stored.id),
    };
  };

  it('grants roles, channels, teams, attributes and admin rights from groups and attributes', async () => {
    const target = organisation.users.find((user) => user.uid === 'zoe.angstrom');
    assert.ok(target);
    await slapd.ldapmodify(`dn: ${target.dn}\nchangetype: modify\nadd: title\ntitle: Deputy\n`);
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');

    for (const user of inGroup('division-1').slice(0, 5)) assert.ok((await detail(user)).roles.includes('support'), user.uid);
    const nested = inGroup('backend').find((user) => !user.groups.includes('engineering'));
    assert.ok(nested, 'a backend member who is in engineering only through nesting');
    const nestedRoles = (await detail(nested)).roles;
    assert.deepEqual(
      nestedRoles.filter((role) => ['developer', 'reviewer'].includes(role)).sort(),
      ['developer', 'reviewer'],
      'overlapping roles granted once, nested membership counts',
    );

    const channels = await app.store.mapping.listChannels({ limit: 10, offset: 0 });
    assert.deepEqual(channels.channels.map((channel) => [channel.name, channel.ownerUsername]).sort(), [
      ['general', 'admin'],
      ['helpdesk', 'admin'],
      ['ops', 'admin'],
      ['project', 'admin'],
    ]);
    const general = channels.channels.find((channel) => channel.name === 'general');
    assert.equal(general?.memberCount, inGroup('everyone').length);
    const ops = channels.channels.find((channel) => channel.name === 'ops');
    assert.equal(ops?.memberCount, inGroup('unix-admins').length, 'memberUid group mapped');
    assert.equal(channels.channels.find((channel) => channel.name === 'project')?.memberCount, inGroup('project-unique').length, 'uniqueMember group mapped');

    const teams = await app.store.mapping.listTeams({ limit: 10, offset: 0 });
    assert.deepEqual(
      teams.teams.map((team) => [team.name, team.memberCount]),
      [['Team Two', inGroup('division-2').length]],
    );

    const zoe = await detail(target);
    assert.equal(zoe.attributes.customFields['department'], target.departmentNumber);
    assert.equal(zoe.attributes.customFields['roleType'], target.employeeType);
    assert.deepEqual(zoe.attributes.abacAttributes['title'], [target.title, 'Deputy'], 'multi-valued ABAC attribute keeps every value');
    for (const user of inGroup('cycle-a')) assert.equal((await detail(user)).stored.isAdmin, true, `${user.uid} in the admin group`);

    const again = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.deepEqual(
      [again.roles, again.channels, again.teams, again.attributes],
      [
        { granted: 0, revoked: 0 },
        { created: 0, added: 0, removed: 0, ownerChanged: 0 },
        { created: 0, added: 0, removed: 0 },
        { customFields: 0, abac: 0, admin: 0 },
      ],
      'a second run changes nothing',
    );
  });

  it('auto-removes with reasons a dry run shows, and keeps grants when auto-remove is off', async () => {
    const leaving = inGroup('division-1').find((user) => user.rdnAttribute === 'uid' && !user.groups.includes('everyone'));
    const division = organisation.groups.find((group) => group.cn === 'division-1');
    const everyone = organisation.groups.find((group) => group.cn === 'everyone');
    const generalLeaver = inGroup('everyone').find((user) => user.rdnAttribute === 'uid' && user !== leaving);
    assert.ok(leaving && division && everyone && generalLeaver);
    const keeper = await openApp((await settingsFor(document({ mapping: { roles: { autoRemove: false }, channels: { autoRemove: false } } }))).settings);
    cleanups.push(() => keeper.close());
    await keeper.sync.runSync({ trigger: 'cli', isDryRun: false });

    await slapd.ldapmodify(
      `dn: ${division.dn}\nchangetype: modify\ndelete: member\nmember: ${leaving.dn}\n\ndn: ${everyone.dn}\nchangetype: modify\ndelete: member\nmember: ${generalLeaver.dn}\n`,
    );
    const dry = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
    const reasons = dry.steps.map((step) => step.reason);
    assert.ok(reasons.includes('removed support: no longer in division-1'), reasons.join('\n'));
    assert.ok(reasons.includes('removed from #general: no longer in everyone'), reasons.join('\n'));
    assert.ok((await detail(leaving)).roles.includes('support'), 'the dry run changed nothing');

    const applied = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(applied.roles.revoked, 1);
    assert.equal((await detail(leaving)).roles.includes('support'), false);
    assert.equal((await detail(generalLeaver)).channels.includes('general'), false);

    const kept = await keeper.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(kept.roles.revoked, 0);
    assert.equal(kept.channels.removed, 0);
    const keptUser = await keeper.store.users.findByUsername(leaving.uid);
    assert.ok(keptUser && (await keeper.store.mapping.listUserRoles(keptUser.id)).includes('support'), 'auto-remove off keeps the role');
  });

  it('removes a mapped role when its group is renamed in the directory', async () => {
    const division = organisation.groups.find((group) => group.cn === 'division-3');
    const member = inGroup('division-3')[0];
    assert.ok(division && member);
    assert.ok((await detail(member)).roles.includes('tester'));
    await slapd.ldapmodify(`dn: ${division.dn}\nchangetype: modrdn\nnewrdn: cn=division-3b\ndeleteoldrdn: 1\n`);
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.ok(
      result.steps.some(
        (step) =>
          step.kind === 'updateGroup' &&
          step.reason ===
            `renamed from division-3 to division-3b; moved or renamed in directory from ${division.dn} to cn=division-3b,${division.dn.slice(division.dn.indexOf(',') + 1)}`,
      ),
    );
    assert.ok(result.steps.some((step) => step.kind === 'revokeRole' && step.reason === 'removed tester: no longer in division-3'));
    assert.equal((await detail(member)).roles.includes('tester'), false);
  });

  it('applies the mapping at first login too', async () => {
    const fresh = await openApp((await settingsFor(document())).settings);
    cleanups.push(() => fresh.close());
    const user = inGroup('division-2').find((candidate) => !candidate.locked);
    assert.ok(user);
    const login = await fresh.login.login({ username: user.uid, password: user.password });
    assert.equal(login.isNewUser, true);
    assert.deepEqual(
      (await fresh.store.mapping.listUserTeams(login.user.id)).map((team) => team.name),
      ['Team Two'],
    );
    assert.equal((await fresh.store.mapping.getUserAttributes(login.user.id)).customFields['department'], user.departmentNumber);
  });

  it('syncs avatars by content hash: unchanged photos are not rewritten, bad ones are skipped with a warning', async () => {
    const jpeg = (size: number, fill: number) => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(size - 4, fill)]);
    const [withPhoto, oversized, notImage, later] = organisation.users.filter((user) => user.rdnAttribute === 'uid' && !user.locked).slice(50, 54);
    assert.ok(withPhoto && oversized && notImage && later);
    const photo = (user: SampleUser, data: Buffer) => `dn: ${user.dn}\nchangetype: modify\nreplace: jpegPhoto\njpegPhoto:: ${data.toString('base64')}\n`;
    await slapd.ldapmodify(
      [photo(withPhoto, jpeg(1500, 7)), photo(oversized, jpeg(6000, 9)), photo(notImage, Buffer.from('definitely not an image'))].join('\n'),
    );
    const avatarApp = await openApp((await settingsFor(document({ mapping: { avatars: { enabled: true, maxBytes: 4096 } } }))).settings);
    cleanups.push(() => avatarApp.close());
    await avatarApp.sync.runSync({ trigger: 'cli', isDryRun: false });
    const { runAvatarSync } = await import('../src/sync/attribute-jobs.ts');
    const deps = { store: avatarApp.store, openDirectory: avatarApp.openDirectory, settings: avatarApp.settings };

    const first = await runAvatarSync(deps);
    assert.deepEqual([first.updated, first.skipped], [1, 2]);
    assert.ok(first.warnings.some((warning) => warning.includes(oversized.uid) && warning.includes('over the 4096-byte limit')));
    assert.ok(first.warnings.some((warning) => warning.includes(notImage.uid) && warning.includes('not a JPEG')));
    const stored = await avatarApp.store.users.findByUsername(withPhoto.uid);
    const avatar = await avatarApp.store.mapping.getAvatar(stored?.id ?? '');
    assert.equal(avatar?.mimeType, 'image/jpeg');
    assert.ok(avatar?.data.equals(jpeg(1500, 7)), 'bytes kept exactly');
    const skippedAudit = await avatarApp.store.audit.list({ limit: 10, offset: 0, action: 'avatar.skipped' });
    assert.equal(skippedAudit.total, 2);

    const second = await runAvatarSync(deps);
    assert.equal(second.updated, 0, 'an unchanged photo is not rewritten');
    assert.equal((await avatarApp.store.mapping.getAvatar(stored?.id ?? ''))?.updatedAt, avatar?.updatedAt);

    await slapd.ldapmodify([photo(later, jpeg(800, 3)), `dn: ${withPhoto.dn}\nchangetype: modify\ndelete: jpegPhoto\n`].join('\n'));
    const third = await runAvatarSync(deps);
    assert.deepEqual([third.updated, third.removed], [1, 1]);

    // Each stored or removed photo is a change-feed event carrying the new hash (null when removed).
    const events = (await avatarApp.store.audit.list({ limit: 10, offset: 0, action: 'user.avatar_changed' })).entries;
    const bySubject = (username: string) =>
      events.filter((event) => event.subject === username).map((event) => (event.details as { hash: string | null }).hash);
    assert.deepEqual(bySubject(withPhoto.uid), [null, avatar?.contentHash], 'stored, then removed (newest first)');
    assert.equal(bySubject(later.uid).length, 1);
    assert.equal(events.length, 3, 'an unchanged photo writes no event');
  });

  it('ABAC Background Sync rewrites only changed attributes, each with a change-feed event', async () => {
    const { runAbacSync } = await import('../src/sync/attribute-jobs.ts');
    const deps = { store: app.store, openDirectory: app.openDirectory, settings: app.settings };
    assert.equal((await runAbacSync(deps)).updated, 0, 'nothing changed since the sync');
    const promoted = organisation.users.find((user) => user.rdnAttribute === 'uid' && !user.locked && user.index > 60);
    assert.ok(promoted);
    await slapd.ldapmodify(`dn: ${promoted.dn}\nchangetype: modify\nreplace: title\ntitle: Principal Engineer\n`);
    assert.equal((await runAbacSync(deps)).updated, 1);
    const stored = await app.store.users.findByUsername(promoted.uid);
    assert.deepEqual((await app.store.mapping.getUserAttributes(stored?.id ?? '')).abacAttributes['title'], ['Principal Engineer']);
    const events = (await app.store.audit.list({ limit: 5, offset: 0, userId: stored?.id ?? '', action: 'user.updated' })).entries;
    assert.equal(events[0]?.actor, 'abac-sync');
    assert.match(events[0]?.reason ?? '', /ABAC attributes changed/);
  });

  it('gives the same roles with the "once" strategy, one filter returning all of a user\'s groups', async () => {
    const once = await openApp(
      (
        await settingsFor(
          document({ mapping: { groupSearch: { strategy: 'once', userGroupFilter: '(|(member=#{userdn})(uniqueMember=#{userdn})(memberUid=#{username}))' } } }),
        )
      ).settings,
    );
    cleanups.push(() => once.close());
    assert.equal((await once.sync.runSync({ trigger: 'cli', isDryRun: false })).status, 'succeeded');
    for (const user of inGroup('division-2').slice(0, 3).concat(inGroup('unix-admins').slice(0, 2))) {
      const mine = await once.store.users.findByUsername(user.uid);
      const theirs = await app.store.users.findByUsername(user.uid);
      assert.deepEqual(await once.store.mapping.listUserRoles(mine?.id ?? ''), await app.store.mapping.listUserRoles(theirs?.id ?? ''), user.uid);
      assert.deepEqual(
        (await once.store.mapping.listUserChannels(mine?.id ?? '')).map((channel) => channel.name),
        (await app.store.mapping.listUserChannels(theirs?.id ?? '')).map((channel) => channel.name),
        user.uid,
      );
    }
  });

  it('reloads teams on every login only when validateOnLogin is on', async () => {
    const member = inGroup('division-2').find((candidate) => !candidate.locked && candidate.rdnAttribute === 'uid');
    const team = organisation.groups.find((group) => group.cn === 'division-2');
    assert.ok(member && team);
    const validating = await openApp((await settingsFor(document())).settings);
    const frozen = await openApp((await settingsFor(document({ mapping: { teams: { validateOnLogin: false } } }))).settings);
    cleanups.push(
      () => validating.close(),
      () => frozen.close(),
    );
    const teamsOf = async (app: App) => {
      const session = await app.login.login({ username: member.uid, password: member.password });
      return (await app.store.mapping.listUserTeams(session.user.id)).map((entry) => entry.name);
    };
    assert.deepEqual(await teamsOf(validating), ['Team Two']);
    assert.deepEqual(await teamsOf(frozen), ['Team Two'], 'teams load at the first login either way');
    await slapd.ldapmodify(`dn: ${team.dn}\nchangetype: modify\ndelete: member\nmember: ${member.dn}\n`);
    assert.deepEqual(await teamsOf(validating), [], 'validated again at this login');
    assert.deepEqual(await teamsOf(frozen), ['Team Two'], 'not validated after the first login');
  });

  it('accepts * and + in Attributes to Query, with the mappers still getting what they need', async () => {
    const everything = await openApp((await settingsFor(document({ directory: { attributesToQuery: ['*', '+'] } }))).settings);
    cleanups.push(() => everything.close());
    const result = await everything.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    const user = organisation.users[60];
    assert.ok(user);
    const stored = await everything.store.users.findByUsername(user.uid);
    assert.equal((await everything.store.mapping.getUserAttributes(stored?.id ?? '')).customFields['department'], user.departmentNumber);
    assert.match(stored?.externalId ?? '', /^[0-9a-f-]{36}$/);
  });

  it('reassigns or removes the owner of directory channels when sync disables it, and follows the Channel Admin setting', async () => {
    // Last in this file: it locks and deletes directory entries.
    const [owner, successor] = organisation.users.filter((user) => user.rdnAttribute === 'uid' && !user.locked && user.index > 80);
    assert.ok(owner && successor);
    const made = await settingsFor(document({ sync: { disableMissingUsers: true }, mapping: { channels: { channelAdmin: owner.uid } } }));
    cleanups.push(made.cleanup);
    const owned = await openApp(made.settings);
    cleanups.push(() => owned.close());
    const ownersNow = async () =>
      (await owned.store.mapping.listChannels({ limit: 10, offset: 0 })).channels.map((channel) => [channel.name, channel.ownerUsername]);
    assert.equal((await owned.sync.runSync({ trigger: 'cli', isDryRun: false })).status, 'succeeded');
    await owned.store.transaction((tx) => tx.mapping.insertChannels([{ name: 'lounge', ownerUsername: owner.uid, source: 'local' }]));
    assert.deepEqual(await ownersNow(), [
      ['general', owner.uid],
      ['helpdesk', owner.uid],
      ['lounge', owner.uid],
      ['ops', owner.uid],
      ['project', owner.uid],
    ]);

    // The owner is locked in the directory; this sync disables it and hands its channels to the new Channel Admin.
    await slapd.ldapmodify(`dn: ${owner.dn}\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n`);
    const settings = owned.settings;
    const withAdmin = (channelAdmin: string) =>
      createSyncService({
        store: owned.store,
        openDirectory: owned.openDirectory,
        settings: { ...settings, mapping: { ...settings.mapping, channels: { ...settings.mapping.channels, channelAdmin } } },
      });
    const dry = await withAdmin(successor.uid).runSync({ trigger: 'cli', isDryRun: true });
    const disable = dry.steps.find((step) => step.kind === 'disableUser' && step.username === owner.uid);
    assert.ok(disable, 'the lock disables the owner');
    const ownerSteps = dry.steps.filter((step) => step.kind === 'setChannelOwner');
    assert.deepEqual(
      ownerSteps.map((step) => step.kind === 'setChannelOwner' && [step.channel, step.ownerUsername, step.reason]),
      ['general', 'helpdesk', 'ops', 'project'].map((name) => [
        name,
        successor.uid,
        `owner ${owner.uid} disabled: ${disable.reason}; reassigned to ${successor.uid}`,
      ]),
    );
    assert.equal(dry.channels.ownerChanged, 4);
    assert.equal((await ownersNow())[0]?.[1], owner.uid, 'the dry run changed nothing');

    const reassigned = await withAdmin(successor.uid).runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(reassigned.status, 'succeeded', reassigned.reason ?? '');
    assert.equal(reassigned.channels.ownerChanged, 4);
    assert.deepEqual(
      await ownersNow(),
      [
        ['general', successor.uid],
        ['helpdesk', successor.uid],
        ['lounge', owner.uid],
        ['ops', successor.uid],
        ['project', successor.uid],
      ],
      'the local channel is never touched',
    );
    const audit = await owned.store.audit.list({ limit: 10, offset: 0, action: 'channel.owner_changed' });
    assert.equal(audit.total, 4);
    const general = audit.entries.find((entry) => entry.subject === '#general');
    assert.equal(general?.actor, 'sync');
    assert.deepEqual(general?.details, {
      channelId: general?.details && (general.details as { channelId: string }).channelId,
      channel: 'general',
      from: owner.uid,
      to: successor.uid,
    });
    const { isEventAction } = await import('../src/http/events.ts');
    assert.equal(isEventAction('channel.owner_changed'), false, 'a channel owner is no user profile fact: audit only, not the change feed');

    // The successor leaves the directory while the configured Channel Admin is the disabled owner: nobody owns the channels.
    await slapd.ldapmodify(`dn: ${successor.dn}\nchangetype: delete\n`);
    const removed = await owned.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(removed.status, 'succeeded', removed.reason ?? '');
    assert.ok(
      removed.steps.some((step) => step.kind === 'disableUser' && step.username === successor.uid && step.reason === 'no longer found in the directory'),
    );
    assert.deepEqual(
      removed.steps.flatMap((step) => (step.kind === 'setChannelOwner' && step.channel === 'general' ? [step.reason] : [])),
      [`owner ${successor.uid} disabled: no longer found in the directory; owner removed (Channel Admin ${owner.uid} is disabled too)`],
    );
    assert.deepEqual(await ownersNow(), [
      ['general', null],
      ['helpdesk', null],
      ['lounge', owner.uid],
      ['ops', null],
      ['project', null],
    ]);
    assert.equal((await owned.sync.runSync({ trigger: 'cli', isDryRun: false })).channels.ownerChanged, 0, 'settled');

    // The owner is unlocked: enabled again, it is the Channel Admin, so the ownerless channels return to it.
    await slapd.ldapmodify(`dn: ${owner.dn}\nchangetype: modify\ndelete: pwdAccountLockedTime\n`);
    const back = await owned.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(back.channels.ownerChanged, 4);
    assert.ok(back.steps.some((step) => step.kind === 'setChannelOwner' && step.reason === `no owner; assigned to Channel Admin ${owner.uid}`));
    assert.deepEqual(await ownersNow(), [
      ['general', owner.uid],
      ['helpdesk', owner.uid],
      ['lounge', owner.uid],
      ['ops', owner.uid],
      ['project', owner.uid],
    ]);
  });

  it('runs a constant number of directory searches however many users and mapped groups there are', async () => {
    const count = async (people: number, groups: number, roleMap: Record<string, string>): Promise<number> => {
      const org = generateOrganisation({ people, groups, seed: 13 });
      const server = await startSlapd({ ldif: org.ldif });
      const made = await settingsFor(
        merge(document(), {
          directory: { urls: [server.url], bindDn: server.readerDn, bindPassword: server.readerPassword, pageSize: 100_000 },
          users: { baseDn: server.baseDn },
          groups: { baseDn: `ou=groups,${server.baseDn}` },
          mapping: { roles: { map: roleMap }, channels: { map: {} }, teams: { enabled: false }, adminGroup: undefined },
        }),
      );
      const { openStore } = await import('../src/store/open-store.ts');
      const store = await openStore(made.settings.store);
      let searches = 0;
      const counting = async (): Promise<DirectoryConnection> => {
        const connection = await openDirectory(made.settings.directory);
        return {
          ...connection,
          url: connection.url,
          security: connection.security,
          rootDse: connection.rootDse,
          searchPages: (request) => {
            searches += 1;
            return connection.searchPages(request);
          },
          searchAll: (request) => {
            searches += 1;
            return connection.searchAll(request);
          },
          bind: (dn, password) => connection.bind(dn, password),
          close: () => connection.close(),
          [Symbol.asyncDispose]: () => connection.close(),
        };
      };
      try {
        const sync = createSyncService({ store, openDirectory: counting, settings: made.settings as Settings });
        const result = await sync.runSync({ trigger: 'cli', isDryRun: false });
        assert.equal(result.status, 'succeeded', result.reason ?? '');
        assert.ok(result.roles.granted > 0);
        return searches;
      } finally {
        await store.close();
        await server.stop();
        await made.cleanup();
      }
    };
    const small = await count(30, 16, { 'division-1': 'a', 'division-2': 'b' });
    const large = await count(
      300,
      30,
      Object.fromEntries(Array.from({ length: 12 }, (_, index) => [`group-000${String(14 + index).padStart(2, '0')}`, `role-${index}`])),
    );
    assert.equal(large, small, `searches: ${small} for 30 users × 2 groups, ${large} for 300 users × 12 groups`);
    assert.ok(small <= 4, `${small} searches`);
  });
});
