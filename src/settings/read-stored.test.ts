import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isDirbridgeError } from '../errors.ts';
import type { JsonValue } from '../model/index.ts';
import { readStoredSettings } from './read-stored.ts';
import { createSecretBox, isSealed } from './secret-box.ts';
import { editablePart } from './stored-settings.ts';

const box = createSecretBox(randomBytes(32), 'test key');
const store = { dataDir: '/tmp/dirbridge-unit' };

/** The whole document the release at e95638f stored for the README's example (every key, every default). */
const savedByRelease = JSON.parse(readFileSync(new URL('./testdata/stored-at-e95638f.json', import.meta.url), 'utf8')) as Record<
  string,
  Record<string, unknown>
>;

/** A stored document: a copy of `document` with the bind password sealed, as the store keeps it. */
function stored(document: Record<string, unknown>): JsonValue {
  const copy = structuredClone(document) as Record<string, Record<string, unknown>>;
  const directory = copy['directory'];
  if (directory !== undefined && typeof directory['bindPassword'] === 'string')
    directory['bindPassword'] = box.seal(directory['bindPassword'], 'directory.bindPassword');
  return copy as JsonValue;
}

function patched(path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(savedByRelease) as Record<string, unknown>;
  const keys = path.split('.');
  let current = copy;
  for (const key of keys.slice(0, -1)) current = current[key] as Record<string, unknown>;
  current[keys[keys.length - 1] ?? ''] = value;
  return copy;
}

