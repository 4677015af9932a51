/**
 * The deliverer against real slapd (as the writer account): outbox rows become directory writes,
 * read back from the server; with slapd down they stay pending with the error and are applied
 * once it is back.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDirectory, openWritableDirectory } from '../src/directory/index.ts';
import type { NewOutboxStep } from '../src/model/index.ts';
import { openStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { deliverDue } from '../src/writeback/deliver.ts';
import { startSlapd, type Slapd } from './fixtures/slapd.ts';
import { slapdDirectorySettings } from './helpers/directory.ts';

describe('write-back deliverer: OpenLDAP', () => {
  let slapd: Slapd;
  let store: Store;
  let dataDir = '';
  before(async () => {
    slapd = await startSlapd();
    dataDir = await mkdtemp(join(tmpdir(), 'dirbridge-deliver-'));
    store = await openStore({ dataDir });
    await slapd.ldapadd(
      [
        `dn: uid=wb-alice,ou=people,${slapd.baseDn}`, 'objectClass: inetOrgPerson', 'uid: wb-alice', 'cn: Alice', 'sn: A', 'mail: alice@old.example', '',
        `dn: cn=wb-team,ou=groups,${slapd.baseDn}`, 'objectClass: groupOfNames', 'cn: wb-team', `member: cn=reader,${slapd.baseDn}`, '',
      ].join('\n'),
    );
  });
  after(async () => {
    await store?.close();
    await slapd?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const writer = () => slapdDirectorySettings(slapd, { bindDn: slapd.writerDn, bindPassword: slapd.writerPassword });
  async function read(dn: string, attribute: string): Promise<string[]> {
    await using reader = await openDirectory(writer());
    const [entry] = await reader.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes: [attribute], maxEntries: 1 });
    return (entry?.attributes[attribute.toLowerCase()] ?? []).map(String);
  }
  const alice = () => `uid=wb-alice,ou=people,${slapd.baseDn}`;
  const team = () => `cn=wb-team,ou=groups,${slapd.baseDn}`;
  const steps = (): NewOutboxStep[] => [
    { stepKind: 'addMember', subject: 'wb-team', objectKind: 'group', objectId: 'g1', reason: 'add alice', change: { kind: 'modify', dn: team(), changes: [{ kind: 'addValues', attribute: 'member', values: [alice()] }] } },
    { stepKind: 'updateUser', subject: 'wb-alice', objectKind: 'user', objectId: 'u1', reason: 'new mail', change: { kind: 'modify', dn: alice(), changes: [{ kind: 'set', attribute: 'mail', from: ['alice@old.example'], to: ['alice@new.example'] }] } },
  ];

  it('delivers an action in order and the server holds the values; delivering again is a no-op', async () => {
    await store.transaction((tx) => tx.writeBack.enqueue({ directoryId: 'd1', actor: 'admin', steps: steps() }));
    await using directory = await openWritableDirectory(writer());
    const result = await deliverDue(store, directory, { directoryId: 'd1', now: () => new Date() });
    assert.deepEqual(result, { done: 2, retrying: 0, failed: 0 });
    assert.ok((await read(team(), 'member')).includes(alice()));
    assert.equal((await read(team(), 'member')).length, 2, 'the other member is untouched');
    assert.deepEqual(await read(alice(), 'mail'), ['alice@new.example']);
    assert.equal((await store.writeBack.listOpen('d1', { limit: 10, offset: 0 })).total, 0);
    assert.deepEqual(await deliverDue(store, directory, { directoryId: 'd1', now: () => new Date() }), { done: 0, retrying: 0, failed: 0 });
    // The same member again (value exists) counts as done; a stale `set` (from no longer held) is refused, kept as failed.
    await store.transaction((tx) => tx.writeBack.enqueue({ directoryId: 'd1', actor: 'admin', steps: steps() }));
    assert.deepEqual(await deliverDue(store, directory, { directoryId: 'd1', now: () => new Date() }), { done: 1, retrying: 0, failed: 1 });
    const [stale] = (await store.writeBack.listOpen('d1', { limit: 10, offset: 0 })).rows;
    assert.equal(stale?.status, 'failed');
    assert.equal(stale?.lastErrorCode, 'directory.assertion_failed');
    assert.deepEqual(await read(alice(), 'mail'), ['alice@new.example']);
  });

  it('keeps rows pending with the error while slapd is down, and applies them when it is back', async () => {
    await store.transaction((tx) =>
      tx.writeBack.enqueue({
        directoryId: 'd2',
        actor: 'admin',
        steps: [{ stepKind: 'removeMember', subject: 'wb-team', objectKind: 'group', objectId: 'g1', reason: 'remove alice', change: { kind: 'modify', dn: team(), changes: [{ kind: 'deleteValues', attribute: 'member', values: [alice()] }] } }],
      }),
    );
    {
      const directory = await openWritableDirectory(writer());
      slapd.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const result = await deliverDue(store, directory, { directoryId: 'd2', now: () => new Date() });
      await directory.close().catch(() => undefined);
      assert.deepEqual(result, { done: 0, retrying: 1, failed: 0 });
      const [row] = (await store.writeBack.listOpen('d2', { limit: 10, offset: 0 })).rows;
      assert.equal(row?.status, 'pending');
      assert.equal(row?.attempts, 1);
      assert.ok(row?.lastErrorCode?.startsWith('directory.'), `translated error code, got ${row?.lastErrorCode}`);
    }
    await slapd.restart();
    await using directory = await openWritableDirectory(writer());
    const later = () => new Date(Date.now() + 60_000);
    const result = await deliverDue(store, directory, { directoryId: 'd2', now: later });
    assert.deepEqual(result, { done: 1, retrying: 0, failed: 0 });
    assert.ok(!(await read(team(), 'member')).includes(alice()));
    assert.equal((await store.writeBack.listOpen('d2', { limit: 10, offset: 0 })).total, 0);
  });
});
