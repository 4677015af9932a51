/**
 * Write-back's records (migration 0011): the outbox of directory writes, the baselines of fields
 * dirbridge changed locally, and the conflicts. Every method names the directory its rows belong to.
 *
 * The outbox is transactional: `enqueue` runs in the caller's transaction with the store change and
 * the audit entry. The deliverer takes `due` rows: pending, due, and every earlier row of their
 * action done, in (action_id, seq) order (action ids are time-ordered, so actions go in the order
 * they were taken). Rows are never deleted: done, failed (until `requeueFailed`) or pending.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { DirbridgeError } from '../errors.ts';
import type {
  BaselineRecord,
  NewOutboxStep,
  NewWriteBackConflict,
  OutboxRecord,
  PageQuery,
  Timestamp,
  WriteBackConflictRecord,
  WriteBackObjectKind,
} from '../model/index.ts';
import type { DirectoryChange } from '../writeback/directory-change.ts';
import type { WriteStepKind } from '../writeback/write-step.ts';
import { chunk, rowsPerStatement } from './batch.ts';
import { withDbErrors } from './db-errors.ts';
import { orderedUuid } from './ordered-id.ts';
import { checkPage } from './page.ts';
import type { RepositoryContext } from './repository-context.ts';
import { normalizeTimestamp } from './rows.ts';
import type { Database, WriteBackBaselinesTable, WriteBackConflictsTable, WriteBackOutboxTable } from './schema.ts';

/** A directory object a baseline belongs to. */
export interface WriteBackObjectRef {
  objectKind: WriteBackObjectKind;
  objectId: string;
}

/** A baseline to keep (its time is the store's now). */
export type NewBaseline = Omit<BaselineRecord, 'updatedAt'>;

/** Reads of write-back's records. */
export interface WriteBackReader {
  /**
   * Up to `limit` rows the deliverer may attempt at `now`: pending, `next_attempt_at` reached, and
   * no earlier row of the same action not done; in (action_id, seq) order.
   */
  due(directoryId: string, now: Timestamp, limit: number): Promise<OutboxRecord[]>;
  /** The rows of one action in seq order. */
  action(actionId: string): Promise<OutboxRecord[]>;
  /** Pending and failed rows (what `writeback list` shows), oldest action first. */
  listOpen(directoryId: string, page: PageQuery): Promise<{ rows: OutboxRecord[]; total: number }>;
  /**
   * Every pending and failed row about objects of `objectKind` (only of `objectIds` and of
   * `stepKinds`, when given), in (action_id, seq) order, without paging: what sync holds back from
   * the directory's stale values. One query (one per chunk of `objectIds`), never one per object.
   */
  listOpenOf(
    directoryId: string,
    objectKind: WriteBackObjectKind,
    filter?: { objectIds?: readonly string[]; stepKinds?: readonly WriteStepKind[] },
  ): Promise<OutboxRecord[]>;
  /** The baselines of the given objects, in one query per chunk (never one per object). */
  readBaselines(directoryId: string, objects: readonly WriteBackObjectRef[]): Promise<BaselineRecord[]>;
  /** Every baseline of objects of `objectKind`, in one query: the local changes sync must keep in unsynced mode. */
  listBaselines(directoryId: string, objectKind: WriteBackObjectKind): Promise<BaselineRecord[]>;
  /** Conflicts, newest first; `open` only those not resolved. */
  listConflicts(directoryId: string, filter: { open?: boolean }, page: PageQuery): Promise<{ rows: WriteBackConflictRecord[]; total: number }>;
  /** One conflict, or undefined. */
  getConflict(id: string): Promise<WriteBackConflictRecord | undefined>;
}

