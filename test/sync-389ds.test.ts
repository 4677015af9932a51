/**
 * Reads against a real 389 Directory Server 2.3 (one instance for the file): Test Connection
 * detects it from the RootDSE, a sync keys users by nsUniqueId and follows nsAccountLock, a user
 * logs in with its groups; a base DN that does not exist fails every read (389-DS answers a paged
 * search under it with success and no entries); and settings that do not fit the data are warned
 * about with exact counts in Test Connection, Test LDAP Search and dry runs.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { openDirectory } from '../src/directory/index.ts';
import { isDirbridgeError } from '../src/errors.ts';
import { directorySettingsSchema, type Settings } from '../src/settings/schema.ts';
import { testConnection } from '../src/sync/test-connection.ts';
import { testSearch } from '../src/sync/test-search.ts';
import { type Dirsrv, dirsrvUnavailableReason, startDirsrv } from './fixtures/dirsrv.ts';
import type { Organisation, SampleUser } from './fixtures/sample-directory.ts';
import { dataFitOnly, dirsrvTestDirectory, type ExpectedFit, expectedFit, type Misfits, oneWarning, unlistedWarning } from './helpers/data-fit.ts';
import { membersByGroup, merge, settingsFor, storePicture, usersByName } from './helpers/harness.ts';
import { rejectsLogin } from './helpers/login.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const PEOPLE = 40;
const GROUPS = 20;
/** nsUniqueId as 389-DS writes it: four groups of eight hex digits. */
const NS_UNIQUE_ID = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/;

