/**
 * RFC 4533 content synchronisation against a real OpenLDAP 2.5 (syncprov with a session log):
 * full refresh, cookie refresh after add/modify/modrdn/delete, stale and garbage cookies,
 * refreshAndPersist with abort, a wrong password, ldaps:// and StartTLS, failover.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type ContentSyncEvent, type ContentSyncRequest, readContentSync, supportsContentSync } from '../src/directory/content-sync/index.ts';
import { openDirectory } from '../src/directory/index.ts';
import { uniqueIdOf } from '../src/directory/normalize-entry.ts';
import { DirbridgeError } from '../src/errors.ts';
import type { DirectorySettings } from '../src/settings/schema.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { slapdDirectorySettings } from './helpers/directory.ts';
import { establishedTo } from './helpers/sockets.ts';

/** Entries under ou=staff, for the backpressure test (about 6 MB of refresh). */
const STAFF = 20_000;

/** Bytes the kernel holds unread on this process's connections to `port` (rx_queue in /proc/net/tcp). */
function unreadBytesFrom(port: number): number {
  const inodes = new Set(
    readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        return [/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1] ?? ''];
      } catch {
        return [];
      }
    }),
  );
  let total = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const columns = line.trim().split(/\s+/);
    if (Number.parseInt(columns[2]?.split(':')[1] ?? '', 16) !== port || !inodes.has(columns[9] ?? '-')) continue;
    total += Number.parseInt(columns[4]?.split(':')[1] ?? '0', 16);
  }
  return total;
}

const person = (uid: string, baseDn: string): string =>
  `dn: uid=${uid},ou=people,${baseDn}\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: ${uid}\nsn: Sync\nmail: ${uid}@example.org\n`;

