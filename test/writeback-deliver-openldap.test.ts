/**
 * The deliverer against real slapd (as the writer account): outbox rows become directory writes,
 * read back from the server; with slapd down they stay pending with the error and are applied
 * once it is back; a `set` whose value was changed in slapd meanwhile (as cn=admin) is settled by
 * `writeBack.authority`, and the server, dirbridge's store and the recorded conflict say who won.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ASSERTION_OID } from '../src/directory/controls/assertion.ts';
import { openDirectory, openWritableDirectory } from '../src/directory/index.ts';
import type { NewOutboxStep } from '../src/model/index.ts';
import { userSettingsSchema, writeBackSettingsSchema } from '../src/settings/schema.ts';
import { openStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { type DeliverDueInput, deliverDue } from '../src/writeback/deliver.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
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
        `dn: uid=wb-alice,ou=people,${slapd.baseDn}`,
        'objectClass: inetOrgPerson',
        'uid: wb-alice',
        'cn: Alice',
        'sn: A',
        'mail: alice@old.example',
        '',
        `dn: cn=wb-team,ou=groups,${slapd.baseDn}`,
        'objectClass: groupOfNames',
        'cn: wb-team',
        `member: cn=reader,${slapd.baseDn}`,
        '',
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
  const users = () => userSettingsSchema.parse({ baseDn: slapd.baseDn });
  /** deliverDue's input for `directoryId`, with `writeBack.authority` as given. */
  const input = (directoryId: string, authority: Record<string, unknown> = {}, now = () => new Date()): DeliverDueInput => ({
    directoryId,
    now,
    settings: { users: users(), writeBack: writeBackSettingsSchema.parse({ authority }) },
  });
  const alice = () => `uid=wb-alice,ou=people,${slapd.baseDn}`;
  const team = () => `cn=wb-team,ou=groups,${slapd.baseDn}`;
  const steps = (): NewOutboxStep[] => [
    {
      stepKind: 'addMember',
      subject: 'wb-team',
      objectKind: 'group',
      objectId: 'g1',
      reason: 'add alice',
      change: { kind: 'modify', dn: team(), changes: [{ kind: 'addValues', attribute: 'member', values: [alice()] }] },
    },
    {
      stepKind: 'updateUser',
      subject: 'wb-alice',
      objectKind: 'user',
      objectId: 'u1',
      reason: 'new mail',
      change: { kind: 'modify', dn: alice(), changes: [{ kind: 'set', attribute: 'mail', from: ['alice@old.example'], to: ['alice@new.example'] }] },
    },
  ];

  it('delivers an action in order and the server holds the values; delivering again is a no-op', async () => {
    await store.transaction((tx) => tx.writeBack.enqueue({ directoryId: 'd1', actor: 'admin', steps: steps() }));
    await using directory = await openWritableDirectory(writer());
    const result = await deliverDue(store, directory, input('d1'));
    assert.deepEqual(result, { done: 2, retrying: 0, failed: 0, conflicts: 0 });
    assert.ok((await read(team(), 'member')).includes(alice()));
    assert.equal((await read(team(), 'member')).length, 2, 'the other member is untouched');
    assert.deepEqual(await read(alice(), 'mail'), ['alice@new.example']);
    assert.equal((await store.writeBack.listOpen('d1', { limit: 10, offset: 0 })).total, 0);
    assert.deepEqual(await deliverDue(store, directory, input('d1')), { done: 0, retrying: 0, failed: 0, conflicts: 0 });
    // The same member again (value exists) counts as done; so does a `set` whose `from` no longer
    // holds because the server already holds its `to` (re-read), with no conflict.
    await store.transaction((tx) => tx.writeBack.enqueue({ directoryId: 'd1', actor: 'admin', steps: steps() }));
    assert.deepEqual(await deliverDue(store, directory, input('d1')), { done: 2, retrying: 0, failed: 0, conflicts: 0 });
    assert.equal((await store.writeBack.listOpen('d1', { limit: 10, offset: 0 })).total, 0);
    assert.equal((await store.writeBack.listConflicts('d1', {}, { limit: 10, offset: 0 })).total, 0);
    assert.deepEqual(await read(alice(), 'mail'), ['alice@new.example']);
  });

  it('keeps rows pending with the error while slapd is down, and applies them when it is back', async () => {
    await store.transaction((tx) =>
      tx.writeBack.enqueue({
        directoryId: 'd2',
        actor: 'admin',
        steps: [
          {
            stepKind: 'removeMember',
            subject: 'wb-team',
            objectKind: 'group',
            objectId: 'g1',
            reason: 'remove alice',
            change: { kind: 'modify', dn: team(), changes: [{ kind: 'deleteValues', attribute: 'member', values: [alice()] }] },
          },
        ],
      }),
    );
    {
      const directory = await openWritableDirectory(writer());
      slapd.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const result = await deliverDue(store, directory, input('d2'));
      await directory.close().catch(() => undefined);
      assert.deepEqual(result, { done: 0, retrying: 1, failed: 0, conflicts: 0 });
      const [row] = (await store.writeBack.listOpen('d2', { limit: 10, offset: 0 })).rows;
      assert.equal(row?.status, 'pending');
      assert.equal(row?.attempts, 1);
      assert.ok(row?.lastErrorCode?.startsWith('directory.'), `translated error code, got ${row?.lastErrorCode}`);
    }
    await slapd.restart();
    await using directory = await openWritableDirectory(writer());
    const later = () => new Date(Date.now() + 60_000);
    const result = await deliverDue(store, directory, input('d2', {}, later));
    assert.deepEqual(result, { done: 1, retrying: 0, failed: 0, conflicts: 0 });
    assert.ok(!(await read(team(), 'member')).includes(alice()));
    assert.equal((await store.writeBack.listOpen('d2', { limit: 10, offset: 0 })).total, 0);
  });

  /**
   * A user whose mail dirbridge changed locally (store, baseline, outbox row from the old value),
   * then an administrator changes mail in slapd before delivery.
   */
  async function conflictingMail(directoryId: string, name: string, options: { dirbridge: string; directory: string; alsoSn?: string }) {
    const dn = `uid=${name},ou=people,${slapd.baseDn}`;
    const old = `${name}@old.example`;
    await slapd.ldapadd([`dn: ${dn}`, 'objectClass: inetOrgPerson', `uid: ${name}`, `cn: ${name}`, 'sn: Before', `mail: ${old}`, ''].join('\n'));
    const [user] = await store.transaction((tx) =>
      tx.users.insert([{ username: name, source: 'directory', dn, email: options.dirbridge, lastName: options.alsoSn ?? 'Before' }]),
    );
    const changes = [{ kind: 'set' as const, attribute: 'mail', from: [old], to: [options.dirbridge] }];
    if (options.alsoSn !== undefined) changes.push({ kind: 'set', attribute: 'sn', from: ['Before'], to: [options.alsoSn] });
    const [row] = await store.transaction(async (tx) => {
      await tx.writeBack.upsertBaselines(directoryId, [
        { objectKind: 'user', objectId: user!.id, field: 'email', values: [old], changeMarker: null },
        ...(options.alsoSn === undefined
          ? []
          : [{ objectKind: 'user' as const, objectId: user!.id, field: 'lastName', values: ['Before'], changeMarker: null }]),
      ]);
      return tx.writeBack.enqueue({
        directoryId,
        actor: 'admin',
        steps: [{ stepKind: 'updateUser', subject: name, objectKind: 'user', objectId: user!.id, reason: 'new mail', change: { kind: 'modify', dn, changes } }],
      });
    });
    await slapd.ldapmodify([`dn: ${dn}`, 'changetype: modify', 'replace: mail', `mail: ${options.directory}`, ''].join('\n'));
    return { dn, userId: user!.id, old, actionId: row!.actionId };
  }

  it("a conflict under the directory's authority: slapd keeps its value, dirbridge's store takes it, the row is done with a note, the conflict keeps dirbridge's value", async () => {
    const { dn, userId, old, actionId } = await conflictingMail('c1', 'wb-carol', {
      dirbridge: 'carol@dirbridge.example',
      directory: 'carol@directory.example',
      alsoSn: 'After',
    });
    await using directory = await openWritableDirectory(writer());
    const result = await deliverDue(store, directory, input('c1', { default: 'directory' }));
    assert.deepEqual(result, { done: 1, retrying: 0, failed: 0, conflicts: 1 });
    assert.deepEqual(await read(dn, 'mail'), ['carol@directory.example'], "the directory's value stands");
    assert.deepEqual(await read(dn, 'sn'), ['After'], 'the other field of the row, not in conflict, is written');
    const user = await store.users.get(userId);
    assert.equal(user?.email, 'carol@directory.example', "dirbridge's store follows the directory");
    assert.equal(user?.lastName, 'After');
    const { rows: conflicts } = await store.writeBack.listConflicts('c1', { open: true }, { limit: 10, offset: 0 });
    assert.equal(conflicts.length, 1);
    assert.deepEqual(
      {
        field: conflicts[0]?.field,
        winner: conflicts[0]?.winner,
        directoryValue: conflicts[0]?.directoryValue,
        dirbridgeValue: conflicts[0]?.dirbridgeValue,
        baseline: conflicts[0]?.baseline,
        objectId: conflicts[0]?.objectId,
      },
      {
        field: 'email',
        winner: 'directory',
        directoryValue: ['carol@directory.example'],
        dirbridgeValue: ['carol@dirbridge.example'],
        baseline: [old],
        objectId: userId,
      },
    );
    const [row] = await store.writeBack.action(actionId);
    assert.equal(row?.status, 'done');
    assert.equal(row?.lastErrorCode, 'writeback.directory_kept');
    assert.deepEqual(
      await store.writeBack.readBaselines('c1', [{ objectKind: 'user', objectId: userId }]),
      [],
      'both baselines are gone: sn delivered, mail settled',
    );
    const audit = (await store.audit.list({ limit: 10, offset: 0, action: 'writeback.conflict', userId })).entries;
    assert.equal(audit.length, 1);
    assert.equal((audit[0]?.details as { conflictId?: string } | null)?.conflictId, conflicts[0]?.id);
  });

  it("a conflict under dirbridge's authority (a field override): dirbridge's value is written over slapd's, the conflict keeps slapd's", async () => {
    const { dn, userId, actionId } = await conflictingMail('c2', 'wb-dave', { dirbridge: 'dave@dirbridge.example', directory: 'dave@directory.example' });
    await using directory = await openWritableDirectory(writer());
    const result = await deliverDue(store, directory, input('c2', { default: 'directory', fields: { email: 'dirbridge' } }));
    assert.deepEqual(result, { done: 1, retrying: 0, failed: 0, conflicts: 1 });
    assert.deepEqual(await read(dn, 'mail'), ['dave@dirbridge.example'], "dirbridge's value is written");
    assert.equal((await store.users.get(userId))?.email, 'dave@dirbridge.example');
    const { rows: conflicts } = await store.writeBack.listConflicts('c2', { open: true }, { limit: 10, offset: 0 });
    assert.equal(conflicts.length, 1);
    assert.equal(conflicts[0]?.winner, 'dirbridge');
    assert.deepEqual(conflicts[0]?.directoryValue, ['dave@directory.example'], "the loser's (the directory's) value is kept");
    const [row] = await store.writeBack.action(actionId);
    assert.equal(row?.status, 'done');
    assert.equal(row?.lastErrorCode, null);
    assert.deepEqual(await store.writeBack.readBaselines('c2', [{ objectKind: 'user', objectId: userId }]), [], 'the delivered field has no baseline left');
    assert.equal((await store.audit.list({ limit: 10, offset: 0, action: 'writeback.conflict', userId })).total, 1);
  });

  it('an attribute that is no user field (description) takes the default authority', async () => {
    const name = 'wb-erin';
    const dn = `uid=${name},ou=people,${slapd.baseDn}`;
    await slapd.ldapadd([`dn: ${dn}`, 'objectClass: inetOrgPerson', `uid: ${name}`, `cn: ${name}`, 'sn: E', 'description: planned', ''].join('\n'));
    await store.transaction((tx) =>
      tx.writeBack.enqueue({
        directoryId: 'c3',
        actor: 'admin',
        steps: [
          {
            stepKind: 'updateUser',
            subject: name,
            objectKind: 'user',
            objectId: 'u-erin',
            reason: 'describe',
            change: { kind: 'modify', dn, changes: [{ kind: 'set', attribute: 'description', from: ['planned'], to: ['ours'] }] },
          },
        ],
      }),
    );
    await slapd.ldapmodify([`dn: ${dn}`, 'changetype: modify', 'replace: description', 'description: theirs', ''].join('\n'));
    await using directory = await openWritableDirectory(writer());
    // mail's override says dirbridge; description is no field, so the default (dirbridge) decides.
    assert.deepEqual(await deliverDue(store, directory, input('c3', { default: 'dirbridge', fields: { email: 'directory' } })), {
      done: 1,
      retrying: 0,
      failed: 0,
      conflicts: 1,
    });
    assert.deepEqual(await read(dn, 'description'), ['ours']);
    const [conflict] = (await store.writeBack.listConflicts('c3', {}, { limit: 10, offset: 0 })).rows;
    assert.equal(conflict?.field, 'description');
    assert.deepEqual(conflict?.directoryValue, ['theirs']);
  });

  it("dirbridge's swap lost again (the value moved between the re-read and the retry): the row waits, pending, with no conflict recorded yet; the next pass writes it", async () => {
    const { dn, userId, actionId } = await conflictingMail('c4', 'wb-gina', { dirbridge: 'gina@dirbridge.example', directory: 'gina@directory.example' });
    const settings = { default: 'dirbridge' };
    {
      await using real = await openWritableDirectory(writer());
      // The real connection; after its re-read returns, an administrator changes mail once more.
      let moved = false;
      const racing = Object.assign(Object.create(real) as typeof real, {
        searchAll: async (...args: Parameters<typeof real.searchAll>) => {
          const entries = await real.searchAll(...args);
          if (!moved) {
            moved = true;
            await slapd.ldapmodify([`dn: ${dn}`, 'changetype: modify', 'replace: mail', 'mail: gina@again.example', ''].join('\n'));
          }
          return entries;
        },
      });
      assert.deepEqual(await deliverDue(store, racing, input('c4', settings)), { done: 0, retrying: 1, failed: 0, conflicts: 0 });
    }
    const [row] = await store.writeBack.action(actionId);
    assert.equal(row?.status, 'pending');
    assert.equal(row?.attempts, 1);
    assert.equal(row?.lastErrorCode, 'writeback.changed_during_delivery');
    assert.equal((await store.writeBack.listConflicts('c4', {}, { limit: 10, offset: 0 })).total, 0);
    assert.deepEqual(await read(dn, 'mail'), ['gina@again.example']);

    await using directory = await openWritableDirectory(writer());
    assert.deepEqual(
      await deliverDue(
        store,
        directory,
        input('c4', settings, () => new Date(Date.now() + 60_000)),
      ),
      { done: 1, retrying: 0, failed: 0, conflicts: 1 },
    );
    assert.deepEqual(await read(dn, 'mail'), ['gina@dirbridge.example']);
    const [conflict] = (await store.writeBack.listConflicts('c4', {}, { limit: 10, offset: 0 })).rows;
    assert.deepEqual(conflict?.directoryValue, ['gina@again.example'], 'the value overwritten is the one read on this pass');
    assert.equal((await store.users.get(userId))?.email, 'gina@dirbridge.example');
  });

  it('settles a conflict the same way on a server without the Assertion control (delete from + add to fails with noSuchAttribute)', async () => {
    const { dn, userId } = await conflictingMail('c5', 'wb-hank', { dirbridge: 'hank@dirbridge.example', directory: 'hank@directory.example' });
    await using real = await openWritableDirectory(writer());
    const withoutAssertion = Object.assign(Object.create(real) as typeof real, {
      rootDse: { ...real.rootDse, supportedControls: real.rootDse.supportedControls.filter((oid) => oid !== ASSERTION_OID) },
    });
    assert.deepEqual(await deliverDue(store, withoutAssertion, input('c5')), { done: 1, retrying: 0, failed: 0, conflicts: 1 });
    assert.deepEqual(await read(dn, 'mail'), ['hank@directory.example']);
    assert.equal((await store.users.get(userId))?.email, 'hank@directory.example');
    const [conflict] = (await store.writeBack.listConflicts('c5', {}, { limit: 10, offset: 0 })).rows;
    assert.equal(conflict?.winner, 'directory');
  });

  it('counts a rename, a move and a delete already done in the directory (delivered, not recorded) as done; a rename of an entry that is nowhere fails', async () => {
    const people = `ou=people,${slapd.baseDn}`;
    await slapd.ldapadd(
      ['ivan', 'judy'].flatMap((uid) => [`dn: uid=wb-${uid},${people}`, 'objectClass: inetOrgPerson', `uid: wb-${uid}`, `cn: ${uid}`, 'sn: X', '']).join('\n'),
    );
    const step = (change: NewOutboxStep['change'], subject: string): NewOutboxStep => ({
      stepKind: 'renameUser',
      subject,
      objectKind: 'user',
      objectId: subject,
      reason: 'test',
      change,
    });
    const rows = await store.transaction((tx) =>
      tx.writeBack.enqueue({
        directoryId: 'd3',
        actor: 'admin',
        steps: [
          step({ kind: 'modifyDn', dn: `uid=wb-ivan,${people}`, newRdn: 'uid=wb-ivan2', newParent: `ou=staff,${slapd.baseDn}` }, 'wb-ivan'),
          step({ kind: 'delete', dn: `uid=wb-judy,${people}` }, 'wb-judy'),
        ],
      }),
    );
    // Done in the directory as the deliverer would have, before the rows were marked.
    await slapd.ldapmodify(
      [
        `dn: uid=wb-ivan,${people}`,
        'changetype: modrdn',
        'newrdn: uid=wb-ivan2',
        'deleteoldrdn: 1',
        `newsuperior: ou=staff,${slapd.baseDn}`,
        '',
        `dn: uid=wb-judy,${people}`,
        'changetype: delete',
        '',
      ].join('\n'),
    );
    await using directory = await openWritableDirectory(writer());
    assert.deepEqual(await deliverDue(store, directory, input('d3')), { done: 2, retrying: 0, failed: 0, conflicts: 0 });
    assert.deepEqual(
      (await store.writeBack.action(rows[0]!.actionId)).map((row) => row.status),
      ['done', 'done'],
    );

    await store.transaction((tx) =>
      tx.writeBack.enqueue({
        directoryId: 'd4',
        actor: 'admin',
        steps: [step({ kind: 'modifyDn', dn: `uid=wb-nobody,${people}`, newRdn: 'uid=wb-nobody2' }, 'wb-nobody')],
      }),
    );
    assert.deepEqual(await deliverDue(store, directory, input('d4')), { done: 0, retrying: 0, failed: 1, conflicts: 0 });
    assert.equal((await store.writeBack.listOpen('d4', { limit: 10, offset: 0 })).rows[0]?.lastErrorCode, 'directory.no_such_object');
  });
});
