/**
 * The store side of delivered `set`s (deliver-set.ts), in the transaction that closes their row:
 * a user field written to the directory loses its baseline (the directory now confirms
 * dirbridge's value); a conflict is recorded with the loser's value and audited as
 * `writeback.conflict`; where the directory's value stood, dirbridge's store takes it.
 */
import type { NewWriteBackConflict, OutboxRecord } from '../model/index.ts';
import type { WritableUserField } from '../settings/schema.ts';
import type { StoreWriter } from '../store/store.ts';
import type { SettledSet } from './deliver-set.ts';
import { userFieldPatch } from './plan-user-writes.ts';

/** Who the audit log names for what the deliverer decided. */
export const DELIVERY_ACTOR = 'writeback-delivery';

/** A note kept on a row that is done although the directory's value stood. */
export interface RowNote {
  code: string;
  message: string;
}

function sameText(a: string | null | undefined, b: string | null | undefined): boolean {
  return (a?.trim() ?? '') === (b?.trim() ?? '');
}

/**
 * Records what the settled `set`s of `row` mean for the store; returns how many conflicts were
 * recorded and the row's note when the directory's value stood somewhere.
 */
export async function settleSets(tx: StoreWriter, row: OutboxRecord, settled: readonly SettledSet[]): Promise<{ conflicts: number; note?: RowNote }> {
  if (settled.length === 0) return { conflicts: 0 };
  const confirmed: WritableUserField[] = [];
  const conflicts: NewWriteBackConflict[] = [];
  const kept: string[] = [];
  const followed: Partial<Record<WritableUserField, boolean>> = {};
  for (const set of settled) {
    const { change, field } = set;
    if (set.outcome === 'written' || set.outcome === 'dirbridgeWon') {
      if (field !== undefined) confirmed.push(field);
    }
    if (set.outcome === 'written') continue;
    const directoryValue = set.outcome === 'dirbridgeWon' ? set.overwritten : set.current;
    conflicts.push({
      objectKind: row.objectKind,
      objectId: row.objectId,
      subject: row.subject,
      field: field ?? change.attribute,
      winner: set.conflict.winner,
      directoryValue,
      dirbridgeValue: change.to,
      baseline: change.from,
    });
    if (set.outcome === 'directoryKept') {
      kept.push(field ?? change.attribute);
      if (field !== undefined) followed[field] = await followDirectory(tx, row, field, change.to[0] ?? null, set.current[0] ?? null);
    }
  }
  if (confirmed.length > 0) {
    await tx.writeBack.deleteBaselines(
      row.directoryId,
      confirmed.map((field) => ({ objectKind: row.objectKind, objectId: row.objectId, field })),
    );
  }
  if (conflicts.length === 0) return { conflicts: 0 };
  const recorded = await tx.writeBack.recordConflicts(row.directoryId, conflicts);
  await tx.audit.append(
    recorded.map((conflict) => ({
      actor: DELIVERY_ACTOR,
      action: 'writeback.conflict',
      userId: row.objectKind === 'user' ? row.objectId : null,
      subject: row.subject,
      reason: `${conflict.field} was changed in the directory and in dirbridge; the ${conflict.winner}'s value stands (writeBack.authority)`,
      details: {
        conflictId: conflict.id,
        outboxId: row.id,
        objectKind: conflict.objectKind,
        field: conflict.field,
        winner: conflict.winner,
        directoryValue: conflict.directoryValue,
        dirbridgeValue: conflict.dirbridgeValue,
        baseline: conflict.baseline,
        ...(conflict.field in followed ? { storeFollowedDirectory: followed[conflict.field as WritableUserField] ?? false } : {}),
      },
    })),
  );
  if (kept.length === 0) return { conflicts: recorded.length };
  return {
    conflicts: recorded.length,
    note: {
      code: 'writeback.directory_kept',
      message: `not written: the directory's value of ${kept.join(', ')} stands (writeBack.authority); see the recorded conflict`,
    },
  };
}

/**
 * Makes dirbridge's store hold the directory's value of `field` — unless the store no longer
 * holds the value this row was to write (an administrator changed it again; a later row carries
 * that). Returns whether the store followed.
 */
async function followDirectory(
  tx: StoreWriter,
  row: OutboxRecord,
  field: WritableUserField,
  desired: string | null,
  directoryValue: string | null,
): Promise<boolean> {
  const user = await tx.users.get(row.objectId);
  if (user === undefined || !sameText(user[field], desired)) return false;
  await tx.users.update([{ id: user.id, ...userFieldPatch(field, directoryValue) }]);
  await tx.writeBack.deleteBaselines(row.directoryId, [{ objectKind: 'user', objectId: user.id, field }]);
  return true;
}
