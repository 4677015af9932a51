/**
 * Two dirbridge instances on one PostgreSQL database delivering one outbox to real slapd: while
 * one holds the delivery lock the other's runNow is skipped (`held_elsewhere`); calls made on
 * both at once deliver every row exactly once. The rows create entries, so a row delivered twice
 * would fail its second add (already exists) and show as failed; the counts of both instances
 * must add up to the rows. Fails (never skips) when CI is set and PostgreSQL is down.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { openDirectory } from '../src/directory/index.ts';
import type { NewOutboxStep } from '../src/model/index.ts';
import { PRIMARY_DIRECTORY_ID } from '../src/model/writeback.ts';
import { createPostgresJobLock } from '../src/scheduler/postgres-lock.ts';
import { DELIVERY_LOCK_NAME, type DeliveryRun } from '../src/writeback/delivery.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { settingsFor } from './helpers/harness.ts';
import { createTestDatabase, postgresProblem } from './helpers/postgres.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const problem = await postgresProblem();
const SECRET_KEY = randomBytes(32).toString('hex');

describe('write-back delivery: two instances on one PostgreSQL', { skip: skipUnlessCi(problem, 'PostgreSQL unreachable') }, () => {
  let slapd: Slapd;
  let database: { url: string; drop: () => Promise<void> };
  const apps: App[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    assert.equal(problem, undefined, `PostgreSQL is required: ${problem ?? ''}`);
    database = await createTestDatabase();
    slapd = await startSlapd();
    for (let i = 0; i < 2; i += 1) {
      const made = await settingsFor({
        directory: { urls: [slapd.url], bindDn: slapd.writerDn, bindPassword: slapd.writerPassword, connectTimeoutMs: 2_000, operationTimeoutMs: 5_000 },
        users: { baseDn: slapd.baseDn },
        groups: { baseDn: `ou=groups,${slapd.baseDn}` },
        writeBack: { enabled: true, mode: 'writable', usersDn: `ou=people,${slapd.baseDn}` },
        store: { url: database.url },
      });
      cleanups.push(made.cleanup);
      apps.push(await openApp(made.settings, { env: { DIRBRIDGE_SECRET_KEY: SECRET_KEY } }));
    }
  });
  after(async () => {
    for (const app of apps) await app.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
    await database?.drop();
  });

  const person = (uid: string) => `uid=${uid},ou=people,${slapd.baseDn}`;
  const newPerson = (uid: string): NewOutboxStep => ({
    stepKind: 'createUser',
    subject: uid,
    objectKind: 'user',
    objectId: `id-${uid}`,
    reason: 'created by an administrator',
    change: { kind: 'add', dn: person(uid), attributes: { objectClass: ['inetOrgPerson'], uid: [uid], cn: [uid], sn: ['Test'] } },
  });
  const enqueue = (app: App, uids: string[]) =>
    app.store.transaction(async (tx) => {
      // One action per user, so every row is due at once.
      for (const uid of uids) await tx.writeBack.enqueue({ directoryId: PRIMARY_DIRECTORY_ID, actor: 'admin', steps: [newPerson(uid)] });
    });
  const sum = (runs: DeliveryRun[], key: 'done' | 'retrying' | 'failed' | 'conflicts') => runs.reduce((total, run) => total + run[key], 0);

  it('skips as held_elsewhere while another holder has the delivery lock, and delivers once it is free', async () => {
    const [a, b] = apps;
    assert.ok(a && b);
    await enqueue(a, ['pg-held']);
    const other = createPostgresJobLock(database.url);
    try {
      const handle = await other.tryAcquire(DELIVERY_LOCK_NAME);
      assert.ok(handle, 'the test holds the lock');
      for (const app of [a, b])
        assert.deepEqual(await app.writeBackDelivery.runNow(), { done: 0, retrying: 0, failed: 0, conflicts: 0, skipped: 'held_elsewhere' });
      await handle.release();
    } finally {
      await other.close();
    }
    assert.deepEqual(await b.writeBackDelivery.runNow(), { done: 1, retrying: 0, failed: 0, conflicts: 0 });
  });

  it('delivers each row exactly once when both instances run at once', async () => {
    const [a, b] = apps;
    assert.ok(a && b);
    const uids = Array.from({ length: 40 }, (_, i) => `pg-both-${i}`);
    await enqueue(b, uids);
    const runs = await Promise.all([a, b, a, b, a, b].map((app) => app.writeBackDelivery.runNow()));
    // Anything left (a call skipped while the other instance read the due rows) goes on the next call.
    runs.push(await a.writeBackDelivery.runNow());
    assert.equal(sum(runs, 'failed'), 0, `no row failed (a second add of one would): ${JSON.stringify(runs)}`);
    assert.equal(sum(runs, 'done'), uids.length, `the instances' counts add up to the rows: ${JSON.stringify(runs)}`);
    assert.ok(
      runs.some((run) => run.skipped === 'held_elsewhere'),
      `one instance found the other delivering: ${JSON.stringify(runs)}`,
    );
    const open = await a.store.writeBack.listOpen(PRIMARY_DIRECTORY_ID, { limit: 100, offset: 0 });
    assert.equal(open.total, 0, 'nothing pending or failed');
    await using reader = await openDirectory(a.settings.directory);
    const created = await reader.searchAll({
      baseDn: `ou=people,${slapd.baseDn}`,
      scope: 'one',
      filter: '(uid=pg-both-*)',
      attributes: ['uid'],
      maxEntries: 100,
    });
    assert.equal(created.length, uids.length);
  });
});
