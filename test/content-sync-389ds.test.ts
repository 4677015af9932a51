/**
 * RFC 4533 content synchronisation against a real 389-DS 2.3 with its Content Synchronization
 * plugin (and the Retro Changelog it reads) turned on in the fixture: ids are the nsUniqueId text,
 * deletes included.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ContentSyncEvent, type ContentSyncRequest, readContentSync, supportsContentSync } from '../src/directory/content-sync/index.ts';
import { openDirectory } from '../src/directory/index.ts';
import { uniqueIdOf } from '../src/directory/normalize-entry.ts';
import { DirbridgeError } from '../src/errors.ts';
import { type DirectorySettings, directorySettingsSchema } from '../src/settings/schema.ts';
import { type Dirsrv, dirsrvUnavailableReason, startDirsrv } from './fixtures/dirsrv.ts';
import { skipUnlessCi } from './helpers/skip.ts';
import { establishedTo } from './helpers/sockets.ts';

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

function lastDone(events: ContentSyncEvent[]): Extract<ContentSyncEvent, { type: 'refreshDone' }> {
  const done = events.at(-1);
  assert.equal(done?.type, 'refreshDone', JSON.stringify(events.map((event) => event.type)));
  if (done?.type !== 'refreshDone') throw new Error('unreachable');
  return done;
}

describe('content sync (RFC 4533) on 389-DS', { skip: skipUnlessCi(dirsrvUnavailableReason(), '389-DS') }, () => {
  let dirsrv: Dirsrv;
  let settings: DirectorySettings;
  const request = (overrides: Partial<ContentSyncRequest> = {}): ContentSyncRequest => ({
    baseDn: `ou=people,${dirsrv.baseDn}`,
    scope: 'sub',
    filter: '(objectClass=inetOrgPerson)',
    attributes: ['uid', 'cn', 'mail', 'nsUniqueId'],
    uniqueIdAttribute: 'nsUniqueId',
    mode: 'refreshOnly',
    ...overrides,
  });
  /** nsUniqueId per uid, from the full refresh. */
  const ids = new Map<string, string>();
  let cookie: Buffer | undefined;

  before(async () => {
    dirsrv = await startDirsrv({ contentSync: true, ldif: ['u1', 'u2', 'u3', 'u4'].map((uid) => person(uid, 'dc=example,dc=org')).join('\n') });
    settings = directorySettingsSchema.parse({
      urls: [dirsrv.url],
      bindDn: dirsrv.readerDn,
      bindPassword: dirsrv.readerPassword,
      connectTimeoutMs: 2000,
      operationTimeoutMs: 5000,
    });
  });
  after(async () => {
    await dirsrv?.stop();
  });

  it('is detected from the RootDSE once the plugin is on', async () => {
    await using directory = await openDirectory(settings);
    assert.equal(supportsContentSync(directory.rootDse), true);
  });

  it('refreshes everything without a cookie: ids equal the stored nsUniqueId text', async () => {
    const events = await collect(readContentSync(settings, request()));
    const found = entries(events);
    assert.deepEqual(found.map((event) => event.entry.attributes['uid']?.[0]).sort(), ['u1', 'u2', 'u3', 'u4']);
    for (const event of found) {
      assert.equal(event.state, 'add');
      assert.match(event.uniqueId, /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/);
      assert.equal(event.uniqueId, uniqueIdOf(event.entry, 'nsUniqueId'));
      ids.set(String(event.entry.attributes['uid']?.[0]), event.uniqueId);
    }
    const done = lastDone(events);
    assert.equal(done.refreshDeletes, false, 'a complete listing');
    assert.ok(done.cookie !== undefined);
    cookie = done.cookie;
  });

  it('refreshes with the cookie after add, modify, modrdn and delete: exactly those changes, the delete (a syncIdSet) as the nsUniqueId', async () => {
    const base = dirsrv.baseDn;
    await dirsrv.ldapadd(person('u5', base));
    await dirsrv.ldapmodify(`dn: uid=u1,ou=people,${base}\nchangetype: modify\nreplace: mail\nmail: changed@example.org\n`);
    await dirsrv.ldapmodify(`dn: uid=u2,ou=people,${base}\nchangetype: modrdn\nnewrdn: uid=u2b\ndeleteoldrdn: 1\n`);
    await dirsrv.ldapmodify(`dn: uid=u3,ou=people,${base}\nchangetype: delete\n`);
    const events = await collect(readContentSync(settings, request({ cookie })));
    const found = entries(events);
    assert.deepEqual(found.map((event) => event.entry.dn).sort(), [`uid=u1,ou=people,${base}`, `uid=u2b,ou=people,${base}`, `uid=u5,ou=people,${base}`]);
    assert.equal(found.find((event) => event.entry.dn.startsWith('uid=u1,'))?.entry.attributes['mail']?.[0], 'changed@example.org');
    assert.equal(found.find((event) => event.entry.dn.startsWith('uid=u1,'))?.uniqueId, ids.get('u1'));
    assert.equal(found.find((event) => event.entry.dn.startsWith('uid=u2b,'))?.uniqueId, ids.get('u2'));
    // 389-DS sends changed entries with every user attribute and without operational ones, whatever was asked for.
    assert.equal(found[0]?.entry.attributes['nsuniqueid'], undefined);
    assert.deepEqual(
      events.flatMap((event) => (event.type === 'delete' ? [event.uniqueId] : [])),
      [ids.get('u3')],
    );
    const done = lastDone(events);
    assert.equal(done.refreshDeletes, true, 'reported as a delete phase (389-DS itself says false)');
    // Nothing changed since: an empty delta, which must not read as "everything is gone".
    const again = await collect(readContentSync(settings, request({ cookie: done.cookie })));
    assert.deepEqual(
      again.map((event) => event.type),
      ['refreshDone'],
    );
    assert.equal(lastDone(again).refreshDeletes, true);
    cookie = lastDone(again).cookie;
  });

  it('answers a cookie it cannot continue from (garbage, other filter, future change number) with directory.sync_refresh_required', async () => {
    const text = cookie?.toString('latin1') ?? '';
    for (const bad of ['garbage', text.replace('(objectClass=inetOrgPerson)', '(objectClass=*)'), text.replace(/#\d+$/, '#99999')]) {
      await assert.rejects(
        collect(readContentSync(settings, request({ cookie: Buffer.from(bad) }))),
        (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.sync_refresh_required',
        bad,
      );
    }
  });

  it('refreshAndPersist: a change made after refreshDone arrives within 1 s; an abort closes the socket', async () => {
    const controller = new AbortController();
    let changedAt = 0;
    let arrivedAfterMs = -1;
    for await (const event of readContentSync(settings, request({ mode: 'refreshAndPersist', cookie, signal: controller.signal }))) {
      if (event.type === 'refreshDone') {
        changedAt = Date.now();
        await dirsrv.ldapmodify(`dn: uid=u4,ou=people,${dirsrv.baseDn}\nchangetype: modify\nreplace: mail\nmail: live@example.org\n`);
      }
      if (event.type === 'entry' && event.entry.attributes['mail']?.[0] === 'live@example.org') {
        arrivedAfterMs = Date.now() - changedAt;
        assert.equal(event.uniqueId, ids.get('u4'));
        controller.abort();
      }
    }
    assert.ok(arrivedAfterMs >= 0 && arrivedAfterMs < 1000, `the change arrived after ${arrivedAfterMs} ms`);
    assert.equal(establishedTo(dirsrv.port), 0);
  });

  it('runs over StartTLS and ldaps:// with the instance CA and its server name', async () => {
    const tls = { caFile: dirsrv.caFile, serverName: dirsrv.tlsServerName };
    for (const overrides of [
      { startTls: true, tls },
      { urls: [dirsrv.ldapsUrl], tls },
    ]) {
      const secured = directorySettingsSchema.parse({ ...settings, ...overrides });
      assert.equal(entries(await collect(readContentSync(secured, request()))).length, 4);
    }
  });

  it('refuses a wrong bind password with directory.invalid_credentials', async () => {
    const wrong = directorySettingsSchema.parse({ ...settings, bindPassword: 'wrong-password' });
    await assert.rejects(
      collect(readContentSync(wrong, request())),
      (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.invalid_credentials',
    );
  });
});
