/**
 * Sync runs: the run log with its leases and progress, the check each apply transaction makes
 * that its run is still its own, and the sync state (users, groups, memberships) a run diffs
 * the directory against.
 */
import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { DirbridgeError } from '../errors.ts';
import {
  DEFAULT_RUN_LEASE_MS,
  emailKey,
  INTERRUPTED_REASON,
  type PageQuery,
  type RunLease,
  type SyncRunOutcome,
  type SyncRunProgress,
  type SyncRunRecord,
  type SyncState,
  type SyncTrigger,
  usernameKey,
} from '../model/index.ts';
import { chunk } from './batch.ts';
import { databaseNow } from './db-clock.ts';
import { withDbErrors } from './db-errors.ts';
import { selectUsers } from './linked-users.ts';
import { checkPage } from './page.ts';
import { inReadSnapshot } from './read-snapshot.ts';
import type { RepositoryContext } from './repository-context.ts';
import { formatCounts, formatProgress, GROUP_COLUMNS, toGroupRecord, toSyncRunRecord, toUserRecord, writeBoolean } from './rows.ts';
import type { Database } from './schema.ts';

/** What a run reads, on the store and inside a transaction. */
export interface RunReader {
  /** Loads all users, groups and memberships in three queries (on the store: in one snapshot). */
  loadSyncState(): Promise<SyncState>;
  /**
   * The slice of the sync state an incremental run plans against: the users named by id, external
   * id, username or email, their memberships and the memberships of `groupIds`, and every group.
   */
  loadSyncStateOf(keys: SyncStateKeys): Promise<SyncState>;
  /** Every directory user's id, unique id, DN and username: what group member values name. */
  listDirectoryIdentities(): Promise<DirectoryIdentity[]>;
  /** The identities of the directory users with these unique ids (unknown ids are left out). */
  findDirectoryIdentities(externalIds: readonly string[]): Promise<DirectoryIdentity[]>;
  /** The unique ids of the directory groups each of these users (by unique id) is in, by user; users in none are left out. */
  listGroupsOfUsers(externalIds: readonly string[]): Promise<Map<string, string[]>>;
  /** Unique ids of enabled directory users a sync found missing and has not seen since (`missingRuns` above 0). */
  listMissingDirectoryUsers(): Promise<string[]>;
  /** How many directory users there are, and how many are enabled; the guard's shares of a partial plan are of these. */
  countDirectoryUsers(): Promise<{ total: number; enabled: number }>;
}

/** Which users (and groups' memberships) `loadSyncStateOf` loads. */
export interface SyncStateKeys {
  userIds?: readonly string[];
  externalIds?: readonly string[];
  usernames?: readonly string[];
  emails?: readonly string[];
  groupIds?: readonly string[];
}

/** A directory user as member values name it. */
export interface DirectoryIdentity {
  id: string;
  externalId: string;
  dn: string | null;
  username: string;
}

/** Keys per `IN (...)` list: far below either backend's bound-parameter limit. */
const KEYS_PER_QUERY = 500;

/** What a run's transaction checks before it commits. */
export interface RunWriter extends RunReader {
  /**
   * True when sync run `id` is still `running` under `owner`: a run's transactions check it last,
   * so a run recorded as interrupted commits nothing more. On PostgreSQL the run's row stays locked
   * until this transaction ends, so the run cannot be recorded as interrupted while it commits.
   */
  isStillOwned(id: string, owner: string): Promise<boolean>;
}

/** The run log, on the store (each call is its own transaction). */
export interface RunLog extends RunReader {
  /**
   * Records the start of a sync run with status `running`, empty counts, progress in phase
   * `connecting`, and a lease (`DEFAULT_RUN_LEASE_MS` and no owner when none is given) that
   * starts now by the database's clock.
   */
  start(input: { trigger: SyncTrigger; isDryRun: boolean; lease?: RunLease }): Promise<SyncRunRecord>;
  /**
   * Extends a running run's lease to `leaseMs` from now (the database's clock) and stamps its
   * heartbeat; false, writing nothing, when the run is no longer running under `owner` (it
   * finished, or was recorded as interrupted).
   */
  renewLease(id: string, lease: RunLease): Promise<boolean>;
  /**
   * Records every running run whose lease has expired (by the database's clock) as `failed`,
   * with reason `interrupted`, error `sync.interrupted`, `finishedAt` its last heartbeat and no
   * progress; returns those runs. A run renewed meanwhile is left alone. A running run without
   * a lease (an earlier version's) is given one of an hour first.
   */
  reapExpired(input: { reapedBy: string }): Promise<SyncRunRecord[]>;
  /** Records how a running run ended, computing `finishedAt` and `durationMs`; a finished run throws `store.conflict`. */
  finish(id: string, outcome: SyncRunOutcome): Promise<SyncRunRecord>;
  /** Replaces a running run's progress (stamping `updatedAt`); returns false, writing nothing, when the run is not running. */
  updateProgress(id: string, progress: Omit<SyncRunProgress, 'updatedAt'>): Promise<boolean>;
  /** Lists runs, newest first. */
  list(page: PageQuery): Promise<{ total: number; runs: SyncRunRecord[] }>;
  get(id: string): Promise<SyncRunRecord | undefined>;
}

