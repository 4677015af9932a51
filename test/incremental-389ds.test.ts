/**
 * Incremental sync against a real 389-DS 2.3: with the Content Synchronization plugin (RFC 4533)
 * on, `feed: 'auto'` reads content sync, and after each round of random adds, modifies, renames,
 * moves, deletes, locks, membership and nesting changes the store equals a fresh full sync into a
 * second store. 389-DS has no referential integrity by default: a renamed, moved or deleted user's
 * old DN stays in its groups, dangling, and may name someone again later; the incremental run
 * must agree with the full read on all of it. With the plugin off, `auto` polls modifyTimestamp;
 * deletes are then seen by a full sync only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { type Dirsrv, dirsrvUnavailableReason, startDirsrv } from './fixtures/dirsrv.ts';
import { generateOrganisation, organisationLdifFor389, prng } from './fixtures/sample-directory.ts';
import { merge, settingsFor } from './helpers/harness.ts';
import {
  type ChangeTarget,
  type DirectoryModel,
  directoryPicture,
  freshFullSyncPicture,
  type ModelUser,
  modelOf,
  randomChanges,
} from './helpers/incremental.ts';
import { skipUnlessCi } from './helpers/skip.ts';

function documentFor(ds: Dirsrv): Record<string, unknown> {
  return {
    directory: {
      urls: [ds.ldapsUrl],
      tls: { caFile: ds.caFile, serverName: ds.tlsServerName },
      bindDn: ds.readerDn,
      bindPassword: ds.readerPassword,
      pageSize: 25,
    },
    users: { baseDn: ds.baseDn, filter: '(objectClass=inetOrgPerson)' },
    groups: { baseDn: `ou=groups,${ds.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
    sync: {
      disableMissingUsers: true,
      activeState: 'both',
      incremental: { feed: 'auto' },
      guard: { maxDisable: { count: 1000, percent: 100 }, maxRevoke: { count: 100_000, percent: 100 } },
    },
  };
}

/** Moves a user to the other OU (people ↔ staff); member values keep the old DN (no refint). */
async function moveUser(ds: Dirsrv, user: ModelUser): Promise<string> {
  const [rdn] = user.dn.split(/(?<!\\),/);
  const to = user.dn.includes(',ou=people,') ? `ou=staff,${ds.baseDn}` : `ou=people,${ds.baseDn}`;
  await ds.ldapmodify(`dn: ${user.dn}\nchangetype: modrdn\nnewrdn: ${rdn}\ndeleteoldrdn: 1\nnewsuperior: ${to}\n`);
  const from = user.dn;
  user.dn = `${rdn},${to}`;
  return `move ${from} to ${to}`;
}

/** Adds a person at `dn` (uid RDN under ou=people or ou=staff). */
async function addUser(ds: Dirsrv, model: DirectoryModel, uid: string, dn: string, serial: number): Promise<void> {
  await ds.ldapadd(`dn: ${dn}\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: New User ${serial}\nsn: User${serial}\ngivenName: New\nmail: ${uid}@example.org\n`);
  model.users.push({ dn, uid, rdn: 'uid' });
}

/** 389-DS as the random changes' target: nsAccountLock, no referential integrity (member values dangle). */
function targetOf(ds: Dirsrv): ChangeTarget {
  return {
    baseDn: ds.baseDn,
    ldapmodify: (ldif) => ds.ldapmodify(ldif),
    lock: 'replace: nsAccountLock\nnsAccountLock: TRUE',
    unlock: 'replace: nsAccountLock\nnsAccountLock: FALSE',
  };
}

/** An incremental run, then the store compared with a fresh full sync of the same settings. */
async function incrementalEqualsFull(app: App, document: Record<string, unknown>, changes: readonly string[], total: number): Promise<void> {
  const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
  assert.equal(result.status, 'succeeded', `${result.reason}\nchanges: ${changes.join('; ')}`);
  assert.equal(result.mode, 'incremental', result.modeReason ?? '');
  assert.ok(result.entriesRead < total, `an incremental run reads part of the directory: ${result.entriesRead} of ${total} entries`);
  assert.deepEqual(await directoryPicture(app.store), await freshFullSyncPicture(document), `after: ${changes.join('; ')}`);
}

