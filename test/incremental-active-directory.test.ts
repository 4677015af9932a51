/**
 * Incremental sync from Active Directory against a real Samba 4.17 DC: DirSync for an account with
 * the replication right, uSNChanged polling for one without, and a full sync when the stored
 * cookie cannot be used. After each incremental run the store is compared with a full sync into a
 * second, fresh store. One DC for the whole file (Samba listens on fixed ports); the tests run in
 * order and build on each other's changes.
 */
import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { normalizeDn } from '../src/ldap/dn.ts';
import { PRIMARY_DIRECTORY_ID } from '../src/model/index.ts';
import { createAppScheduler } from '../src/scheduler/app-jobs.ts';
import { silentLog } from '../src/scheduler/job-lock.ts';
import { ldifLine } from './fixtures/ldif.ts';
import { adGroupDn, adUser, adUserLdif, describeAdUser, type SambaDc, sambaUnavailableReason, startSambaDc } from './fixtures/samba.ts';
import { adSettingsDocument, merge, settingsFor } from './helpers/harness.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const BIG_GROUP_SIZE = 2_000;

/** What a sync leaves in the store, by directory ids: enabled users, directory groups, and their memberships. */
async function picture(app: App): Promise<{ users: string[]; groups: string[]; memberships: string[] }> {
  const state = await app.store.runs.loadSyncState();
  const enabled = state.users.filter((user) => user.isEnabled && user.externalId !== null);
  const userIds = new Map(enabled.map((user) => [user.id, user.externalId]));
  const groups = state.groups.filter((group) => group.source === 'directory' && group.externalId !== null);
  const groupIds = new Map(groups.map((group) => [group.id, group.externalId]));
  return {
    users: enabled
      .map((user) =>
        JSON.stringify([
          user.externalId,
          user.username,
          user.email,
          user.firstName,
          user.lastName,
          user.dn === null ? null : normalizeDn(user.dn),
          user.isEnabled,
        ]),
      )
      .sort(),
    groups: groups.map((group) => JSON.stringify([group.externalId, group.name, group.dn === null ? null : normalizeDn(group.dn)])).sort(),
    memberships: state.memberships
      .flatMap((pair) => {
        const user = userIds.get(pair.userId);
        const group = groupIds.get(pair.groupId);
        return user === undefined || group === undefined ? [] : [`${user} ${group}`];
      })
      .sort(),
  };
}

