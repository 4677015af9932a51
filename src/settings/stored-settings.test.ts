import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { validateSettings } from './load.ts';
import { createSecretBox, isSealed, loadSecretBox, parseSecretKey } from './secret-box.ts';
import {
  applySettingsEdit,
  changedSettingPaths,
  directoryPaths,
  fromStoredDocument,
  redactSettings,
  resolveSecretEdits,
  toStoredDocument,
} from './stored-settings.ts';

const base = {
  directory: { urls: ['ldaps://ldap.example.org'], bindDn: 'cn=svc,dc=example,dc=org', bindPassword: 'S3cret!', pageSize: '250', attributesToQuery: 'mail,cn' },
  users: { baseDn: 'ou=people,dc=example,dc=org', usernameAttribute: 'uid' },
  backgroundSync: { enabled: 'yes', schedule: 'every 24 hours' },
  store: { dataDir: '/tmp/dirbridge-unit' },
};

describe('stored settings', () => {
  const box = createSecretBox(randomBytes(32), 'test key');
  const settings = validateSettings(base, 'test');

  it('round-trips through the stored form, with the secret sealed and bound to its path', () => {
    const stored = toStoredDocument(settings, box);
    const view = stored as Record<string, Record<string, unknown>>;
    assert.equal('store' in view, false);
    const sealed = view['directory']?.['bindPassword'];
    assert.ok(isSealed(sealed));
    assert.equal(JSON.stringify(stored).includes('S3cret!'), false);
    const back = fromStoredDocument(stored, settings.store, box, 'test');
    assert.deepEqual(back, settings);
  });

  it('refuses a value sealed under another key, naming the path and both key ids', () => {
    const stored = toStoredDocument(settings, box);
    const other = createSecretBox(randomBytes(32), 'other key');
    assert.throws(
      () => fromStoredDocument(stored, settings.store, other, 'test'),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'settings.secret_key_mismatch');
        assert.match(error.message, /directory\.bindPassword/);
        assert.match(error.message, new RegExp(box.keyId));
        return true;
      },
    );
  });

  it('refuses a tampered or moved ciphertext', () => {
    const sealed = box.seal('value', 'directory.bindPassword');
    const tampered = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.throws(() => box.open(tampered, 'directory.bindPassword'), /integrity check/);
    assert.throws(() => box.open(sealed, 'mapping.other'), /integrity check/);
    assert.equal(box.open(sealed, 'directory.bindPassword'), 'value');
  });

  it('redacts secrets and reports whether they are set', () => {
    const shown = redactSettings(settings);
    assert.equal(JSON.stringify(shown).includes('S3cret!'), false);
    assert.deepEqual(shown.secrets, { 'directory.bindPassword': { isSet: true } });
    assert.equal('store' in shown.settings, false);
    assert.equal((shown.settings['directory'] as Record<string, unknown>)['bindDn'], 'cn=svc,dc=example,dc=org');
  });

  it('keeps an absent secret, sets a string and clears null', () => {
    const { settings: shown } = redactSettings(settings);
    const kept = resolveSecretEdits(shown, settings) as { directory: Record<string, unknown> };
    assert.equal(kept.directory['bindPassword'], 'S3cret!');
    const replaced = resolveSecretEdits({ ...shown, directory: { ...(shown['directory'] as object), bindPassword: 'new' } }, settings) as {
      directory: Record<string, unknown>;
    };
    assert.equal(replaced.directory['bindPassword'], 'new');
    const cleared = resolveSecretEdits({ ...shown, directory: { ...(shown['directory'] as object), bindPassword: null } }, settings) as {
      directory: Record<string, unknown>;
    };
    assert.equal('bindPassword' in cleared.directory, false);
    // With bindDn still set, clearing the password is invalid: never an unauthenticated bind.
    assert.throws(() => validateSettings({ ...cleared, store: settings.store }, 'edit'), /directory\.bindPassword: required when bindDn is set/);
  });

  it('checks an edit as a save does, without saving: secrets kept or cleared, store refused, every bad path named', () => {
    const { settings: shown } = redactSettings(settings);
    const directory = shown['directory'] as Record<string, unknown>;
    const edited = applySettingsEdit({ ...shown, directory: { ...directory, connectTimeoutMs: 1234 } }, settings);
    assert.equal(edited.directory.bindPassword, 'S3cret!', 'an absent secret is the stored one');
    assert.equal(edited.directory.connectTimeoutMs, 1234);
    assert.deepEqual(edited.store, settings.store);
    assert.deepEqual(directoryPaths(changedSettingPaths(settings, edited)), ['directory.connectTimeoutMs']);
    assert.throws(
      () => applySettingsEdit({ ...shown, directory: { ...directory, bindPassword: null } }, settings),
      (error: Error & { code?: string; details?: { problems?: string[] } }) => {
        assert.equal(error.code, 'settings.invalid');
        assert.equal(error.details?.problems?.length, 1);
        assert.match(error.details?.problems?.[0] ?? '', /^directory\.bindPassword: required when bindDn is set/);
        return true;
      },
    );
    assert.throws(() => applySettingsEdit({ ...shown, store: { dataDir: '/elsewhere' } }, settings), /store: the store section cannot be changed/);
    assert.throws(
      () => applySettingsEdit({ ...shown, directory: { ...directory, pageSize: 0 }, users: { ...(shown['users'] as object), filter: '(uid=' } }, settings),
      (error: Error & { details?: { problems?: string[] } }) => {
        const problems = error.details?.problems ?? [];
        assert.ok(
          problems.some((problem) => problem.startsWith('directory.pageSize: ')) && problems.some((problem) => problem.startsWith('users.filter: ')),
          problems.join('\n'),
        );
        return true;
      },
    );
    assert.deepEqual(directoryPaths(['directory.urls', 'directoryx', 'sync.batchSize', 'directory']), ['directory.urls', 'directory']);
  });

  it('lists changed paths, leaves only', () => {
    const changed = validateSettings({ ...base, directory: { ...base.directory, pageSize: 100, bindPassword: 'other' }, sync: { batchSize: 10 } }, 'test');
    assert.deepEqual(changedSettingPaths(settings, changed), ['directory.bindPassword', 'directory.pageSize', 'sync.batchSize']);
    assert.deepEqual(changedSettingPaths(settings, settings), []);
  });
});

