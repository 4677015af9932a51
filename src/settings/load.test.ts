import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isDirbridgeError } from '../errors.ts';
import { applyEnvOverrides, envNameOf, readSettingsInput, validateSettings } from './load.ts';

/** The seed a file gives, as `--config FILE` reads it. */
const loadSettings = async (options: { file: string; env: NodeJS.ProcessEnv }) => (await readSettingsInput(options)).seed();

const minimal = {
  directory: { urls: ['ldap://127.0.0.1:389'], bindDn: 'cn=reader,dc=example,dc=org', bindPassword: 'secret' },
  users: { baseDn: 'ou=people,dc=example,dc=org' },
};

function problemsOf(document: unknown): string[] {
  try {
    validateSettings(document, 'test');
  } catch (error) {
    if (isDirbridgeError(error, 'settings.invalid')) return (error.details['problems'] as string[]) ?? [];
    throw error;
  }
  return [];
}

describe('settings', () => {
  it('fills defaults: TLS verification on, timeouts set, paging on', () => {
    const settings = validateSettings(minimal, 'test');
    assert.equal(settings.directory.tls.rejectUnauthorized, true);
    assert.equal(settings.directory.connectTimeoutMs, 5000);
    assert.equal(settings.directory.pageSize, 500);
    assert.deepEqual(settings.users.usernameAttribute, ['uid', 'cn']);
    assert.equal(settings.sync.guard.maxDisable.percent, 10);
  });

  it('names every bad path', () => {
    const problems = problemsOf({
      directory: { urls: ['http://x'], connectTimeoutMs: 0, bindDn: 'cn=x', pageSize: 'many' },
      users: { baseDn: 'not a dn', filter: '(uid=' },
      sync: { activeState: 'sometimes' },
    });
    const paths = problems.map((problem) => problem.split(':')[0]);
    for (const path of ['directory.urls.0', 'directory.connectTimeoutMs', 'directory.pageSize', 'users.baseDn', 'users.filter', 'sync.activeState']) {
      assert.ok(paths.includes(path), `${path} missing from ${JSON.stringify(problems)}`);
    }
  });

  it('refuses a bind DN without a password (that would be an unauthenticated bind)', () => {
    assert.deepEqual(
      problemsOf({ ...minimal, directory: { urls: ['ldap://h'], bindDn: 'cn=x', bindPassword: '  ' } }).map((p) => p.split(':')[0]),
      ['directory.bindPassword'],
    );
  });

  it('refuses StartTLS on an ldaps URL and unknown keys', () => {
    const problems = problemsOf({ ...minimal, directory: { urls: ['ldaps://h'], startTls: true, bogus: 1 } });
    assert.ok(problems.some((problem) => problem.startsWith('directory.startTls')));
    assert.ok(problems.some((problem) => problem.includes('bogus')));
  });

  it("accepts the seeds' comma-separated attribute lists", () => {
    const settings = validateSettings({ ...minimal, users: { baseDn: 'dc=x', usernameAttribute: 'uid, cn' } }, 'test');
    assert.deepEqual(settings.users.usernameAttribute, ['uid', 'cn']);
  });

  it('maps environment variables onto paths', () => {
    assert.equal(envNameOf(['directory', 'bindPassword']), 'DIRBRIDGE_DIRECTORY_BIND_PASSWORD');
    const document = applyEnvOverrides(minimal, {
      DIRBRIDGE_DIRECTORY_BIND_PASSWORD: 'from-env',
      DIRBRIDGE_DIRECTORY_PAGE_SIZE: '250',
      DIRBRIDGE_SYNC_GUARD_MAX_DISABLE_PERCENT: '50',
      DIRBRIDGE_TLS_NOT_A_SETTING: 'ignored',
    });
    const settings = validateSettings(document, 'test');
    assert.equal(settings.directory.bindPassword, 'from-env');
    assert.equal(settings.directory.pageSize, 250);
    assert.equal(settings.sync.guard.maxDisable.percent, 50);
  });

  it('loads YAML and JSON files and reports unreadable ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dirbridge-settings-'));
    const yamlFile = join(dir, 'settings.yaml');
    await writeFile(yamlFile, 'directory:\n  urls: [ldap://127.0.0.1:1389]\nusers:\n  baseDn: dc=example,dc=org\n');
    assert.equal((await loadSettings({ file: yamlFile, env: {} }))?.users.baseDn, 'dc=example,dc=org');
    const jsonFile = join(dir, 'settings.json');
    await writeFile(jsonFile, JSON.stringify(minimal));
    assert.equal((await loadSettings({ file: jsonFile, env: {} }))?.directory.bindPassword, 'secret');
    await assert.rejects(loadSettings({ file: join(dir, 'missing.yaml'), env: {} }), (error) => isDirbridgeError(error, 'settings.unreadable'));
    await writeFile(jsonFile, '{ not json');
    await assert.rejects(loadSettings({ file: jsonFile, env: {} }), (error) => isDirbridgeError(error, 'settings.invalid'));
  });

  it('takes the store section from file and environment at once, and has no seed without either', async () => {
    const none = await readSettingsInput({ env: {} });
    assert.equal(none.seed(), undefined);
    assert.equal(none.store.dataDir, './data');
    const fromEnv = await readSettingsInput({ env: { DIRBRIDGE_STORE_DATA_DIR: '/var/lib/dirbridge' } });
    assert.equal(fromEnv.store.dataDir, '/var/lib/dirbridge');
    assert.equal(fromEnv.seed(), undefined, 'the store section alone seeds nothing');
    await assert.rejects(readSettingsInput({ env: { DIRBRIDGE_STORE_URL: 'mysql://x' } }), /store\.url: expected a postgres/);
  });

  it('checks the mapping tables and the User Group Filter at load, naming each path', () => {
    const problems = problemsOf({
      ...minimal,
      mapping: {
        roles: { map: { techsupport: 5, managers: ['leader', 3] } },
        channels: { map: 'general' },
        customFields: { map: { departmentNumber: ['department'] } },
        groupSearch: { strategy: 'once', userGroupFilter: '(&(cn=#{groupName})(memberUid=#{username}))' },
        teams: { userGroupsQuery: '(member=#{nope})' },
      },
    });
    assert.deepEqual(problems.map((problem) => problem.split(':')[0]).sort(), [
      'mapping.channels.map',
      'mapping.customFields.map.departmentNumber',
      'mapping.groupSearch.userGroupFilter',
      'mapping.roles.map.managers',
      'mapping.roles.map.techsupport',
      'mapping.teams.userGroupsQuery',
    ]);
    assert.ok(problems.includes('mapping.roles.map.techsupport: expected string or string[]'));
    assert.ok(problems.some((problem) => problem.includes('#{groupName} cannot be used with the "once" strategy')));
  });
});