async function collect(events: AsyncIterable<ContentSyncEvent>): Promise<ContentSyncEvent[]> {
  const out: ContentSyncEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

function entries(events: ContentSyncEvent[]): Extract<ContentSyncEvent, { type: 'entry' }>[] {
  return events.filter((event): event is Extract<ContentSyncEvent, { type: 'entry' }> => event.type === 'entry');
}

function deletes(events: ContentSyncEvent[]): string[] {
  return events.flatMap((event) => (event.type === 'delete' ? [event.uniqueId] : []));
}

function lastDone(events: ContentSyncEvent[]): Extract<ContentSyncEvent, { type: 'refreshDone' }> {
  const done = events.at(-1);
  assert.equal(done?.type, 'refreshDone', JSON.stringify(events.map((event) => event.type)));
  if (done?.type !== 'refreshDone') throw new Error('unreachable');
  return done;
}

describe('content sync (RFC 4533) on OpenLDAP', () => {
  let slapd: Slapd;
  let settings: DirectorySettings;
  const request = (overrides: Partial<ContentSyncRequest> = {}): ContentSyncRequest => ({
    baseDn: `ou=people,${slapd.baseDn}`,
    scope: 'sub',
    filter: '(objectClass=inetOrgPerson)',
    attributes: ['uid', 'cn', 'mail', 'entryUUID', 'entryCSN'],
    uniqueIdAttribute: 'entryUUID',
    mode: 'refreshOnly',
    ...overrides,
  });
  /** entryUUID per uid, from the full refresh. */
  const ids = new Map<string, string>();
  let cookie: Buffer | undefined;

  before(async () => {
    const people = ['u1', 'u2', 'u3', 'u4'].map((uid) => person(uid, 'dc=example,dc=org'));
    const staff = Array.from({ length: STAFF }, (_, index) => person(`s${index}`, 'dc=example,dc=org').replace(',ou=people,', ',ou=staff,'));
    slapd = await startSlapd({ ldif: [...people, ...staff].join('\n') });
    settings = slapdDirectorySettings(slapd);
  });
  after(async () => {
    await slapd?.stop();
  });

  it('is detected from the RootDSE', async () => {
    await using directory = await openDirectory(settings);
    assert.equal(supportsContentSync(directory.rootDse), true);
  });

  it('refreshes everything without a cookie: every entry, named by its entryUUID, and a cookie', async () => {
    const events = await collect(readContentSync(settings, request()));
    const found = entries(events);
    assert.deepEqual(found.map((event) => event.entry.attributes['uid']?.[0]).sort(), ['u1', 'u2', 'u3', 'u4']);
    for (const event of found) {
      assert.equal(event.state, 'add');
      assert.equal(event.uniqueId, uniqueIdOf(event.entry, 'entryUUID'));
      assert.equal(event.entry.attributes['mail']?.[0], `${String(event.entry.attributes['uid']?.[0])}@example.org`);
      ids.set(String(event.entry.attributes['uid']?.[0]), event.uniqueId);
    }
    const done = lastDone(events);
    assert.ok(done.cookie !== undefined && done.cookie.length > 0);
    // slapd ends an initial refresh with refreshDeletes=TRUE: a refresh without a cookie is a complete listing either way.
    assert.equal(done.refreshDeletes, true);
    cookie = done.cookie;
  });

  it('refreshes with the cookie after add, modify, modrdn and delete: exactly those changes, the delete as an entryUUID', async () => {
    const base = slapd.baseDn;
    await slapd.ldapadd(person('u5', base));
    await slapd.ldapmodify(`dn: uid=u1,ou=people,${base}\nchangetype: modify\nreplace: mail\nmail: changed@example.org\n`);
    await slapd.ldapmodify(`dn: uid=u2,ou=people,${base}\nchangetype: modrdn\nnewrdn: uid=u2b\ndeleteoldrdn: 1\n`);
    await slapd.ldapmodify(`dn: uid=u3,ou=people,${base}\nchangetype: delete\n`);
    const events = await collect(readContentSync(settings, request({ cookie })));
    // slapd selects entries with entryCSN >= the cookie's CSN, so the entry last written before the
    // cookie (here u4, the last one slapadd loaded) comes again, unchanged. Anything else is a change.
    const cookieCsn = /csn=([^,;]+)/.exec(cookie?.toString('latin1') ?? '')?.[1];
    const resent = entries(events).filter((event) => event.entry.attributes['entrycsn']?.[0] === cookieCsn);
    assert.ok(
      resent.every((event) => event.entry.dn === `uid=u4,ou=people,${base}`),
      JSON.stringify(resent.map((event) => event.entry.dn)),
    );
    const found = entries(events).filter((event) => !resent.includes(event));
    assert.deepEqual(found.map((event) => event.entry.dn).sort(), [`uid=u1,ou=people,${base}`, `uid=u2b,ou=people,${base}`, `uid=u5,ou=people,${base}`]);
    assert.equal(found.find((event) => event.entry.dn.startsWith('uid=u1,'))?.entry.attributes['mail']?.[0], 'changed@example.org');
    assert.equal(found.find((event) => event.entry.dn.startsWith('uid=u1,'))?.uniqueId, ids.get('u1'));
    assert.equal(found.find((event) => event.entry.dn.startsWith('uid=u2b,'))?.uniqueId, ids.get('u2'));
    for (const event of found) assert.equal(event.uniqueId, uniqueIdOf(event.entry, 'entryUUID'));
    assert.deepEqual(deletes(events), [ids.get('u3')]);
    assert.equal(
      events.some((event) => event.type === 'present'),
      false,
      'a session-log refresh has no present phase',
    );
    const done = lastDone(events);
    assert.equal(done.refreshDeletes, true);
    assert.ok(done.cookie !== undefined);
    // Nothing changed since: an empty refresh, with a cookie.
    const again = await collect(readContentSync(settings, request({ cookie: done.cookie })));
    assert.deepEqual(
      again.filter((event) => event.type !== 'cookie' && event.type !== 'refreshDone'),
      [],
    );
    cookie = lastDone(again).cookie ?? done.cookie;
  });

  it('answers a stale cookie (a CSN older than the session log) with a present phase, and a garbage cookie with a full refresh', async () => {
    const expected = [
      `uid=u1,ou=people,${slapd.baseDn}`,
      `uid=u2b,ou=people,${slapd.baseDn}`,
      `uid=u4,ou=people,${slapd.baseDn}`,
      `uid=u5,ou=people,${slapd.baseDn}`,
    ];
    // slapd 2.5 does not answer e-syncRefreshRequired (4096) here: it sends everything changed since
    // the CSN and ends with refreshDeletes=FALSE (ids neither sent nor listed present are gone: u3).
    const stale = await collect(readContentSync(settings, request({ cookie: Buffer.from('rid=000,csn=20000101000000.000000Z#000000#000#000000') })));
    assert.deepEqual(
      entries(stale)
        .map((event) => event.entry.dn)
        .sort(),
      expected,
    );
    assert.equal(lastDone(stale).refreshDeletes, false);
    assert.ok((lastDone(stale).cookie?.length ?? 0) > 0);
    // A cookie without rid/csn is taken as no cookie: the initial refresh, and no usable cookie back.
    const garbage = await collect(readContentSync(settings, request({ cookie: Buffer.from('not a cookie') })));
    assert.deepEqual(
      entries(garbage)
        .map((event) => event.entry.dn)
        .sort(),
      expected,
    );
    assert.deepEqual(lastDone(garbage), { type: 'refreshDone', cookie: undefined, refreshDeletes: true });
  });

  it('refreshAndPersist: refreshDone, then a change made afterwards arrives within 1 s; an abort ends it cleanly and closes the socket', async () => {
    const controller = new AbortController();
    const sync = readContentSync(settings, request({ mode: 'refreshAndPersist', cookie, signal: controller.signal }));
    const seen: ContentSyncEvent[] = [];
    let changedAt = 0;
    let arrivedAfterMs = -1;
    for await (const event of sync) {
      seen.push(event);
      if (event.type === 'refreshDone') {
        assert.equal(establishedTo(slapd.port), 1, 'one connection while persisting');
        changedAt = Date.now();
        await slapd.ldapmodify(`dn: uid=u4,ou=people,${slapd.baseDn}\nchangetype: modify\nreplace: mail\nmail: live@example.org\n`);
      }
      if (event.type === 'entry' && event.entry.attributes['mail']?.[0] === 'live@example.org') {
        arrivedAfterMs = Date.now() - changedAt;
        assert.equal(event.uniqueId, ids.get('u4'));
        assert.equal(event.state, 'modify');
        controller.abort();
      }
    }
    assert.ok(seen.some((event) => event.type === 'refreshDone'));
    assert.ok(arrivedAfterMs >= 0 && arrivedAfterMs < 1000, `the change arrived after ${arrivedAfterMs} ms`);
    assert.equal(establishedTo(slapd.port), 0, 'the socket is closed once the generator returns');
    // The server is fine afterwards: a plain refresh still works.
    assert.equal(lastDone(await collect(readContentSync(settings, request({ cookie })))).type, 'refreshDone');
  });

  it('leaving the loop early (break) closes the connection too', async () => {
    for await (const event of readContentSync(settings, request({ mode: 'refreshAndPersist' }))) {
      if (event.type === 'entry') break;
    }
    assert.equal(establishedTo(slapd.port), 0);
  });

  it('refuses a wrong bind password with directory.invalid_credentials, and an empty one before connecting', async () => {
    const wrong = slapdDirectorySettings(slapd, { bindPassword: 'wrong-password' });
    await assert.rejects(
      collect(readContentSync(wrong, request())),
      (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.invalid_credentials',
    );
    const empty = { ...settings, bindPassword: ' ' };
    await assert.rejects(
      collect(readContentSync(empty, request())),
      (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.invalid_credentials' && /empty password/.test(error.message),
    );
    assert.equal(establishedTo(slapd.port), 0);
  });

  it('runs over ldaps:// and StartTLS with the fixture CA, and refuses a CA that did not sign the certificate', async () => {
    const tls = { caFile: slapd.caFile };
    for (const overrides of [
      { urls: [slapd.ldapsUrl], tls },
      { startTls: true, tls },
    ]) {
      const events = await collect(readContentSync(slapdDirectorySettings(slapd, overrides), request()));
      assert.equal(entries(events).length, 4, JSON.stringify(overrides));
    }
    for (const overrides of [
      { urls: [slapd.ldapsUrl], tls: { caFile: slapd.otherCaFile } },
      { startTls: true, tls: { caFile: slapd.otherCaFile } },
    ]) {
      await assert.rejects(
        collect(readContentSync(slapdDirectorySettings(slapd, overrides), request())),
        (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.tls_failure',
      );
    }
  });

  it('fails over past a URL that cannot be reached, and reports every URL when none can be', async () => {
    const closed = 'ldap://127.0.0.1:1';
    const events = await collect(readContentSync(slapdDirectorySettings(slapd, { urls: [closed, slapd.url] }), request()));
    assert.equal(entries(events).length, 4);
    await assert.rejects(collect(readContentSync(slapdDirectorySettings(slapd, { urls: [closed, 'ldap://127.0.0.1:2'] }), request())), (error: unknown) => {
      return (
        error instanceof DirbridgeError &&
        error.code === 'directory.unavailable' &&
        Array.isArray(error.details['attempts']) &&
        error.details['attempts'].length === 2
      );
    });
  });

  it('refuses a malformed filter with directory.invalid_filter before connecting', async () => {
    await assert.rejects(
      collect(readContentSync(settings, request({ filter: '(uid=' }))),
      (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.invalid_filter',
    );
  });

  it('reports a base DN that does not exist as directory.no_such_object', async () => {
    await assert.rejects(
      collect(readContentSync(settings, request({ baseDn: `ou=nowhere,${slapd.baseDn}` }))),
      (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.no_such_object',
    );
  });

  it('throws directory.unavailable when the server goes away during the persist stage', async () => {
    const sync = readContentSync(settings, request({ mode: 'refreshAndPersist', cookie }));
    await assert.rejects(
      (async () => {
        for await (const event of sync) {
          if (event.type === 'refreshDone') slapd.kill('SIGKILL');
        }
      })(),
      (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.unavailable',
    );
    await slapd.restart();
  });

  it('holds back a refresh the consumer is slow to take (the socket is paused, the kernel keeps the rest), and delivers all of it', async () => {
    const sync = readContentSync(settings, request({ baseDn: `ou=staff,${slapd.baseDn}`, attributes: ['uid', 'cn', 'sn', 'mail', 'objectClass'] }));
    const first = await sync.next();
    assert.equal(first.value?.type, 'entry');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const heapBefore = process.memoryUsage().heapUsed;
    assert.ok(unreadBytesFrom(slapd.port) > 0, 'the rest of the refresh waits in the kernel, unread');
    let count = 1;
    for await (const event of sync) if (event.type === 'entry') count += 1;
    assert.equal(count, STAFF);
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024);
  });

  it('fails a refresh with directory.timeout when the server falls silent for operationTimeoutMs, and closes the socket', async () => {
    const quick = slapdDirectorySettings(slapd, { operationTimeoutMs: 1000 });
    const sync = readContentSync(quick, request({ baseDn: `ou=staff,${slapd.baseDn}` }));
    assert.equal((await sync.next()).value?.type, 'entry');
    slapd.kill('SIGSTOP');
    try {
      await assert.rejects(
        (async () => {
          for await (const event of sync) void event;
        })(),
        (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.timeout',
      );
      assert.equal(establishedTo(slapd.port), 0);
    } finally {
      slapd.kill('SIGCONT');
    }
  });
});
