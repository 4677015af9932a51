/**
 * Settings kept in PostgreSQL and shared by several instances: the first to start seeds them,
 * two administrators saving at once cannot both win, every instance follows a change, and an
 * instance with another secret key is refused with a message that says what to fix.
 * Skipped locally without PostgreSQL; fails in CI.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { isDirbridgeError } from '../src/errors.ts';
import type { Settings } from '../src/settings/schema.ts';
import { settingsFor } from './helpers/harness.ts';
import { createTestDatabase, postgresProblem } from './helpers/postgres.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const problem = await postgresProblem();

describe('settings shared through PostgreSQL', { skip: skipUnlessCi(problem, 'PostgreSQL unreachable') }, () => {
  const key = randomBytes(32).toString('hex');
  const env = { DIRBRIDGE_SECRET_KEY: key };
  let database: { url: string; drop: () => Promise<void> };
  let settings: Settings;
  const cleanups: Array<() => Promise<void>> = [];
  const apps: App[] = [];

  before(async () => {
    assert.equal(problem, undefined, `PostgreSQL is required: ${problem ?? ''}`);
    database = await createTestDatabase();
    const made = await settingsFor({
      directory: { urls: ['ldap://127.0.0.1:1'], bindDn: 'cn=reader,dc=example,dc=org', bindPassword: 'reader-secret' },
      users: { baseDn: 'dc=example,dc=org' },
      store: { url: database.url },
    });
    cleanups.push(made.cleanup);
    settings = made.settings;
  });

  after(async () => {
    for (const app of apps) await app.close();
    await database?.drop();
    for (const cleanup of cleanups) await cleanup();
  });

  it('is seeded once when two instances start together on an empty store', async () => {
    const other = { ...settings, sync: { ...settings.sync, batchSize: 77 } };
    const [first, second] = await Promise.all([openApp(settings, { env }), openApp(other, { env })]);
    apps.push(first, second);
    assert.equal(first.settingsState().version, 1);
    assert.equal(second.settingsState().version, 1);
    assert.equal(first.settings.sync.batchSize, second.settings.sync.batchSize, 'both run the one seeded version');
    // The instance whose seed lost reports where its seed differs from what is in force.
    const [winner, loser] = first.settings.sync.batchSize === 77 ? [second, first] : [first, second];
    assert.deepEqual(winner.settingsDrift, []);
    assert.deepEqual(loser.settingsDrift, ['sync.batchSize']);
    assert.equal((await first.store.audit.list({ limit: 10, offset: 0, action: 'settings.seeded' })).total, 1);
  });

  it('lets exactly one of two concurrent saves of the same version win', async () => {
    const [first, second] = apps as [App, App];
    const { store: _store, ...document } = first.settings;
    const outcomes = await Promise.allSettled([
      first.updateSettings({ ...document, sync: { ...document.sync, batchSize: 11 } }, { expectedVersion: 1, actor: 'admin:one' }),
      second.updateSettings({ ...document, sync: { ...document.sync, batchSize: 22 } }, { expectedVersion: 1, actor: 'admin:two' }),
    ]);
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const lost = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    assert.ok(isDirbridgeError(lost[0]?.reason, 'settings.conflict'), String(lost[0]?.reason));
    assert.equal(await first.store.settings.getVersion(), 2);
  });

  it('reaches every instance through the watch, secrets included', async () => {
    const [first, second] = apps as [App, App];
    const behind = first.settingsState().version === 2 ? second : first;
    const ahead = behind === first ? second : first;
    await behind.reloadSettings();
    const { store: _store, ...document } = ahead.settings;
    const applied = new Promise<number>((resolve) => {
      const stop = behind.watchSettings({
        intervalMs: 50,
        onError: (error) => assert.fail(String(error)),
        onApplied: (state) => {
          stop();
          resolve(state.version);
        },
      });
    });
    const changedTo: number[] = [];
    const unsubscribe = behind.onSettingsChange((next) => changedTo.push(next.sync.batchSize));
    await ahead.updateSettings(
      { ...document, directory: { ...document.directory, bindPassword: 'rotated-secret' }, sync: { ...document.sync, batchSize: 33 } },
      { expectedVersion: 2, actor: 'admin:one' },
    );
    assert.equal(await applied, 3);
    unsubscribe();
    assert.deepEqual(changedTo, [33]);
    assert.equal(behind.settings.directory.bindPassword, 'rotated-secret');
  });

  it('refuses to start with another secret key, naming both keys and the variable to set', async () => {
    await assert.rejects(openApp(settings, { env: { DIRBRIDGE_SECRET_KEY: randomBytes(32).toString('hex') } }), (error: unknown) => {
      assert.ok(isDirbridgeError(error, 'settings.secret_key_mismatch'));
      assert.match(error.message, /directory\.bindPassword was encrypted with secret key [0-9a-f]{16}.*DIRBRIDGE_SECRET_KEY/);
      return true;
    });
  });
});