/** The lease given to a running run of an earlier version, which has none. */
const LEGACY_RUN_LEASE_MS = 60 * 60 * 1_000;

/** Checks a run lease: a positive whole number of milliseconds (at most a day), and a non-empty owner or none. */
function checkLease(lease: { owner: string | null; leaseMs: number }): { owner: string | null; leaseMs: number } {
  if (!Number.isInteger(lease.leaseMs) || lease.leaseMs <= 0 || lease.leaseMs > 86_400_000) {
    throw new DirbridgeError('usage.invalid', 'lease.leaseMs: expected a whole number of milliseconds from 1 to 86400000', {
      details: { leaseMs: lease.leaseMs },
    });
  }
  if (lease.owner !== null && lease.owner.trim() === '') throw new DirbridgeError('usage.invalid', 'lease.owner: expected a non-empty string');
  return lease;
}

/** The run reads over `db` (the database, or a transaction). */
export function createRunReader(db: Kysely<Database>): RunReader {
  const selectGroups = () => db.selectFrom('groups').select(GROUP_COLUMNS);
  return {
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
    loadSyncStateOf: (keys) =>
      withDbErrors('load the sync state of some users', async () => {
        const users = new Map<string, ReturnType<typeof toUserRecord>>();
        const lookups: Array<['id' | 'external_id' | 'username_key' | 'email_key', readonly string[]]> = [
          ['id', keys.userIds ?? []],
          ['external_id', keys.externalIds ?? []],
          ['username_key', (keys.usernames ?? []).map(usernameKey)],
          ['email_key', (keys.emails ?? []).map(emailKey)],
        ];
        for (const [column, values] of lookups) {
          for (const batch of chunk([...new Set(values)], KEYS_PER_QUERY)) {
            for (const row of await selectUsers(db).where(column, 'in', batch).execute()) users.set(row.id, toUserRecord(row));
          }
        }
        const groups = (await selectGroups().execute()).map(toGroupRecord);
        const memberships: SyncState['memberships'] = [];
        const seen = new Set<string>();
        const collect = (rows: ReadonlyArray<{ userId: string; groupId: string }>) => {
          for (const row of rows) {
            const key = `${row.userId} ${row.groupId}`;
            if (seen.has(key)) continue;
            seen.add(key);
            memberships.push(row);
          }
        };
        for (const batch of chunk([...users.keys()], KEYS_PER_QUERY)) {
          collect(await db.selectFrom('memberships').select(['user_id as userId', 'group_id as groupId']).where('user_id', 'in', batch).execute());
        }
        for (const batch of chunk([...new Set(keys.groupIds ?? [])], KEYS_PER_QUERY)) {
          collect(await db.selectFrom('memberships').select(['user_id as userId', 'group_id as groupId']).where('group_id', 'in', batch).execute());
        }
        return { users: [...users.values()], groups, memberships };
      }),
    listDirectoryIdentities: () =>
      withDbErrors('list directory users', async () => {
        const rows = await db
          .selectFrom('users')
          .select(['id', 'external_id as externalId', 'dn', 'username'])
          .where('source', '=', 'directory')
          .where('external_id', 'is not', null)
          .execute();
        return rows.flatMap((row) => (row.externalId === null ? [] : [{ id: row.id, externalId: row.externalId, dn: row.dn, username: row.username }]));
      }),
    findDirectoryIdentities: (externalIds) =>
      withDbErrors('find directory users', async () => {
        const found: DirectoryIdentity[] = [];
        for (const batch of chunk([...new Set(externalIds)], KEYS_PER_QUERY)) {
          const rows = await db
            .selectFrom('users')
            .select(['id', 'external_id as externalId', 'dn', 'username'])
            .where('source', '=', 'directory')
            .where('external_id', 'in', batch)
            .execute();
          for (const row of rows) if (row.externalId !== null) found.push({ id: row.id, externalId: row.externalId, dn: row.dn, username: row.username });
        }
        return found;
      }),
    listGroupsOfUsers: (externalIds) =>
      withDbErrors('list the groups of users', async () => {
        const found = new Map<string, string[]>();
        for (const batch of chunk([...new Set(externalIds)], KEYS_PER_QUERY)) {
          const rows = await db
            .selectFrom('memberships')
            .innerJoin('users', 'users.id', 'memberships.user_id')
            .innerJoin('groups', 'groups.id', 'memberships.group_id')
            .select(['users.external_id as userExternalId', 'groups.external_id as groupExternalId'])
            .where('users.external_id', 'in', batch)
            .where('groups.source', '=', 'directory')
            .execute();
          for (const row of rows) {
            if (row.userExternalId === null || row.groupExternalId === null) continue;
            const list = found.get(row.userExternalId) ?? [];
            list.push(row.groupExternalId);
            found.set(row.userExternalId, list);
          }
        }
        return found;
      }),
    listMissingDirectoryUsers: () =>
      withDbErrors('list missing directory users', async () => {
        const rows = await db
          .selectFrom('users')
          .select('external_id')
          .where('source', '=', 'directory')
          .where('missing_runs', '>', 0)
          .where(sql<boolean>`is_enabled = true`)
          .execute();
        return rows.flatMap((row) => (row.external_id === null ? [] : [row.external_id]));
      }),
    countDirectoryUsers: () =>
      withDbErrors('count directory users', async () => {
        const directoryUsers = () =>
          db
            .selectFrom('users')
            .select((eb) => eb.fn.countAll().as('count'))
            .where('source', '=', 'directory')
            .where('external_id', 'is not', null);
        const total = await directoryUsers().executeTakeFirstOrThrow();
        // `= true` reads the same on SQLite (1) and PostgreSQL (boolean).
        const enabled = await directoryUsers().where(sql<boolean>`is_enabled = true`).executeTakeFirstOrThrow();
        const row = { total: total.count, enabled: enabled.count };
        return { total: Number(row.total), enabled: Number(row.enabled ?? 0) };
      }),
  };
}

