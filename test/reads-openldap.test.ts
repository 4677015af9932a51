/**
 * Reads that look successful but are wrong, against a real OpenLDAP: a base DN that does not
 * exist fails the sync, Test Connection and Test LDAP Search naming the setting; settings that do
 * not fit the data (member attributes left out, a user filter matching nothing, entries without a
 * username, memberUid values naming nobody) are warned about with exact counts in dry runs, Test
 * Connection and Test LDAP Search, through the API and the CLI too.
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
import { isDirbridgeError } from '../src/errors.ts';
import { createHttpServer } from '../src/http/server.ts';
import type { Settings } from '../src/settings/schema.ts';
import { testConnection } from '../src/sync/test-connection.ts';
import { testSearch } from '../src/sync/test-search.ts';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { signInAdmin } from './helpers/admin-session.ts';
import { dataFitOnly, type ExpectedFit, expectedFit, type Misfits, misfitsLdif, oneWarning, unlistedWarning } from './helpers/data-fit.ts';
import { merge, settingsFor, storePicture } from './helpers/harness.ts';

const ADMIN_PASSWORD = 'admin-password-for-reads-tests';
const BIN = path.resolve(import.meta.dirname, '..', 'bin', 'dirbridge.js');

describe('reads that look successful but are wrong, on OpenLDAP', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let misfits: Misfits;
  let expected: ExpectedFit;
  let base: Settings;
  let dir: string;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    organisation = generateOrganisation({ people: 40, groups: 20, seed: 9 });
    misfits = misfitsLdif(organisation.baseDn);
    expected = expectedFit(organisation, misfits);
    slapd = await startSlapd({ ldif: `${organisation.ldif}\n${misfits.ldif}` });
    dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-reads-'));
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword, pageSize: 10 },
      users: { baseDn: slapd.baseDn, usernameAttribute: ['uid'] }, // the misfit entries have no uid: this is what they do not fit
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
    });
    cleanups.push(made.cleanup);
    base = made.settings;
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** An app over a fresh store, with settings overrides. */
  async function appWith(override: Record<string, unknown> = {}): Promise<App> {
    const { store: _store, ...document } = structuredClone(base);
    const made = await settingsFor(merge(document as unknown as Record<string, unknown>, override));
    cleanups.push(made.cleanup);
    const app = await openApp(made.settings);
    cleanups.push(() => app.close());
    return app;
  }

  describe('a base DN that does not exist', () => {
    const nowhere = (): string => `ou=nowhere,${slapd.baseDn}`;

    it('fails the sync (not a guard refusal, not an empty success), naming the setting and the DN', async () => {
      const wrongUsers = await appWith({ users: { baseDn: nowhere() } });
      const result = await wrongUsers.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'failed');
      assert.match(result.reason ?? '', /^users\.baseDn: the base DN "ou=nowhere,dc=example,dc=org" does not exist \(searching ldap:\/\/127\.0\.0\.1:\d+\)$/);
      assert.equal((await wrongUsers.store.runs.list({ limit: 1, offset: 0 })).runs[0]?.errorCode, 'directory.no_such_object');

      const wrongGroups = await appWith({ groups: { baseDn: nowhere() } });
      const dry = await wrongGroups.sync.runSync({ trigger: 'cli', isDryRun: true });
      assert.equal(dry.status, 'failed');
      assert.match(dry.reason ?? '', /^groups\.baseDn: the base DN "ou=nowhere,dc=example,dc=org" does not exist/);
    });

    it('fails a sync over a populated store without touching it', async () => {
      const app = await appWith();
      assert.equal((await app.sync.runSync({ trigger: 'cli', isDryRun: false })).status, 'succeeded');
      const picture = await storePicture(app.store);
      const { store: _store, ...original } = app.settings;
      await app.updateSettings(merge(structuredClone(original), { users: { baseDn: nowhere() } }), {
        expectedVersion: app.settingsState().version,
        actor: 'test',
      });
      const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'failed');
      assert.match(result.reason ?? '', /^users\.baseDn: /);
      assert.equal(await storePicture(app.store), picture);
    });

    it('fails Test Connection and Test LDAP Search naming the setting', async () => {
      const wrong = await appWith({ users: { baseDn: nowhere() } });
      await assert.rejects(testConnection(wrong), (error: unknown) => {
        assert.ok(isDirbridgeError(error, 'directory.no_such_object'), String(error));
        assert.match(
          error.message,
          /^users\.baseDn: the base DN "ou=nowhere,dc=example,dc=org" does not exist .*; the server's naming contexts are dc=example,dc=org$/,
        );
        return true;
      });
      await assert.rejects(
        testSearch(wrong, 'john.smith'),
        (error: unknown) => isDirbridgeError(error, 'directory.no_such_object') && /^users\.baseDn: /.test(error.message),
      );
      const teams = await appWith({
        mapping: {
          teams: { enabled: true, baseDn: nowhere(), map: { everyone: 'Everyone' }, userGroupsQuery: '(&(objectClass=groupOfNames)(member=#{userdn}))' },
        },
      });
      const dry = await teams.sync.runSync({ trigger: 'cli', isDryRun: true });
      assert.equal(dry.status, 'failed');
      assert.match(dry.reason ?? '', /^mapping\.teams\.baseDn: the base DN "ou=nowhere,dc=example,dc=org" does not exist/);
    });
  });

  describe('settings that do not fit the data', () => {
    const skippedLine = (): RegExp =>
      /^users\.usernameAttribute: 2 user entries were skipped because they have no uid value \(cn=No Uid One,ou=people,dc=example,dc=org; cn=No Uid Two,ou=staff,dc=example,dc=org\); change users\.usernameAttribute to an attribute they have$/;

    it('counts member values in attributes groups.memberAttribute leaves out, in dry runs, Test Connection and Test LDAP Search', async () => {
      const app = await appWith({ groups: { memberAttribute: ['member'] } });
      const uniqueMember = unlistedWarning('uniqueMember', expected.uniqueMember, 'member');
      const memberUid = unlistedWarning('memberUid', expected.memberUid, 'member');
      const dry = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
      assert.equal(dry.status, 'succeeded', dry.reason ?? '');
      const fit = [oneWarning(dry.warnings, skippedLine()), uniqueMember, memberUid];
      for (const warning of fit) assert.ok(dry.warnings.includes(warning), `${warning}\nin\n${dry.warnings.join('\n')}`);
      assert.deepEqual(dataFitOnly((await testConnection(app)).warnings), fit);
      const search = await testSearch(app, 'john.smith');
      assert.equal(search.status, 'found');
      assert.deepEqual(search.warnings, fit);

      const uniqueOnly = await appWith({ groups: { memberAttribute: ['uniqueMember', 'memberUid'] } });
      const member = organisation.groups.filter((group) => group.kind === 'groupOfNames');
      const memberValues = member.reduce((sum, group) => sum + group.members.length, 0);
      assert.ok(
        (await testConnection(uniqueOnly)).warnings.includes(
          unlistedWarning('member', { groups: member.length, values: memberValues }, 'uniqueMember, memberUid'),
        ),
      );
    });

    it('counts memberUid values that match no user, with examples', async () => {
      const app = await appWith();
      const warning = `groups.memberAttribute: 3 memberUid values in 1 group match no user's username (e.g. "ghost.one", "ghost.two", "ghost.three"); memberUid is compared with the username that users.usernameAttribute (uid) gives, so check users.usernameAttribute, users.baseDn and users.filter`;
      const dry = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
      assert.deepEqual(
        dry.warnings.filter((line) => line.includes('memberUid')),
        [warning],
      );
      assert.ok((await testConnection(app)).warnings.includes(warning));
      // Usernames from cn: every posix group's memberUid (a uid) now names nobody.
      const byCn = await appWith({ users: { usernameAttribute: ['cn'] } });
      const posixValues = expected.memberUid.values;
      oneWarning(
        (await testConnection(byCn)).warnings,
        new RegExp(
          `^groups\\.memberAttribute: ${posixValues} memberUid values in ${expected.memberUid.groups} groups match no user's username .*users\\.usernameAttribute \\(cn\\)`,
        ),
      );
    });

    it('warns about a user filter that matches nothing', async () => {
      const app = await appWith({ users: { filter: '(&(objectClass=inetOrgPerson)(employeeType=astronaut))' } });
      const warning = `users.filter: (&(objectClass=inetOrgPerson)(employeeType=astronaut)) matches no entry under ${slapd.baseDn} (scope sub); check users.filter and users.baseDn`;
      const dry = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
      assert.equal(dry.status, 'succeeded');
      assert.ok(dry.warnings.includes(warning), dry.warnings.join('\n'));
      assert.ok((await testConnection(app)).warnings.includes(warning));
      const search = await testSearch(app, 'john.smith');
      assert.equal(search.status, 'not_found');
      assert.ok(search.warnings.includes(warning));
    });

    it('shows the warnings in the API answers of a dry run, Test Connection and Test LDAP Search', async () => {
      const app = await appWith({ groups: { memberAttribute: ['member'] } });
      await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
      const server: FastifyInstance = await createHttpServer(app, { logger: false });
      cleanups.push(() => server.close());
      const signIn = await signInAdmin(server, ADMIN_PASSWORD);
      const post = async (url: string, payload: unknown) => {
        const response = await server.inject({
          method: 'POST',
          url,
          payload: payload as Record<string, unknown>,
          cookies: signIn.cookie,
          headers: { 'x-csrf-token': signIn.csrf },
        });
        assert.equal(response.statusCode, 200, response.body);
        return response.json() as { warnings: string[] };
      };
      const uniqueMember = unlistedWarning('uniqueMember', expected.uniqueMember, 'member');
      assert.ok((await post('/api/v1/admin/actions/sync', { dryRun: true })).warnings.includes(uniqueMember));
      assert.ok((await post('/api/v1/admin/actions/test-connection', {})).warnings.includes(uniqueMember));
      assert.ok((await post('/api/v1/admin/actions/test-search', { username: 'john.smith' })).warnings.includes(uniqueMember));
      const missing = await server.inject({
        method: 'POST',
        url: '/api/v1/admin/actions/test-connection',
        payload: {
          settings: {
            ...structuredClone(app.settings),
            store: undefined,
            users: { ...app.settings.users, baseDn: `ou=nowhere,${slapd.baseDn}` },
            directory: { ...app.settings.directory, bindPassword: slapd.readerPassword },
          },
        },
        cookies: signIn.cookie,
        headers: { 'x-csrf-token': signIn.csrf },
      });
      assert.equal(missing.statusCode, 502, missing.body);
      assert.equal(missing.json().error.code, 'directory.no_such_object');
      assert.match(missing.json().error.message, /^users\.baseDn: the base DN "ou=nowhere,dc=example,dc=org" does not exist/);
    });

    it('prints the warnings in `dirbridge sync --dry-run`', async () => {
      const file = path.join(dir, 'member-only.yaml');
      const { store: _store, ...document } = structuredClone(base);
      // The bind password comes from the environment, as the README recommends.
      const { bindPassword: _password, ...directory } = document.directory;
      await writeFile(
        file,
        stringify(merge({ ...document, directory }, { groups: { memberAttribute: ['member'] }, store: { dataDir: path.join(dir, 'cli-data') } })),
      );
      const output = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [BIN, '--config', file, 'sync', '--dry-run'],
          { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], DIRBRIDGE_DIRECTORY_BIND_PASSWORD: slapd.readerPassword }, timeout: 60_000 },
          (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr }),
        );
      });
      assert.equal(output.code, 0, output.stderr);
      assert.match(output.stdout, /^dry run succeeded/);
      assert.ok(output.stderr.includes(`warning: ${unlistedWarning('uniqueMember', expected.uniqueMember, 'member')}\n`), output.stderr);
      assert.ok(output.stderr.includes(`warning: ${unlistedWarning('memberUid', expected.memberUid, 'member')}\n`), output.stderr);
      assert.match(output.stderr, /warning: users\.usernameAttribute: 2 user entries were skipped/);
    });
  });
});
