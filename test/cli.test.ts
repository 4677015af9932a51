/**
 * The CLI as an administrator runs it (`bin/dirbridge.js`, a real process) against a real
 * slapd: Test Connection over every transport, Test LDAP Search, sync with its JSON summary,
 * the listings, exit codes, settings errors, and that no secret is ever printed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { merge } from './helpers/harness.ts';
import { until } from './helpers/wait.ts';

const BIN = path.resolve(import.meta.dirname, '..', 'bin', 'dirbridge.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}, input = ''): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(input);
  });
}

describe('dirbridge CLI against OpenLDAP', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let dir: string;
  let base: Record<string, unknown>;

  before(async () => {
    organisation = generateOrganisation({ people: 60, groups: 16, seed: 5 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-cli-'));
    base = {
      directory: { urls: [slapd.ldapsUrl], tls: { caFile: slapd.caFile }, bindDn: slapd.readerDn },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
      store: { dataDir: path.join(dir, 'data') },
    };
  });

  after(async () => {
    await slapd?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /**
   * Writes a settings file. Each file seeds its own store (the store keeps the settings once
   * seeded), unless `override` names one.
   */
  async function configFile(name: string, override: Record<string, unknown> = {}): Promise<string> {
    const file = path.join(dir, name);
    await writeFile(file, stringify(merge(merge(base, { store: { dataDir: path.join(dir, `${name}-data`) } }), override)));
    return file;
  }

  /** The bind password comes from the environment, as the README recommends. */
  const secretEnv = () => ({ DIRBRIDGE_DIRECTORY_BIND_PASSWORD: slapd.readerPassword });

  it('tests the connection over ldaps, StartTLS and plain LDAP', async () => {
    const ldaps = await cli(['--config', await configFile('ldaps.yaml'), '--json', 'test-connection'], secretEnv());
    assert.equal(ldaps.code, 0, ldaps.stderr);
    const report = JSON.parse(ldaps.stdout);
    assert.equal(report.security, 'ldaps');
    assert.equal(report.serverType, 'openldap');
    assert.equal(report.bind.result, 'success');
    assert.ok(
      report.supportedControls.some((control: { oid: string; name: string }) => control.oid === '1.2.840.113556.1.4.319' && control.name.startsWith('Paged')),
    );
    assert.equal(ldaps.stdout.includes(slapd.readerPassword), false, 'the bind password is never printed');

    const startTls = await cli(
      ['--config', await configFile('starttls.yaml', { directory: { urls: [slapd.url], startTls: true } }), '--json', 'test-connection'],
      secretEnv(),
    );
    assert.equal(startTls.code, 0, startTls.stderr);
    assert.equal(JSON.parse(startTls.stdout).security, 'starttls');

    const plain = await cli(
      ['--config', await configFile('plain.yaml', { directory: { urls: ['ldap://127.0.0.1:1', slapd.url] } }), 'test-connection'],
      secretEnv(),
    );
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, new RegExp(`connected to ${slapd.url.replace(/[.]/g, '\\.')} \\(plain\\)`), 'failed over to the second URL');
  });

  it('warns, without failing, about mapping keys that match no group', async () => {
    const config = await configFile('mapping-keys.yaml', { mapping: { roles: { enabled: true, map: { everyone: 'member', 'no-such-group': 'ghost' } } } });
    const result = await cli(['--config', config, '--json', 'test-connection'], secretEnv());
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout).warnings, [`mapping.roles.map: "no-such-group" matches no group under ou=groups,${slapd.baseDn}`]);
  });

  it('fails with a clear code on a wrong CA and on a wrong password', async () => {
    const wrongCa = await cli(
      ['--config', await configFile('wrong-ca.yaml', { directory: { tls: { caFile: slapd.otherCaFile } } }), '--json', 'test-connection'],
      secretEnv(),
    );
    assert.equal(wrongCa.code, 1);
    assert.equal(JSON.parse(wrongCa.stdout).error.code, 'directory.tls_failure');

    const wrongPassword = await cli(['--config', await configFile('wrong-password.yaml'), 'test-connection'], {
      DIRBRIDGE_DIRECTORY_BIND_PASSWORD: 'not-the-password',
    });
    assert.equal(wrongPassword.code, 1);
    assert.match(wrongPassword.stderr, /directory\.invalid_credentials/);
    assert.equal(wrongPassword.stderr.includes('not-the-password'), false);
  });

  it('exits 2 and names each bad path for invalid settings', async () => {
    const bad = await cli(
      ['--config', await configFile('bad.yaml', { directory: { connectTimeoutMs: 0, pageSize: -1 }, users: { filter: '(uid=' } }), 'sync'],
      secretEnv(),
    );
    assert.equal(bad.code, 2);
    for (const problem of ['directory.connectTimeoutMs', 'directory.pageSize', 'users.filter']) assert.match(bad.stderr, new RegExp(problem));
    const missing = await cli(['--config', path.join(dir, 'nope.yaml'), 'sync']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /settings\.unreadable/);
    const usage = await cli(['sync', '--no-such-flag']);
    assert.equal(usage.code, 2);
  });

  it('searches for a user as login would, with its groups', async () => {
    const user = organisation.users.find((candidate) => candidate.uid === 'john.smith');
    assert.ok(user);
    const found = await cli(['--config', await configFile('ldaps.yaml'), '--json', 'search', 'john.smith'], secretEnv());
    assert.equal(found.code, 0, found.stderr);
    const result = JSON.parse(found.stdout);
    assert.equal(result.entry.dn, user.dn);
    assert.equal(result.user.username, 'john.smith');
    const groupNames = result.groups.map((group: { name: string }) => group.name).sort();
    for (const cn of user.groups) assert.ok(groupNames.includes(cn), `${cn} in ${groupNames.join(',')}`);

    const injection = await cli(['--config', await configFile('ldaps.yaml'), '--json', 'search', '*'], secretEnv());
    assert.equal(injection.code, 1);
    assert.equal(JSON.parse(injection.stdout).status, 'not_found', '"*" is a literal, not a wildcard');
  });

  it('syncs with a JSON summary, lists what it stored, and records the runs', async () => {
    const config = await configFile('ldaps.yaml');
    const dry = await cli(['--config', config, '--json', 'sync', '--dry-run'], secretEnv());
    assert.equal(dry.code, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout);
    assert.equal(plan.status, 'succeeded');
    assert.equal(plan.dryRun, true);
    assert.equal(plan.users.created, 60);
    assert.ok(
      plan.steps.every((step: { reason: string }) => step.reason.length > 0),
      'every step has a reason',
    );

    const listedBefore = JSON.parse((await cli(['--config', config, '--json', 'users', 'list', '--source', 'directory'], secretEnv())).stdout);
    assert.equal(listedBefore.total, 0, 'the dry run wrote nothing');

    const sync = await cli(['--config', config, '--json', 'sync'], secretEnv());
    assert.equal(sync.code, 0, sync.stderr);
    const summary = JSON.parse(sync.stdout);
    assert.deepEqual(Object.keys(summary.users).sort(), ['created', 'disabled', 'enabled', 'skipped', 'unchanged', 'updated']);
    assert.deepEqual(Object.keys(summary.groups).sort(), ['created', 'deleted', 'skipped', 'updated']);
    assert.deepEqual(Object.keys(summary.memberships).sort(), ['added', 'removed']);
    assert.equal(summary.users.created, 60);
    assert.equal(summary.groups.created, 16);

    const users = JSON.parse((await cli(['--config', config, '--json', 'users', 'list', '--search', 'zoe', '--limit', '5'], secretEnv())).stdout);
    assert.equal(users.users[0]?.username, 'zoe.angstrom');
    const groups = await cli(['--config', config, 'groups', 'list'], secretEnv());
    assert.match(groups.stdout, /everyone\s+\d+\s+directory/);
    const runs = JSON.parse((await cli(['--config', config, '--json', 'runs', 'list'], secretEnv())).stdout);
    assert.deepEqual(
      runs.runs.map((run: { status: string; isDryRun: boolean }) => [run.status, run.isDryRun]),
      [
        ['succeeded', false],
        ['succeeded', true],
      ],
    );
  });

  it('exits 1 with status refused when the guard says no', async () => {
    // The store that synced above gets settings whose user search finds nobody.
    const config = await configFile('ldaps.yaml');
    const emptyBase = await configFile('empty-base.yaml', { users: { baseDn: `ou=groups,${slapd.baseDn}` } });
    const imported = await cli(['--config', config, 'settings', 'import', emptyBase], secretEnv());
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /saved version 2, changed: users\.baseDn/);
    const refused = await cli(['--config', config, '--json', 'sync'], secretEnv());
    assert.equal(refused.code, 1);
    const summary = JSON.parse(refused.stdout);
    assert.equal(summary.status, 'refused');
    assert.match(summary.reason, /returned no users/);
    // The file given with --config now differs from the stored settings: every command says so.
    assert.match(refused.stderr, /the stored settings \(version 2\) are in force; .*ldaps\.yaml differs at users\.baseDn/);

    const restored = await cli(['--config', config, 'settings', 'import', config], secretEnv());
    assert.match(restored.stdout, /saved version 3, changed: users\.baseDn/);
  });

  it('shows, exports and imports the stored settings without revealing secrets, and refuses invalid imports', async () => {
    const config = await configFile('settings.yaml');
    const shown = await cli(['--config', config, 'settings', 'show'], secretEnv());
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^# version 1, saved .* by seed/);
    assert.match(shown.stdout, /# directory\.bindPassword: set \(hidden\)/);
    assert.equal(shown.stdout.includes(slapd.readerPassword), false);

    const exported = path.join(dir, 'exported.yaml');
    const exportRun = await cli(['--config', config, 'settings', 'export', '--output', exported], secretEnv());
    assert.equal(exportRun.code, 0, exportRun.stderr);
    const exportedText = await readFile(exported, 'utf8');
    assert.equal(exportedText.includes(slapd.readerPassword), false);
    assert.equal((await stat(exported)).mode & 0o777, 0o600);
    const refusedSecrets = await cli(['--config', config, 'settings', 'export', '--include-secrets'], secretEnv());
    assert.equal(refusedSecrets.code, 2);
    // Secrets written over an existing, world-readable file: the file is made private first.
    const withSecrets = path.join(dir, 'with-secrets.yaml');
    await writeFile(withSecrets, 'old\n', { mode: 0o644 });
    await chmod(withSecrets, 0o644);
    const secretRun = await cli(['--config', config, 'settings', 'export', '--include-secrets', '--output', withSecrets], secretEnv());
    assert.equal(secretRun.code, 0, secretRun.stderr);
    assert.equal((await stat(withSecrets)).mode & 0o777, 0o600);
    assert.ok((await readFile(withSecrets, 'utf8')).includes(slapd.readerPassword), 'the export holds the secret');

    // An invalid import names the path and saves nothing.
    const invalid = path.join(dir, 'invalid.yaml');
    await writeFile(invalid, exportedText.replace(/pageSize: \d+/, 'pageSize: -5'));
    const invalidRun = await cli(['--config', config, 'settings', 'import', invalid], secretEnv());
    assert.equal(invalidRun.code, 2);
    assert.match(invalidRun.stderr, /directory\.pageSize/);
    assert.match((await cli(['--config', config, 'settings', 'show'], secretEnv())).stdout, /^# version 1,/);

    // A valid edit keeps the secret the export left out: the service account still binds.
    const edited = path.join(dir, 'edited.yaml');
    await writeFile(edited, exportedText.replace(/pageSize: \d+/, 'pageSize: 7'));
    const dryRun = await cli(['--config', config, '--json', 'settings', 'import', '--dry-run', edited], secretEnv());
    assert.deepEqual(JSON.parse(dryRun.stdout), { version: 1, previousVersion: 1, changed: ['directory.pageSize'], isDryRun: true });
    const importRun = await cli(['--config', config, 'settings', 'import', edited], secretEnv());
    assert.match(importRun.stdout, /saved version 2, changed: directory\.pageSize/);
    const connection = await cli(['--config', config, '--json', 'test-connection'], secretEnv());
    assert.equal(connection.code, 0, connection.stderr);
    const audit = JSON.parse((await cli(['--config', config, '--json', 'audit', 'list', '--action', 'settings.updated'], secretEnv())).stdout);
    assert.equal(audit.entries[0].actor, 'cli');
    assert.deepEqual(audit.entries[0].details.changed, ['directory.pageSize']);
  });

  it('imports with --verify: refuses directory settings that cannot connect and bind, saves those that can', async () => {
    const config = await configFile('verify.yaml');
    // An import file without the store section, and without the secret (the stored one is kept)
    // unless the file moves the connection, which then needs the password again.
    const importFile = async (name: string, override: Record<string, unknown>): Promise<string> => {
      const file = path.join(dir, name);
      const { store: _store, ...rest } = merge(base, override);
      await writeFile(file, stringify(rest));
      return file;
    };
    const version = async () => /^# version (\d+),/.exec((await cli(['--config', config, 'settings', 'show'], secretEnv())).stdout)?.[1];
    assert.equal(await version(), '1');

    const movedWithoutPassword = await importFile('moved.yaml', { directory: { urls: ['ldap://127.0.0.1:1'] } });
    const unsent = await cli(['--config', config, 'settings', 'import', '--verify', movedWithoutPassword], secretEnv());
    assert.equal(unsent.code, 2, unsent.stderr);
    assert.match(unsent.stderr, /directory\.bindPassword: enter the bind password again/);
    const deadUrl = await importFile('dead-url.yaml', {
      directory: { urls: ['ldap://127.0.0.1:1'], connectTimeoutMs: 500, bindPassword: slapd.readerPassword },
    });
    const refused = await cli(['--config', config, 'settings', 'import', '--verify', deadUrl], secretEnv());
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(
      refused.stderr,
      /error \[settings\.verification_failed\]: the new directory settings \(directory\.connectTimeoutMs, directory\.urls\) could not connect and bind, so nothing was saved: .*\(directory\.unavailable\); .*without --verify/,
    );
    const refusedJson = await cli(['--config', config, '--json', 'settings', 'import', '--verify', deadUrl], secretEnv());
    assert.equal(refusedJson.code, 1);
    const refusal = JSON.parse(refusedJson.stdout);
    assert.equal(refusal.error.code, 'settings.verification_failed');
    assert.equal(refusal.verification.status, 'failed');
    assert.equal(refusal.verification.error.code, 'directory.unavailable');

    const wrongPassword = await importFile('wrong-password.yaml', { directory: { bindPassword: 'file-wrong-password' } });
    const badBind = await cli(['--config', config, 'settings', 'import', '--verify', wrongPassword], secretEnv());
    assert.equal(badBind.code, 1, badBind.stderr);
    assert.match(badBind.stderr, /invalid credentials.*\(directory\.invalid_credentials\)/);
    assert.equal(`${badBind.stdout}${badBind.stderr}`.includes('file-wrong-password'), false, 'the secret is never printed');
    assert.equal(await version(), '1', 'nothing was saved');

    // A dry run checks too, and saves nothing either way.
    const good = await importFile('good.yaml', { directory: { connectTimeoutMs: 4000, pageSize: 9 } });
    const dryRun = await cli(['--config', config, '--json', 'settings', 'import', '--dry-run', '--verify', good], secretEnv());
    assert.equal(dryRun.code, 0, dryRun.stderr);
    const preview = JSON.parse(dryRun.stdout);
    assert.deepEqual(preview.changed, ['directory.connectTimeoutMs', 'directory.pageSize']);
    assert.equal(preview.verification.status, 'passed');
    assert.equal(preview.verification.security, 'ldaps');
    assert.equal(await version(), '1');

    const saved = await cli(['--config', config, 'settings', 'import', '--verify', good], secretEnv());
    assert.equal(saved.code, 0, saved.stderr);
    assert.match(saved.stdout, /^verified: connected to ldaps:\/\/\S+ \(ldaps\) and bound as /);
    assert.match(saved.stdout, /saved version 2, changed: directory\.connectTimeoutMs, directory\.pageSize/);
    // Without --verify, the unreachable URL is saved anyway (a planned outage).
    const anyway = await cli(['--config', config, 'settings', 'import', deadUrl], secretEnv());
    assert.equal(anyway.code, 0, anyway.stderr);
    assert.match(anyway.stdout, /saved version 3/);
  });

  it('creates the administrator once, printing a generated password only when none was given', async () => {
    const fresh = await configFile('admin.yaml', { store: { dataDir: path.join(dir, 'admin-data') } });
    const first = await cli(['--config', fresh, 'users', 'list'], secretEnv());
    assert.equal(first.code, 0, first.stderr);
    const printed = /created the administrator account "admin" with password (\S+)/.exec(first.stderr);
    assert.ok(printed?.[1], first.stderr);
    const again = await cli(['--config', fresh, 'users', 'list'], secretEnv());
    assert.equal(again.stderr.includes('created the administrator'), false, 'printed once');
    const login = await cli(['--config', fresh, '--json', 'login', 'admin'], secretEnv(), `${printed[1]}\n`);
    assert.equal(login.code, 0, login.stderr);
    assert.equal(JSON.parse(login.stdout).user.isAdmin, true);

    const chosen = await configFile('admin-env.yaml', { store: { dataDir: path.join(dir, 'admin-env-data') } });
    const withEnv = await cli(['--config', chosen, 'users', 'list'], { ...secretEnv(), DIRBRIDGE_ADMIN_PASSWORD: 'chosen-admin-password' });
    assert.equal(withEnv.stderr.includes('chosen-admin-password'), false, 'a given password is never printed');
    const envLogin = await cli(['--config', chosen, 'login', 'admin'], secretEnv(), 'chosen-admin-password\n');
    assert.equal(envLogin.code, 0, envLogin.stderr);
  });

  it("counts no client address for `login`: one user's failures do not throttle the others", async () => {
    // One failure per address: if the CLI's logins shared one address, the second person would be refused.
    const config = await configFile('throttle.yaml', { login: { throttle: { maxFailuresPerAddress: 1 } } });
    for (const person of organisation.users.slice(20, 23)) {
      const wrong = await cli(['--config', config, '--json', 'login', person.uid], secretEnv(), 'wrong\n');
      assert.equal(JSON.parse(wrong.stdout).error.code, 'auth.invalid_credentials', person.uid);
    }
    const person = organisation.users[27];
    assert.ok(person);
    const ok = await cli(['--config', config, '--json', 'login', person.uid], secretEnv(), `${person.password}\n`);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('logs a directory user in with the password on stdin, lists and revokes sessions, and audits it all', async () => {
    const config = await configFile('ldaps.yaml');
    const person = organisation.users[7];
    assert.ok(person);
    const ok = await cli(['--config', config, '--json', 'login', person.uid], secretEnv(), `${person.password}\n`);
    assert.equal(ok.code, 0, ok.stderr);
    const token: string = JSON.parse(ok.stdout).token;
    const wrong = await cli(['--config', config, '--json', 'login', person.uid], secretEnv(), 'wrong\n');
    assert.equal(wrong.code, 1);
    assert.deepEqual(JSON.parse(wrong.stdout).error, { code: 'auth.invalid_credentials', message: 'invalid username or password' });
    const unknown = await cli(['--config', config, '--json', 'login', 'nobody.here'], secretEnv(), 'whatever\n');
    assert.deepEqual(JSON.parse(unknown.stdout).error, JSON.parse(wrong.stdout).error, 'unknown users look the same from outside');

    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    const sessions = JSON.parse((await cli(['--config', config, '--json', 'sessions', 'list', '--user', person.uid], secretEnv())).stdout);
    assert.equal(sessions.sessions.length, 1);
    assert.equal(JSON.stringify(sessions).includes(token), false, 'tokens are never listed');

    const disabled = await cli(['--config', config, 'users', 'disable', person.uid, '--reason', 'security review'], secretEnv());
    assert.equal(disabled.code, 0, disabled.stderr);
    const after = JSON.parse((await cli(['--config', config, '--json', 'sessions', 'list', '--user', person.uid], secretEnv())).stdout);
    assert.equal(after.sessions.length, 0, 'disabling ended the session');
    const audit = JSON.parse((await cli(['--config', config, '--json', 'audit', 'list', '--user', person.uid], secretEnv())).stdout);
    const actions = audit.entries.map((entry: { action: string; reason: string | null }) => `${entry.action}:${entry.reason ?? ''}`);
    assert.ok(actions.includes('user.disabled:security review'), actions.join(','));
    assert.ok(actions.includes('login.failed:wrong_password'), actions.join(','));
    assert.ok(actions.includes('login.succeeded:'), actions.join(','));
    const reenabled = await cli(['--config', config, 'users', 'enable', person.uid], secretEnv());
    assert.equal(reenabled.code, 0, reenabled.stderr);
    const autoLogout = await cli(['--config', config, '--json', 'auto-logout'], secretEnv());
    assert.equal(autoLogout.code, 0, autoLogout.stderr);
    assert.equal(typeof JSON.parse(autoLogout.stdout).revoked, 'number');
  });

  it('runs the enabled background jobs on their schedules until interrupted', async () => {
    // Schedule settings fire at most once a minute: both jobs run within two minutes.
    const config = await configFile('jobs.yaml', {
      autoLogout: { schedule: '* * * * *' },
      mapping: { avatars: { enabled: true, schedule: 'every 1 minute' } },
    });
    const child = execFile(process.execPath, [BIN, '--config', config, 'run-jobs'], {
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...secretEnv() },
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until(
        () => (/auto-logout: revoked \d+ session\(s\)/.test(stdout) && /avatar-sync: \d+ updated, \d+ removed, \d+ skipped/.test(stdout)) || undefined,
        150_000,
        'both jobs on their schedules',
      );
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /auto-logout: next run/);
  });
});
