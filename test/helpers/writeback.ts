/** Write-back in integration tests: delivering the outbox now, past the backoff of rows that failed while a server was down. */
import type { App } from '../../src/app.ts';
import { PRIMARY_DIRECTORY_ID } from '../../src/model/index.ts';
import { deliverDue, type DeliveryResult } from '../../src/writeback/deliver.ts';

/** Delivers every open row as if its backoff had passed (an hour ahead), on the app's own writable connection. */
export async function deliverPastBackoff(app: App): Promise<DeliveryResult> {
  await using directory = await app.openWritableDirectory();
  return await deliverDue(app.store, directory, { directoryId: PRIMARY_DIRECTORY_ID, settings: app.settings, now: () => new Date(Date.now() + 60 * 60_000) });
}