/** The run reads and the ownership check over a transaction. */
export function createRunWriter(db: Kysely<Database>, ctx: RepositoryContext): RunWriter {
  const { dialect } = ctx;
  return {
    ...createRunReader(db),

    isStillOwned: (id, owner) =>
      withDbErrors('check a sync run', async () => {
        const query = db.selectFrom('sync_runs').select(['status', 'owner']).where('id', '=', id);
        // SQLite's BEGIN IMMEDIATE already excludes every other writer until this transaction ends.
        const row = await (dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
        return row !== undefined && row.status === 'running' && row.owner === owner;
      }),
  };
}

/** The run log over the database. */
export function createRunLog(db: Kysely<Database>, ctx: RepositoryContext): RunLog {
  const { dialect } = ctx;
  const getRun = async (id: string): Promise<SyncRunRecord | undefined> => {
    const row = await db.selectFrom('sync_runs').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toSyncRunRecord(row);
  };

  return {
    // Three queries, one snapshot: memberships never name a user or group missing from the lists.
    loadSyncState: () => withDbErrors('load the sync state', () => inReadSnapshot(db, dialect, (trx) => createRunReader(trx).loadSyncState())),
    loadSyncStateOf: (keys) =>
      withDbErrors('load the sync state of some users', () => inReadSnapshot(db, dialect, (trx) => createRunReader(trx).loadSyncStateOf(keys))),
    listDirectoryIdentities: () => createRunReader(db).listDirectoryIdentities(),
    countDirectoryUsers: () => createRunReader(db).countDirectoryUsers(),
    findDirectoryIdentities: (externalIds) => createRunReader(db).findDirectoryIdentities(externalIds),
    listMissingDirectoryUsers: () => createRunReader(db).listMissingDirectoryUsers(),
    listGroupsOfUsers: (externalIds) => createRunReader(db).listGroupsOfUsers(externalIds),

    start: (input) =>
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

    renewLease: (id, lease) =>
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

    reapExpired: ({ reapedBy }) =>
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

    finish: (id: string, outcome: SyncRunOutcome) =>
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
            mode: outcome.mode ?? null,
            mode_reason: outcome.modeReason ?? null,
            entries_read: outcome.entriesRead ?? null,
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

    updateProgress: (id, progress) =>
      withDbErrors('record sync run progress', async () => {
        const text = formatProgress(progress, ctx.now());
        const result = await db.updateTable('sync_runs').set({ progress: text }).where('id', '=', id).where('status', '=', 'running').executeTakeFirst();
        return result.numUpdatedRows > 0n;
      }),

    list: (page) =>
      withDbErrors('list sync runs', async () => {
        checkPage(page);
        const total = await db
          .selectFrom('sync_runs')
          .select((eb) => eb.fn.countAll().as('total'))
          .executeTakeFirstOrThrow();
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

    get: (id) => withDbErrors('read a sync run', () => getRun(id)),
  };
}