describe('secret keys', () => {
  it('accepts 64 hex digits or base64 of 32 bytes and rejects anything else with a hint', () => {
    const key = randomBytes(32);
    assert.deepEqual(parseSecretKey(key.toString('hex'), 'K'), key);
    assert.deepEqual(parseSecretKey(key.toString('base64'), 'K'), key);
    assert.throws(() => parseSecretKey('hunter2', 'DIRBRIDGE_SECRET_KEY'), /DIRBRIDGE_SECRET_KEY must hold a 32-byte key.*openssl rand -hex 32/);
  });

  it('generates a key file with mode 0600 once and reuses it', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'dirbridge-key-'));
    try {
      const first = await loadSecretBox({ env: {}, dataDir });
      const file = path.join(dataDir, 'secret.key');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const second = await loadSecretBox({ env: {}, dataDir });
      assert.equal(first.keyId, second.keyId);
      const fromEnv = await loadSecretBox({ env: { DIRBRIDGE_SECRET_KEY: (await readFile(file, 'utf8')).trim() }, dataDir: '/nonexistent' });
      assert.equal(fromEnv.keyId, first.keyId);
      const named = path.join(dataDir, 'named.key');
      await writeFile(named, randomBytes(32).toString('base64'));
      const fromFile = await loadSecretBox({ env: { DIRBRIDGE_SECRET_KEY_FILE: named }, dataDir });
      assert.notEqual(fromFile.keyId, first.keyId);
      assert.equal(fromFile.keySource, named);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
