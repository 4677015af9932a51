/**
 * The one store implementation, on Kysely, for SQLite and PostgreSQL alike. Dialect
 * differences are confined to value encoding (`rows.ts`), parameter limits (`batch.ts`)
 * and the migration's column types.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { DirbridgeError } from '../errors.ts';
import { chunk, chunkByWeight, rowsPerStatement, updateRowsById, type ColumnKind, type ColumnValue, type RowUpdate } from './batch.ts';
import { databaseNow } from './db-clock.ts';
import { withDbErrors } from './db-errors.ts';
import { createLoginAttemptStore } from './login-attempts.ts';
import { orderedUuid } from './ordered-id.ts';
import {
  CHANNEL_COLUMNS,
  formatCounts,
  GROUP_COLUMNS,
  groupAbacAttributes,
  groupCustomFields,
  mappingNameKey,
  newUserRowToRecord,
  normalizeTimestamp,
  SESSION_COLUMNS,
  TEAM_COLUMNS,
  toAuditEntry,
  toAvatarRecord,
  toChannelRecord,
  toGroupPatchColumns,
  toGroupRecord,
  toNewAuditRow,
  toNewGroupRow,
  toNewSessionRow,
  toNewUserRow,
  toSessionRecord,
  toSyncRunRecord,
  formatProgress,
  toTeamRecord,
  toUserPatchColumns,
  toUserRecord,
  USER_COLUMNS,
  writeBoolean,
  type ChannelSelectRow,
  type GroupSelectRow,
  type TeamSelectRow,
} from './rows.ts';
import type { Database, DbBoolean, GroupsTable, UsersTable } from './schema.ts';
import {
  DEFAULT_RUN_LEASE_MS,
  emailKey,
  INTERRUPTED_REASON,
  USER_STATES,
  usernameKey,
  type AvatarInfo,
  type ChannelRecord,
  type GroupPatch,
  type GroupRecord,
  type MembershipPair,
  type NewGroup,
  type NewUser,
  type PageQuery,
  type RecordSource,
  type SessionRecord,
  type StoredSettingsVersion,
  type JsonValue,
  type SyncRunOutcome,
  type SyncRunRecord,
  type TeamRecord,
  type UserPatch,
  type UserPage,
  type UserRecord,
  type UserState,
} from '../model/index.ts';
import type { Store, StoreDialect, StoreReader, StoreWriter } from './store.ts';
import { createGroupReader, createGroupWriter } from './groups-repository.ts';
import { createSessionReader, createSessionWriter } from './sessions-repository.ts';
import { createAuditReader, createAuditWriter } from './audit-repository.ts';
import { createMappingReader, createMappingWriter } from './mapping-repository.ts';
import { createUserReader, createUserWriter } from './users-repository.ts';
import { compareTuples, distinct } from './collections.ts';
import { linkedUsersPage, MEMBER_LINKS, selectUsers } from './linked-users.ts';
import { findNamed as findNamedRow, namedPage as namedTablePage, type NamedTable } from './named-tables.ts';
import { checkPage } from './page.ts';
import { mergePatches, toRowUpdate } from './patches.ts';
import type { RepositoryContext } from './repository-context.ts';
import { claimPatchedExternalIds as claimPatchedColumn, claimUnique as claimUniqueColumn, reportMissing as reportMissingIds } from './unique-columns.ts';
import { planUniqueClaims, type UniqueClaim, type UniqueHolder } from './unique-claims.ts';

/** Options for `createKyselyStore`. */
export interface KyselyStoreOptions {
  /** The clock for timestamps; tests pass a fixed one. */
  now?: () => Date;
}

function createReader(db: Kysely<Database>, ctx: RepositoryContext): StoreReader {
  const selectGroups = () => db.selectFrom('groups').select(GROUP_COLUMNS);
  return {
    users: createUserReader(db, ctx),
    mapping: createMappingReader(db, ctx),
    audit: createAuditReader(db),
    sessions: createSessionReader(db, ctx),
    groups: createGroupReader(db),

    loadSyncState: () =>
      withDbErrors('load the sync state', async () => {
        const [users, groups, memberships] = [
          await selectUsers(db).execute(),
          await selectGroups().execute(),
          // Aliased in SQL so the driver's row objects are returned as they are (500k rows: no second copy).
          await db.selectFrom('memberships').select(['user_id as userId', 'group_id as groupId']).execute(),
        ];
        return { users: users.map(toUserRecord), groups: groups.map(toGroupRecord), memberships };
      }),

  };
}

