/**
 * Test Connection reports write access when the write-back writes (writeBack.enabled, mode
 * writable), over HTTP and the CLI (a real process), against a real slapd whose fixture has a
 * read-only service account and a writer (cn=writer, which may write under ou=people and
 * ou=groups): the writer is reported writable for writeBack.usersDn and writeBack.groupsDn with no
 * write-back warning; the read-only account is reported not writable, with a warning naming the
 * setting and the DN. Nothing is probed while the write-back is off or read-only; unsaved settings
 * are probed with their own bind account; a DN naming no entry is a warning, not a failure.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { stringify } from 'yaml';
import { type App, openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { createHttpServer } from '../src/http/server.ts';
import { generateOrganisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { type AdminSignIn, signInAdmin } from './helpers/admin-session.ts';
import { merge, settingsFor } from './helpers/harness.ts';

const ADMIN_PASSWORD = 'admin-password-for-write-access';
const BIN = path.resolve(import.meta.dirname, '..', 'bin', 'dirbridge.js');

interface WriteAccess {
  dn: string;
  writable?: boolean;
  detail: string;
}
interface Report {
  writeAccess?: { usersDn?: WriteAccess; groupsDn?: WriteAccess };
  warnings: string[];
  bind: { dn: string | null };
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      },
    );
  });
}

describe('Test Connection reports write access (OpenLDAP)', () => {
  let slapd: Slapd;
  let dir: string;
  let usersDn: string;
  let groupsDn: string;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    slapd = await startSlapd({ ldif: generateOrganisation({ people: 6, groups: 2, seed: 21 }).ldif });
    dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-write-access-'));
    usersDn = `ou=people,${slapd.baseDn}`;
    groupsDn = `ou=groups,${slapd.baseDn}`;
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** A settings document bound as `account`, with the write-back as `writeBack` says. */
  const documentFor = (account: 'reader' | 'writer', writeBack: Record<string, unknown>): Record<string, unknown> => ({
    directory: { urls: [slapd.url], bindDn: account === 'reader' ? slapd.readerDn : slapd.writerDn },
    users: { baseDn: slapd.baseDn },
    groups: { baseDn: groupsDn },
    writeBack,
  });
  const writable = () => ({ enabled: true, mode: 'writable', usersDn, groupsDn });
  const passwordOf = (account: 'reader' | 'writer') => (account === 'reader' ? slapd.readerPassword : slapd.writerPassword);

  async function serverFor(
    account: 'reader' | 'writer',
    writeBack: Record<string, unknown>,
  ): Promise<{ app: App; server: FastifyInstance; admin: AdminSignIn }> {
    const made = await settingsFor(merge(documentFor(account, writeBack), { directory: { bindPassword: passwordOf(account) } }));
    cleanups.push(made.cleanup);
    const app = await openApp(made.settings);
    cleanups.push(() => app.close());
    await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    const server = await createHttpServer(app, { logger: false });
    cleanups.push(() => server.close());
    return { app, server, admin: await signInAdmin(server, ADMIN_PASSWORD) };
  }

  async function testOverHttp(target: { server: FastifyInstance; admin: AdminSignIn }, payload?: Record<string, unknown>): Promise<Report> {
    const response = await target.server.inject({
      method: 'POST',
      url: '/api/v1/admin/actions/test-connection',
      cookies: target.admin.cookie,
      headers: { 'x-csrf-token': target.admin.csrf },
      ...(payload === undefined ? {} : { payload }),
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.body.includes(slapd.writerPassword) || response.body.includes(slapd.readerPassword), false, 'no bind password in the report');
    return response.json() as Report;
  }

  const writeBackWarnings = (report: Report) => report.warnings.filter((warning) => warning.startsWith('writeBack.'));

  it('over HTTP: the writer may write to usersDn and groupsDn, without a write-back warning', async () => {
    const report = await testOverHttp(await serverFor('writer', writable()));
    assert.deepEqual(report.writeAccess?.usersDn, { dn: usersDn, writable: true, detail: 'the bind account may modify this entry' });
    assert.deepEqual(report.writeAccess?.groupsDn, { dn: groupsDn, writable: true, detail: 'the bind account may modify this entry' });
    assert.deepEqual(writeBackWarnings(report), []);
  });

  it('over HTTP: the read-only account may not, and each DN gets a warning naming its setting', async () => {
    const reader = await serverFor('reader', writable());
    const report = await testOverHttp(reader);
    assert.equal(report.writeAccess?.usersDn?.writable, false);
    assert.equal(report.writeAccess?.groupsDn?.writable, false);
    assert.deepEqual(writeBackWarnings(report), [
      `writeBack.usersDn: the bind account has no write access to this entry (${usersDn})`,
      `writeBack.groupsDn: the bind account has no write access to this entry (${groupsDn})`,
    ]);

    // Unsaved settings binding as the writer are probed with the writer, not the account in force.
    const { settings } = (await reader.server.inject({ method: 'GET', url: '/api/v1/admin/settings', cookies: reader.admin.cookie })).json() as {
      settings: Record<string, unknown>;
    };
    const asWriter = merge(settings, { directory: { bindDn: slapd.writerDn, bindPassword: slapd.writerPassword } });
    const unsaved = await testOverHttp(reader, { settings: asWriter });
    assert.equal(unsaved.bind.dn, slapd.writerDn);
    assert.equal(unsaved.writeAccess?.usersDn?.writable, true);
    assert.equal(unsaved.writeAccess?.groupsDn?.writable, true);
    assert.deepEqual(writeBackWarnings(unsaved), []);
    assert.equal(reader.app.settings.directory.bindDn, slapd.readerDn, 'nothing was saved');
  });

  it('over HTTP: probes nothing while the write-back is off or read-only, and warns about a DN naming no entry', async () => {
    const off = await testOverHttp(await serverFor('reader', { ...writable(), enabled: false }));
    assert.equal(off.writeAccess, undefined);
    assert.deepEqual(writeBackWarnings(off), []);
    const readOnly = await testOverHttp(await serverFor('reader', { ...writable(), mode: 'readOnly' }));
    assert.equal(readOnly.writeAccess, undefined);

    const missing = `ou=nowhere,${slapd.baseDn}`;
    const report = await testOverHttp(await serverFor('writer', { enabled: true, mode: 'writable', usersDn: missing }));
    assert.equal(report.writeAccess?.usersDn?.writable, undefined);
    assert.equal(report.writeAccess?.groupsDn, undefined, 'groupsDn is not set, so not probed');
    assert.deepEqual(writeBackWarnings(report), [`writeBack.usersDn: no entry has this DN, so nothing can be written under it (${missing})`]);
  });

  it('over the CLI: reports write access as JSON and as text, warning on stderr for the read-only account', async () => {
    const configFor = async (account: 'reader' | 'writer') => {
      const file = path.join(dir, `${account}.yaml`);
      await writeFile(file, stringify(merge(documentFor(account, writable()), { store: { dataDir: path.join(dir, `${account}-data`) } })));
      return file;
    };
    const env = (account: 'reader' | 'writer') => ({ DIRBRIDGE_DIRECTORY_BIND_PASSWORD: passwordOf(account) });

    const writer = await cli(['--config', await configFor('writer'), '--json', 'test-connection'], env('writer'));
    assert.equal(writer.code, 0, writer.stderr);
    const writerReport = JSON.parse(writer.stdout) as Report;
    assert.equal(writerReport.writeAccess?.usersDn?.writable, true);
    assert.equal(writerReport.writeAccess?.groupsDn?.writable, true);
    assert.deepEqual(writeBackWarnings(writerReport), []);

    const readerConfig = await configFor('reader');
    const reader = await cli(['--config', readerConfig, '--json', 'test-connection'], env('reader'));
    assert.equal(reader.code, 0, reader.stderr);
    const readerReport = JSON.parse(reader.stdout) as Report;
    assert.equal(readerReport.writeAccess?.usersDn?.writable, false);
    assert.equal(readerReport.writeAccess?.groupsDn?.writable, false);
    assert.deepEqual(writeBackWarnings(readerReport), [
      `writeBack.usersDn: the bind account has no write access to this entry (${usersDn})`,
      `writeBack.groupsDn: the bind account has no write access to this entry (${groupsDn})`,
    ]);

    const text = await cli(['--config', readerConfig, 'test-connection'], env('reader'));
    assert.equal(text.code, 0, text.stderr);
    assert.ok(text.stdout.includes(`writeBack.usersDn: not writable — ${usersDn}`), text.stdout);
    assert.ok(text.stderr.includes(`warning: writeBack.groupsDn: the bind account has no write access to this entry (${groupsDn})`), text.stderr);
    for (const output of [writer.stdout, writer.stderr, reader.stdout, text.stdout, text.stderr]) {
      assert.equal(output.includes(slapd.writerPassword) || output.includes(slapd.readerPassword), false, 'no bind password printed');
    }
  });
});