/** Writes of write-back's records (inside `Store.transaction`). */
export interface WriteBackWriter extends WriteBackReader {
  /** Appends one action's steps in order (seq 0, 1, ...), due at once; returns the rows. */
  enqueue(input: { directoryId: string; actor: string; steps: readonly NewOutboxStep[]; actionId?: string }): Promise<OutboxRecord[]>;
  /**
   * Marks a row delivered; `note` (kept in the error columns) says how, when it was settled
   * otherwise than written as planned (e.g. the directory's value stood in a conflict).
   */
  markDone(id: string, note?: { code: string; message: string }): Promise<void>;
  /** Marks a row failed for good (until requeued), with the translated error. */
  markFailed(id: string, error: { code: string; message: string }): Promise<void>;
  /** Counts an attempt that may succeed later: the row stays pending until `at`. */
  retryAt(id: string, at: Timestamp, error: { code: string; message: string }): Promise<void>;
  /** Puts failed rows (all of the directory's, or those of `ids`) back to pending, due now; returns how many. */
  requeueFailed(directoryId: string, ids?: readonly string[]): Promise<number>;
  /** Keeps a baseline per (object, field); an existing one is replaced. */
  upsertBaselines(directoryId: string, baselines: readonly NewBaseline[]): Promise<void>;
  /** Deletes the baselines of the given (object, field) keys; returns how many went. */
  deleteBaselines(directoryId: string, keys: ReadonlyArray<WriteBackObjectRef & { field: string }>): Promise<number>;
  /** Records conflicts; returns them with their ids. */
  recordConflicts(directoryId: string, conflicts: readonly NewWriteBackConflict[]): Promise<WriteBackConflictRecord[]>;
  /** Resolves an open conflict; false when it is unknown or already resolved. */
  resolveConflict(id: string, resolution: 'keep' | 'restore', by: string): Promise<boolean>;
}

