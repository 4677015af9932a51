/**
 * Sync and write-back (issue #10) against a real OpenLDAP: a pending write holds its field (sync
 * does not copy the directory's stale value back, full sync or one-user sync), and once delivered
 * there is nothing to echo; in unsynced mode a local change is kept, and when the directory changes
 * the field too the conflict is recorded and the authority's side wins, under both authorities.
 *
 * Local changes go through the write-back service (app.writeBack) where it can leave a write
 * pending (slapd frozen while it runs) or keep it unsynced; elsewhere they are committed as the
 * service commits them (store value, baseline and outbox row in one transaction) with the row left
 * pending. The directory is changed as cn=admin; delivery is the real deliverer or marked done.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import type { DirectoryConnection } from '../src/directory/index.ts';
import { openWritableDirectory } from '../src/directory/index.ts';
import type { UserRecord } from '../src/model/index.ts';
import { PRIMARY_DIRECTORY_ID } from '../src/model/writeback.ts';
import type { SyncResult } from '../src/sync/run-sync.ts';
import { syncOneUser } from '../src/sync/sync-one-user.ts';
import { deliverDue } from '../src/writeback/deliver.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { slapdDirectorySettings } from './helpers/directory.ts';
import { membersByGroup, merge, settingsFor, usersByName } from './helpers/harness.ts';
import { rejectsLogin } from './helpers/login.ts';
import { rejectsWithCode } from './helpers/rejects.ts';

const PEOPLE = ['wb-anna', 'wb-ben', 'wb-cleo', 'wb-dora', 'wb-eve', 'wb-finn'];
const PASSWORD = 'Write-back-1';

function documentFor(
  slapd: Slapd,
  writeBack: Record<string, unknown>,
  bind = { bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
): Record<string, unknown> {
  return {
    directory: { urls: [slapd.url], ...bind, connectTimeoutMs: 2_000, operationTimeoutMs: 5_000 },
    users: { baseDn: `ou=people,${slapd.baseDn}`, filter: '(objectClass=inetOrgPerson)' },
    groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member'] },
    sync: { disableMissingUsers: true, activeState: 'both' },
    writeBack: merge({ enabled: true }, writeBack),
  };
}

describe('sync with write-back against OpenLDAP', () => {
  let slapd: Slapd;
  const opened: Array<{ app: App; cleanup: () => Promise<void> }> = [];

  before(async () => {
    slapd = await startSlapd();
    await slapd.ldapadd(
      PEOPLE.map((uid) =>
        [
          `dn: uid=${uid},ou=people,${slapd.baseDn}`,
          'objectClass: inetOrgPerson',
          `uid: ${uid}`,
          `cn: ${uid}`,
          'sn: Directory',
          `mail: ${uid}@directory.example`,
          `displayName: ${uid} (directory)`,
          `userPassword: ${PASSWORD}`,
          '',
        ].join('\n'),
      ).join('\n') + ['', `dn: ${crewDn()}`, 'objectClass: groupOfNames', 'cn: wb-crew', `member: ${dnOf('wb-ben')}`, ''].join('\n'),
    );
  });

  after(async () => {
    for (const { app, cleanup } of opened) {
      await app.close();
      await cleanup();
    }
    await slapd?.stop();
  });

  /** An app with its own store over the shared slapd, synced once. */
  async function appWith(writeBack: Record<string, unknown>, bind?: { bindDn: string; bindPassword: string }): Promise<App> {
    const made = await settingsFor(documentFor(slapd, writeBack, bind));
    const app = await openApp(made.settings);
    opened.push({ app, cleanup: made.cleanup });
    const first = await sync(app);
    assert.equal(first.users.created, PEOPLE.length);
    return app;
  }

  async function sync(app: App, isDryRun = false): Promise<SyncResult> {
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun, full: true });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    return result;
  }

  async function user(app: App, uid: string): Promise<UserRecord> {
    const found = (await usersByName(app.store)).get(uid);
    assert.ok(found, uid);
    return found;
  }

  const dnOf = (uid: string) => `uid=${uid},ou=people,${slapd.baseDn}`;
  const crewDn = () => `cn=wb-crew,ou=groups,${slapd.baseDn}`;
  const stepsOf = (result: SyncResult, uid: string) => result.steps.filter((step) => 'username' in step && step.username === uid);

  /** Replaces one attribute in slapd as cn=admin: a change made in the directory. */
  const changeInDirectory = (uid: string, attribute: string, value: string) =>
    slapd.ldapmodify([`dn: ${dnOf(uid)}`, 'changetype: modify', `replace: ${attribute}`, `${attribute}: ${value}`, ''].join('\n'));

  /** An administrator's change of one field as the write-back service commits it in writable mode (the row left pending). */
  async function changeLocally(app: App, uid: string, field: 'email' | 'displayName', attribute: string, values: { from: string; to: string }) {
    const stored = await user(app, uid);
    return app.store.transaction(async (tx) => {
      await tx.users.update([{ id: stored.id, [field]: values.to }]);
      await tx.writeBack.upsertBaselines(PRIMARY_DIRECTORY_ID, [{ objectKind: 'user', objectId: stored.id, field, values: [values.from], changeMarker: null }]);
      return tx.writeBack.enqueue({
        directoryId: PRIMARY_DIRECTORY_ID,
        actor: 'admin',
        steps: [
          {
            stepKind: 'updateUser',
            subject: uid,
            objectKind: 'user',
            objectId: stored.id,
            reason: `changed by an administrator: ${field} (${attribute})`,
            change: { kind: 'modify', dn: dnOf(uid), changes: [{ kind: 'set', attribute, from: [values.from], to: [values.to] }] },
          },
        ],
      });
    });
  }

  const baselinesOf = async (app: App, userId: string) => app.store.writeBack.readBaselines(PRIMARY_DIRECTORY_ID, [{ objectKind: 'user', objectId: userId }]);
  const conflictsOf = async (app: App) => (await app.store.writeBack.listConflicts(PRIMARY_DIRECTORY_ID, {}, { limit: 100, offset: 0 })).rows;

  it('holds a field while its write is pending (full and one-user sync), and does not echo it once delivered', async () => {
    const app = await appWith({ mode: 'writable', usersDn: `ou=people,${slapd.baseDn}` });
    const [row] = await changeLocally(app, 'wb-anna', 'email', 'mail', { from: 'wb-anna@directory.example', to: 'anna@dirbridge.example' });
    assert.ok(row);

    const dryRun = await sync(app, true);
    assert.deepEqual(stepsOf(dryRun, 'wb-anna'), [], 'the dry run plans no change for anna');
    assert.ok(
      dryRun.warnings.some((warning) => warning.includes('wb-anna keeps its email held by a pending write-back')),
      dryRun.warnings.join('\n'),
    );

    // The directory changes another field meanwhile: it still comes in, the held one does not.
    await changeInDirectory('wb-anna', 'sn', 'Lund');
    const held = await sync(app);
    const updates = stepsOf(held, 'wb-anna').filter((step) => step.kind === 'updateUser');
    assert.deepEqual(
      updates.map((step) => step.kind === 'updateUser' && step.changes),
      [{ lastName: 'Lund' }],
    );
    assert.match(updates[0]?.reason ?? '', /email held by a pending write-back/);
    assert.equal((await user(app, 'wb-anna')).email, 'anna@dirbridge.example');
    assert.equal((await user(app, 'wb-anna')).lastName, 'Lund');

    // A one-user sync (as the admin API and login provisioning run it) holds it too.
    const one = await syncOneUser({ store: app.store, settings: app.settings, lookup: lookupOf(app) }, 'wb-anna', { actor: 'test' });
    assert.deepEqual(
      one.steps.filter((step) => step.kind === 'updateUser'),
      [],
    );
    assert.equal(one.user.email, 'anna@dirbridge.example');

    // Delivered: the directory holds dirbridge's value, the row is done, the baseline gone (as the deliverer leaves them).
    await changeInDirectory('wb-anna', 'mail', 'anna@dirbridge.example');
    const anna = await user(app, 'wb-anna');
    await app.store.transaction(async (tx) => {
      await tx.writeBack.markDone(row.id);
      await tx.writeBack.deleteBaselines(PRIMARY_DIRECTORY_ID, [{ objectKind: 'user', objectId: anna.id, field: 'email' }]);
    });
    const delivered = await sync(app);
    assert.deepEqual(stepsOf(delivered, 'wb-anna'), [], 'no echo: nothing to change for anna');
    assert.equal(delivered.users.updated, 0);
    assert.deepEqual(
      delivered.warnings.filter((warning) => warning.includes('pending write-back')),
      [],
    );
    assert.equal((await user(app, 'wb-anna')).email, 'anna@dirbridge.example');

    // Without a pending row the directory's value is taken again, as before write-back.
    await changeInDirectory('wb-anna', 'mail', 'anna@hr.example');
    const later = await sync(app);
    assert.deepEqual(
      stepsOf(later, 'wb-anna').map((step) => step.kind === 'updateUser' && step.changes),
      [{ email: 'anna@hr.example' }],
    );
  });

  it('end to end through the write-back service: a change slapd could not take yet is held by sync, then delivered and not echoed', async () => {
    const app = await appWith({ mode: 'writable', usersDn: `ou=people,${slapd.baseDn}` }, { bindDn: slapd.writerDn, bindPassword: slapd.writerPassword });
    slapd.kill('SIGSTOP');
    let result;
    try {
      result = await app.writeBack.users.update('wb-eve', { email: 'eve@dirbridge.example' }, { actor: 'admin:test' });
    } finally {
      slapd.kill('SIGCONT');
    }
    assert.equal(result.outcome, 'pending', result.message);
    assert.equal((await app.store.writeBack.listOpen(PRIMARY_DIRECTORY_ID, { limit: 10, offset: 0 })).total, 1);

    // slapd is back with the old value; the write waits for its retry. Sync must not undo it.
    const held = await sync(app);
    assert.deepEqual(stepsOf(held, 'wb-eve'), []);
    assert.ok(
      held.warnings.some((warning) => warning.includes('wb-eve keeps its email held by a pending write-back')),
      held.warnings.join('\n'),
    );
    assert.equal((await user(app, 'wb-eve')).email, 'eve@dirbridge.example');

    await using directory = await openWritableDirectory(slapdDirectorySettings(slapd, { bindDn: slapd.writerDn, bindPassword: slapd.writerPassword }));
    const delivered = await deliverDue(app.store, directory, {
      directoryId: PRIMARY_DIRECTORY_ID,
      settings: app.settings,
      now: () => new Date(Date.now() + 60 * 60_000),
    });
    assert.equal(delivered.done, 1);
    const after = await sync(app);
    assert.deepEqual(stepsOf(after, 'wb-eve'), [], 'no echo');
    assert.deepEqual(
      after.warnings.filter((warning) => warning.includes('pending write-back')),
      [],
    );
    assert.equal((await user(app, 'wb-eve')).email, 'eve@dirbridge.example');
  });

  it('does not bring back, by sync, one-user sync or login, a user whose directory delete failed', async () => {
    // Bound as the reader: slapd refuses the delete, which stays in the outbox as failed.
    const app = await appWith({ mode: 'writable', usersDn: `ou=people,${slapd.baseDn}`, deletion: { users: 'delete' } });
    const result = await app.writeBack.users.delete('wb-finn', { actor: 'admin:test' });
    assert.equal(result.outcome, 'failed', result.message);
    assert.equal((await usersByName(app.store)).has('wb-finn'), false, 'dirbridge deleted its account');

    const synced = await sync(app);
    const finn = synced.steps.filter((step) => 'dn' in step && step.dn === dnOf('wb-finn'));
    assert.deepEqual(
      finn.map((step) => [step.kind, step.reason]),
      [['skipUser', 'not imported: deleted in dirbridge, and the delete is pending in the write-back outbox']],
    );
    assert.equal(synced.users.created, 0);
    await rejectsWithCode(syncOneUser({ store: app.store, settings: app.settings, lookup: lookupOf(app) }, 'wb-finn', { actor: 'test' }), 'store.conflict');
    await rejectsLogin(app.login.login({ username: 'wb-finn', password: PASSWORD }), 'username_conflict');
    assert.equal((await usersByName(app.store)).has('wb-finn'), false, 'still deleted');
  });

  it('keeps a membership a pending add carries, and does not echo it once delivered', async () => {
    const app = await appWith({ mode: 'writable', usersDn: `ou=people,${slapd.baseDn}` });
    const dora = await user(app, 'wb-dora');
    const crew = (await app.store.runs.loadSyncState()).groups.find((group) => group.name === 'wb-crew');
    assert.ok(crew);
    // The administrator adds dora to wb-crew: the membership and its row in one transaction.
    const [row] = await app.store.transaction(async (tx) => {
      await tx.groups.addMemberships([{ userId: dora.id, groupId: crew.id }]);
      return tx.writeBack.enqueue({
        directoryId: PRIMARY_DIRECTORY_ID,
        actor: 'admin',
        steps: [
          {
            stepKind: 'addMember',
            subject: 'wb-crew',
            objectKind: 'group',
            objectId: crew.id,
            reason: 'wb-dora added by an administrator',
            change: { kind: 'modify', dn: crewDn(), changes: [{ kind: 'addValues', attribute: 'member', values: [dora.dn ?? ''] }] },
          },
        ],
      });
    });
    assert.ok(row);
    const held = await sync(app);
    assert.deepEqual(
      held.steps.filter((step) => step.kind === 'removeMembership'),
      [],
      'the pending membership is not removed',
    );
    assert.ok(held.warnings.includes('wb-dora stays in wb-crew: a pending write-back adds it to the group'), held.warnings.join('\n'));
    assert.deepEqual((await membersByGroup(app.store)).get('wb-crew'), ['wb-ben', 'wb-dora']);

    await slapd.ldapmodify([`dn: ${crewDn()}`, 'changetype: modify', 'add: member', `member: ${dnOf('wb-dora')}`, ''].join('\n'));
    await app.store.transaction((tx) => tx.writeBack.markDone(row.id));
    const delivered = await sync(app);
    assert.deepEqual(
      delivered.steps.filter((step) => step.kind === 'addMembership' || step.kind === 'removeMembership'),
      [],
      'no echo',
    );
    assert.deepEqual((await membersByGroup(app.store)).get('wb-crew'), ['wb-ben', 'wb-dora']);
    await slapd.ldapmodify([`dn: ${crewDn()}`, 'changetype: modify', 'delete: member', `member: ${dnOf('wb-dora')}`, ''].join('\n'));
  });

  for (const authority of ['directory', 'dirbridge'] as const) {
    it(`unsynced mode keeps a local change, and a directory change of it is a conflict the ${authority} wins`, async () => {
      const uid = authority === 'directory' ? 'wb-ben' : 'wb-cleo';
      const app = await appWith({ mode: 'unsynced', authority: { default: authority } });
      const directoryValue = `${uid} (directory)`;
      // Through the write-back service, as the CLI and admin API change it: unsynced keeps it here with its baseline.
      const local = await app.writeBack.users.update(uid, { displayName: `${uid} (local)` }, { actor: 'admin:test' });
      assert.equal(local.mode, 'unsynced', local.message);
      const id = (await user(app, uid)).id;

      const kept = await sync(app);
      assert.deepEqual(stepsOf(kept, uid), [], 'the local change is not undone');
      assert.equal((await user(app, uid)).displayName, `${uid} (local)`);
      assert.deepEqual(
        (await baselinesOf(app, id)).map((baseline) => baseline.values),
        [[directoryValue]],
      );
      assert.deepEqual(await conflictsOf(app), []);

      await changeInDirectory(uid, 'displayName', `${uid} (renamed by HR)`);
      const conflicted = await sync(app);
      const settle = stepsOf(conflicted, uid).find((step) => step.kind === 'settleLocalChange');
      assert.equal(settle?.kind === 'settleLocalChange' && settle.outcome, authority === 'directory' ? 'directoryWins' : 'dirbridgeWins');
      const conflicts = await conflictsOf(app);
      assert.equal(conflicts.length, 1);
      assert.deepEqual(
        {
          subject: conflicts[0]?.subject,
          field: conflicts[0]?.field,
          winner: conflicts[0]?.winner,
          directory: conflicts[0]?.directoryValue,
          dirbridge: conflicts[0]?.dirbridgeValue,
          baseline: conflicts[0]?.baseline,
        },
        {
          subject: uid,
          field: 'displayName',
          winner: authority,
          directory: [`${uid} (renamed by HR)`],
          dirbridge: [`${uid} (local)`],
          baseline: [directoryValue],
        },
      );
      const stored = await user(app, uid);
      if (authority === 'directory') {
        assert.equal(stored.displayName, `${uid} (renamed by HR)`, 'the store takes the directory value');
        assert.deepEqual(await baselinesOf(app, id), [], 'no local change left');
      } else {
        assert.equal(stored.displayName, `${uid} (local)`, 'the local value stays');
        assert.deepEqual(
          (await baselinesOf(app, id)).map((baseline) => baseline.values),
          [[`${uid} (renamed by HR)`]],
          'the baseline moves to the directory value',
        );
      }

      // The next sync finds nothing new: no update, no second conflict.
      const again = await sync(app);
      assert.deepEqual(stepsOf(again, uid), []);
      assert.equal((await conflictsOf(app)).length, 1);
    });
  }

  it('one-user sync and login provisioning in unsynced mode keep the local change too', async () => {
    const app = await appWith({ mode: 'unsynced' });
    await app.writeBack.users.update('wb-dora', { email: 'dora@local.example' }, { actor: 'admin:test' });
    const one = await syncOneUser({ store: app.store, settings: app.settings, lookup: lookupOf(app) }, 'wb-dora', { actor: 'test' });
    assert.deepEqual(
      one.steps.filter((step) => step.kind === 'updateUser'),
      [],
    );
    assert.equal(one.user.email, 'dora@local.example');
    // A login refreshes the account with the same planner (login.updateOnLogin is on by default).
    const login = await app.login.login({ username: 'wb-dora', password: PASSWORD });
    assert.equal(login.user.username, 'wb-dora');
    assert.equal((await user(app, 'wb-dora')).email, 'dora@local.example');
    // The control: without the baseline the same login takes the directory's value.
    await app.store.transaction((tx) => tx.writeBack.deleteBaselines(PRIMARY_DIRECTORY_ID, [{ objectKind: 'user', objectId: one.user.id, field: 'email' }]));
    await app.login.login({ username: 'wb-dora', password: PASSWORD });
    assert.equal((await user(app, 'wb-dora')).email, 'wb-dora@directory.example');
  });
});

/** A lookup over one fresh connection per call, as the admin API's one-user sync uses. */
function lookupOf(app: App) {
  return {
    async use<T>(work: (directory: DirectoryConnection) => Promise<T>): Promise<T> {
      const directory = await app.openDirectory();
      try {
        return await work(directory);
      } finally {
        await directory.close();
      }
    },
  };
}
