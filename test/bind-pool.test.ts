/**
 * The login pool (src/directory/bind-pool.ts) against a real slapd: verdicts, ppolicy lock
 * detection, identity reset after user binds, real socket counts under load, and recovery after the
 * server is killed.
 *
 * Users are split into disjoint sets: the fixture's ppolicy locks an account after 5 wrong
 * passwords, so users that ever get a wrong password never get the right one.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type BindPool, createBindPool, openDirectory } from '../src/directory/index.ts';
import { isDirbridgeError } from '../src/errors.ts';
import type { DirectorySettings } from '../src/settings/schema.ts';
import { freePort } from './fixtures/proc.ts';
import { generateOrganisation, type SampleUser } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { slapdDirectorySettings } from './helpers/directory.ts';
import { rejectsWithCode } from './helpers/rejects.ts';
import { establishedTo } from './helpers/sockets.ts';

const POOL_SIZE = 8;
const TOTAL = 10_000;
const IN_FLIGHT = 50;

let slapd: Slapd;
let goodUsers: SampleUser[]; // only ever given their right password
let badUsers: SampleUser[]; // only ever given wrong passwords
let probeUser: SampleUser; // for the identity-reset tests (right password only)
let lockedUser: SampleUser;

const settings = (overrides: Record<string, unknown> = {}): DirectorySettings => slapdDirectorySettings(slapd, overrides);

const wrongPassword = (user: SampleUser): string => `wrong-${user.password}`;

/** Runs `count` tasks with at most `limit` in flight. */
async function runBounded(count: number, limit: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next;
      next += 1;
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

before(async () => {
  const org = generateOrganisation({ people: 400, groups: 5 });
  slapd = await startSlapd({ ldif: org.ldif });
  const usable = org.users.filter((user) => !user.locked);
  goodUsers = usable.slice(0, 200);
  badUsers = usable.slice(200, 300);
  const probe = usable[300];
  const locked = org.users.find((user) => user.locked);
  assert.ok(probe !== undefined && locked !== undefined);
  probeUser = probe;
  lockedUser = locked;
});

after(async () => {
  await slapd.stop();
});

describe('bind pool: verdicts', () => {
  let pool: BindPool;
  before(() => {
    pool = createBindPool(settings(), { size: 2 });
  });
  after(async () => {
    await pool.close();
  });

  it('refuses empty and whitespace passwords and empty DNs without opening a connection', async () => {
    const fresh = createBindPool(settings());
    const user = goodUsers[0];
    assert.ok(user !== undefined);
    await rejectsWithCode(fresh.verify(user.dn, ''), 'directory.invalid_credentials');
    await rejectsWithCode(fresh.verify(user.dn, ' \t\n'), 'directory.invalid_credentials');
    await rejectsWithCode(fresh.verify('', user.password), 'directory.invalid_credentials');
    assert.equal(fresh.stats().created, 0);
    assert.equal(fresh.stats().open, 0);
    await fresh.close();
  });

  it('resolves for the right password (also for DNs with escapes and non-ASCII names)', async () => {
    for (const user of goodUsers.slice(0, 12)) await pool.verify(user.dn, user.password);
  });

  it('rejects a wrong password as invalid_credentials, without the password anywhere in the error', async () => {
    const user = badUsers[0];
    assert.ok(user !== undefined);
    const error = await rejectsWithCode(pool.verify(user.dn, wrongPassword(user)), 'directory.invalid_credentials');
    assert.equal(error.details['resultCode'], 49);
    assert.equal(error.details['bindDn'], user.dn);
    assert.equal(error.details['ppolicyLocked'], false, 'slapd answers the ppolicy control: not locked');
    const everything = `${error.message} ${JSON.stringify(error.details)} ${String(error.stack)}`;
    assert.ok(!everything.includes(wrongPassword(user)));
    assert.ok(!everything.includes(slapd.readerPassword));
  });

  it('rejects an unknown DN as invalid_credentials', async () => {
    await rejectsWithCode(pool.verify(`uid=nobody,ou=people,${slapd.baseDn}`, 'whatever'), 'directory.invalid_credentials');
  });

  it('rejects a locked account (right password) and tells it is locked through the ppolicy control', async () => {
    const error = await rejectsWithCode(pool.verify(lockedUser.dn, lockedUser.password), 'directory.invalid_credentials');
    assert.equal(error.details['ppolicyLocked'], true);
    assert.equal(error.details['ppolicyError'], 'accountLocked');
    // With a wrong password too: a locked account stays locked whatever is typed.
    const again = await rejectsWithCode(pool.verify(lockedUser.dn, 'nope'), 'directory.invalid_credentials');
    assert.equal(again.details['ppolicyLocked'], true);
  });

  it('locks an account after 5 wrong passwords (ppolicy) and reports it', async () => {
    const user = badUsers[1];
    assert.ok(user !== undefined);
    for (let i = 0; i < 5; i += 1) await rejectsWithCode(pool.verify(user.dn, wrongPassword(user)), 'directory.invalid_credentials');
    const error = await rejectsWithCode(pool.verify(user.dn, user.password), 'directory.invalid_credentials');
    assert.equal(error.details['ppolicyLocked'], true);
  });

  it('keeps StartTLS, CA checking and failover from openDirectory', async () => {
    const user = goodUsers[0];
    assert.ok(user !== undefined);
    const tlsPool = createBindPool(settings({ urls: [`ldap://127.0.0.1:${await freePort()}`, slapd.url], startTls: true, tls: { caFile: slapd.caFile } }), {
      size: 1,
    });
    await tlsPool.verify(user.dn, user.password);
    await tlsPool.close();
    const wrongCa = createBindPool(settings({ urls: [slapd.ldapsUrl], tls: { caFile: slapd.otherCaFile } }), { size: 1 });
    await rejectsWithCode(wrongCa.verify(user.dn, user.password), 'directory.tls_failure');
    assert.equal(wrongCa.stats().open, 0);
    await wrongCa.close();
  });

  it('reports a rejected service account as unavailable, never as the user’s invalid credentials', async () => {
    const user = goodUsers[0];
    assert.ok(user !== undefined);
    const broken = createBindPool(settings({ bindPassword: 'not-the-reader-password' }), { size: 1 });
    const error = await rejectsWithCode(broken.verify(user.dn, user.password), 'directory.unavailable');
    assert.equal(error.details['reason'], 'service_bind_rejected');
    await broken.close();
  });
});

describe('bind pool: identity reset after user binds', () => {
  it('re-binds as the service account after a successful and after a failed user bind (no new connection)', async () => {
    const pool = createBindPool(settings(), { size: 1 });
    const reader = `dn:${slapd.readerDn}`;
    try {
      assert.equal(await pool.whoAmI(), reader);
      await pool.verify(probeUser.dn, probeUser.password);
      // Without the re-bind this would be dn:<probeUser>.
      assert.equal(await pool.whoAmI(), reader);
      await rejectsWithCode(pool.verify(probeUser.dn, 'not-it'), 'directory.invalid_credentials');
      // Without the re-bind this would be '' (a failed bind leaves the connection anonymous).
      assert.equal(await pool.whoAmI(), reader);
      assert.equal(pool.stats().created, 1);
      assert.equal(pool.stats().destroyed, 0);
    } finally {
      await pool.close();
    }
  });

  it('resets to anonymous when no service account is configured', async () => {
    const pool = createBindPool(settings({ bindDn: undefined, bindPassword: undefined }), { size: 1 });
    try {
      await pool.verify(probeUser.dn, probeUser.password);
      assert.equal(await pool.whoAmI(), '');
      assert.equal(pool.stats().created, 1);
    } finally {
      await pool.close();
    }
  });
});

describe('bind pool: load', () => {
  it(`${TOTAL} verifications, half failing, ${IN_FLIGHT} in flight: at most ${POOL_SIZE} sockets`, async () => {
    const pool = createBindPool(settings(), { size: POOL_SIZE });
    let ok = 0;
    let rejected = 0;
    let maxSockets = 0;
    let samples = 0;
    const started = performance.now();
    await runBounded(TOTAL, IN_FLIGHT, async (index) => {
      const good = index % 2 === 0;
      const users = good ? goodUsers : badUsers;
      const user = users[Math.floor(index / 2) % users.length];
      assert.ok(user !== undefined);
      if (good) {
        await pool.verify(user.dn, user.password);
        ok += 1;
      } else {
        await rejectsWithCode(pool.verify(user.dn, wrongPassword(user)), 'directory.invalid_credentials');
        rejected += 1;
      }
      if (index % 100 === 0) {
        maxSockets = Math.max(maxSockets, establishedTo(slapd.port));
        samples += 1;
      }
    });
    const elapsedMs = performance.now() - started;
    const stats = pool.stats();
    const after = establishedTo(slapd.port);
    console.log(
      `# ${TOTAL} verifications in ${elapsedMs.toFixed(0)} ms (${((TOTAL / elapsedMs) * 1000).toFixed(0)}/s); ` +
        `max sockets sampled ${maxSockets} over ${samples} samples, after ${after}; stats ${JSON.stringify(stats)}`,
    );
    assert.equal(ok, TOTAL / 2);
    assert.equal(rejected, TOTAL / 2);
    assert.ok(maxSockets > 0, 'the socket counter sees the pool');
    assert.ok(maxSockets <= POOL_SIZE, `max ${maxSockets} sockets`);
    assert.ok(after <= POOL_SIZE, `${after} sockets after the run`);
    assert.ok(stats.created <= POOL_SIZE, `created ${stats.created}`);
    await waitUntil(() => pool.stats().busy === 0, 'resets to finish');
    assert.equal(establishedTo(slapd.port), pool.stats().open, 'real sockets match the pool’s count');
    await pool.close();
    await waitUntil(() => establishedTo(slapd.port) === 0, 'sockets to close after close()');
  });

  it('200 concurrent logins: right verdicts, sockets never above the pool size', async () => {
    const pool = createBindPool(settings(), { size: POOL_SIZE });
    let maxSockets = 0;
    let maxWaiting = 0;
    const sampler = setInterval(() => {
      maxSockets = Math.max(maxSockets, establishedTo(slapd.port));
      maxWaiting = Math.max(maxWaiting, pool.stats().waiting);
    }, 2);
    const started = performance.now();
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 200 }, (_, index) => {
          const good = index % 2 === 0;
          const user = (good ? goodUsers : badUsers)[index % 100];
          assert.ok(user !== undefined);
          return pool.verify(user.dn, good ? user.password : wrongPassword(user));
        }),
      );
      results.forEach((result, index) => {
        if (index % 2 === 0) assert.equal(result.status, 'fulfilled', `login ${index}`);
        else assert.ok(result.status === 'rejected' && isDirbridgeError(result.reason, 'directory.invalid_credentials'), `login ${index}`);
      });
    } finally {
      clearInterval(sampler);
    }
    maxSockets = Math.max(maxSockets, establishedTo(slapd.port));
    console.log(
      `# 200 concurrent logins in ${(performance.now() - started).toFixed(0)} ms; max sockets ${maxSockets}, max waiting ${maxWaiting}, stats ${JSON.stringify(pool.stats())}`,
    );
    assert.ok(maxSockets > 0 && maxSockets <= POOL_SIZE, `max ${maxSockets} sockets`);
    assert.ok(maxWaiting > 100, `callers queued (max waiting ${maxWaiting})`);
    assert.ok(pool.stats().created <= POOL_SIZE);
    await pool.close();
  });

  it('closes connections idle for longer than idleTimeoutMs', async () => {
    const pool = createBindPool(settings(), { size: 2, idleTimeoutMs: 100 });
    try {
      const user = goodUsers[3];
      assert.ok(user !== undefined);
      await pool.verify(user.dn, user.password);
      await waitUntil(() => pool.stats().idle === 1, 'the connection to go idle');
      await waitUntil(() => pool.stats().open === 0, 'the idle connection to be closed');
      assert.equal(pool.stats().destroyed, 1);
      await pool.verify(user.dn, user.password);
      assert.equal(pool.stats().created, 2);
    } finally {
      await pool.close();
    }
  });

  it('a full queue gives up after acquireTimeoutMs with directory.timeout', async () => {
    const pool = createBindPool(settings(), { size: 1, acquireTimeoutMs: 50 });
    try {
      const user = goodUsers[0];
      assert.ok(user !== undefined);
      await pool.verify(user.dn, user.password); // open the connection
      await waitUntil(() => pool.stats().idle === 1, 'the service re-bind to finish'); // it runs after verify() resolves
      slapd.kill('SIGSTOP');
      try {
        const stuck = pool.verify(user.dn, user.password);
        assert.equal(pool.stats().waiting, 0, 'the first call has the connection');
        const error = await rejectsWithCode(pool.verify(user.dn, user.password), 'directory.timeout');
        assert.equal(error.details['reason'], 'pool_exhausted');
        slapd.kill('SIGCONT');
        await stuck;
      } finally {
        slapd.kill('SIGCONT');
      }
    } finally {
      await pool.close();
    }
  });
});

