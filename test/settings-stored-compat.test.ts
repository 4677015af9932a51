/**
 * A settings version stored by an earlier release that the current rules refuse, against a real
 * OpenLDAP and the SQLite store:
 *
 * - a timeout beyond Node's timers and a schedule every 30 seconds are set aside for their
 *   defaults: the app opens, the directory answers (with 3000000000 ms every operation failed at
 *   once), the problems are reported (API, CLI), and saving the settings unchanged fixes them;
 * - a base DN of the root has no safe stand-in: every command refuses with the path and the way
 *   out, and `dirbridge settings import FILE` replaces the version.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { stringify } from 'yaml';
import { type App, openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { runCli } from '../src/cli/program.ts';
import { isDirbridgeError } from '../src/errors.ts';
import { createHttpServer } from '../src/http/server.ts';
import type { JsonValue } from '../src/model/index.ts';
import type { Settings } from '../src/settings/schema.ts';
import { checkConnection } from '../src/verify-settings.ts';
import { generateOrganisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { signInAdmin } from './helpers/admin-session.ts';
import { settingsFor } from './helpers/harness.ts';

const ADMIN_PASSWORD = 'admin-password-for-stored-compat';

/** Runs the CLI in this process; returns its exit code and output. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(
    args,
    { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), isTerminal: false },
    { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD },
  );
  return { code, stdout, stderr };
}

/** Saves `patch` over the newest stored document as the next version, as an earlier release could have. */
async function storeAsEarlierRelease(app: App, patch: (document: Record<string, Record<string, unknown>>) => void): Promise<number> {
  const stored = await app.store.settings.get();
  assert.ok(stored);
  const document = structuredClone(stored.document) as Record<string, Record<string, unknown>>;
  patch(document);
  const saved = await app.store.settings.save({ expectedVersion: stored.version, document: document as JsonValue, actor: 'earlier-release' });
  return saved.version;
}