function toOutboxRecord(row: WriteBackOutboxTable): OutboxRecord {
  return {
    id: row.id,
    directoryId: row.directory_id,
    actionId: row.action_id,
    seq: Number(row.seq),
    stepKind: row.step_kind as OutboxRecord['stepKind'],
    subject: row.subject,
    objectKind: row.object_kind,
    objectId: row.object_id,
    change: JSON.parse(row.change) as DirectoryChange,
    reason: row.reason,
    actor: row.actor,
    status: row.status,
    attempts: Number(row.attempts),
    nextAttemptAt: row.next_attempt_at,
    lastErrorCode: row.last_error_code,
    lastError: row.last_error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toConflictRecord(row: WriteBackConflictsTable): WriteBackConflictRecord {
  return {
    id: row.id,
    directoryId: row.directory_id,
    objectKind: row.object_kind,
    objectId: row.object_id,
    subject: row.subject,
    field: row.field,
    winner: row.winner,
    directoryValue: JSON.parse(row.directory_value) as string[],
    dirbridgeValue: JSON.parse(row.dirbridge_value) as string[],
    baseline: JSON.parse(row.baseline) as string[],
    createdAt: row.created_at,
    resolvedAt: row.resolved_at,
    resolvedBy: row.resolved_by,
    resolution: row.resolution,
  };
}

function toBaselineRecord(row: WriteBackBaselinesTable): BaselineRecord {
  return {
    objectKind: row.object_kind,
    objectId: row.object_id,
    field: row.field,
    values: JSON.parse(row.baseline) as string[],
    changeMarker: row.change_marker,
    updatedAt: row.updated_at,
  };
}

function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new DirbridgeError('usage.invalid', `limit must be a positive integer, got ${limit}`);
}

/** Reads over any executor (the database, or a transaction). */
export function createWriteBackReader(db: Kysely<Database>, ctx: RepositoryContext): WriteBackReader {
  return {
    due: (directoryId, now, limit) =>
      withDbErrors('read due write-back steps', async () => {
        checkLimit(limit);
        const at = normalizeTimestamp(now, 'now');
        const rows = await db
          .selectFrom('writeback_outbox as o')
          .selectAll('o')
          .where('o.directory_id', '=', directoryId)
          .where('o.status', '=', 'pending')
          .where('o.next_attempt_at', '<=', at)
          .where(({ not, exists, selectFrom }) =>
            not(
              exists(
                selectFrom('writeback_outbox as earlier')
                  .select('earlier.id')
                  .whereRef('earlier.action_id', '=', 'o.action_id')
                  .whereRef('earlier.seq', '<', 'o.seq')
                  .where('earlier.status', '!=', 'done'),
              ),
            ),
          )
          .orderBy('o.action_id')
          .orderBy('o.seq')
          .limit(limit)
          .execute();
        return rows.map(toOutboxRecord);
      }),

    action: (actionId) =>
      withDbErrors('read a write-back action', async () => {
        const rows = await db.selectFrom('writeback_outbox').selectAll().where('action_id', '=', actionId).orderBy('seq').execute();
        return rows.map(toOutboxRecord);
      }),

    listOpen: (directoryId, page) =>
      withDbErrors('list write-back steps', async () => {
        checkPage(page);
        const open = db.selectFrom('writeback_outbox').where('directory_id', '=', directoryId).where('status', 'in', ['pending', 'failed']);
        const [rows, count] = await Promise.all([
          open.selectAll().orderBy('action_id').orderBy('seq').limit(page.limit).offset(page.offset).execute(),
          open.select((eb) => eb.fn.countAll().as('total')).executeTakeFirstOrThrow(),
        ]);
        return { rows: rows.map(toOutboxRecord), total: Number(count.total) };
      }),

    listOpenOf: (directoryId, objectKind, filter = {}) =>
      withDbErrors('list open write-back steps', async () => {
        const { objectIds, stepKinds } = filter;
        if (stepKinds !== undefined && stepKinds.length === 0) return [];
        let open = db
          .selectFrom('writeback_outbox')
          .selectAll()
          .where('directory_id', '=', directoryId)
          .where('object_kind', '=', objectKind)
          .where('status', 'in', ['pending', 'failed']);
        if (stepKinds !== undefined) open = open.where('step_kind', 'in', [...stepKinds]);
        if (objectIds === undefined) return (await open.orderBy('action_id').orderBy('seq').execute()).map(toOutboxRecord);
        const found: OutboxRecord[] = [];
        for (const part of chunk([...new Set(objectIds)], rowsPerStatement(ctx.dialect, 1, 8 + (stepKinds?.length ?? 0)))) {
          const rows = await open.where('object_id', 'in', part).orderBy('action_id').orderBy('seq').execute();
          found.push(...rows.map(toOutboxRecord));
        }
        return found;
      }),

    listBaselines: (directoryId, objectKind) =>
      withDbErrors('list write-back baselines', async () => {
        const rows = await db
          .selectFrom('writeback_baselines')
          .selectAll()
          .where('directory_id', '=', directoryId)
          .where('object_kind', '=', objectKind)
          .orderBy('object_id')
          .orderBy('field')
          .execute();
        return rows.map(toBaselineRecord);
      }),

    readBaselines: (directoryId, objects) =>
      withDbErrors('read write-back baselines', async () => {
        const found: BaselineRecord[] = [];
        for (const kind of ['user', 'group'] as const) {
          const ids = [...new Set(objects.filter((object) => object.objectKind === kind).map((object) => object.objectId))];
          for (const part of chunk(ids, rowsPerStatement(ctx.dialect, 1, 8))) {
            const rows = await db
              .selectFrom('writeback_baselines')
              .selectAll()
              .where('directory_id', '=', directoryId)
              .where('object_kind', '=', kind)
              .where('object_id', 'in', part)
              .orderBy('object_id')
              .orderBy('field')
              .execute();
            found.push(...rows.map(toBaselineRecord));
          }
        }
        return found;
      }),

    listConflicts: (directoryId, filter, page) =>
      withDbErrors('list write-back conflicts', async () => {
        checkPage(page);
        let query = db.selectFrom('writeback_conflicts').where('directory_id', '=', directoryId);
        if (filter.open === true) query = query.where('resolved_at', 'is', null);
        const [rows, count] = await Promise.all([
          query.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
          query.select((eb) => eb.fn.countAll().as('total')).executeTakeFirstOrThrow(),
        ]);
        return { rows: rows.map(toConflictRecord), total: Number(count.total) };
      }),

    getConflict: (id) =>
      withDbErrors('read a write-back conflict', async () => {
        const row = await db.selectFrom('writeback_conflicts').selectAll().where('id', '=', id).executeTakeFirst();
        return row === undefined ? undefined : toConflictRecord(row);
      }),
  };
}

/** Reads and writes over one transaction. */
export function createWriteBackWriter(db: Kysely<Database>, ctx: RepositoryContext): WriteBackWriter {
  const setError = (id: string, patch: Partial<WriteBackOutboxTable>) =>
    db
      .updateTable('writeback_outbox')
      .set({ ...patch, updated_at: ctx.now() })
      .where('id', '=', id)
      .execute();

  return {
    ...createWriteBackReader(db, ctx),

    async enqueue(input) {
      if (input.steps.length === 0) return [];
      const now = ctx.now();
      const actionId = input.actionId ?? orderedUuid();
      const rows: WriteBackOutboxTable[] = input.steps.map((step, seq) => ({
        id: randomUUID(),
        directory_id: input.directoryId,
        action_id: actionId,
        seq,
        step_kind: step.stepKind,
        subject: step.subject,
        object_kind: step.objectKind,
        object_id: step.objectId,
        change: JSON.stringify(step.change),
        reason: step.reason,
        actor: input.actor,
        status: 'pending',
        attempts: 0,
        next_attempt_at: now,
        last_error_code: null,
        last_error: null,
        created_at: now,
        updated_at: now,
      }));
      for (const part of chunk(rows, rowsPerStatement(ctx.dialect, 19))) await db.insertInto('writeback_outbox').values(part).execute();
      return rows.map(toOutboxRecord);
    },

    async markDone(id, note) {
      await setError(id, { status: 'done', last_error_code: note?.code ?? null, last_error: note?.message ?? null });
    },

    async markFailed(id, error) {
      await db
        .updateTable('writeback_outbox')
        .set((eb) => ({ status: 'failed', attempts: eb('attempts', '+', 1), last_error_code: error.code, last_error: error.message, updated_at: ctx.now() }))
        .where('id', '=', id)
        .execute();
    },

    async retryAt(id, at, error) {
      const next = normalizeTimestamp(at, 'at');
      await db
        .updateTable('writeback_outbox')
        .set((eb) => ({
          status: 'pending',
          attempts: eb('attempts', '+', 1),
          next_attempt_at: next,
          last_error_code: error.code,
          last_error: error.message,
          updated_at: ctx.now(),
        }))
        .where('id', '=', id)
        .execute();
    },

    async requeueFailed(directoryId, ids) {
      const now = ctx.now();
      let query = db
        .updateTable('writeback_outbox')
        .set({ status: 'pending', next_attempt_at: now, updated_at: now })
        .where('directory_id', '=', directoryId)
        .where('status', '=', 'failed');
      if (ids !== undefined) {
        if (ids.length === 0) return 0;
        query = query.where('id', 'in', [...ids]);
      }
      const result = await query.executeTakeFirst();
      return Number(result.numUpdatedRows);
    },

    async upsertBaselines(directoryId, baselines) {
      const now = ctx.now();
      const rows: WriteBackBaselinesTable[] = baselines.map((baseline) => ({
        directory_id: directoryId,
        object_kind: baseline.objectKind,
        object_id: baseline.objectId,
        field: baseline.field,
        baseline: JSON.stringify(baseline.values),
        change_marker: baseline.changeMarker,
        updated_at: now,
      }));
      for (const part of chunk(rows, rowsPerStatement(ctx.dialect, 7))) {
        await db
          .insertInto('writeback_baselines')
          .values(part)
          .onConflict((conflict) =>
            conflict.columns(['directory_id', 'object_kind', 'object_id', 'field']).doUpdateSet((eb) => ({
              baseline: eb.ref('excluded.baseline'),
              change_marker: eb.ref('excluded.change_marker'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
    },

    async deleteBaselines(directoryId, keys) {
      let deleted = 0;
      for (const part of chunk(keys, rowsPerStatement(ctx.dialect, 3, 1))) {
        const result = await db
          .deleteFrom('writeback_baselines')
          .where('directory_id', '=', directoryId)
          .where((eb) =>
            eb.or(part.map((key) => eb.and([eb('object_kind', '=', key.objectKind), eb('object_id', '=', key.objectId), eb('field', '=', key.field)]))),
          )
          .executeTakeFirst();
        deleted += Number(result.numDeletedRows);
      }
      return deleted;
    },

    async recordConflicts(directoryId, conflicts) {
      const now = ctx.now();
      const rows: WriteBackConflictsTable[] = conflicts.map((conflict) => ({
        id: randomUUID(),
        directory_id: directoryId,
        object_kind: conflict.objectKind,
        object_id: conflict.objectId,
        subject: conflict.subject,
        field: conflict.field,
        winner: conflict.winner,
        directory_value: JSON.stringify(conflict.directoryValue),
        dirbridge_value: JSON.stringify(conflict.dirbridgeValue),
        baseline: JSON.stringify(conflict.baseline),
        created_at: now,
        resolved_at: null,
        resolved_by: null,
        resolution: null,
      }));
      for (const part of chunk(rows, rowsPerStatement(ctx.dialect, 14))) await db.insertInto('writeback_conflicts').values(part).execute();
      return rows.map(toConflictRecord);
    },

    async resolveConflict(id, resolution, by) {
      const result = await db
        .updateTable('writeback_conflicts')
        .set({ resolved_at: ctx.now(), resolved_by: by, resolution })
        .where('id', '=', id)
        .where('resolved_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
  };
}