describe('bind pool: server faults', () => {
  it('calls in flight when slapd is killed fail as unavailable/timeout, never succeed; the pool recovers after a restart', async () => {
    const pool = createBindPool(settings(), { size: 4 });
    try {
      // Warm up all four connections.
      await Promise.all(goodUsers.slice(0, 8).map((user) => pool.verify(user.dn, user.password)));
      await waitUntil(() => pool.stats().idle === 4, 'service re-binds to finish'); // they run after verify() resolves

      // Freeze slapd so the binds are surely in flight (sent, unanswered), then kill it.
      slapd.kill('SIGSTOP');
      const inFlight = goodUsers.slice(0, 40).map((user) => pool.verify(user.dn, user.password));
      await waitUntil(() => pool.stats().waiting === 36, 'logins to queue');
      slapd.kill('SIGKILL');
      const results = await Promise.allSettled(inFlight);
      for (const result of results) {
        assert.equal(result.status, 'rejected', 'no login may succeed against a dead server');
        assert.ok(isDirbridgeError(result.reason, 'directory.unavailable', 'directory.timeout'), String(result.reason));
      }
      await waitUntil(() => pool.stats().open === 0, 'dead connections to be dropped');

      // While it is down, logins fail fast as unavailable.
      const user = goodUsers[0];
      assert.ok(user !== undefined);
      await rejectsWithCode(pool.verify(user.dn, user.password), 'directory.unavailable');

      await slapd.restart();
      await pool.verify(user.dn, user.password);
      const bad = badUsers[2];
      assert.ok(bad !== undefined);
      await rejectsWithCode(pool.verify(bad.dn, wrongPassword(bad)), 'directory.invalid_credentials');
      await Promise.all(goodUsers.slice(0, 50).map((u) => pool.verify(u.dn, u.password)));
      assert.ok(establishedTo(slapd.port) <= 4);
    } finally {
      slapd.kill('SIGCONT');
      await pool.close();
    }
  });

  it('never lets ldapts silently reconnect a lost connection (it would do so in plain text, unauthenticated)', async () => {
    const pool = createBindPool(settings({ startTls: true, tls: { caFile: slapd.caFile } }), { size: 2 });
    try {
      const [first, second] = goodUsers;
      assert.ok(first !== undefined && second !== undefined);
      await Promise.all([pool.verify(first.dn, first.password), pool.verify(second.dn, second.password)]);
      await waitUntil(() => pool.stats().idle === 2, 'both connections idle');
      assert.equal(pool.stats().created, 2);
      await slapd.restart(); // closes both idle connections
      await pool.verify(first.dn, first.password);
      // A fresh connection was opened through openClient (StartTLS and service bind), and the two
      // lost ones were destroyed; reusing a lost ldapts client would have reconnected it in plain text.
      assert.equal(pool.stats().destroyed, 2);
      assert.equal(pool.stats().created, 3);
      assert.equal(await pool.whoAmI(), `dn:${slapd.readerDn}`);
    } finally {
      await pool.close();
    }
  });

  it('openDirectory (same connect.ts): a StartTLS connection lost to a restart fails fast, not after the timeout', async () => {
    const connection = await openDirectory(settings({ startTls: true, tls: { caFile: slapd.caFile }, operationTimeoutMs: 20_000 }));
    try {
      assert.equal(connection.security, 'starttls');
      await slapd.restart();
      await new Promise((resolve) => setTimeout(resolve, 50)); // let the close reach us
      const started = performance.now();
      await rejectsWithCode(
        connection.searchAll({ baseDn: slapd.baseDn, scope: 'base', filter: '(objectClass=*)', attributes: [], maxEntries: 1 }),
        'directory.unavailable',
      );
      assert.ok(performance.now() - started < 1_000);
      const closing = performance.now();
      await connection.close();
      assert.ok(performance.now() - closing < 1_000, 'close() does not wait for an answer on a dead socket');
    } finally {
      await connection.close();
    }
  });

  it('killed under load without freezing: every call either succeeded before the kill or failed as a fault', async () => {
    const pool = createBindPool(settings(), { size: 4 });
    let completed = 0;
    let killedAt = -1;
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 400 }, async (_, index) => {
          const user = goodUsers[index % goodUsers.length];
          assert.ok(user !== undefined);
          await pool.verify(user.dn, user.password);
          completed += 1;
          if (completed === 50) {
            killedAt = completed;
            slapd.kill('SIGKILL');
          }
        }),
      );
      const failures = results.filter((result) => result.status === 'rejected');
      assert.ok(killedAt === 50);
      assert.ok(failures.length > 0);
      for (const failure of failures) {
        assert.ok(isDirbridgeError(failure.reason, 'directory.unavailable', 'directory.timeout'), String(failure.reason));
      }
      await slapd.restart();
      const user = goodUsers[1];
      assert.ok(user !== undefined);
      await pool.verify(user.dn, user.password);
      assert.ok(establishedTo(slapd.port) <= 4);
    } finally {
      await pool.close();
    }
  });
});
