/** Write-back in integration tests: delivering the outbox past the backoff of rows that failed while a server was down, and the outage check every server's suite runs. */
import assert from 'node:assert/strict';
import type { App } from '../../src/app.ts';
import { PRIMARY_DIRECTORY_ID } from '../../src/model/index.ts';
import { type DeliveryResult, deliverDue } from '../../src/writeback/deliver.ts';

/** Delivers every open row as if its backoff had passed (an hour ahead), on the app's own writable connection. */
export async function deliverPastBackoff(app: App): Promise<DeliveryResult> {
  await using directory = await app.openWritableDirectory();
  return await deliverDue(app.store, directory, { directoryId: PRIMARY_DIRECTORY_ID, settings: app.settings, now: () => new Date(Date.now() + 60 * 60_000) });
}

/**
 * A profile change made while the directory cannot be reached: dirbridge keeps it, the outbox row
 * shows the error, sync does not undo it, and once the directory is back it is written and the
 * next sync has nothing to change. The change is undone afterwards.
 */
export async function assertWriteWaitsWhileUnreachable(
  app: App,
  input: {
    username: string;
    dn: string;
    cutOff: () => void;
    restore: () => void | Promise<void>;
    read: (dn: string, attribute: string) => Promise<string[] | undefined>;
    syncPlan: () => Promise<string[]>;
  },
): Promise<void> {
  const before = await input.read(input.dn, 'sn');
  input.cutOff();
  let result;
  try {
    result = await app.writeBack.users.update(input.username, { lastName: 'Offline' }, { actor: 'admin:test' });
  } finally {
    await input.restore();
  }
  assert.equal(result.outcome, 'pending', result.message);
  assert.equal((await app.store.users.findByUsername(input.username))?.lastName, 'Offline', 'dirbridge holds the change');
  const [row] = (await app.store.writeBack.listOpen(PRIMARY_DIRECTORY_ID, { limit: 10, offset: 0 })).rows;
  assert.ok(row?.lastErrorCode?.startsWith('directory.'), `the error is shown: ${String(row?.lastErrorCode)}`);
  assert.deepEqual(await input.read(input.dn, 'sn'), before, 'the directory does not have it yet');
  assert.deepEqual(await input.syncPlan(), [], 'sync keeps the pending value (no step undoes it)');
  assert.equal((await deliverPastBackoff(app)).done, 1);
  assert.deepEqual(await input.read(input.dn, 'sn'), ['Offline']);
  assert.equal((await app.store.writeBack.listOpen(PRIMARY_DIRECTORY_ID, { limit: 10, offset: 0 })).total, 0);
  assert.deepEqual(await input.syncPlan(), [], 'no echo');
  await app.writeBack.users.update(input.username, { lastName: before?.[0] ?? '' }, { actor: 'admin:test' });
}

/**
 * A conflict under each authority: the directory changes the first name after dirbridge last saw
 * it, then dirbridge changes it too. The authority's value ends up on both sides, the conflict is
 * recorded with both values, the next sync has nothing to change; the name is put back after.
 */
export async function assertConflictsSettledByAuthority(input: {
  appWith: (writeBack: Record<string, unknown>) => Promise<App>;
  username: string;
  dn: string;
  /** Sets givenName in the directory, as its administrator. */
  setInDirectory: (value: string) => Promise<void>;
  read: (dn: string, attribute: string) => Promise<string[] | undefined>;
  syncPlan: (app: App) => Promise<string[]>;
}): Promise<void> {
  const original = (await input.read(input.dn, 'givenName'))?.[0] ?? '';
  for (const authority of ['directory', 'dirbridge'] as const) {
    const app = await input.appWith({ authority: { default: authority } });
    const directoryValue = `Dir-${authority}`;
    const dirbridgeValue = `Bridge-${authority}`;
    await input.setInDirectory(directoryValue);
    const result = await app.writeBack.users.update(input.username, { firstName: dirbridgeValue }, { actor: 'admin:test' });
    assert.equal(result.conflicts.length, 1, result.message);
    assert.equal(result.conflicts[0]?.winner, authority);
    const expected = authority === 'directory' ? directoryValue : dirbridgeValue;
    assert.deepEqual(await input.read(input.dn, 'givenName'), [expected]);
    assert.equal((await app.store.users.findByUsername(input.username))?.firstName, expected);
    const recorded = await app.store.writeBack.listConflicts(PRIMARY_DIRECTORY_ID, { open: true }, { limit: 10, offset: 0 });
    assert.equal(recorded.total, 1);
    assert.deepEqual(recorded.rows[0]?.directoryValue, [directoryValue]);
    assert.deepEqual(recorded.rows[0]?.dirbridgeValue, [dirbridgeValue]);
    assert.deepEqual(await input.syncPlan(app), [], `${authority}: no echo`);
    await input.setInDirectory(original);
  }
}
