/**
 * The write-back's admin HTTP routes over the real SQLite store. Reading (no directory is
 * contacted): the outbox lists pending and failed rows (never done ones) in delivery order, pages,
 * and never sends a password attribute even if a row held one; conflicts list newest first,
 * `open=true` leaves resolved ones out, and each carries its fields, winner and both values. Bad
 * paging is a 400. Acting, against a real slapd bound as the fixture's writer: retry puts a failed
 * row back and delivers it (the directory then holds the new value), keep resolves a conflict
 * once (then 409; unknown ids 404), restore writes the losing value to the directory and the store.
 * The admin guard's walk (http-admin-auth.test.ts) covers 401/403 for these routes.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type App, openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import type { ConflictPageView, OutboxPageView, RetryResultView, WriteBackConflictView } from '../src/http/routes/admin-writeback.ts';
import { createHttpServer } from '../src/http/server.ts';
import { PRIMARY_DIRECTORY_ID } from '../src/model/writeback.ts';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { type AdminSignIn, signInAdmin } from './helpers/admin-session.ts';
import { readAttribute } from './helpers/directory.ts';
import { settingsFor } from './helpers/harness.ts';

const ADMIN_PASSWORD = 'admin-password-for-writeback-routes';
const STRAY_SECRET = 'Stray-Password-That-Must-Not-Leave-1';
const BASE = 'dc=example,dc=com';

describe('write-back admin routes', () => {
  let app: App;
  let server: FastifyInstance;
  let admin: AdminSignIn;
  const cleanups: Array<() => Promise<void>> = [];
  const annaId = randomUUID();
  const groupId = randomUUID();

  before(async () => {
    const made = await settingsFor({
      directory: { urls: ['ldap://127.0.0.1:1'], bindDn: `cn=writer,${BASE}`, bindPassword: 'unused-here', connectTimeoutMs: 300 },
      users: { baseDn: BASE },
      writeBack: { enabled: true, mode: 'writable', usersDn: `ou=people,${BASE}`, groupsDn: `ou=groups,${BASE}` },
    });
    cleanups.push(made.cleanup);
    app = await openApp(made.settings);
    cleanups.push(() => app.close());
    await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    server = await createHttpServer(app, { logger: false });
    cleanups.push(() => server.close());
    admin = await signInAdmin(server, ADMIN_PASSWORD);
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const get = async (url: string) => server.inject({ method: 'GET', url, cookies: admin.cookie });

  it('lists pending and failed outbox rows in delivery order, without done rows or any password attribute', async () => {
    const annaDn = `uid=anna,ou=people,${BASE}`;
    const [created, added, failed, done] = await app.store.transaction(async (tx) => {
      const first = await tx.writeBack.enqueue({
        directoryId: PRIMARY_DIRECTORY_ID,
        actor: 'admin:admin',
        steps: [
          {
            stepKind: 'createUser',
            subject: 'anna',
            objectKind: 'user',
            objectId: annaId,
            // A row holding a password should never exist; if one did, the API must not send it.
            change: {
              kind: 'add',
              dn: annaDn,
              attributes: { objectClass: ['inetOrgPerson'], uid: ['anna'], cn: ['Anna'], sn: ['Berg'], userPassword: [STRAY_SECRET] },
            },
            reason: 'created by an administrator',
          },
          {
            stepKind: 'addMember',
            subject: 'staff',
            objectKind: 'group',
            objectId: groupId,
            change: { kind: 'modify', dn: `cn=staff,ou=groups,${BASE}`, changes: [{ kind: 'addValues', attribute: 'member', values: [annaDn] }] },
            reason: 'anna joins staff',
          },
        ],
      });
      const second = await tx.writeBack.enqueue({
        directoryId: PRIMARY_DIRECTORY_ID,
        actor: 'admin:admin',
        steps: [
          {
            stepKind: 'updateUser',
            subject: 'anna',
            objectKind: 'user',
            objectId: annaId,
            change: {
              kind: 'modify',
              dn: annaDn,
              changes: [
                { kind: 'set', attribute: 'mail', from: ['anna@old.example'], to: ['anna@example.com'] },
                { kind: 'set', attribute: 'userPassword', from: [], to: [STRAY_SECRET] },
              ],
            },
            reason: 'email changed',
          },
        ],
      });
      const third = await tx.writeBack.enqueue({
        directoryId: PRIMARY_DIRECTORY_ID,
        actor: 'admin:admin',
        steps: [
          {
            stepKind: 'deleteUser',
            subject: 'gone',
            objectKind: 'user',
            objectId: randomUUID(),
            change: { kind: 'delete', dn: `uid=gone,ou=people,${BASE}` },
            reason: 'deleted',
          },
        ],
      });
      return [first[0], first[1], second[0], third[0]];
    });
    assert.ok(created && added && failed && done);
    await app.store.transaction(async (tx) => {
      await tx.writeBack.markFailed(failed.id, { code: 'directory.insufficient_access', message: 'the bind account may not modify this entry' });
      await tx.writeBack.markDone(done.id);
    });

    const response = await get('/api/v1/admin/writeback/outbox');
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.body.includes(STRAY_SECRET), false, 'no password value leaves');
    assert.equal(/userpassword/i.test(response.body), false, 'no password attribute leaves');
    const page = response.json() as OutboxPageView;
    assert.equal(page.total, 3);
    assert.deepEqual(
      page.rows.map((row) => [row.id, row.stepKind, row.subject, row.status]),
      [
        [created.id, 'createUser', 'anna', 'pending'],
        [added.id, 'addMember', 'staff', 'pending'],
        [failed.id, 'updateUser', 'anna', 'failed'],
      ],
    );
    const [first, second, third] = page.rows;
    assert.deepEqual(first?.change, { kind: 'add', dn: annaDn, attributes: { objectClass: ['inetOrgPerson'], uid: ['anna'], cn: ['Anna'], sn: ['Berg'] } });
    assert.deepEqual(second?.change, {
      kind: 'modify',
      dn: `cn=staff,ou=groups,${BASE}`,
      changes: [{ kind: 'addValues', attribute: 'member', values: [annaDn] }],
    });
    assert.deepEqual(third?.change, {
      kind: 'modify',
      dn: annaDn,
      changes: [{ kind: 'set', attribute: 'mail', from: ['anna@old.example'], to: ['anna@example.com'] }],
    });
    assert.equal(third?.lastErrorCode, 'directory.insufficient_access');
    assert.equal(third?.lastError, 'the bind account may not modify this entry');
    assert.equal(first?.objectId, annaId);
    assert.equal(first?.actor, 'admin:admin');
    assert.equal(typeof first?.nextAttemptAt, 'string');
    assert.equal(first?.lastError, null);

    const second2 = (await get('/api/v1/admin/writeback/outbox?limit=1&offset=1')).json() as OutboxPageView;
    assert.equal(second2.total, 3);
    assert.deepEqual(
      second2.rows.map((row) => row.id),
      [added.id],
    );
    const bad = await get('/api/v1/admin/writeback/outbox?limit=0');
    assert.equal(bad.statusCode, 400, bad.body);
  });

  it('lists conflicts newest first, and only open ones with open=true', async () => {
    const [older] = await app.store.transaction((tx) =>
      tx.writeBack.recordConflicts(PRIMARY_DIRECTORY_ID, [
        {
          objectKind: 'user',
          objectId: annaId,
          subject: 'anna',
          field: 'email',
          winner: 'directory',
          directoryValue: ['anna@directory.example'],
          dirbridgeValue: ['anna@dirbridge.example'],
          baseline: ['anna@old.example'],
        },
      ]),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    const [newer] = await app.store.transaction((tx) =>
      tx.writeBack.recordConflicts(PRIMARY_DIRECTORY_ID, [
        {
          objectKind: 'user',
          objectId: annaId,
          subject: 'anna',
          field: 'lastName',
          winner: 'dirbridge',
          directoryValue: ['Berg'],
          dirbridgeValue: ['Berglund'],
          baseline: ['Bergh'],
        },
      ]),
    );
    assert.ok(older && newer);
    assert.equal(await app.store.transaction((tx) => tx.writeBack.resolveConflict(older.id, 'keep', 'admin:admin')), true);

    const all = (await get('/api/v1/admin/writeback/conflicts')).json() as ConflictPageView;
    assert.equal(all.total, 2);
    assert.deepEqual(
      all.rows.map((row) => row.id),
      [newer.id, older.id],
    );
    const [latest, resolved] = all.rows;
    assert.deepEqual(
      {
        subject: latest?.subject,
        field: latest?.field,
        winner: latest?.winner,
        directoryValue: latest?.directoryValue,
        dirbridgeValue: latest?.dirbridgeValue,
        baseline: latest?.baseline,
        resolution: latest?.resolution,
      },
      {
        subject: 'anna',
        field: 'lastName',
        winner: 'dirbridge',
        directoryValue: ['Berg'],
        dirbridgeValue: ['Berglund'],
        baseline: ['Bergh'],
        resolution: null,
      },
    );
    assert.equal(resolved?.resolution, 'keep');
    assert.equal(resolved?.resolvedBy, 'admin:admin');
    assert.equal(typeof resolved?.resolvedAt, 'string');
    assert.equal('directoryId' in (latest ?? {}), false);

    const open = (await get('/api/v1/admin/writeback/conflicts?open=true')).json() as ConflictPageView;
    assert.equal(open.total, 1);
    assert.deepEqual(
      open.rows.map((row) => row.id),
      [newer.id],
    );
    assert.equal(((await get('/api/v1/admin/writeback/conflicts?open=false')).json() as ConflictPageView).total, 2);
    assert.equal((await get('/api/v1/admin/writeback/conflicts?open=yes')).statusCode, 400);
  });
});

describe('write-back admin actions against OpenLDAP', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let app: App;
  let server: FastifyInstance;
  let admin: AdminSignIn;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    organisation = generateOrganisation({ people: 8, groups: 2, seed: 41 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.writerDn, bindPassword: slapd.writerPassword },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}` },
      writeBack: { enabled: true, mode: 'writable', usersDn: `ou=people,${slapd.baseDn}`, groupsDn: `ou=groups,${slapd.baseDn}` },
    });
    cleanups.push(made.cleanup);
    app = await openApp(made.settings);
    cleanups.push(() => app.close());
    await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    const synced = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(synced.status, 'succeeded', JSON.stringify(synced));
    server = await createHttpServer(app, { logger: false });
    cleanups.push(() => server.close());
    admin = await signInAdmin(server, ADMIN_PASSWORD);
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
  });

  const post = (url: string, payload?: Record<string, unknown>) =>
    server.inject({ method: 'POST', url, cookies: admin.cookie, headers: { 'x-csrf-token': admin.csrf }, ...(payload === undefined ? {} : { payload }) });

  /** A synced user of the sample directory, by position among those with a mail address. */
  const syncedUser = async (position: number) => {
    const sample = organisation.users.filter((user) => user.mail !== '' && !user.locked)[position];
    assert.ok(sample, 'a sample user');
    const stored = (await app.store.users.list({ search: sample.uid, limit: 10, offset: 0 })).users.find((user) => user.username === sample.uid);
    assert.ok(stored?.dn, `${sample.uid} was synced`);
    return { sample, stored, dn: stored.dn };
  };

  it('retries a failed row: put back, delivered, and the directory holds the new value', async () => {
    const { sample, stored, dn } = await syncedUser(0);
    const next = `retried.${sample.uid}@example.net`;
    const [row] = await app.store.transaction((tx) =>
      tx.writeBack.enqueue({
        directoryId: PRIMARY_DIRECTORY_ID,
        actor: 'admin:admin',
        steps: [
          {
            stepKind: 'updateUser',
            subject: sample.uid,
            objectKind: 'user',
            objectId: stored.id,
            change: { kind: 'modify', dn, changes: [{ kind: 'set', attribute: 'mail', from: [sample.mail], to: [next] }] },
            reason: 'email changed',
          },
        ],
      }),
    );
    assert.ok(row);
    await app.store.transaction((tx) => tx.writeBack.markFailed(row.id, { code: 'directory.unavailable', message: 'the directory did not answer' }));
    assert.deepEqual(await readAttribute(slapd, dn, 'mail'), [sample.mail]);

    const response = await post('/api/v1/admin/writeback/retry', { ids: [row.id] });
    assert.equal(response.statusCode, 200, response.body);
    const result = response.json() as RetryResultView;
    assert.equal(result.requeued, 1);
    assert.equal(result.run.done, 1, response.body);
    assert.deepEqual(await readAttribute(slapd, dn, 'mail'), [next]);
    assert.equal(
      (await app.store.writeBack.listOpen(PRIMARY_DIRECTORY_ID, { limit: 10, offset: 0 })).rows.some((open) => open.id === row.id),
      false,
      'no longer open',
    );
    // Nothing failed is left: a retry of all puts back nothing.
    assert.equal(((await post('/api/v1/admin/writeback/retry')).json() as RetryResultView).requeued, 0);
    assert.equal((await post('/api/v1/admin/writeback/retry', { ids: [] })).statusCode, 400, 'an empty list is refused rather than read as "all"');
  });

  it('keeps a conflict once (then 409), answers 404 for an unknown one and 400 for an unknown resolution', async () => {
    const { sample, stored } = await syncedUser(1);
    const [conflict] = await app.store.transaction((tx) =>
      tx.writeBack.recordConflicts(PRIMARY_DIRECTORY_ID, [
        {
          objectKind: 'user',
          objectId: stored.id,
          subject: sample.uid,
          field: 'firstName',
          winner: 'directory',
          directoryValue: [sample.givenName],
          dirbridgeValue: ['Someone'],
          baseline: ['Before'],
        },
      ]),
    );
    assert.ok(conflict);
    const kept = await post(`/api/v1/admin/writeback/conflicts/${conflict.id}/resolve`, { resolution: 'keep' });
    assert.equal(kept.statusCode, 200, kept.body);
    const view = kept.json() as WriteBackConflictView;
    assert.equal(view.id, conflict.id);
    assert.equal(view.resolution, 'keep');
    assert.equal(view.resolvedBy, 'admin:admin');
    assert.equal(typeof view.resolvedAt, 'string');
    assert.equal((await app.store.writeBack.getConflict(conflict.id))?.resolution, 'keep');
    assert.equal(
      (await app.store.audit.list({ action: 'writeback.conflict_resolved', limit: 10, offset: 0 })).entries.some((entry) => entry.actor === 'admin:admin'),
      true,
      'audited as the administrator',
    );

    const again = await post(`/api/v1/admin/writeback/conflicts/${conflict.id}/resolve`, { resolution: 'keep' });
    assert.equal(again.statusCode, 409, again.body);
    assert.equal(again.json().error.code, 'store.conflict');
    const unknown = await post(`/api/v1/admin/writeback/conflicts/${randomUUID()}/resolve`, { resolution: 'keep' });
    assert.equal(unknown.statusCode, 404, unknown.body);
    assert.equal(unknown.json().error.code, 'store.not_found');
    assert.equal((await post(`/api/v1/admin/writeback/conflicts/${conflict.id}/resolve`, { resolution: 'ignore' })).statusCode, 400);
  });

  it("restores the losing value: the directory and dirbridge's store both take it", async () => {
    const { sample, stored, dn } = await syncedUser(2);
    const lost = `restored.${sample.uid}@example.net`;
    const [conflict] = await app.store.transaction((tx) =>
      tx.writeBack.recordConflicts(PRIMARY_DIRECTORY_ID, [
        {
          objectKind: 'user',
          objectId: stored.id,
          subject: sample.uid,
          field: 'email',
          winner: 'directory',
          directoryValue: [sample.mail],
          dirbridgeValue: [lost],
          baseline: ['before@example.net'],
        },
      ]),
    );
    assert.ok(conflict);
    const restored = await post(`/api/v1/admin/writeback/conflicts/${conflict.id}/resolve`, { resolution: 'restore' });
    assert.equal(restored.statusCode, 200, restored.body);
    assert.equal((restored.json() as WriteBackConflictView).resolution, 'restore');
    assert.deepEqual(await readAttribute(slapd, dn, 'mail'), [lost]);
    assert.equal((await app.store.users.get(stored.id))?.email, lost);
  });
});
