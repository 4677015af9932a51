/** Write-back in integration tests: delivering the outbox past the backoff of rows that failed while a server was down, and the outage check every server's suite runs. */
import assert from 'node:assert/strict';
import type { App } from '../../src/app.ts';
import { PRIMARY_DIRECTORY_ID } from '../../src/model/index.ts';
import { deliverDue, type DeliveryResult } from '../../src/writeback/deliver.ts';

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
