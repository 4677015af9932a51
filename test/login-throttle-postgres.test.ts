/**
 * The login throttle across two dirbridge instances sharing one PostgreSQL database, against a real
 * OpenLDAP whose ppolicy locks at the 5th failure: concurrent guesses sent to both instances get
 * exactly as far as one instance would let them (advisory locks make the reservations atomic), and
 * an address remembered by one instance is known to the other. Guesses are counted on slapd's side.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { type App, openApp } from '../src/app.ts';
import { createHttpServer } from '../src/http/server.ts';
import { generateOrganisation, type Organisation, type SampleUser } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { settingsFor } from './helpers/harness.ts';
import { ppolicyFailuresUnder, ppolicyState } from './helpers/lockout.ts';
import { createTestDatabase, postgresProblem } from './helpers/postgres.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const problem = await postgresProblem();

describe('login throttle across two instances sharing PostgreSQL', { skip: skipUnlessCi(problem, 'PostgreSQL unreachable') }, () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let database: { url: string; drop: () => Promise<void> };
  const apps: App[] = [];
  const servers: FastifyInstance[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  let unused: SampleUser[] = [];
  let addressCounter = 0;

  before(async () => {
    assert.equal(problem, undefined, `PostgreSQL is required: ${problem ?? ''}`);
    organisation = generateOrganisation({ people: 240, groups: 4, seed: 32 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    database = await createTestDatabase();
    const env = { DIRBRIDGE_SECRET_KEY: randomBytes(32).toString('hex') };
    for (let instance = 0; instance < 2; instance += 1) {
      const made = await settingsFor({
        directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
        users: { baseDn: slapd.baseDn },
        login: { bindPoolSize: 4 },
        store: { url: database.url },
      });
      cleanups.push(made.cleanup);
      const app = await openApp(made.settings, { env });
      apps.push(app);
      servers.push(await createHttpServer(app, { logger: false }));
    }
    unused = organisation.users.filter((candidate) => candidate.index >= 10 && !candidate.locked);
  });

  after(async () => {
    for (const server of servers) await server.close();
    for (const app of apps) await app.close();
    await slapd?.stop();
    await database?.drop();
    for (const cleanup of cleanups) await cleanup();
  });

  const take = (count: number): SampleUser[] => unused.splice(0, count);
  const nextAddress = (): string => {
    addressCounter += 1;
    return `10.20.${(addressCounter >> 8) & 255}.${addressCounter & 255}`;
  };
  const admin = () => ({ url: slapd.url, adminDn: slapd.adminDn, adminPassword: slapd.adminPassword });
  const serverFor = (index: number): FastifyInstance => {
    const server = servers[index % servers.length];
    assert.ok(server);
    return server;
  };
  const appLogin = (index: number, username: string, password: string, from: string = nextAddress()): Promise<LightMyRequestResponse> =>
    serverFor(index).inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password }, remoteAddress: from });
  const countOf = (responses: readonly LightMyRequestResponse[], status: number) => responses.filter((response) => response.statusCode === status).length;

  it('lets 50 concurrent wrong guesses at one username, sent to both instances, reach slapd only as often as one would', async () => {
    const [target] = take(1);
    assert.ok(target);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, index) => appLogin(index, target.uid, `wrong-${index}`)));
    const state = await ppolicyState(admin(), target.dn);
    assert.equal(state.lockedTime, undefined);
    assert.equal(state.failures, 3, "the strangers' 3 of the 4 failures pwdMaxFailure 5 leaves");
    assert.equal(countOf(answers, 401), 3);
    assert.equal(countOf(answers, 429), 47);
  });

  it('lets 186 concurrent wrong passwords from one address, sent to both instances, reach slapd maxFailuresPerAddress times', async () => {
    const targets = take(186);
    const before = await ppolicyFailuresUnder(admin(), slapd.baseDn);
    const from = nextAddress();
    const answers = await Promise.all(targets.map((target, index) => appLogin(index, target.uid, `wrong-${index}`, from)));
    const after = await ppolicyFailuresUnder(admin(), slapd.baseDn);
    assert.equal(after.total - before.total, 20);
    assert.equal(countOf(answers, 401), 20);
    assert.deepEqual(after.locked, before.locked);
  });

  it('knows on one instance the address another instance remembered', async () => {
    const [owner] = take(1);
    assert.ok(owner);
    const home = nextAddress();
    assert.equal((await appLogin(0, owner.uid, owner.password, home)).statusCode, 200);
    const guesses = await Promise.all(Array.from({ length: 30 }, (_, index) => appLogin(index, owner.uid, `guess-${index}`)));
    assert.equal(countOf(guesses, 401), 3);
    assert.equal((await appLogin(1, owner.uid, owner.password)).statusCode, 429, 'a stranger with the right password');
    assert.equal((await appLogin(1, owner.uid, owner.password, home)).statusCode, 200, 'the owner from home, on the other instance');
    assert.equal((await ppolicyState(admin(), owner.dn)).lockedTime, undefined);
  });
});