/** Rejects unless `attempt` throws `directory.no_such_object` whose message matches `message`. */
async function rejectsMissingBase(attempt: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(attempt, (error: unknown) => {
    assert.ok(isDirbridgeError(error, 'directory.no_such_object'), `expected directory.no_such_object, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

describe('389 Directory Server', { skip: skipUnlessCi(dirsrvUnavailableReason()) }, () => {
  let ds: Dirsrv;
  let organisation: Organisation;
  let misfits: Misfits;
  let expected: ExpectedFit;
  let app: App;
  let base: Settings;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    const directory = dirsrvTestDirectory();
    ({ organisation, misfits } = directory);
    assert.deepEqual([organisation.users.length, organisation.groups.length], [PEOPLE, GROUPS]);
    expected = expectedFit(organisation, misfits);
    ds = await startDirsrv({ ldif: directory.ldif, memberOf: true });
    console.log(`# 389-DS started in ${ds.startup.ms} ms (from template: ${ds.startup.fromTemplate}, template built now: ${ds.startup.templateBuilt})`);
    const made = await settingsFor({
      directory: {
        urls: [ds.ldapsUrl],
        tls: { caFile: ds.caFile, serverName: ds.tlsServerName },
        bindDn: ds.readerDn,
        bindPassword: ds.readerPassword,
        pageSize: 10,
      },
      users: { baseDn: ds.baseDn, usernameAttribute: ['uid'] }, // the misfit entries have no uid: this is what they do not fit
      groups: { baseDn: `ou=groups,${ds.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
      sync: { disableMissingUsers: true, activeState: 'both', guard: { maxDisable: { count: 10, percent: 50 } } },
      login: { throttle: { maxFailures: 1000, windowSeconds: 60 } },
    });
    cleanups.push(made.cleanup);
    base = made.settings;
    app = await openApp(base);
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await app?.close();
    await ds?.stop();
  });

  /** A separate app over a fresh store, with settings overrides. */
  async function appWith(override: Record<string, unknown>): Promise<App> {
    const { store: _store, ...document } = structuredClone(base);
    const made = await settingsFor(merge(document as unknown as Record<string, unknown>, override));
    cleanups.push(made.cleanup);
    const other = await openApp(made.settings);
    cleanups.push(() => other.close());
    return other;
  }

  const person = (uid: string): SampleUser => {
    const found = organisation.users.find((candidate) => candidate.uid === uid);
    assert.ok(found, uid);
    return found;
  };

  /** The warnings the misfits cause with every member attribute listed: two entries without uid, three memberUids naming nobody. */
  const misfitWarnings = (): RegExp[] => [
    new RegExp(
      `^users\\.usernameAttribute: 2 user entries were skipped because they have no uid value \\(${misfits.withoutUid.map((dn) => dn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('; ')}\\)`,
    ),
    /^groups\.memberAttribute: 3 memberUid values in 1 group match no user's username \(e\.g\. "ghost\.one", "ghost\.two", "ghost\.three"\)/,
  ];

  it('Test Connection detects 389-DS from the RootDSE, over LDAPS with its own CA, and warns about what the sync would skip', async () => {
    const report = await testConnection(app);
    assert.equal(report.serverType, '389-ds');
    assert.equal(report.uniqueIdAttribute, 'nsUniqueId');
    assert.match(report.vendor ?? '', /^389 Project 389-Directory\/2\./);
    assert.equal(report.security, 'ldaps');
    assert.equal(report.supportsPaging, true);
    assert.deepEqual(report.namingContexts, [ds.baseDn]);
    const patterns = misfitWarnings();
    const fit = dataFitOnly(report.warnings);
    assert.equal(fit.length, patterns.length, report.warnings.join('\n'));
    for (const pattern of patterns) oneWarning(fit, pattern);
  });

  it('syncs users keyed by nsUniqueId, groups of every kind, and nsAccountLock', async () => {
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    assert.equal(result.users.created, PEOPLE);
    assert.equal(result.groups.created, GROUPS + 1, 'the generated groups and the ghost posix group');
    for (const pattern of misfitWarnings()) oneWarning(result.warnings, pattern);
    const users = await usersByName(app.store);
    assert.equal(users.size, PEOPLE);
    for (const user of users.values()) assert.match(user.externalId ?? '', NS_UNIQUE_ID, `${user.username} keyed by nsUniqueId`);
    assert.equal(users.get('john.smith')?.dn?.toLowerCase(), person('john.smith').dn.toLowerCase(), 'escaped comma survives');
    assert.equal(users.get('zoe.angstrom')?.firstName, 'Zoë');
    assert.equal(users.get('locked.user')?.isEnabled, false, 'nsAccountLock: TRUE disables');
    assert.equal(users.get('locked.user')?.disabledBy, 'directory');

    const members = await membersByGroup(app.store);
    for (const group of organisation.groups.filter((candidate) => !['engineering', 'cycle-a', 'cycle-b'].includes(candidate.cn))) {
      const direct = organisation.users
        .filter((user) => user.groups.includes(group.cn))
        .map((user) => user.uid)
        .sort();
      assert.deepEqual(members.get(group.cn), direct, `members of ${group.cn} (${group.kind})`);
    }
    assert.ok((members.get('project-unique') ?? []).length > 0 && (members.get('unix-admins') ?? []).length > 0, 'uniqueMember and memberUid groups resolved');
    assert.deepEqual(members.get(misfits.ghostGroup), [], 'memberUid values that name nobody give no member');

    const second = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(second.status, 'succeeded');
    assert.deepEqual(
      [second.users.created, second.users.updated, second.memberships.added, second.memberships.removed],
      [0, 0, 0, 0],
      'a second run is a no-op',
    );
  });

  it('logs a user in with its groups, and refuses the nsAccountLock-ed one', async () => {
    const alice = person(organisation.users[10]?.uid ?? '');
    const session = await app.login.login({ username: alice.uid, password: alice.password });
    assert.equal(session.user.username, alice.uid);
    assert.match(session.user.externalId ?? '', NS_UNIQUE_ID);
    const groups = (await app.store.groups.listOfUser(session.user.id)).map((group) => group.name).sort();
    for (const cn of alice.groups) assert.ok(groups.includes(cn), `${cn} in ${groups.join(',')}`);
    await rejectsLogin(app.login.login({ username: alice.uid, password: 'not-it' }), 'wrong_password');
    const locked = organisation.users.find((candidate) => candidate.locked);
    assert.ok(locked);
    const refused = await app.login.login({ username: locked.uid, password: locked.password }).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(isDirbridgeError(refused, 'auth.invalid_credentials'), `the locked account is refused: ${String(refused)}`);
  });

  describe('a base DN that does not exist', () => {
    const nowhere = (): string => `ou=nowhere,${ds.baseDn}`;

    it('fails the directory search itself, naming the DN, though 389-DS answers the paged search with success', async () => {
      const directory = await openDirectory(directorySettingsSchema.parse({ ...base.directory }));
      try {
        assert.equal(directory.rootDse.supportsPaging, true);
        await rejectsMissingBase(
          (async () => {
            for await (const _page of directory.searchPages({
              baseDn: nowhere(),
              scope: 'sub',
              filter: '(objectClass=*)',
              attributes: ['1.1'],
              baseDnSetting: 'users.baseDn',
            }))
              assert.fail('no page');
          })(),
          /^users\.baseDn: the base DN "ou=nowhere,dc=example,dc=org" does not exist \(searching ldaps:\/\/127\.0\.0\.1:\d+\)$/,
        );
        // searchAll, as login and Test LDAP Search use it; a base that exists but matches nothing is still an empty answer.
        await rejectsMissingBase(
          directory.searchAll({ baseDn: nowhere(), scope: 'sub', filter: '(uid=x)', attributes: ['1.1'], maxEntries: 2 }),
          /the base DN "ou=nowhere,dc=example,dc=org" does not exist/,
        );
        assert.deepEqual(
          await directory.searchAll({ baseDn: `ou=people,${ds.baseDn}`, scope: 'sub', filter: '(uid=nobody-at-all)', attributes: ['1.1'], maxEntries: 2 }),
          [],
        );
      } finally {
        await directory.close();
      }
      // What 389-DS itself answered to the paged search (its access log is buffered: poll).
      const access = await readFile(ds.accessLog, 'utf8').catch(() => '');
      if (access.includes('ou=nowhere')) assert.match(access, /err=0 tag=101 nentries=0/);
    });

    it('fails a sync (never a succeeded empty run, never the guard), naming users.baseDn or groups.baseDn', async () => {
      const fresh = await appWith({ users: { baseDn: nowhere() } });
      const result = await fresh.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'failed');
      assert.match(result.reason ?? '', /^users\.baseDn: the base DN "ou=nowhere,dc=example,dc=org" does not exist/);
      assert.equal((await usersByName(fresh.store)).size, 0);
      const runs = await fresh.store.runs.list({ limit: 1, offset: 0 });
      assert.equal(runs.runs[0]?.errorCode, 'directory.no_such_object');

      const groupless = await appWith({ groups: { baseDn: nowhere() } });
      const dry = await groupless.sync.runSync({ trigger: 'cli', isDryRun: true });
      assert.equal(dry.status, 'failed');
      assert.match(dry.reason ?? '', /^groups\.baseDn: the base DN "ou=nowhere,dc=example,dc=org" does not exist/);
      assert.deepEqual(dry.steps, []);
    });

    it('fails a sync over a populated store without touching it', async () => {
      const picture = await storePicture(app.store);
      const { store: _store, ...original } = app.settings;
      await app.updateSettings(merge(structuredClone(original), { users: { baseDn: nowhere() } }), {
        expectedVersion: app.settingsState().version,
        actor: 'test',
      });
      try {
        const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
        assert.equal(result.status, 'failed');
        assert.match(result.reason ?? '', /^users\.baseDn: /);
      } finally {
        await app.updateSettings(original, { expectedVersion: app.settingsState().version, actor: 'test' });
      }
      assert.equal(await storePicture(app.store), picture);
    });

    it('fails Test Connection and Test LDAP Search naming the setting, and a login as a directory fault', async () => {
      const wrong = await appWith({ users: { baseDn: nowhere() } });
      await rejectsMissingBase(
        testConnection(wrong),
        /^users\.baseDn: the base DN "ou=nowhere,dc=example,dc=org" does not exist .*; the server's naming contexts are dc=example,dc=org$/,
      );
      await rejectsMissingBase(testSearch(wrong, person('john.smith').uid), /^users\.baseDn: the base DN "ou=nowhere,dc=example,dc=org" does not exist/);
      // Not "unknown user" (which is what an empty answer read as): the directory's settings are at fault.
      await rejectsLogin(wrong.login.login({ username: person('john.smith').uid, password: person('john.smith').password }), 'directory_unavailable');
      const audit = await wrong.store.audit.list({ limit: 1, offset: 0, action: 'login.failed' });
      assert.equal(audit.entries[0]?.reason, 'directory_unavailable');

      const teamless = await appWith({
        groups: { baseDn: `ou=groups,${ds.baseDn}` },
        mapping: { groupSearch: { baseDn: nowhere() }, roles: { enabled: true, map: { everyone: 'staff' } } },
      });
      await rejectsMissingBase(testConnection(teamless), /^mapping\.groupSearch\.baseDn: the base DN "ou=nowhere,dc=example,dc=org" does not exist/);
      const mapped = await teamless.sync.runSync({ trigger: 'cli', isDryRun: true });
      assert.equal(mapped.status, 'failed');
      assert.match(mapped.reason ?? '', /^mapping\.groupSearch\.baseDn: the base DN "ou=nowhere,dc=example,dc=org" does not exist/);
    });
  });

  describe('settings that do not fit the data', () => {
    it('counts the uniqueMember and memberUid values groups.memberAttribute leaves out, in a dry run, Test Connection and Test LDAP Search', async () => {
      const memberOnly = await appWith({ groups: { memberAttribute: ['member'] } });
      const dry = await memberOnly.sync.runSync({ trigger: 'cli', isDryRun: true });
      assert.equal(dry.status, 'succeeded', dry.reason ?? '');
      const uniqueMember = unlistedWarning('uniqueMember', expected.uniqueMember, 'member');
      const memberUid = unlistedWarning('memberUid', expected.memberUid, 'member');
      assert.ok(dry.warnings.includes(uniqueMember), `${uniqueMember}\nin\n${dry.warnings.join('\n')}`);
      assert.ok(dry.warnings.includes(memberUid), `${memberUid}\nin\n${dry.warnings.join('\n')}`);
      const connection = dataFitOnly((await testConnection(memberOnly)).warnings);
      assert.deepEqual(connection, [oneWarning(dry.warnings, /^users\.usernameAttribute: /), uniqueMember, memberUid]);
      const search = await testSearch(memberOnly, person('john.smith').uid);
      assert.equal(search.status, 'found');
      assert.deepEqual(search.warnings, connection);
      // The left-out values are counted, never used: the unique-names group has no member.
      assert.equal(dry.steps.filter((step) => step.kind === 'addMembership' && step.group === 'project-unique').length, 0);
    });

    it('warns about a user filter that matches nothing', async () => {
      const filtered = await appWith({ users: { filter: '(&(objectClass=inetOrgPerson)(employeeType=astronaut))' } });
      const warning = `users.filter: (&(objectClass=inetOrgPerson)(employeeType=astronaut)) matches no entry under ${ds.baseDn} (scope sub); check users.filter and users.baseDn`;
      const dry = await filtered.sync.runSync({ trigger: 'cli', isDryRun: true });
      assert.equal(dry.status, 'succeeded', dry.reason ?? '');
      assert.equal(dry.users.created, 0);
      assert.ok(dry.warnings.includes(warning), dry.warnings.join('\n'));
      assert.ok((await testConnection(filtered)).warnings.includes(warning));
      const search = await testSearch(filtered, person('john.smith').uid);
      assert.equal(search.status, 'not_found');
      assert.ok(search.warnings.includes(warning));
    });

    it('summarises users skipped for a missing unique id in one line with the count', async () => {
      const noId = await appWith({ users: { uniqueIdAttribute: 'employeeNumber' }, groups: { enabled: false } });
      const dry = await noId.sync.runSync({ trigger: 'cli', isDryRun: true });
      // Every generated person has an employeeNumber; the two misfits have none (and no uid).
      const line = oneWarning(dry.warnings, /^users\.uniqueIdAttribute: /);
      assert.match(
        line,
        /^users\.uniqueIdAttribute: 2 user entries were skipped because they have no employeeNumber value \(cn=No Uid One,ou=people,dc=example,dc=org; cn=No Uid Two,ou=staff,dc=example,dc=org\); change users\.uniqueIdAttribute/,
      );
      assert.equal(dry.warnings.filter((warning) => warning.includes('No Uid')).length, 1, 'one line, not one per entry');
      const byCn = await appWith({ users: { usernameAttribute: ['title'] }, groups: { enabled: false } });
      const titled = await byCn.sync.runSync({ trigger: 'cli', isDryRun: true });
      oneWarning(titled.warnings, /^users\.usernameAttribute: 2 user entries were skipped because they have no title value/);
    });
  });
});
