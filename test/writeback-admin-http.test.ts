/**
 * The write-back's admin HTTP routes over the real SQLite store (no directory is contacted):
 * the outbox lists pending and failed rows (never done ones) in delivery order, pages, and never
 * sends a password attribute even if a row held one; conflicts list newest first, `open=true`
 * leaves resolved ones out, and each carries its fields, winner and both values. Bad paging is a
 * 400; the admin guard's walk (http-admin-auth.test.ts) covers 401/403 for these routes.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { openApp, type App } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import type { ConflictPageView, OutboxPageView } from '../src/http/routes/admin-writeback.ts';
import { createHttpServer } from '../src/http/server.ts';
import { PRIMARY_DIRECTORY_ID } from '../src/model/writeback.ts';
import { signInAdmin, type AdminSignIn } from './helpers/admin-session.ts';
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
            change: { kind: 'add', dn: annaDn, attributes: { objectClass: ['inetOrgPerson'], uid: ['anna'], cn: ['Anna'], sn: ['Berg'], userPassword: [STRAY_SECRET] } },
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
        steps: [{ stepKind: 'deleteUser', subject: 'gone', objectKind: 'user', objectId: randomUUID(), change: { kind: 'delete', dn: `uid=gone,ou=people,${BASE}` }, reason: 'deleted' }],
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
    assert.deepEqual(second?.change, { kind: 'modify', dn: `cn=staff,ou=groups,${BASE}`, changes: [{ kind: 'addValues', attribute: 'member', values: [annaDn] }] });
    assert.deepEqual(third?.change, { kind: 'modify', dn: annaDn, changes: [{ kind: 'set', attribute: 'mail', from: ['anna@old.example'], to: ['anna@example.com'] }] });
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
        { objectKind: 'user', objectId: annaId, subject: 'anna', field: 'email', winner: 'directory', directoryValue: ['anna@directory.example'], dirbridgeValue: ['anna@dirbridge.example'], baseline: ['anna@old.example'] },
      ]),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    const [newer] = await app.store.transaction((tx) =>
      tx.writeBack.recordConflicts(PRIMARY_DIRECTORY_ID, [
        { objectKind: 'user', objectId: annaId, subject: 'anna', field: 'lastName', winner: 'dirbridge', directoryValue: ['Berg'], dirbridgeValue: ['Berglund'], baseline: ['Bergh'] },
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
      { subject: latest?.subject, field: latest?.field, winner: latest?.winner, directoryValue: latest?.directoryValue, dirbridgeValue: latest?.dirbridgeValue, baseline: latest?.baseline, resolution: latest?.resolution },
      { subject: 'anna', field: 'lastName', winner: 'dirbridge', directoryValue: ['Berg'], dirbridgeValue: ['Berglund'], baseline: ['Bergh'], resolution: null },
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