const skip = skipUnlessCi(dirsrvUnavailableReason(), '389-DS');

describe('incremental sync against 389-DS with the Content Synchronization plugin', { skip }, () => {
  let ds: Dirsrv;
  let app: App;
  let document: Record<string, unknown>;
  let cleanup: (() => Promise<void>) | undefined;
  const organisation = generateOrganisation({ people: 50, groups: 12, seed: 31 });
  const model = modelOf(organisation);
  const random = prng(17);

  before(async () => {
    ds = await startDirsrv({ contentSync: true, ldif: organisationLdifFor389(organisation) });
    console.log(`# 389-DS started in ${ds.startup.ms} ms (from template: ${ds.startup.fromTemplate}, template built now: ${ds.startup.templateBuilt})`);
    document = documentFor(ds);
    const made = await settingsFor(document);
    cleanup = made.cleanup;
    app = await openApp(made.settings);
  });

  after(async () => {
    await app?.close();
    await ds?.stop();
    await cleanup?.();
  });

  it('auto picks content sync; the first run reads everything', async () => {
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    assert.equal(result.mode, 'full');
    assert.match(result.modeReason ?? '', /no stored position/);
    const cursors = await app.store.directoryState.listCursors('primary');
    assert.deepEqual(cursors.map((cursor) => `${cursor.scope}:${cursor.source}`).sort(), ['groups:contentSync', 'users:contentSync']);
    assert.deepEqual(await directoryPicture(app.store), await freshFullSyncPicture(document));
  });

  it('an incremental run with nothing changed changes nothing (389 says refreshDeletes=false: no "everything left")', async () => {
    const before = await directoryPicture(app.store);
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    assert.equal(result.mode, 'incremental', result.modeReason ?? '');
    assert.equal(result.users.created + result.users.updated + result.users.disabled + result.memberships.added + result.memberships.removed, 0);
    assert.deepEqual(await directoryPicture(app.store), before);
  });

  for (let round = 1; round <= 4; round += 1) {
    it(`round ${round}: after random changes, the incremental run leaves the store as a fresh full sync does`, async () => {
      const changes = await randomChanges(targetOf(ds), model, random, 10, { deletes: true });
      console.log(`# round ${round}: ${changes.join('; ')}`);
      await incrementalEqualsFull(app, document, changes, model.users.length + model.groups.length);
    });
  }

  it('a user moved away loses the groups that name its old DN, and regains them when moved back', async () => {
    const user = model.users.find((candidate) => model.groups.some((group) => group.kind !== 'posixGroup' && group.members.includes(candidate.dn)));
    assert.ok(user, 'a user in a group of DNs');
    const membershipsOf = async () => (await directoryPicture(app.store)).memberships.filter((line) => line.includes(`(${user.uid}) `));
    const before = await membershipsOf();
    const away = await moveUser(ds, user);
    await incrementalEqualsFull(app, document, [away], model.users.length + model.groups.length);
    assert.ok((await membershipsOf()).length < before.length, 'the old DN no longer names the user');
    const back = await moveUser(ds, user);
    await incrementalEqualsFull(app, document, [back], model.users.length + model.groups.length);
    assert.deepEqual(await membershipsOf(), before);
  });

  it("a new user at a renamed user's old DN takes over the member values left behind", async () => {
    const user = model.users.find(
      (candidate) =>
        candidate.rdn === 'uid' &&
        candidate.dn.includes(',ou=people,') &&
        model.groups.some((group) => group.kind !== 'posixGroup' && group.members.includes(candidate.dn)),
    );
    assert.ok(user, 'a uid-named user in a group of DNs');
    const oldDn = user.dn;
    const oldUid = user.uid;
    await ds.ldapmodify(`dn: ${oldDn}\nchangetype: modrdn\nnewrdn: uid=${oldUid}.old\ndeleteoldrdn: 1\n`);
    user.dn = `uid=${oldUid}.old,ou=people,${ds.baseDn}`;
    user.uid = `${oldUid}.old`;
    await incrementalEqualsFull(app, document, [`rename ${oldDn}`], model.users.length + model.groups.length);
    await addUser(ds, model, oldUid, oldDn, 9_999_001);
    await incrementalEqualsFull(app, document, [`add ${oldDn} again`], model.users.length + model.groups.length);
    const memberships = (await directoryPicture(app.store)).memberships.filter((line) => line.includes(`(${oldUid})`));
    assert.ok(memberships.length > 0, 'the newcomer is a member through the old values');
  });

  it('sync --full reads everything and finds nothing left to catch up', async () => {
    const before = await directoryPicture(app.store);
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false, full: true });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    assert.equal(result.mode, 'full');
    assert.equal(result.users.created + result.users.updated + result.users.disabled + result.memberships.added + result.memberships.removed, 0);
    assert.deepEqual(await directoryPicture(app.store), before);
  });
});