function createWriter(db: Kysely<Database>, ctx: RepositoryContext): StoreWriter {
  const { dialect } = ctx;


  return {
    ...createReader(db, ctx),
    users: createUserWriter(db, ctx),
    mapping: createMappingWriter(db, ctx),
    audit: createAuditWriter(db, ctx),
    sessions: createSessionWriter(db, ctx),
    groups: createGroupWriter(db, ctx),

    isRunStillOwned: (id, owner) =>
      withDbErrors('check a sync run', async () => {
        const query = db.selectFrom('sync_runs').select(['status', 'owner']).where('id', '=', id);
        // SQLite's BEGIN IMMEDIATE already excludes every other writer until this transaction ends.
        const row = await (dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
        return row !== undefined && row.status === 'running' && row.owner === owner;
      }),

  };
}

/** The lease given to a running run of an earlier version, which has none. */
const LEGACY_RUN_LEASE_MS = 60 * 60 * 1_000;

/** Checks a run lease: a positive whole number of milliseconds (at most a day), and a non-empty owner or none. */
function checkLease(lease: { owner: string | null; leaseMs: number }): { owner: string | null; leaseMs: number } {
  if (!Number.isInteger(lease.leaseMs) || lease.leaseMs <= 0 || lease.leaseMs > 86_400_000) {
    throw new DirbridgeError('usage.invalid', 'lease.leaseMs: expected a whole number of milliseconds from 1 to 86400000', { details: { leaseMs: lease.leaseMs } });
  }
  if (lease.owner !== null && lease.owner.trim() === '') throw new DirbridgeError('usage.invalid', 'lease.owner: expected a non-empty string');
  return lease;
}

function toSettingsVersion(row: { version: number; document: string; created_at: string; created_by: string }): StoredSettingsVersion {
  return { version: Number(row.version), document: JSON.parse(row.document) as JsonValue, createdAt: normalizeTimestamp(row.created_at, 'created_at'), createdBy: row.created_by };
}

/** Creates the store over an open, migrated Kysely instance; `close()` destroys that instance. */
export function createKyselyStore(db: Kysely<Database>, dialect: StoreDialect, options: KyselyStoreOptions = {}): Store {
  const clock = options.now ?? (() => new Date());
  const ctx: RepositoryContext = { dialect, now: () => clock().toISOString() };

  const getRun = async (id: string): Promise<SyncRunRecord | undefined> => {
    const row = await db.selectFrom('sync_runs').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toSyncRunRecord(row);
  };

  return {
    dialect,
    ...createReader(db, ctx),
    ...createLoginAttemptStore(db, dialect, (trx, entries) => createAuditWriter(trx, ctx).append(entries)),

    // Three queries, one snapshot: memberships never name a user or group missing from the lists.
    loadSyncState: () =>
      withDbErrors('load the sync state', () =>
        (dialect === 'postgres' ? db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only') : db.transaction()).execute((trx) =>
          createReader(trx, ctx).loadSyncState(),
        ),
      ),

    mapping: {
      ...createMappingReader(db, ctx),
      // Eight queries, one snapshot: members never name a channel or team missing from the lists.
      loadState: () =>
        withDbErrors('load the mapping state', () =>
          (dialect === 'postgres' ? db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only') : db.transaction()).execute((trx) =>
            createMappingReader(trx, ctx).loadState(),
          ),
        ),
    },

    transaction: (work) =>
      withDbErrors('run a transaction', () => db.transaction().execute((trx) => work(createWriter(trx, ctx)))),

    startRun: (input) =>
      withDbErrors('start a sync run', async () => {
        const lease = checkLease(input.lease ?? { owner: null, leaseMs: DEFAULT_RUN_LEASE_MS });
        const startedAt = ctx.now();
        const id = randomUUID();
        await db
          .insertInto('sync_runs')
          .values({
            id,
            trigger: input.trigger,
            is_dry_run: writeBoolean(dialect, input.isDryRun),
            status: 'running' as const,
            reason: null,
            error_code: null,
            error_message: null,
            started_at: startedAt,
            finished_at: null,
            duration_ms: null,
            counts: '{}',
            plan_summary: null,
            // A run is visible as connecting from its first moment, on every instance.
            progress: formatProgress({ phase: 'connecting', usersRead: 0, groupsRead: 0, applied: 0, applyTotal: 0 }, startedAt),
            owner: lease.owner,
            heartbeat_at: databaseNow(dialect),
            lease_expires_at: databaseNow(dialect, lease.leaseMs),
          })
          .execute();
        const run = await getRun(id);
        if (run === undefined) throw new DirbridgeError('store.not_found', 'the sync run just recorded is gone', { details: { runId: id } });
        return run;
      }),

    renewRunLease: (id, lease) =>
      withDbErrors('renew a sync run lease', async () => {
        const { owner, leaseMs } = checkLease(lease);
        if (owner === null) throw new DirbridgeError('usage.invalid', 'lease.owner: expected a non-empty string');
        const result = await db
          .updateTable('sync_runs')
          .set({ heartbeat_at: databaseNow(dialect), lease_expires_at: databaseNow(dialect, leaseMs) })
          .where('id', '=', id)
          .where('status', '=', 'running')
          .where('owner', '=', owner)
          .executeTakeFirst();
        return result.numUpdatedRows > 0n;
      }),

    reapExpiredRuns: ({ reapedBy }) =>
      withDbErrors('record interrupted sync runs', async () => {
        // The partial index's predicate, spelled as its literal.
        const running = sql<boolean>`status = 'running'`;
        // An earlier version's run has no lease: it gets one, and is judged by it like any other.
        // Looked for first, so that a check finding nothing (the usual case) writes nothing and
        // never waits for SQLite's write lock.
        const leaseless = await db.selectFrom('sync_runs').select('id').where(running).where('lease_expires_at', 'is', null).execute();
        if (leaseless.length > 0) {
          await db
            .updateTable('sync_runs')
            .set({ heartbeat_at: sql<string>`coalesce(heartbeat_at, started_at)`, lease_expires_at: databaseNow(dialect, LEGACY_RUN_LEASE_MS) })
            .where(running)
            .where('lease_expires_at', 'is', null)
            .execute();
        }
        const expired = await db
          .selectFrom('sync_runs')
          .select(['id', 'owner', 'started_at', 'heartbeat_at'])
          .where(running)
          .where('lease_expires_at', '<', databaseNow(dialect))
          .orderBy('started_at')
          .execute();
        const reaped: SyncRunRecord[] = [];
        for (const row of expired) {
          const lastHeard = row.heartbeat_at ?? row.started_at;
          const result = await db
            .updateTable('sync_runs')
            .set({
              status: 'failed',
              reason: INTERRUPTED_REASON,
              error_code: 'sync.interrupted',
              error_message: `the process running this sync (${row.owner ?? 'an earlier version'}) stopped renewing its lease: last heard of at ${lastHeard}; recorded as interrupted by ${reapedBy}`,
              finished_at: lastHeard,
              duration_ms: Math.max(0, Date.parse(lastHeard) - Date.parse(row.started_at)),
              progress: null,
            })
            .where('id', '=', row.id)
            .where(running)
            // Checked again in the same statement: a renewal that came in meanwhile keeps the run alive.
            .where('lease_expires_at', '<', databaseNow(dialect))
            .executeTakeFirst();
          if (result.numUpdatedRows === 0n) continue;
          const run = await getRun(row.id);
          if (run !== undefined) reaped.push(run);
        }
        return reaped;
      }),

    finishRun: (id: string, outcome: SyncRunOutcome) =>
      withDbErrors('finish a sync run', async () => {
        const run = await getRun(id);
        if (run === undefined) throw new DirbridgeError('store.not_found', 'no such sync run', { details: { runId: id } });
        if (run.status !== 'running') {
          throw new DirbridgeError('store.conflict', 'sync run already finished', { details: { runId: id, status: run.status } });
        }
        const finishedAt = ctx.now();
        const durationMs = Math.max(0, Date.parse(finishedAt) - Date.parse(run.startedAt));
        const result = await db
          .updateTable('sync_runs')
          .set({
            status: outcome.status,
            reason: outcome.reason ?? null,
            error_code: outcome.errorCode ?? null,
            error_message: outcome.errorMessage ?? null,
            finished_at: finishedAt,
            duration_ms: durationMs,
            counts: formatCounts(outcome.counts),
            plan_summary: outcome.planSummary === undefined || outcome.planSummary === null ? null : JSON.stringify(outcome.planSummary),
            progress: null,
          })
          .where('id', '=', id)
          .where('status', '=', 'running')
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n) {
          throw new DirbridgeError('store.conflict', 'sync run already finished', { details: { runId: id } });
        }
        const finished = await getRun(id);
        if (finished === undefined) throw new DirbridgeError('store.not_found', 'no such sync run', { details: { runId: id } });
        return finished;
      }),

    updateRunProgress: (id, progress) =>
      withDbErrors('record sync run progress', async () => {
        const text = formatProgress(progress, ctx.now());
        const result = await db.updateTable('sync_runs').set({ progress: text }).where('id', '=', id).where('status', '=', 'running').executeTakeFirst();
        return result.numUpdatedRows > 0n;
      }),

    listRuns: (page) =>
      withDbErrors('list sync runs', async () => {
        checkPage(page);
        const total = await db.selectFrom('sync_runs').select((eb) => eb.fn.countAll().as('total')).executeTakeFirstOrThrow();
        const rows = await db
          .selectFrom('sync_runs')
          .selectAll()
          .orderBy('started_at', 'desc')
          .orderBy('id', 'desc')
          .limit(page.limit)
          .offset(page.offset)
          .execute();
        return { total: Number(total.total), runs: rows.map(toSyncRunRecord) };
      }),

    getRun: (id) => withDbErrors('read a sync run', () => getRun(id)),

    getSettings: () =>
      withDbErrors('read the settings', async () => {
        const row = await db.selectFrom('settings_versions').selectAll().orderBy('version', 'desc').limit(1).executeTakeFirst();
        return row === undefined ? undefined : toSettingsVersion(row);
      }),

    getSettingsVersion: () =>
      withDbErrors('read the settings version', async () => {
        const row = await db.selectFrom('settings_versions').select((eb) => eb.fn.max('version').as('version')).executeTakeFirst();
        return Number(row?.version ?? 0);
      }),

    saveSettings: (input) =>
      withDbErrors('save the settings', async () => {
        const row = { version: input.expectedVersion + 1, document: JSON.stringify(input.document), created_at: ctx.now(), created_by: input.actor };
        const conflict = (current: number) =>
          new DirbridgeError('settings.conflict', `the settings changed meanwhile (version ${current}, expected ${input.expectedVersion}); reload them and apply your change again`, {
            details: { version: current, expectedVersion: input.expectedVersion },
          });
        try {
          await db.transaction().execute(async (trx) => {
            const newest = await trx.selectFrom('settings_versions').select((eb) => eb.fn.max('version').as('version')).executeTakeFirst();
            const current = Number(newest?.version ?? 0);
            if (current !== input.expectedVersion) throw conflict(current);
            await trx.insertInto('settings_versions').values(row).execute();
            if (input.audit !== undefined) await createAuditWriter(trx, ctx).append([input.audit]);
          });
        } catch (error) {
          if (error instanceof DirbridgeError) throw error;
          // A concurrent save of the same version lost the race on the primary key.
          const current = await db.selectFrom('settings_versions').select((eb) => eb.fn.max('version').as('version')).executeTakeFirst();
          if (Number(current?.version ?? 0) !== input.expectedVersion) throw conflict(Number(current?.version ?? 0));
          throw error;
        }
        return toSettingsVersion(row);
      }),

    close: () => db.destroy(),
  };
}
