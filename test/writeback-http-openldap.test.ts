/**
 * Write-back over HTTP against real slapd: the admin routes need an administrator, answer with
 * each action's outcome and steps, and write the directory; the app API's own password change
 * proves the current password exactly like a login, so concurrent wrong guesses are throttled and
 * never lock the directory account.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type App, openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { createHttpServer } from '../src/http/server.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { type AdminSignIn, signInAdmin } from './helpers/admin-session.ts';
import { bindsToSlapd, readAttribute, slapdDirectorySettings } from './helpers/directory.ts';
import { settingsFor } from './helpers/harness.ts';

const ADMIN_PASSWORD = 'admin-password-for-writeback-http';

describe('write-back over HTTP: OpenLDAP', () => {
  let slapd: Slapd;
  let app: App;
  let server: FastifyInstance;
  let admin: AdminSignIn;
  const cleanups: Array<() => Promise<void>> = [];
  const people = () => `ou=people,${slapd.baseDn}`;

  before(async () => {
    slapd = await startSlapd();
    await slapd.ldapadd(
      [
        `dn: uid=wh-erin,${people()}`,
        'objectClass: inetOrgPerson',
        'uid: wh-erin',
        'cn: Erin',
        'sn: Lake',
        'mail: erin@example.test',
        'userPassword: erin-initial-1',
        '',
      ].join('\n'),
    );
    const made = await settingsFor({
      directory: { ...slapdDirectorySettings(slapd, { bindDn: slapd.writerDn, bindPassword: slapd.writerPassword }) },
      users: { baseDn: people() },
      groups: { baseDn: `ou=groups,${slapd.baseDn}` },
      login: { throttle: { maxFailures: 3, windowSeconds: 300, maxFailuresPerAddress: 1000 } },
      writeBack: { enabled: true, mode: 'writable', usersDn: people(), groupsDn: `ou=groups,${slapd.baseDn}`, passwords: true },
    });
    app = await openApp(made.settings);
    cleanups.push(made.cleanup, () => app.close());
    await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    server = await createHttpServer(app, { logger: false });
    cleanups.push(() => server.close());
    admin = await signInAdmin(server, ADMIN_PASSWORD);
    assert.equal((await app.sync.runSync({ trigger: 'cli', isDryRun: false })).status, 'succeeded');
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
  });

  const post = (url: string, payload: unknown, signedIn = true) =>
    server.inject({
      method: 'POST',
      url,
      payload: payload as Record<string, unknown>,
      ...(signedIn ? { cookies: admin.cookie, headers: { 'x-csrf-token': admin.csrf } } : {}),
    });

  const read = (dn: string, attribute: string) => readAttribute(slapd, dn, attribute);

  it('refuses every write-back route without an administrator', async () => {
    for (const url of [
      '/api/v1/admin/users',
      '/api/v1/admin/groups',
      '/api/v1/admin/users/x/password',
      '/api/v1/admin/users/x/delete',
      '/api/v1/admin/groups/x/members/add',
    ]) {
      const response = await post(url, { username: 'x', name: 'x', password: 'x', userId: 'x' }, false);
      assert.equal(response.statusCode, 401, `${url}: ${response.body}`);
    }
  });

  it('creates a user (dry run first), resets its password and changes its profile, each read back from slapd', async () => {
    const dry = await post('/api/v1/admin/users', { username: 'wh-finn', email: 'finn@example.test', lastName: 'Moss', dryRun: true });
    assert.equal(dry.statusCode, 200, dry.body);
    assert.equal(dry.json().outcome, 'planned');
    assert.equal(await app.store.users.findByUsername('wh-finn'), undefined, 'a dry run changes nothing');
    const created = await post('/api/v1/admin/users', { username: 'wh-finn', email: 'finn@example.test', lastName: 'Moss' });
    assert.equal(created.statusCode, 200, created.body);
    assert.equal(created.json().outcome, 'written');
    assert.deepEqual(
      created.json().steps.map((step: { kind: string; status: string }) => `${step.kind}:${step.status}`),
      ['createUser:done'],
    );
    const id = created.json().user.id as string;
    const dn = `uid=wh-finn,${people()}`;
    assert.deepEqual(await read(dn, 'mail'), ['finn@example.test']);

    const refused = await post(`/api/v1/admin/users/${id}/password`, { password: 'abc' });
    assert.equal(refused.statusCode, 422, refused.body);
    assert.equal(refused.json().error.code, 'directory.password_policy');
    assert.equal(JSON.stringify(refused.json()).includes('"abc"'), false, 'the password is never echoed');
    const reset = await post(`/api/v1/admin/users/${id}/password`, { password: 'finn-Reset-22' });
    assert.equal(reset.statusCode, 200, reset.body);
    assert.equal(reset.json().outcome, 'written');

    const patched = await server.inject({
      method: 'PATCH',
      url: `/api/v1/admin/users/${id}`,
      payload: { displayName: 'Finn M.' },
      cookies: admin.cookie,
      headers: { 'x-csrf-token': admin.csrf },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.equal(patched.headers['dirbridge-write-back'], 'written');
    assert.deepEqual(await read(dn, 'displayName'), ['Finn M.']);
    const audit = await app.store.audit.list({ limit: 100, offset: 0, userId: id });
    assert.equal(JSON.stringify(audit).includes('finn-Reset-22'), false, 'the password is never in the audit log');
  });

  it("changes a user's own password with the current one; concurrent wrong guesses are throttled and never lock the directory account", async () => {
    const login = await server.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'wh-erin', password: 'erin-initial-1' } });
    assert.equal(login.statusCode, 200, login.body);
    const token = login.json().token as string;
    const change = (currentPassword: string, newPassword: string) =>
      server.inject({ method: 'POST', url: '/api/v1/auth/password', payload: { currentPassword, newPassword }, headers: { authorization: `Bearer ${token}` } });
    const guesses = await Promise.all(Array.from({ length: 20 }, (_, index) => change(`wrong-guess-${index}`, 'erin-Other-333')));
    const statuses = guesses.map((response) => response.statusCode);
    assert.ok(
      statuses.every((status) => status === 401 || status === 429),
      statuses.join(','),
    );
    assert.ok(statuses.filter((status) => status === 401).length <= 3, `at most maxFailures guesses reach the directory: ${statuses.join(',')}`);
    assert.deepEqual(await read(`uid=wh-erin,${people()}`, 'pwdAccountLockedTime'), [], 'the directory account is not locked');
    assert.ok(((await read(`uid=wh-erin,${people()}`, 'pwdFailureTime')) ?? []).length <= 3, 'slapd saw at most maxFailures wrong binds');
    // The user signs in elsewhere (slapd forgets its failures), and an administrator clears dirbridge's count.
    assert.ok(await bindsToSlapd(slapd, `uid=wh-erin,${people()}`, 'erin-initial-1'));
    await app.accounts.unthrottle((await app.store.users.findByUsername('wh-erin'))!.id, 'admin:test');
    const changed = await change('erin-initial-1', 'erin-Changed-44');
    assert.equal(changed.statusCode, 204, changed.body);
    const session = await server.inject({ method: 'GET', url: '/api/v1/auth/session', headers: { authorization: `Bearer ${token}` } });
    assert.equal(session.statusCode, 200, 'the session that changed the password stays');
    const again = await server.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'wh-erin', password: 'erin-Changed-44' } });
    assert.equal(again.statusCode, 200, again.body);
    const old = await server.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'wh-erin', password: 'erin-initial-1' } });
    assert.equal(old.statusCode, 401);
  });
});