describe('reading a stored settings version', () => {
  it('loads the whole document the current release saved, unchanged and without problems (settings added since take their defaults)', () => {
    const document = stored(savedByRelease);
    assert.ok(isSealed((document as Record<string, Record<string, unknown>>)['directory']?.['bindPassword']));
    const read = readStoredSettings(document, store, box, 'the stored settings (version 1)');
    assert.deepEqual(read.problems, []);
    // Every value it saved is kept as saved (settings added since take their defaults).
    const kept = (saved: unknown, loaded: unknown, path: string): void => {
      if (typeof saved === 'object' && saved !== null && !Array.isArray(saved)) {
        assert.ok(typeof loaded === 'object' && loaded !== null, path);
        for (const [key, value] of Object.entries(saved)) kept(value, (loaded as Record<string, unknown>)[key], path === '' ? key : `${path}.${key}`);
        return;
      }
      assert.deepEqual(loaded, saved, path);
    };
    kept(savedByRelease, editablePart(read.settings), '');
    assert.equal(read.settings.sync.revokeSessionsOnPasswordChange, true, 'a setting added since takes its default');
    assert.deepEqual(read.settings.store, store);
  });

  // A number or a schedule the rules now refuse: its default stands in, and the problem says so.
  const setAside: Array<[string, unknown, unknown, RegExp]> = [
    [
      'directory.operationTimeoutMs',
      3_000_000_000,
      30_000,
      /at most 3600000 ms \(1 hour\); the stored value 3000000000 is set aside and the default 30000 is used until the settings are saved again/,
    ],
    ['directory.connectTimeoutMs', 0, 5_000, /at least 100 ms/],
    ['sync.guard.maxDisable.count', 50_000_000, 100, /at most 10000000/],
    [
      'autoLogout.schedule',
      '*/30 * * * * *',
      '*/5 * * * *',
      /fires 2 times a minute.*the stored value "\*\/30 \* \* \* \* \*" is set aside and the default "\*\/5 \* \* \* \*" is used/,
    ],
    ['backgroundSync.schedule', 'every 10 seconds', 'every 1 hour', /fires 6 times a minute/],
    ['mapping.avatars.schedule', '* * * * * *', '0 * * * *', /fires 60 times a minute/],
    ['mapping.abac.backgroundSync.schedule', 'every second', '0 * * * *', /fires 60 times a minute/],
  ];
  for (const [path, value, replacement, message] of setAside) {
    it(`sets aside ${path}: ${JSON.stringify(value)} for its default, and reports it`, () => {
      const read = readStoredSettings(stored(patched(path, value)), store, box, 'the stored settings (version 3)');
      assert.equal(read.problems.length, 1, read.problems.join('\n'));
      assert.ok(read.problems[0]?.startsWith(`${path}: `), read.problems[0]);
      assert.match(read.problems[0] ?? '', message);
      let current: unknown = read.settings;
      for (const key of path.split('.')) current = (current as Record<string, unknown>)[key];
      assert.deepEqual(current, replacement);
      // The baseline keeps the stored value, so the next save counts it as changed.
      let kept: unknown = read.baseline;
      for (const key of path.split('.')) kept = (kept as Record<string, unknown>)[key];
      assert.deepEqual(kept, value);
      assert.equal(read.settings.directory.bindPassword, 'change-me', 'secrets are opened');
    });
  }

  // Anything else has no safe stand-in: loading fails, naming the path and the way out.
  const refused: Array<[string, unknown, RegExp]> = [
    ['users.baseDn', '', /users\.baseDn: must not be empty/],
    ['groups.baseDn', '', /groups\.baseDn: must not be empty/],
    ['users.filter', '(uid=#{username})', /users\.filter: #\{username\} is not filled in here/],
    ['mapping.teams.baseDn', ' ', /mapping\.teams\.baseDn: must not be empty/],
  ];
  for (const [path, value, message] of refused) {
    it(`refuses to load ${path}: ${JSON.stringify(value)}, naming the path and \`settings import\``, () => {
      assert.throws(
        () => readStoredSettings(stored(patched(path, value)), store, box, 'the stored settings (version 4)'),
        (error: unknown) => {
          assert.ok(isDirbridgeError(error, 'settings.invalid'));
          assert.match(error.message, /^the stored settings \(version 4\) no longer pass the settings rules:/);
          assert.match(error.message, message);
          assert.match(error.message, /dirbridge settings import FILE/);
          assert.ok((error.details['problems'] as string[]).some((problem) => problem.startsWith(`${path}: `)));
          return true;
        },
      );
    });
  }

  it('refuses to load a document with both kinds, rather than half-repair it', () => {
    const document = patched('users.baseDn', '');
    (document['directory'] as Record<string, unknown>)['operationTimeoutMs'] = 3_000_000_000;
    assert.throws(
      () => readStoredSettings(stored(document), store, box, 'v'),
      (error: unknown) => {
        assert.ok(isDirbridgeError(error, 'settings.invalid'));
        const problems = error.details['problems'] as string[];
        assert.deepEqual(problems.map((problem) => problem.split(':')[0]).sort(), ['directory.operationTimeoutMs', 'users.baseDn']);
        return true;
      },
    );
  });

  it('puts a replacement in force over a version it cannot load, keeping the stored secrets', () => {
    const { bindPassword: _left, ...directory } = savedByRelease['directory'] ?? {};
    const replacement = { ...savedByRelease, directory, users: { ...savedByRelease['users'], baseDn: 'ou=staff,dc=example,dc=org' } };
    const read = readStoredSettings(stored(patched('users.baseDn', '')), store, box, 'v', { replacement: () => replacement });
    assert.equal(read.settings.users.baseDn, 'ou=staff,dc=example,dc=org');
    assert.equal(read.settings.directory.bindPassword, 'change-me', 'the stored password is kept');
    assert.match(read.problems.join('\n'), /^users\.baseDn: must not be empty/);
    assert.equal((read.baseline['users'] as Record<string, unknown>)['baseDn'], '');
    // The replacement is validated as a save would be.
    assert.throws(
      () => readStoredSettings(stored(patched('users.baseDn', '')), store, box, 'v', { replacement: () => ({ ...replacement, users: { baseDn: '' } }) }),
      /users\.baseDn: must not be empty/,
    );
  });
});
