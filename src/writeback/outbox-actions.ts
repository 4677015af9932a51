/**
 * What an administrator does with the write-back outbox (CLI `writeback ...`, the console):
 * retry failed rows, and resolve a recorded conflict — `keep` accepts the winner's value,
 * `restore` makes both sides hold the loser's (dirbridge's store at once, the directory through
 * a `set` delivered now). Both are audited.
 */
import type { App } from '../app.ts';
import { DirbridgeError } from '../errors.ts';
import { allStrings } from '../ldap/entry.ts';
import type { WriteBackConflictRecord } from '../model/index.ts';
import { PRIMARY_DIRECTORY_ID } from '../model/writeback.ts';
import { effectiveWriteBackMode, isWritableUserField } from '../settings/schema.ts';
import type { StoreWriter } from '../store/store.ts';
import { sameValues } from './deliver-set.ts';
import type { DeliveryRun } from './delivery.ts';
import { attributeOfField, userFieldPatch } from './plan-user-writes.ts';
import { readEntry } from './read-targets.ts';

/** Puts failed rows (all, or those of `ids`) back in the outbox, due now, and delivers. */
export async function retryWriteBack(
  app: Pick<App, 'store' | 'writeBackDelivery'>,
  input: { ids?: string[]; actor: string },
): Promise<{ requeued: number; run: DeliveryRun }> {
  const requeued = await app.store.transaction(async (tx) => {
    const count = await tx.writeBack.requeueFailed(PRIMARY_DIRECTORY_ID, input.ids);
    if (count > 0) {
      await tx.audit.append([
        {
          actor: input.actor,
          action: 'writeback.retried',
          reason: `${count} failed write-back step(s) put back in the outbox`,
          details: { requeued: count, ids: input.ids ?? null },
        },
      ]);
    }
    return count;
  });
  return { requeued, run: await app.writeBackDelivery.runNow() };
}

/** A conflict as stored now, or `store.not_found`. */
async function readConflict(app: Pick<App, 'store'>, id: string): Promise<WriteBackConflictRecord> {
  const conflict = await app.store.writeBack.getConflict(id);
  if (conflict === undefined) throw new DirbridgeError('store.not_found', `no write-back conflict with id ${JSON.stringify(id)}`);
  return conflict;
}

/** An open conflict, or the error that says why there is none. */
async function openConflict(app: Pick<App, 'store'>, id: string): Promise<WriteBackConflictRecord> {
  const conflict = await readConflict(app, id);
  if (conflict.resolvedAt !== null) {
    throw new DirbridgeError(
      'store.conflict',
      `write-back conflict ${id} was already resolved (${conflict.resolution ?? ''} by ${conflict.resolvedBy ?? 'unknown'} at ${conflict.resolvedAt})`,
    );
  }
  return conflict;
}

/** The directory's values of `attribute` on `dn` now, or `fallback` when the directory cannot say. */
async function currentValues(app: Pick<App, 'openDirectory'>, dn: string, attribute: string, fallback: string[]): Promise<string[]> {
  try {
    await using directory = await app.openDirectory();
    const entry = await readEntry(directory, dn, [attribute]);
    return entry === undefined ? fallback : allStrings(entry, attribute);
  } catch {
    // Unreachable: the value the directory held when the conflict was settled; the compare-and-swap still guards.
    return fallback;
  }
}

/**
 * Resolves an open conflict. `keep` leaves both sides as they are. `restore` gives both sides the
 * loser's value: for a user, dirbridge's store takes it (a user field) and a `set` from the
 * directory's current value to it is enqueued and delivered now (write-back must be writable).
 * Throws `store.not_found` for an unknown id and `store.conflict` for a resolved one.
 */
export async function resolveWriteBackConflict(
  app: Pick<App, 'store' | 'settings' | 'openDirectory' | 'writeBackDelivery'>,
  input: { id: string; resolution: 'keep' | 'restore'; actor: string },
): Promise<WriteBackConflictRecord> {
  const conflict = await openConflict(app, input.id);
  const audit = (details: Record<string, unknown>) => ({
    actor: input.actor,
    action: 'writeback.conflict_resolved',
    userId: conflict.objectKind === 'user' ? conflict.objectId : null,
    subject: conflict.subject,
    reason:
      input.resolution === 'keep'
        ? `kept the ${conflict.winner}'s value of ${conflict.field}`
        : `restored the value of ${conflict.field} the ${conflict.winner} had overridden`,
    details: { conflictId: conflict.id, resolution: input.resolution, field: conflict.field, ...details },
  });
  const resolve = async (tx: StoreWriter) => {
    if (!(await tx.writeBack.resolveConflict(conflict.id, input.resolution, input.actor))) {
      throw new DirbridgeError('store.conflict', `write-back conflict ${conflict.id} was resolved meanwhile by someone else`);
    }
  };

  if (input.resolution === 'keep') {
    await app.store.transaction(async (tx) => {
      await resolve(tx);
      await tx.audit.append([audit({})]);
    });
    return readConflict(app, conflict.id);
  }

  const { writeBack, users } = app.settings;
  if (effectiveWriteBackMode(writeBack) !== 'writable') {
    throw new DirbridgeError(
      'usage.invalid',
      'restoring a conflict writes the value to the directory: write-back must be enabled in writable mode (writeBack.enabled, writeBack.mode)',
    );
  }
  if (conflict.objectKind !== 'user')
    throw new DirbridgeError('usage.invalid', `conflict ${conflict.id} is about a group's ${conflict.field}; only a user's values can be restored`);
  const user = await app.store.users.get(conflict.objectId);
  if (user === undefined || user.dn === null)
    throw new DirbridgeError(
      'store.not_found',
      `the user ${conflict.subject} of conflict ${conflict.id} is no longer in dirbridge's store with a directory entry`,
    );
  const loser = conflict.winner === 'directory' ? conflict.dirbridgeValue : conflict.directoryValue;
  const winner = conflict.winner === 'directory' ? conflict.directoryValue : conflict.dirbridgeValue;
  const field = isWritableUserField(conflict.field) ? conflict.field : undefined;
  const attribute = field === undefined ? conflict.field : attributeOfField(users, field);
  const dn = user.dn;
  const current = await currentValues(app, dn, attribute, winner);
  const write = !sameValues(current, loser);

  await app.store.transaction(async (tx) => {
    await resolve(tx);
    if (field !== undefined) {
      await tx.users.update([{ id: user.id, ...userFieldPatch(field, loser[0] ?? null) }]);
      // dirbridge's value is a local change until the directory confirms it (the deliverer then drops this).
      if (write)
        await tx.writeBack.upsertBaselines(PRIMARY_DIRECTORY_ID, [{ objectKind: 'user', objectId: user.id, field, values: current, changeMarker: null }]);
    }
    if (write) {
      await tx.writeBack.enqueue({
        directoryId: PRIMARY_DIRECTORY_ID,
        actor: input.actor,
        steps: [
          {
            stepKind: 'updateUser',
            subject: user.username,
            objectKind: 'user',
            objectId: user.id,
            reason: `restored ${conflict.field} from write-back conflict ${conflict.id}`,
            change: { kind: 'modify', dn, changes: [{ kind: 'set', attribute, from: current, to: loser }] },
          },
        ],
      });
    }
    await tx.audit.append([audit({ value: loser, directoryValue: current, enqueued: write })]);
  });
  if (write) await app.writeBackDelivery.runNow();
  return readConflict(app, conflict.id);
}
