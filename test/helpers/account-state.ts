/**
 * Disabling and enabling an account in tests the way dirbridge does it: the write planner's
 * `planSetEnabled` (the server's own attribute, other bits kept) delivered by the deliverer's
 * `applyDirectoryChange`; and reading the state back with the mapping's `readAccountState`.
 */
import type { WritableDirectoryConnection } from '../../src/directory/index.ts';
import { ACCOUNT_STATE_ATTRIBUTES, readAccountState } from '../../src/mapping/account-status.ts';
import { userSettingsSchema, writeBackSettingsSchema } from '../../src/settings/schema.ts';
import { applyDirectoryChange } from '../../src/writeback/deliver.ts';
import { resolveEntryShape } from '../../src/writeback/entry-shape.ts';
import { planSetEnabled } from '../../src/writeback/plan-user-writes.ts';

async function readState(connection: WritableDirectoryConnection, dn: string) {
  const [entry] = await connection.searchAll({
    baseDn: dn,
    scope: 'base',
    filter: '(objectClass=*)',
    attributes: [...ACCOUNT_STATE_ATTRIBUTES],
    maxEntries: 1,
  });
  if (entry === undefined) throw new Error(`no entry ${dn}`);
  return entry;
}

/** Disables (or enables) `dn` through the write planner and the deliverer; a no-op when it already is. */
export async function setDisabled(connection: WritableDirectoryConnection, dn: string, disabled: boolean): Promise<void> {
  const writeBack = writeBackSettingsSchema.parse({});
  const shape = resolveEntryShape(writeBack, connection.rootDse.serverType);
  const users = userSettingsSchema.parse({ baseDn: dn });
  const plan = planSetEnabled({ shape, writeBack, users }, { entry: await readState(connection, dn), username: dn, enabled: !disabled, reason: 'test' });
  for (const step of plan.steps) if (step.kind !== 'setPassword') await applyDirectoryChange(connection, step.change);
}

/** True when the server marks `dn` disabled (as sync reads it). */
export async function isDisabled(connection: WritableDirectoryConnection, dn: string): Promise<boolean> {
  return readAccountState(await readState(connection, dn)).state === 'disabled';
}
