/**
 * Write-back delivery as the App runs it (src/writeback/delivery.ts), against real slapd with the
 * SQLite store: runNow delivers renames, moves and deletes (read back from slapd); it does
 * nothing unless write-back is writable; calls made together never deliver twice at once; with
 * slapd down the rows wait, pending, with the error and a backoff, and go once slapd is back and
 * the backoff has passed; the scheduler's `writeback-delivery` job delivers too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { openDirectory, type WritableDirectoryConnection } from '../src/directory/index.ts';
import { isDirbridgeError } from '../src/errors.ts';
import type { NewOutboxStep, OutboxRecord } from '../src/model/index.ts';
import { PRIMARY_DIRECTORY_ID } from '../src/model/writeback.ts';
import { appJobs, createAppScheduler, JOB_NAMES } from '../src/scheduler/app-jobs.ts';
import { silentLog } from '../src/scheduler/job-lock.ts';
import { writeBackSettingsSchema } from '../src/settings/schema.ts';
import { createWriteBackDelivery, deliveryLockFor } from '../src/writeback/delivery.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { settingsFor } from './helpers/harness.ts';

describe('write-back delivery: OpenLDAP', () => {
  let slapd: Slapd;
  let app: App;
  let cleanup: () => Promise<void> = async () => {};
  /** How far the App's clock is ahead of the real one (to pass a backoff). */
  let skewMs = 0;

  before(async () => {
    slapd = await startSlapd();
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.writerDn, bindPassword: slapd.writerPassword, connectTimeoutMs: 2_000, operationTimeoutMs: 5_000 },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}` },
      writeBack: { enabled: true, mode: 'writable', usersDn: `ou=people,${slapd.baseDn}` },
    });
    cleanup = made.cleanup;
    app = await openApp(made.settings, { env: { DIRBRIDGE_SECRET_KEY: randomBytes(32).toString('hex') }, now: () => new Date(Date.now() + skewMs) });
  });
  after(async () => {
    await app?.close();
    await slapd?.stop();
    await cleanup();
  });

  const people = () => `ou=people,${slapd.baseDn}`;
  const staff = () => `ou=staff,${slapd.baseDn}`;
  const person = (uid: string, parent = people()) => `uid=${uid},${parent}`;
  const newPerson = (uid: string): NewOutboxStep => ({
    stepKind: 'createUser',
    subject: uid,
    objectKind: 'user',
    objectId: `id-${uid}`,
    reason: 'created by an administrator',
    change: { kind: 'add', dn: person(uid), attributes: { objectClass: ['inetOrgPerson'], uid: [uid], cn: [uid], sn: ['Test'] } },
  });
  async function enqueue(steps: NewOutboxStep[]): Promise<OutboxRecord[]> {
    return app.store.transaction((tx) => tx.writeBack.enqueue({ directoryId: PRIMARY_DIRECTORY_ID, actor: 'admin', steps }));
  }
  async function exists(dn: string): Promise<boolean> {
    await using reader = await openDirectory({ ...app.settings.directory });
    try {
      return (await reader.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes: ['uid'], maxEntries: 1 })).length === 1;
    } catch (error) {
      if (isDirbridgeError(error, 'directory.no_such_object')) return false;
      throw error;
    }
  }
  async function rowsOf(rows: OutboxRecord[]): Promise<OutboxRecord[]> {
    const actions = [...new Set(rows.map((row) => row.actionId))];
    return (await Promise.all(actions.map((action) => app.store.writeBack.action(action)))).flat();
  }

  it('delivers an add, a rename, a move and a delete in order; slapd holds the result', async () => {
    await slapd.ldapadd([`dn: ${person('wd-gone')}`, 'objectClass: inetOrgPerson', 'uid: wd-gone', 'cn: wd-gone', 'sn: Gone', ''].join('\n'));
    const rows = await enqueue([
      newPerson('wd-frank'),
      {
        stepKind: 'renameUser',
        subject: 'wd-frank',
        objectKind: 'user',
        objectId: 'id-wd-frank',
        reason: 'renamed',
        change: { kind: 'modifyDn', dn: person('wd-frank'), newRdn: 'uid=wd-franklin' },
      },
      {
        stepKind: 'moveUser',
        subject: 'wd-franklin',
        objectKind: 'user',
        objectId: 'id-wd-frank',
        reason: 'moved',
        change: { kind: 'modifyDn', dn: person('wd-franklin'), newRdn: 'uid=wd-franklin', newParent: staff() },
      },
      {
        stepKind: 'deleteUser',
        subject: 'wd-gone',
        objectKind: 'user',
        objectId: 'id-wd-gone',
        reason: 'deleted',
        change: { kind: 'delete', dn: person('wd-gone') },
      },
    ]);
    const run = await app.writeBackDelivery.runNow();
    assert.deepEqual(run, { done: 4, retrying: 0, failed: 0, conflicts: 0 });
    assert.equal(await exists(person('wd-franklin', staff())), true, 'renamed and moved to ou=staff');
    assert.equal(await exists(person('wd-frank')), false, 'the old DN is gone');
    assert.equal(await exists(person('wd-franklin')), false, 'moved away from ou=people');
    assert.equal(await exists(person('wd-gone')), false, 'deleted');
    assert.deepEqual(
      (await rowsOf(rows)).map((row) => row.status),
      ['done', 'done', 'done', 'done'],
    );
  });

  it('delivers nothing unless write-back is on in writable mode', async () => {
    const rows = await enqueue([newPerson('wd-readonly')]);
    for (const writeBack of [
      { enabled: true, mode: 'readOnly' },
      { enabled: true, mode: 'unsynced' },
      { enabled: false, mode: 'writable', usersDn: people() },
    ]) {
      await using lock = disposable(deliveryLockFor(app.settings.store));
      const delivery = createWriteBackDelivery({
        store: app.store,
        settings: () => ({ users: app.settings.users, writeBack: writeBackSettingsSchema.parse(writeBack) }),
        openWritable: () => Promise.reject(new Error('must not open a connection')),
        now: app.now,
        lock: lock.lock,
      });
      assert.deepEqual(await delivery.runNow(), { done: 0, retrying: 0, failed: 0, conflicts: 0, skipped: 'not_writable' }, JSON.stringify(writeBack));
      assert.equal(
        appJobs({ ...app, settings: { ...app.settings, writeBack: writeBackSettingsSchema.parse(writeBack) } } as App).some(
          (job) => job.name === JOB_NAMES.writeBackDelivery,
        ),
        false,
      );
    }
    assert.equal((await rowsOf(rows))[0]?.status, 'pending');
    assert.equal(await exists(person('wd-readonly')), false);
    await app.writeBackDelivery.runNow();
    assert.equal(await exists(person('wd-readonly')), true);
  });

  it('coalesces calls made together: one delivery at a time, each row delivered once, a call during a pass gets the next pass', async () => {
    const uids = ['wd-c1', 'wd-c2', 'wd-c3', 'wd-c4'];
    const rows = await enqueue(uids.map(newPerson));
    let open = 0;
    let mostOpen = 0;
    let opened = 0;
    const adds: string[] = [];
    await using lock = disposable(deliveryLockFor(app.settings.store));
    const delivery = createWriteBackDelivery({
      store: app.store,
      settings: () => app.settings,
      // The real connection, counted: how many are open at once, and every add sent.
      openWritable: async () => {
        const connection = await app.openWritableDirectory();
        opened += 1;
        open += 1;
        mostOpen = Math.max(mostOpen, open);
        return counting(connection, adds, () => (open -= 1));
      },
      now: app.now,
      lock: lock.lock,
    });
    const first = delivery.runNow();
    const during = [delivery.runNow(), delivery.runNow()];
    const [firstRun, ...duringRuns] = await Promise.all([first, ...during]);
    assert.deepEqual(firstRun, { done: 4, retrying: 0, failed: 0, conflicts: 0 });
    // The calls made during the first pass share the next one, which found nothing due.
    assert.equal(during[0], during[1], 'one promise for the calls made during a pass');
    assert.deepEqual(duringRuns[0], { done: 0, retrying: 0, failed: 0, conflicts: 0 });
    assert.equal(mostOpen, 1, 'never two deliveries at once');
    assert.equal(opened, 1, 'a pass with nothing due opens no connection');
    assert.deepEqual(adds.sort(), uids.map((uid) => person(uid)).sort(), 'each row sent once');
    assert.deepEqual(
      (await rowsOf(rows)).map((row) => row.status),
      ['done', 'done', 'done', 'done'],
    );
  });

  it('keeps the rows pending with the error and a backoff while slapd is down, and delivers them once it is back and the backoff passed', async () => {
    const rows = await enqueue([newPerson('wd-down1'), newPerson('wd-down2')]);
    const [second] = await enqueue([newPerson('wd-down3')]);
    slapd.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = Date.now() + skewMs;
    const down = await app.writeBackDelivery.runNow();
    // The first row of each action was due; the one behind it waits for it.
    assert.deepEqual(down, { done: 0, retrying: 2, failed: 0, conflicts: 0 });
    const waiting = await rowsOf([...rows, second!]);
    for (const row of waiting) assert.equal(row.status, 'pending');
    const attempted = waiting.filter((row) => row.attempts > 0);
    assert.deepEqual(attempted.map((row) => row.subject).sort(), ['wd-down1', 'wd-down3']);
    for (const row of attempted) {
      assert.equal(row.attempts, 1);
      assert.equal(row.lastErrorCode, 'directory.unavailable', row.lastError ?? '');
      assert.ok(row.lastError !== null && row.lastError.length > 0, 'the error is shown');
      assert.ok(Date.parse(row.nextAttemptAt) >= before + 4_000, `backed off: next attempt at ${row.nextAttemptAt}`);
    }
    const listed = await app.store.writeBack.listOpen(PRIMARY_DIRECTORY_ID, { limit: 10, offset: 0 });
    assert.ok(
      listed.rows.some((row) => row.lastErrorCode === 'directory.unavailable'),
      'writeback list shows the error',
    );

    await slapd.restart();
    assert.deepEqual(await app.writeBackDelivery.runNow(), { done: 0, retrying: 0, failed: 0, conflicts: 0 }, 'nothing is due before the backoff ends');
    skewMs += 60_000;
    assert.deepEqual(await app.writeBackDelivery.runNow(), { done: 3, retrying: 0, failed: 0, conflicts: 0 });
    for (const uid of ['wd-down1', 'wd-down2', 'wd-down3']) assert.equal(await exists(person(uid)), true, uid);
    assert.deepEqual(
      (await rowsOf([...rows, second!])).map((row) => row.status),
      ['done', 'done', 'done'],
    );
  });

  it("delivers as the scheduler's writeback-delivery job", async () => {
    await enqueue([newPerson('wd-job')]);
    const job = appJobs(app).find((candidate) => candidate.name === JOB_NAMES.writeBackDelivery);
    assert.ok(job, 'the job is on in writable mode');
    assert.equal(job.runOnStart, true);
    const scheduler = createAppScheduler(app, { log: silentLog, jobs: [job] });
    try {
      const outcome = await scheduler.runNow(JOB_NAMES.writeBackDelivery);
      assert.ok(outcome.ran);
      assert.equal(outcome.run.outcome, 'succeeded', outcome.run.message ?? '');
      assert.equal(outcome.run.message, '1 delivered, 0 retrying, 0 failed, 0 conflict(s)');
    } finally {
      await scheduler.stop();
    }
    assert.equal(await exists(person('wd-job')), true);
  });
});

/** A lock closed at the end of the block. */
function disposable(lock: ReturnType<typeof deliveryLockFor>) {
  return { lock, [Symbol.asyncDispose]: () => lock.close() };
}

/** `connection` with every add recorded in `adds` and `onClose` called once when it closes. */
function counting(connection: WritableDirectoryConnection, adds: string[], onClose: () => void): WritableDirectoryConnection {
  let closed = false;
  return Object.assign(Object.create(connection) as WritableDirectoryConnection, {
    add: (dn: string, ...rest: unknown[]) => {
      adds.push(dn);
      return (connection.add as (...args: unknown[]) => Promise<void>).call(connection, dn, ...rest);
    },
    close: async () => {
      if (!closed) {
        closed = true;
        onClose();
      }
      await connection.close();
    },
  });
}
