/**
 * `dirbridge writeback list|retry|resolve` as an administrator runs them (bin/dirbridge.js, a real
 * process) against real slapd with write-back writable: a step that fails shows in the list with
 * its error and goes through on retry once its cause is fixed; a conflict settled for the
 * directory shows as open, `--restore` puts dirbridge's value back on both sides (read back from
 * slapd and the store), `--keep` leaves both as they are; both are audited; wrong use is refused
 * with the right exit code.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { openDirectory } from '../src/directory/index.ts';
import type { NewOutboxStep } from '../src/model/index.ts';
import { PRIMARY_DIRECTORY_ID } from '../src/model/writeback.ts';
import { openStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { slapdDirectorySettings } from './helpers/directory.ts';

const BIN = path.resolve(import.meta.dirname, '..', 'bin', 'dirbridge.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('dirbridge writeback commands against OpenLDAP', () => {
  let slapd: Slapd;
  let dir = '';
  let config = '';
  const env = (): NodeJS.ProcessEnv => ({ DIRBRIDGE_DIRECTORY_BIND_PASSWORD: slapd.writerPassword, DIRBRIDGE_SECRET_KEY: secretKey });
  const secretKey = randomBytes(32).toString('hex');

  before(async () => {
    slapd = await startSlapd();
    dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-writeback-cli-'));
    config = path.join(dir, 'dirbridge.yaml');
    await writeFile(
      config,
      stringify({
        directory: { urls: [slapd.url], bindDn: slapd.writerDn, connectTimeoutMs: 2_000, operationTimeoutMs: 5_000 },
        users: { baseDn: slapd.baseDn },
        groups: { baseDn: `ou=groups,${slapd.baseDn}` },
        writeBack: { enabled: true, mode: 'writable', usersDn: `ou=people,${slapd.baseDn}` },
        store: { dataDir: path.join(dir, 'data') },
      }),
    );
  });
  after(async () => {
    await slapd?.stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  function cli(args: string[]): Promise<CliResult> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [BIN, '--config', config, ...args],
        { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env() }, timeout: 60_000 },
        (error, stdout, stderr) => {
          resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
        },
      );
    });
  }
  async function json(args: string[]): Promise<any> {
    const result = await cli([...args, '--json']);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}${result.stdout}`);
    return JSON.parse(result.stdout);
  }
  /** The store the CLI uses, opened between commands. */
  async function withStore<T>(work: (store: Store) => Promise<T>): Promise<T> {
    const store = await openStore({ dataDir: path.join(dir, 'data') });
    try {
      return await work(store);
    } finally {
      await store.close();
    }
  }
  async function mailOf(dn: string): Promise<string[]> {
    await using reader = await openDirectory(slapdDirectorySettings(slapd));
    const [entry] = await reader.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes: ['mail'], maxEntries: 1 });
    return (entry?.attributes['mail'] ?? []).map(String);
  }
  const enqueue = (store: Store, steps: NewOutboxStep[]) =>
    store.transaction((tx) => tx.writeBack.enqueue({ directoryId: PRIMARY_DIRECTORY_ID, actor: 'admin', steps }));

  it('lists nothing on a new store', async () => {
    const listed = await json(['writeback', 'list']);
    assert.deepEqual(listed, { outbox: { rows: [], total: 0 }, conflicts: { rows: [], total: 0 } });
  });

  it('shows a failed step with its error and delivers it on retry once the cause is fixed', async () => {
    const parent = `ou=later,ou=people,${slapd.baseDn}`;
    const dn = `uid=cli-late,${parent}`;
    const [row] = await withStore((store) =>
      enqueue(store, [
        {
          stepKind: 'createUser',
          subject: 'cli-late',
          objectKind: 'user',
          objectId: 'id-cli-late',
          reason: 'created',
          change: { kind: 'add', dn, attributes: { objectClass: ['inetOrgPerson'], uid: ['cli-late'], cn: ['cli-late'], sn: ['Late'] } },
        },
      ]),
    );
    // Nothing failed yet: retry requeues nothing, and its delivery finds the container missing.
    const first = await json(['writeback', 'retry']);
    assert.deepEqual(first, { requeued: 0, run: { done: 0, retrying: 0, failed: 1, conflicts: 0 } });
    const listed = await json(['writeback', 'list']);
    assert.equal(listed.outbox.total, 1);
    assert.equal(listed.outbox.rows[0].id, row!.id);
    assert.equal(listed.outbox.rows[0].status, 'failed');
    assert.equal(listed.outbox.rows[0].lastErrorCode, 'directory.no_such_object');
    const table = await cli(['writeback', 'list']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`${row!.id}\\s+failed\\s+createUser\\s+cli-late`));
    assert.match(table.stdout, /1 of 1 open write-back steps/);

    await slapd.ldapadd([`dn: ${parent}`, 'objectClass: organizationalUnit', 'ou: later', ''].join('\n'));
    const retried = await json(['writeback', 'retry', row!.id]);
    assert.deepEqual(retried, { requeued: 1, run: { done: 1, retrying: 0, failed: 0, conflicts: 0 } });
    assert.equal((await json(['writeback', 'list'])).outbox.total, 0);
    assert.deepEqual(await mailOf(dn), [], 'the entry exists (a missing one would throw)');
    const audit = await withStore((store) => store.audit.list({ limit: 5, offset: 0, action: 'writeback.retried' }));
    assert.equal(audit.total, 1);
    assert.equal(audit.entries[0]?.actor, 'admin:cli');
  });

  /** A conflict on `uid`'s mail settled for the directory (its default authority) by a delivery the CLI runs. */
  async function directoryWonConflict(uid: string): Promise<{ dn: string; userId: string; conflictId: string }> {
    const dn = `uid=${uid},ou=people,${slapd.baseDn}`;
    await slapd.ldapadd([`dn: ${dn}`, 'objectClass: inetOrgPerson', `uid: ${uid}`, `cn: ${uid}`, 'sn: C', `mail: ${uid}@old.example`, ''].join('\n'));
    const userId = await withStore(async (store) => {
      const [user] = await store.transaction((tx) => tx.users.insert([{ username: uid, source: 'directory', dn, email: `${uid}@dirbridge.example` }]));
      await enqueue(store, [
        {
          stepKind: 'updateUser',
          subject: uid,
          objectKind: 'user',
          objectId: user!.id,
          reason: 'mail',
          change: { kind: 'modify', dn, changes: [{ kind: 'set', attribute: 'mail', from: [`${uid}@old.example`], to: [`${uid}@dirbridge.example`] }] },
        },
      ]);
      return user!.id;
    });
    await slapd.ldapmodify([`dn: ${dn}`, 'changetype: modify', 'replace: mail', `mail: ${uid}@directory.example`, ''].join('\n'));
    const run = await json(['writeback', 'retry']);
    assert.deepEqual(run.run, { done: 1, retrying: 0, failed: 0, conflicts: 1 });
    const listed = await json(['writeback', 'list']);
    const conflict = listed.conflicts.rows.find((row: { subject: string }) => row.subject === uid);
    assert.ok(conflict, JSON.stringify(listed.conflicts));
    assert.equal(conflict.winner, 'directory');
    assert.deepEqual(conflict.dirbridgeValue, [`${uid}@dirbridge.example`]);
    assert.equal(conflict.resolvedAt, null);
    return { dn, userId, conflictId: conflict.id };
  }

  it("restores the loser's value on both sides with --restore", async () => {
    const { dn, userId, conflictId } = await directoryWonConflict('cli-rose');
    assert.deepEqual(await mailOf(dn), ['cli-rose@directory.example']);
    assert.equal(await withStore(async (store) => (await store.users.get(userId))?.email), 'cli-rose@directory.example', 'the store followed the directory');
    const resolved = await json(['writeback', 'resolve', conflictId, '--restore']);
    assert.equal(resolved.id, conflictId);
    assert.equal(resolved.resolution, 'restore');
    assert.equal(resolved.resolvedBy, 'admin:cli');
    assert.deepEqual(await mailOf(dn), ['cli-rose@dirbridge.example'], "dirbridge's value is back in slapd");
    await withStore(async (store) => {
      assert.equal((await store.users.get(userId))?.email, 'cli-rose@dirbridge.example', "and in dirbridge's store");
      assert.deepEqual(
        await store.writeBack.readBaselines(PRIMARY_DIRECTORY_ID, [{ objectKind: 'user', objectId: userId }]),
        [],
        'delivered: no baseline left',
      );
      const audit = await store.audit.list({ limit: 5, offset: 0, action: 'writeback.conflict_resolved', userId });
      assert.equal(audit.total, 1);
    });
    const again = await cli(['writeback', 'resolve', conflictId, '--keep', '--json']);
    assert.equal(again.code, 1);
    assert.equal(JSON.parse(again.stdout).error.code, 'store.conflict');
  });

  it('keeps both sides as they are with --keep, and refuses a resolve without exactly one of --keep/--restore', async () => {
    const { dn, userId, conflictId } = await directoryWonConflict('cli-kate');
    const neither = await cli(['writeback', 'resolve', conflictId]);
    assert.equal(neither.code, 2, neither.stderr);
    const both = await cli(['writeback', 'resolve', conflictId, '--keep', '--restore']);
    assert.equal(both.code, 2, both.stderr);
    const resolved = await json(['writeback', 'resolve', conflictId, '--keep']);
    assert.equal(resolved.resolution, 'keep');
    assert.deepEqual(await mailOf(dn), ['cli-kate@directory.example']);
    assert.equal(await withStore(async (store) => (await store.users.get(userId))?.email), 'cli-kate@directory.example');
    assert.equal((await json(['writeback', 'list'])).conflicts.total, 0, 'no open conflict left');
    const unknown = await cli(['writeback', 'resolve', 'no-such-conflict', '--keep', '--json']);
    assert.equal(unknown.code, 1);
    assert.equal(JSON.parse(unknown.stdout).error.code, 'store.not_found');
  });
});