describe('incremental sync against 389-DS without the plugin (modifyTimestamp polling)', { skip }, () => {
  let ds: Dirsrv;
  let app: App;
  let document: Record<string, unknown>;
  let cleanup: (() => Promise<void>) | undefined;
  const organisation = generateOrganisation({ people: 40, groups: 10, seed: 32 });
  const model = modelOf(organisation);
  const random = prng(18);

  before(async () => {
    ds = await startDirsrv({ ldif: organisationLdifFor389(organisation) });
    console.log(`# 389-DS started in ${ds.startup.ms} ms (from template: ${ds.startup.fromTemplate}, template built now: ${ds.startup.templateBuilt})`);
    // The overlap re-reads what changed in the last seconds; 389's modifyTimestamp has whole seconds.
    document = merge(documentFor(ds), { sync: { incremental: { timestampOverlapSeconds: 2 } } });
    const made = await settingsFor(document);
    cleanup = made.cleanup;
    app = await openApp(made.settings);
  });

  after(async () => {
    await app?.close();
    await ds?.stop();
    await cleanup?.();
  });

  it('auto picks modifyTimestamp (the RootDSE lacks the sync control); the first run reads everything', async () => {
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    assert.equal(result.mode, 'full');
    const cursors = await app.store.directoryState.listCursors('primary');
    assert.deepEqual(cursors.map((cursor) => `${cursor.scope}:${cursor.source}`).sort(), ['groups:modifyTimestamp', 'users:modifyTimestamp']);
  });

  for (let round = 1; round <= 3; round += 1) {
    it(`round ${round}: adds, modifies, renames, moves, locks and membership changes reach the store incrementally`, async () => {
      const changes = await randomChanges(targetOf(ds), model, random, 8, { deletes: false });
      console.log(`# round ${round}: ${changes.join('; ')}`);
      await incrementalEqualsFull(app, document, changes, model.users.length + model.groups.length);
    });
  }

  it('a deleted user is disabled by the full sync (polling cannot see deletes)', async () => {
    const user = model.users.find((candidate) => candidate.rdn === 'uid');
    assert.ok(user);
    await ds.ldapmodify(`dn: ${user.dn}\nchangetype: delete\n`);
    model.users = model.users.filter((candidate) => candidate !== user);
    const incremental = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(incremental.mode, 'incremental', incremental.modeReason ?? '');
    assert.equal(incremental.users.disabled, 0, 'a poll of modifyTimestamp does not see the delete');
    const full = await app.sync.runSync({ trigger: 'cli', isDryRun: false, full: true });
    assert.equal(full.status, 'succeeded', full.reason ?? '');
    assert.equal(full.mode, 'full');
    assert.equal(full.users.disabled, 1);
    const state = await app.store.runs.loadSyncState();
    const gone = state.users.find((candidate) => candidate.username === user.uid);
    assert.equal(gone?.isEnabled, false);
    assert.equal(gone?.disabledBy, 'sync');
    assert.deepEqual(await directoryPicture(app.store), await freshFullSyncPicture(document));
  });
});
