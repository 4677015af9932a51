/**
 * Two dirbridge instances sharing one PostgreSQL database: the failed-login limit holds across
 * both, and a session started on one is valid (and revocable) on the other.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { settingsFor } from './helpers/harness.ts';
import { rejectsLogin } from './helpers/login.ts';
import { createTestDatabase, postgresProblem } from './helpers/postgres.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const problem = await postgresProblem();

describe('login across instances sharing PostgreSQL', { skip: skipUnlessCi(problem, 'PostgreSQL unreachable') }, () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let database: { url: string; drop: () => Promise<void> };
  const apps: App[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    assert.equal(problem, undefined, `PostgreSQL is required: ${problem ?? ''}`);
    organisation = generateOrganisation({ people: 20, groups: 4, seed: 4 });
    slapd = await startSlapd({ ldif: organisation.ldif, pwdMaxFailure: 1000 });
    database = await createTestDatabase();
    // Instances sharing one store share the key that seals the stored bind password.
    const env = { DIRBRIDGE_SECRET_KEY: randomBytes(32).toString('hex') };
    for (let instance = 0; instance < 2; instance += 1) {
      const made = await settingsFor({
        directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
        users: { baseDn: slapd.baseDn },
        login: { throttle: { maxFailures: 4, windowSeconds: 300, knownAddressReserve: 0 } },
        store: { url: database.url },
      });
      cleanups.push(made.cleanup);
      apps.push(await openApp(made.settings, { env }));
    }
  });

  after(async () => {
    for (const app of apps) await app.close();
    await slapd?.stop();
    await database?.drop();
    for (const cleanup of cleanups) await cleanup();
  });

  it('counts failures on either instance toward one limit', async () => {
    const [first, second] = apps;
    const target = organisation.users[5];
    assert.ok(first && second && target);
    await rejectsLogin(first.login.login({ username: target.uid, password: 'wrong-1' }), 'wrong_password');
    await rejectsLogin(second.login.login({ username: target.uid, password: 'wrong-2' }), 'wrong_password');
    await rejectsLogin(first.login.login({ username: target.uid, password: 'wrong-3' }), 'wrong_password');
    await rejectsLogin(second.login.login({ username: target.uid, password: 'wrong-4' }), 'wrong_password');
    await rejectsLogin(first.login.login({ username: target.uid, password: target.password }), 'throttled');
    await rejectsLogin(second.login.login({ username: target.uid, password: target.password }), 'throttled');
  });

  it('shares sessions: started on one instance, valid and revocable on the other', async () => {
    const [first, second] = apps;
    const target = organisation.users[6];
    assert.ok(first && second && target);
    const session = await first.login.login({ username: target.uid, password: target.password });
    assert.equal((await second.sessions.validate(session.token))?.user.id, session.user.id);
    assert.equal(await second.sessions.logout(session.token), true);
    assert.equal(await first.sessions.validate(session.token), undefined);
  });
});
