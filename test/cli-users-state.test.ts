/**
 * `dirbridge users list --state active|disabled`, as the API and console filter users (a real
 * process against a real slapd): the state filter, its refusal of anything else (exit 2, naming
 * the choices), and `--source` refusing unknown values the same way instead of ignoring them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { writeSlapdConfig } from './helpers/directory.ts';

const BIN = path.resolve(import.meta.dirname, '..', 'bin', 'dirbridge.js');

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

describe('dirbridge users list --state (OpenLDAP)', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let dir: string;
  let config: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    organisation = generateOrganisation({ people: 12, groups: 4, seed: 3 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-cli-state-'));
    config = path.join(dir, 'dirbridge.yaml');
    env = { ...(await writeSlapdConfig(config, slapd, { store: { dataDir: path.join(dir, 'data') } })), DIRBRIDGE_ADMIN_PASSWORD: 'admin-password-1' };
    const sync = await cli(['--config', config, 'sync'], env);
    assert.equal(sync.code, 0, sync.stderr);
  });

  after(async () => {
    await slapd?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const list = async (...args: string[]) => {
    const result = await cli(['--config', config, '--json', 'users', 'list', '--limit', '500', ...args], env);
    assert.equal(result.code, 0, result.stderr);
    const page = JSON.parse(result.stdout) as { total: number; users: Array<{ username: string; isEnabled: boolean; source: string }> };
    return page;
  };

  it('lists active or disabled accounts only, whoever disabled them', async () => {
    const person = organisation.users.find((user) => !user.locked && user.uid !== 'admin');
    assert.ok(person);
    const disabled = await cli(['--config', config, 'users', 'disable', person.uid, '--reason', 'left'], env);
    assert.equal(disabled.code, 0, disabled.stderr);

    const all = await list();
    const onlyDisabled = await list('--state', 'disabled');
    const onlyActive = await list('--state', 'active');
    // The locked sample user is disabled by the directory, the other by an administrator.
    const expectedDisabled = all.users
      .filter((user) => !user.isEnabled)
      .map((user) => user.username)
      .sort();
    assert.ok(expectedDisabled.includes(person.uid) && expectedDisabled.includes('locked.user'), expectedDisabled.join(','));
    assert.deepEqual(onlyDisabled.users.map((user) => user.username).sort(), expectedDisabled);
    assert.equal(onlyDisabled.total, expectedDisabled.length);
    assert.ok(onlyActive.users.every((user) => user.isEnabled));
    assert.equal(onlyActive.total + onlyDisabled.total, all.total);
    // With the other filters.
    assert.deepEqual(
      (await list('--state', 'active', '--source', 'local')).users.map((user) => user.username),
      ['admin'],
    );

    const text = await cli(['--config', config, 'users', 'list', '--state', 'disabled'], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`${person.uid.replace('.', '\\.')}.*disabled by admin`));
    assert.match(text.stdout, new RegExp(`${expectedDisabled.length} of ${expectedDisabled.length} users`));
  });

  it('refuses an unknown state or source with exit 2, naming the choices', async () => {
    const state = await cli(['--config', config, 'users', 'list', '--state', 'locked'], env);
    assert.equal(state.code, 2);
    assert.match(state.stderr, /--state.*locked.*active, disabled/);
    const source = await cli(['--config', config, 'users', 'list', '--source', 'ldap'], env);
    assert.equal(source.code, 2);
    assert.match(source.stderr, /--source.*ldap.*local, directory/);
  });
});
