/**
 * SQLite on a small tmpfs that fills up while `dirbridge serve` (a real process) syncs: the run
 * fails with `store.disk_full` (not SQLite's "cannot rollback - no transaction is active", which
 * used to replace it), the store stays consistent (PRAGMA integrity_check, and the data read
 * through the store contract is what it was before the run), the server keeps serving reads,
 * and once space is freed a sync succeeds. Needs root (mount); fails when CI is set without it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { openStore } from '../src/store/open-store.ts';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { mountTmpfs, type Tmpfs, tmpfsProblem } from './fixtures/tmpfs.ts';
import { writeSlapdConfig } from './helpers/directory.ts';
import { storePicture } from './helpers/harness.ts';
import { type ServeProcess, startServe } from './helpers/serve-process.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const problem = tmpfsProblem();
const ADMIN_PASSWORD = 'admin-password-for-disk-full';

/** PRAGMA integrity_check on the file, read-only. */
function integrity(file: string): unknown {
  const database = new BetterSqlite3(file, { readonly: true, timeout: 5_000 });
  try {
    return database.pragma('integrity_check');
  } finally {
    database.close();
  }
}

describe('SQLite on a disk that fills up during a sync', { skip: skipUnlessCi(problem) }, () => {
  let tmpfs: Tmpfs;
  let slapd: Slapd;
  let organisation: Organisation;
  let serve: ServeProcess | undefined;

  before(async () => {
    assert.equal(problem, undefined, problem);
    tmpfs = await mountTmpfs(64 * 1024 * 1024);
    organisation = generateOrganisation({ people: 3000, groups: 30, seed: 13 });
    slapd = await startSlapd({ ldif: organisation.ldif });
  });

  after(async () => {
    if (serve !== undefined && serve.exit() === undefined) await serve.stop();
    await slapd?.stop();
    tmpfs?.unmount();
  });

  it('fails the run with store.disk_full, keeps the store consistent and serving reads, and syncs once space is freed', async () => {
    const dataDir = path.join(tmpfs.dir, 'data');
    const file = path.join(dataDir, 'dirbridge.sqlite');
    const config = path.join(tmpfs.dir, 'dirbridge.yaml');
    const password = await writeSlapdConfig(config, slapd, { users: { filter: '(&(objectClass=inetOrgPerson)(employeeType=intern))' }, store: { dataDir } });
    serve = await startServe(config, { ...password, DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD, DIRBRIDGE_SECRET_KEY: randomBytes(32).toString('hex') });
    const server = serve;
    assert.equal((await server.signIn(ADMIN_PASSWORD)).status, 200);
    const interns = await server.request('POST', '/api/v1/admin/actions/sync', {});
    assert.equal(interns.json.status, 'succeeded', interns.text);
    const current = await server.request('GET', '/api/v1/admin/settings');
    const everyone = { ...current.json.settings, users: { ...current.json.settings.users, filter: '(objectClass=inetOrgPerson)' } };
    assert.equal((await server.request('PUT', '/api/v1/admin/settings', { version: current.json.version, settings: everyone })).status, 200);

    // The data before the run, through the store contract.
    const reader = await openStore({ dataDir });
    const before = await storePicture(reader);
    await reader.close();
    // An empty WAL, so the run's writes need new space, and a disk with 256 kB left.
    const checkpoint = new BetterSqlite3(file, { timeout: 5_000 });
    checkpoint.pragma('wal_checkpoint(TRUNCATE)');
    checkpoint.close();
    tmpfs.fill(256 * 1024);

    const failed = await server.request('POST', '/api/v1/admin/actions/sync', {});
    assert.equal(failed.status, 200, failed.text);
    assert.equal(failed.json.status, 'failed', failed.text);
    const run = (await server.request('GET', `/api/v1/admin/runs/${failed.json.runId}`)).json;
    assert.equal(run.status, 'failed');
    assert.equal(run.errorCode, 'store.disk_full', JSON.stringify(run));
    assert.doesNotMatch(run.errorMessage ?? '', /cannot rollback/);
    assert.match(run.errorMessage, /disk holding the database is full/);
    assert.equal(run.progress, null);

    // Still full: reads are served, and the file is sound.
    assert.ok(tmpfs.available() < 1024 * 1024, `the disk is still full (${tmpfs.available()} bytes free)`);
    const ready = await server.request('GET', '/readyz');
    assert.equal(ready.status, 200, ready.text);
    const users = await server.request('GET', '/api/v1/admin/users?limit=5');
    assert.equal(users.status, 200, users.text);
    assert.equal(users.json.total, organisation.users.filter((user) => user.employeeType === 'intern').length + 1);
    assert.deepEqual(integrity(file), [{ integrity_check: 'ok' }]);

    tmpfs.free();
    const afterwards = await openStore({ dataDir });
    try {
      assert.equal(await storePicture(afterwards), before, 'the data is exactly what it was before the run');
    } finally {
      await afterwards.close();
    }
    const synced = await server.request('POST', '/api/v1/admin/actions/sync', {});
    assert.equal(synced.json.status, 'succeeded', synced.text);
    assert.equal(synced.json.users.created, organisation.users.filter((user) => user.employeeType !== 'intern').length);
    assert.equal(synced.json.users.updated, 0);

    assert.deepEqual(await server.stop(), { code: 0, signal: null }, server.stderr());
    assert.deepEqual(integrity(file), [{ integrity_check: 'ok' }]);
  });
});
