/**
 * The user and group commands with their fixed names (issue #10), run as an administrator runs
 * them (bin/dirbridge.js, a real process) against real slapd: writable write-back changes the
 * directory (read back as the rootdn), `--dry-run` changes nothing, `--json` is machine-readable,
 * a password comes only from stdin, and with write-back off the store alone changes and the
 * output says so. Exit codes: 0 done or pending, 1 refused, 2 wrong use.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { bindsToSlapd, readAttribute } from './helpers/directory.ts';

const BIN = path.resolve(import.meta.dirname, '..', 'bin', 'dirbridge.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('dirbridge users/groups commands with write-back against OpenLDAP', () => {
  let slapd: Slapd;
  let dir = '';
  const secretKey = randomBytes(32).toString('hex');
  const people = () => `ou=people,${slapd.baseDn}`;

  async function config(name: string, writeBack: Record<string, unknown>): Promise<string> {
    const file = path.join(dir, `${name}.yaml`);
    await writeFile(
      file,
      stringify({
        directory: { urls: [slapd.url], bindDn: slapd.writerDn, connectTimeoutMs: 2_000, operationTimeoutMs: 5_000 },
        users: { baseDn: people() },
        groups: { baseDn: `ou=groups,${slapd.baseDn}` },
        writeBack,
        store: { dataDir: path.join(dir, `${name}-data`) },
      }),
    );
    return file;
  }

  before(async () => {
    slapd = await startSlapd();
    dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-writeback-actions-cli-'));
  });
  after(async () => {
    await slapd?.stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  /** Runs the CLI; `input`, when given, is piped to stdin (and stdin is closed either way). */
  function cli(file: string, args: string[], input = ''): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, '--config', file, ...args], {
        env: { PATH: process.env['PATH'], HOME: process.env['HOME'], DIRBRIDGE_DIRECTORY_BIND_PASSWORD: slapd.writerPassword, DIRBRIDGE_SECRET_KEY: secretKey },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(input);
    });
  }
  async function json(file: string, args: string[], input = ''): Promise<any> {
    const result = await cli(file, [...args, '--json'], input);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}${result.stdout}`);
    return JSON.parse(result.stdout);
  }
  const read = (dn: string, attribute: string) => readAttribute(slapd, dn, attribute);

  const binds = (dn: string, password: string) => bindsToSlapd(slapd, dn, password);

  it('runs every user and group command in writable mode, each read back from slapd', async () => {
    const file = await config('writable', {
      enabled: true,
      mode: 'writable',
      usersDn: people(),
      groupsDn: `ou=groups,${slapd.baseDn}`,
      passwords: true,
      deletion: { users: 'delete', groups: 'delete' },
    });
    const dn = `uid=cli-gina,${people()}`;
    const dry = await json(file, ['users', 'create', 'cli-gina', '--email', 'gina@example.test', '--last-name', 'Park', '--dry-run']);
    assert.equal(dry.outcome, 'planned');
    assert.equal(await read(dn, 'uid'), undefined, 'a dry run writes nothing');

    const created = await json(
      file,
      ['users', 'create', 'cli-gina', '--email', 'gina@example.test', '--first-name', 'Gina', '--last-name', 'Park'],
      'Gina-Secret-1\n',
    );
    assert.equal(created.outcome, 'written', created.message);
    assert.deepEqual(await read(dn, 'mail'), ['gina@example.test']);
    assert.equal(await binds(dn, 'Gina-Secret-1'), true, 'the piped password was set');
    assert.equal(JSON.stringify(created).includes('Gina-Secret-1'), false);

    assert.equal((await json(file, ['users', 'update', 'cli-gina', '--last-name', 'Parker'])).outcome, 'written');
    assert.deepEqual(await read(dn, 'sn'), ['Parker']);
    assert.equal((await json(file, ['users', 'disable', 'cli-gina', '--reason', 'leave'])).outcome, 'written');
    assert.deepEqual(await read(dn, 'pwdAccountLockedTime'), ['000001010000Z']);
    assert.equal((await json(file, ['users', 'enable', 'cli-gina'])).outcome, 'written');
    assert.deepEqual(await read(dn, 'pwdAccountLockedTime'), []);

    assert.equal((await json(file, ['groups', 'create', 'cli-crew'])).outcome, 'written');
    assert.equal((await json(file, ['groups', 'add-member', 'cli-crew', 'cli-gina'])).outcome, 'written');
    assert.deepEqual(await read(`cn=cli-crew,ou=groups,${slapd.baseDn}`, 'member'), [dn]);

    const table = await cli(file, ['users', 'rename', 'cli-gina', 'cli-georgina']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^users\.rename: written to the directory/);
    assert.match(table.stdout, /done\s+renameUser\s+cli-gina/);
    const renamed = `uid=cli-georgina,${people()}`;
    assert.deepEqual(await read(`cn=cli-crew,ou=groups,${slapd.baseDn}`, 'member'), [renamed], 'the group follows the new DN');

    assert.equal((await json(file, ['users', 'set-password', 'cli-georgina'], 'Georgina-New-22\n')).outcome, 'written');
    assert.equal(await binds(renamed, 'Georgina-New-22'), true);
    assert.equal(await binds(renamed, 'Gina-Secret-1'), false);

    assert.equal((await json(file, ['groups', 'remove-member', 'cli-crew', 'cli-georgina'])).outcome, 'written');
    assert.deepEqual(
      await read(`cn=cli-crew,ou=groups,${slapd.baseDn}`, 'member'),
      ['cn=dirbridge-placeholder'],
      'the empty group is kept with the placeholder',
    );
    assert.equal((await json(file, ['groups', 'delete', 'cli-crew'])).outcome, 'written');
    assert.equal(await read(`cn=cli-crew,ou=groups,${slapd.baseDn}`, 'cn'), undefined);
    assert.equal((await json(file, ['users', 'delete', 'cli-georgina'])).outcome, 'written');
    assert.equal(await read(renamed, 'uid'), undefined);
  });

  it('refuses what it cannot do with exit 1 and a named error, and wrong use with exit 2', async () => {
    const file = await config('refusals', { enabled: true, mode: 'writable', usersDn: people(), passwords: true });
    const unknown = await cli(file, ['users', 'update', 'nobody-here', '--email', 'x@example.test', '--json']);
    assert.equal(unknown.code, 1);
    assert.equal(JSON.parse(unknown.stdout).error.code, 'users.not_found');
    const weak = await cli(file, ['users', 'create', 'cli-weak', '--json'], 'abc\n');
    assert.equal(weak.code, 1, weak.stdout);
    const weakResult = JSON.parse(weak.stdout);
    assert.equal(weakResult.outcome, 'failed');
    assert.equal(weakResult.steps.find((step: { kind: string }) => step.kind === 'setPassword')?.error?.code, 'directory.password_policy', weak.stdout);
    const missing = await cli(file, ['users', 'rename', 'only-one-name']);
    assert.equal(missing.code, 2);
  });

  it('changes only the store with write-back off, and says so', async () => {
    const file = await config('off', { enabled: false });
    const created = await json(file, ['users', 'create', 'cli-local', '--email', 'local@example.test'], 'Local-Secret-1\n');
    assert.equal(created.outcome, 'local');
    assert.match(created.message, /dirbridge's store only/);
    assert.equal(created.user.source, 'local');
    assert.equal(await read(`uid=cli-local,${people()}`, 'uid'), undefined, 'nothing reached the directory');
    const login = await cli(file, ['login', 'cli-local', '--json'], 'Local-Secret-1\n');
    assert.equal(login.code, 0, login.stderr);
  });
});