describe('stored settings the current rules refuse', () => {
  let slapd: Slapd;
  let settings: Settings;
  let cleanup: () => Promise<void>;
  let configFile: string;

  before(async () => {
    slapd = await startSlapd({ ldif: generateOrganisation({ people: 12, groups: 3, seed: 9 }).ldif });
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: slapd.baseDn },
    });
    settings = made.settings;
    cleanup = made.cleanup;
    // The file that seeded the store, as an administrator keeps it next to the server.
    configFile = path.join(settings.store.dataDir, 'dirbridge.yaml');
    await writeFile(
      configFile,
      stringify({
        directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
        users: { baseDn: slapd.baseDn },
        store: settings.store,
      }),
    );
    const seeded = await openApp(settings);
    await ensureInitialAdmin(seeded.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    await seeded.close();
  });

  after(async () => {
    await slapd?.stop();
    await cleanup?.();
  });

  it('sets a timeout and a schedule aside for their defaults, keeps working, reports them, and a save fixes them', async () => {
    let app = await openApp(settings);
    const version = await storeAsEarlierRelease(app, (document) => {
      (document['directory'] ?? {})['operationTimeoutMs'] = 3_000_000_000;
      document['autoLogout'] = { enabled: true, schedule: '*/30 * * * * *' };
    });
    await app.close();

    app = await openApp(settings);
    let server: FastifyInstance | undefined;
    try {
      const state = app.settingsState();
      assert.equal(state.version, version);
      assert.equal(state.problems.length, 2, state.problems.join('\n'));
      assert.match(
        state.problems.find((problem) => problem.startsWith('directory.operationTimeoutMs: ')) ?? '',
        /at most 3600000 ms \(1 hour\); the stored value 3000000000 is set aside and the default 30000 is used/,
      );
      assert.match(state.problems.find((problem) => problem.startsWith('autoLogout.schedule: ')) ?? '', /fires 2 times a minute/);
      assert.equal(app.settings.directory.operationTimeoutMs, 30_000);
      assert.equal(app.settings.autoLogout.schedule, '*/5 * * * *');
      // The directory answers: with the stored 3000000000 ms, every operation failed at once.
      const check = await checkConnection(app.settings);
      assert.equal(check.status, 'passed', JSON.stringify(check));
      const synced = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
      assert.equal(synced.status, 'succeeded', synced.reason ?? '');

      // The CLI says so, and still works.
      const listed = await cli(['--config', configFile, 'users', 'list']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(
        listed.stderr,
        new RegExp(`warning: the stored settings \\(version ${version}\\) hold values the current rules refuse:\\n  directory\\.operationTimeoutMs: `),
      );
      assert.match(listed.stderr, /Save the settings again/);

      // So does the API; saving the settings as shown stores the defaults.
      server = await createHttpServer(app, { logger: false });
      const { token, csrf } = await signInAdmin(server, ADMIN_PASSWORD);
      const headers = { cookie: `dirbridge_session=${token}`, 'x-csrf-token': csrf };
      const shown = await server.inject({ method: 'GET', url: '/api/v1/admin/settings', headers });
      assert.equal(shown.statusCode, 200);
      assert.equal(shown.json().problems.length, 2);
      assert.equal(shown.json().settings.directory.operationTimeoutMs, 30_000);
      const saved = await server.inject({ method: 'PUT', url: '/api/v1/admin/settings', headers, payload: { version, settings: shown.json().settings } });
      assert.equal(saved.statusCode, 200, saved.body);
      assert.deepEqual(saved.json().changed, ['autoLogout.schedule', 'directory.operationTimeoutMs']);
      assert.deepEqual(saved.json().problems, []);
      assert.equal(saved.json().version, version + 1);
    } finally {
      await server?.close();
      await app.close();
    }

    const reopened = await openApp(settings);
    try {
      assert.deepEqual(reopened.settingsState().problems, []);
      const stored = (await reopened.store.settings.get())?.document as Record<string, Record<string, unknown>>;
      assert.equal(stored['directory']?.['operationTimeoutMs'], 30_000);
      assert.equal(reopened.settings.directory.bindPassword, slapd.readerPassword, 'the stored password was kept');
    } finally {
      await reopened.close();
    }
  });

  it('refuses a root base DN with its path and the way out, and `settings import` replaces it', async () => {
    const app = await openApp(settings);
    const version = await storeAsEarlierRelease(app, (document) => {
      (document['users'] ?? {})['baseDn'] = '';
    });
    await app.close();

    await assert.rejects(openApp(settings), (error: unknown) => {
      assert.ok(isDirbridgeError(error, 'settings.invalid'));
      assert.match(
        error.message,
        new RegExp(`the stored settings \\(version ${version}\\) no longer pass the settings rules:\\n  users\\.baseDn: must not be empty`),
      );
      assert.match(error.message, /dirbridge settings import FILE/);
      return true;
    });
    const refused = await cli(['--config', configFile, 'users', 'list']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /users\.baseDn: must not be empty/);
    assert.match(refused.stderr, /dirbridge settings import FILE/);

    // A whole settings file, without the password: the stored one is kept.
    const fixed = path.join(settings.store.dataDir, 'fixed.yaml');
    await writeFile(fixed, stringify({ directory: { urls: [slapd.url], bindDn: slapd.readerDn }, users: { baseDn: slapd.baseDn } }));
    const dryRun = await cli(['--config', configFile, 'settings', 'import', fixed, '--dry-run']);
    assert.equal(dryRun.code, 0, dryRun.stderr);
    assert.match(dryRun.stdout, /would change: .*users\.baseDn/);
    assert.equal((await cli(['--config', configFile, 'users', 'list'])).code, 2, 'a dry run saves nothing');
    const imported = await cli(['--config', configFile, 'settings', 'import', fixed]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, new RegExp(`saved version ${version + 1}, changed: .*users\\.baseDn`));

    const listed = await cli(['--config', configFile, 'users', 'list']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.doesNotMatch(listed.stderr, /current rules refuse/);
    const reopened = await openApp(settings);
    try {
      assert.equal(reopened.settings.users.baseDn, slapd.baseDn);
      assert.equal(reopened.settings.directory.bindPassword, slapd.readerPassword);
      assert.equal((await checkConnection(reopened.settings)).status, 'passed');
    } finally {
      await reopened.close();
    }
  });
});