describe('incremental sync from Active Directory (Samba): DirSync, uSNChanged, fallbacks', { skip: skipUnlessCi(sambaUnavailableReason()) }, () => {
  let dc: SambaDc;
  let app: App;
  const cleanups: Array<() => Promise<void>> = [];

  /** Settings as an administrator (who holds the replication right) or as the unprivileged service account. */
  const document = (account: 'admin' | 'service'): Record<string, unknown> =>
    merge(adSettingsDocument(dc, account === 'admin' ? { dn: dc.adminDn, password: dc.adminPassword } : adUser('svc-dirbridge')), {
      users: {
        baseDn: dc.ous.people,
        // Disabled users leave the search: DirSync must still report them (its filter cannot be this one).
        filter: '(&(objectClass=user)(objectCategory=person)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))',
      },
      sync: { disableMissingUsers: true, missingGraceRuns: 0, guard: { maxDisable: { count: 1_000, percent: 100 } } },
    });
  const open = async (account: 'admin' | 'service'): Promise<App> => {
    const made = await settingsFor(document(account));
    cleanups.push(made.cleanup);
    return openApp(made.settings);
  };
  /** The picture a full sync gives into a fresh store. */
  const fullPicture = async (account: 'admin' | 'service' = 'admin'): Promise<Awaited<ReturnType<typeof picture>>> => {
    const fresh = await open(account);
    try {
      const result = await fresh.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'succeeded', result.reason ?? '');
      assert.equal(result.mode, 'full');
      return await picture(fresh);
    } finally {
      await fresh.close();
    }
  };
  const sync = async (target: App = app) => {
    const result = await target.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    return result;
  };
  const idOf = async (dn: string): Promise<string> => {
    const state = await app.store.runs.loadSyncState();
    const found = [...state.users, ...state.groups].find((record) => record.dn !== null && normalizeDn(record.dn) === normalizeDn(dn));
    assert.ok(found?.externalId, `${dn} is in the store`);
    return found.externalId;
  };

  before(async () => {
    dc = await startSambaDc();
    // Without fsync per transaction Samba adds users about 10x faster (test data only; the conf is per run).
    await appendFile(path.join(dc.dataDir, 'etc', 'smb.conf'), '\tldb:nosync = true\n');
    await dc.restart();
    app = await open('admin');
  });
  after(async () => {
    await app?.close();
    await dc?.stop();
    for (const cleanup of cleanups) await cleanup();
  });

  it('the first run reads everything and takes DirSync positions; the next, with nothing changed, reads nothing', async () => {
    const first = await sync();
    assert.equal(first.mode, 'full');
    assert.match(first.modeReason ?? '', /no stored position/);
    const cursors = await app.store.directoryState.listCursors(PRIMARY_DIRECTORY_ID);
    assert.deepEqual(cursors.map((cursor) => [cursor.scope, cursor.source]).sort(), [
      ['groups', 'dirSync'],
      ['users', 'dirSync'],
    ]);
    assert.match(cursors[0]?.serverIdentity ?? '', /^[0-9a-f-]{36} CN=NTDS Settings,/);
    const second = await sync();
    assert.equal(second.mode, 'incremental');
    assert.equal(second.entriesRead, 0);
    assert.deepEqual(await picture(app), await fullPicture());
  });

  it('add, modify, rename, move out, delete, disable, member added and removed, nesting: the store equals a full sync', async (t) => {
    const people = dc.ous.people;
    const group = (cn: string): string => adGroupDn(cn);
    const carolId = await idOf(adUser('carol').dn);
    const [newbie] = await dc.adAddUsers([{ sAMAccountName: 'newbie', givenName: 'New', sn: 'Bie', password: 'Newbie-Pass-1!', mail: 'newbie@example.test' }]);
    assert.ok(newbie !== undefined);
    await dc.adModify(
      `${ldifLine('dn', adUser('alice').dn)}\nchangetype: modify\nreplace: mail\nmail: alicia@example.test\n-\nreplace: givenName\ngivenName: Alicia\n-\n`,
    );
    await dc.adModify(`${ldifLine('dn', adUser('bob').dn)}\nchangetype: modrdn\nnewrdn: CN=Bobby Brown\ndeleteoldrdn: 1\n`);
    await dc.adModify(
      `${ldifLine('dn', adUser('carol').dn)}\nchangetype: modrdn\n${ldifLine('newrdn', `CN=${adUser('carol').cn}`)}\ndeleteoldrdn: 1\n${ldifLine('newsuperior', dc.ous.staff)}\n`,
    );
    await dc.adModify(`${ldifLine('dn', adUser('judy').dn)}\nchangetype: delete\n`);
    await dc.disableUser('heidi');
    await dc.addMembers(group('Sales, EMEA'), [newbie.dn, group('Frontend')]);
    await dc.addMembers(group('Empty Group'), [adUser('erin').dn]);
    await dc.adModify(`${ldifLine('dn', group('Frontend'))}\nchangetype: modify\ndelete: member\n${ldifLine('member', adUser('zoe').dn)}\n-\n`);

    const result = await sync();
    assert.equal(result.mode, 'incremental', result.modeReason ?? '');
    t.diagnostic(`entries read: ${result.entriesRead}`);
    // The changed users, the members named by changed groups, and the groups that held a moved or deleted member (12 on Samba 4.17).
    assert.ok(result.entriesRead > 0 && result.entriesRead <= 16, `entries read: ${result.entriesRead}`);
    const incremental = await picture(app);
    assert.deepEqual(incremental, await fullPicture());
    // The picture is not trivially equal: the changes are in it.
    const users = await app.store.runs.loadSyncState();
    const byName = new Map(users.users.map((user) => [user.username, user]));
    assert.equal(byName.get('alice')?.email, 'alicia@example.test');
    assert.equal(byName.get('newbie')?.isEnabled, true);
    assert.equal(normalizeDn(byName.get('bob')?.dn ?? ''), normalizeDn(`CN=Bobby Brown,${people}`));
    for (const gone of ['judy', 'heidi', 'carol']) assert.equal(byName.get(gone)?.isEnabled, false, `${gone} is disabled`);
    assert.ok(!incremental.memberships.some((pair) => pair.startsWith(`${carolId} `)));
  });

  it('a user created again at a deleted member’s DN is not taken for the old member; a member never synced moved into the base keeps its groups', async () => {
    const [judy] = await dc.adAddUsers([{ sAMAccountName: 'judy2', givenName: 'Judy', sn: 'Jones', password: 'Judy-Again-1!' }]);
    assert.equal(normalizeDn(judy?.dn ?? ''), normalizeDn(adUser('judy').dn), 'the same DN as the deleted judy');
    // frank (OU=Staff, outside the users' base, so never stored) is a member of Operations and All Staff.
    const frank = adUser('frank');
    await dc.adModify(
      `${ldifLine('dn', frank.dn)}\nchangetype: modrdn\n${ldifLine('newrdn', `CN=${frank.cn}`)}\ndeleteoldrdn: 1\n${ldifLine('newsuperior', dc.ous.people)}\n`,
    );
    const result = await sync();
    assert.equal(result.mode, 'incremental');
    const incremental = await picture(app);
    assert.deepEqual(incremental, await fullPicture());
    const frankId = await idOf(`CN=${frank.cn},${dc.ous.people}`);
    assert.equal(incremental.memberships.filter((pair) => pair.startsWith(`${frankId} `)).length, 2, 'frank is in Operations and All Staff');
  });

  it('a stored cookie the DC cannot use makes the next run full, with the reason; the run after is incremental again; so does another DC identity', async () => {
    const cursors = await app.store.directoryState.listCursors(PRIMARY_DIRECTORY_ID);
    const garbage = Buffer.from('not a DirSync cookie').toString('base64');
    await app.store.transaction((tx) =>
      tx.directoryState.putCursors(
        PRIMARY_DIRECTORY_ID,
        cursors.map(({ directoryId: _directoryId, updatedAt: _updatedAt, ...cursor }) => ({ ...cursor, position: garbage })),
      ),
    );
    await dc.adModify(`${ldifLine('dn', adUser('ivan').dn)}\nchangetype: modify\nreplace: sn\nsn: Ivanova\n-\n`);
    const full = await sync();
    assert.equal(full.mode, 'full');
    assert.match(full.modeReason ?? '', /could not be read from.*DirSync cookie/);
    const after = await app.store.directoryState.listCursors(PRIMARY_DIRECTORY_ID);
    assert.ok(after.every((cursor) => cursor.source === 'dirSync' && cursor.position !== garbage));
    assert.equal((await app.store.runs.loadSyncState()).users.find((user) => user.username === 'ivan')?.lastName, 'Ivanova');
    const next = await sync();
    assert.equal(next.mode, 'incremental');
    assert.equal(next.entriesRead, 0);
    // A position from another DC, or from before a restore (another invocationId), is not used.
    const current = await app.store.directoryState.listCursors(PRIMARY_DIRECTORY_ID);
    await app.store.transaction((tx) =>
      tx.directoryState.putCursors(
        PRIMARY_DIRECTORY_ID,
        current.map(({ directoryId: _directoryId, updatedAt: _updatedAt, ...cursor }) => ({
          ...cursor,
          serverIdentity: `00000000-0000-0000-0000-000000000000 ${cursor.serverIdentity?.split(' ').slice(1).join(' ')}`,
        })),
      ),
    );
    const restored = await sync();
    assert.equal(restored.mode, 'full');
    assert.match(restored.modeReason ?? '', /not the one the stored position came from/);
  });

  it('an account without the replication right polls uSNChanged instead, and gets modifications and memberships right', async () => {
    const service = await open('service');
    try {
      const first = await sync(service);
      assert.equal(first.mode, 'full');
      const cursors = await service.store.directoryState.listCursors(PRIMARY_DIRECTORY_ID);
      assert.deepEqual(
        cursors.map((cursor) => cursor.source),
        ['usnChanged', 'usnChanged'],
      );
      await dc.adModify(`${ldifLine('dn', adUser('dave').dn)}\nchangetype: modify\nreplace: mail\nmail: david@example.test\n-\n`);
      await dc.addMembers(adGroupDn('Empty Group'), [adUser('grace').dn]);
      const [polled] = await dc.adAddUsers([{ sAMAccountName: 'polled', givenName: 'Paula', sn: 'Polled', password: 'Polled-Pass-1!' }]);
      assert.ok(polled !== undefined);
      const result = await sync(service);
      assert.equal(result.mode, 'incremental', result.modeReason ?? '');
      assert.equal((await service.store.directoryState.listCursors(PRIMARY_DIRECTORY_ID))[0]?.source, 'usnChanged');
      assert.deepEqual(await picture(service), await fullPicture('service'));
      const state = await service.store.runs.loadSyncState();
      assert.equal(state.users.find((user) => user.username === 'dave')?.email, 'david@example.test');
      assert.ok(state.users.some((user) => user.username === 'polled'));
    } finally {
      await service.close();
    }
    // Naming DirSync for such an account is reported, and the run reads everything.
    const made = await settingsFor(merge(document('service'), { sync: { incremental: { feed: 'dirSync' } } }));
    cleanups.push(made.cleanup);
    const named = await openApp(made.settings);
    try {
      const result = await sync(named);
      assert.equal(result.mode, 'full');
      assert.match(result.modeReason ?? '', /names dirSync, which the bind account may not read: .*Replicating Directory Changes/);
      assert.deepEqual(await named.store.directoryState.listCursors(PRIMARY_DIRECTORY_ID), []);
    } finally {
      await named.close();
    }
    // The administrator's DirSync store catches up with the same changes.
    const caughtUp = await sync();
    assert.equal(caughtUp.mode, 'incremental');
    assert.deepEqual(await picture(app), await fullPicture());
  });

  it(`one member added to a ${BIG_GROUP_SIZE}-member group costs one value, not the group`, async (t) => {
    // Enabled accounts without a password (UF_PASSWD_NOTREQD): hashing 2,000 passwords would take a minute.
    const specs = Array.from({ length: BIG_GROUP_SIZE + 1 }, (_, i) => ({ sAMAccountName: `bulk${i}`, cn: `Bulk ${i}` }));
    await dc.adModify(specs.map((spec) => `${adUserLdif(spec)}userAccountControl: 544\n`).join('\n'));
    const users = specs.map(describeAdUser);
    const last = users.pop();
    assert.ok(last !== undefined);
    const big = await dc.createGroup(
      'Big Group',
      users.map((user) => user.dn),
    );
    const loaded = await sync();
    assert.equal(loaded.mode, 'incremental');
    assert.ok(loaded.entriesRead >= BIG_GROUP_SIZE, `entries read: ${loaded.entriesRead}`);

    await dc.addMembers(big.dn, [last.dn]);
    const result = await sync();
    assert.equal(result.mode, 'incremental');
    t.diagnostic(`entries read: ${result.entriesRead}`);
    assert.ok(result.entriesRead <= 2, `entries read: ${result.entriesRead} (the added member, read again)`);
    const incremental = await picture(app);
    const bigId = await idOf(big.dn);
    const lastId = await idOf(last.dn);
    assert.ok(incremental.memberships.includes(`${lastId} ${bigId}`), 'the added member arrives');
    assert.equal(incremental.memberships.filter((pair) => pair.endsWith(` ${bigId}`)).length, BIG_GROUP_SIZE + 1);
    assert.deepEqual(incremental, await fullPicture());
  });

  it('live sync: DirSync polled on one connection brings a change into the store within 5 s', async () => {
    const made = await settingsFor(merge(document('admin'), { sync: { live: { enabled: true, pollSeconds: 1 } } }));
    cleanups.push(made.cleanup);
    const live = await openApp(made.settings);
    const scheduler = createAppScheduler(live, { log: silentLog });
    try {
      assert.equal((await live.sync.runSync({ trigger: 'cli', isDryRun: false })).status, 'succeeded');
      await scheduler.start();
      // The watcher takes its DirSync cookie at start: changes after it are seen.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const started = performance.now();
      await dc.adModify(`${ldifLine('dn', adUser('alice').dn)}\nchangetype: modify\nreplace: mail\nmail: live.alice@example.test\n-\n`);
      for (;;) {
        const alice = (await live.store.runs.loadSyncState()).users.find((user) => user.username.toLowerCase() === 'alice');
        if (alice?.email === 'live.alice@example.test') break;
        assert.ok(performance.now() - started < 5_000, 'the change arrived within 5 s');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const runs = await live.store.runs.list({ limit: 1, offset: 0 });
      assert.equal(runs.runs[0]?.mode, 'incremental');
    } finally {
      await scheduler.stop();
      await live.close();
    }
  });
});
