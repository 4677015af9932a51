/**
 * The login throttle's records: attempts per throttle key (`user:<name>`, `account:<id>`,
 * `address:<ip>`) and the addresses each subject signed in from.
 *
 * An attempt is reserved before the directory is asked and settled after: `pending` rows count
 * exactly like failures, so concurrent attempts see each other. Reservations run in a transaction
 * that holds a lock per key: on PostgreSQL transaction-scoped advisory locks (taken in one global
 * order, so two reservations never wait for each other in a cycle), which makes the check and the
 * insert atomic across every instance sharing the database; on SQLite every write transaction
 * already holds the database's write lock (BEGIN IMMEDIATE).
 */
import { createHash, randomUUID } from 'node:crypto';
import { type ExpressionBuilder, type Kysely, sql, type Transaction } from 'kysely';
import { DirbridgeError } from '../errors.ts';
import type { NewAuditEntry, Timestamp } from '../model/index.ts';
import { withDbErrors } from './db-errors.ts';
import { normalizeTimestamp } from './rows.ts';
import type { Database } from './schema.ts';
import type { StoreDialect } from './store.ts';

/** Reads of the throttle's records inside a reservation. */
export interface LoginAttemptReader {
  /** Per key, attempts reserved at or after `since` that are failed or not yet settled (keys without any count 0). */
  countAttempts(keys: readonly string[], since: Timestamp): Promise<Record<string, number>>;
  /**
   * Attempts under `key` that a directory read started at `settledSince` may not show yet: pending ones
   * reserved at or after `pendingSince`, and failed ones settled at or after `settledSince`.
   */
  countUnsettledAttempts(key: string, window: { pendingSince: Timestamp; settledSince: Timestamp }): Promise<number>;
  /** The keys among `keys` that had a successful login from `address` at or after `since`. */
  knownAddressKeys(keys: readonly string[], address: string, since: Timestamp): Promise<string[]>;
}

/** What a reservation may write. */
export interface LoginAttemptWriter extends LoginAttemptReader {
  /** Records attempt `attemptId` as pending under each key (once per distinct key). */
  insertPendingAttempt(attemptId: string, keys: readonly string[], at: Timestamp): Promise<void>;
}

/** The login throttle's part of the store. */
export interface LoginAttemptStore {
  /**
   * Runs `work` in one transaction that holds a lock on each of `keys` until it commits: what `work`
   * counts under those keys cannot change before its own insert is visible to the next holder.
   */
  lockKeys<T>(keys: readonly string[], work: (tx: LoginAttemptWriter) => Promise<T>): Promise<T>;
  /** Settles a pending attempt: `failed` keeps it as a failure, `released` forgets it (it was not a guess). */
  settle(attemptId: string, outcome: 'failed' | 'released', at: Timestamp): Promise<void>;
  /**
   * After a successful login, in one transaction: forgets the attempt itself, the failures under
   * `clearKeys` (failed rows, and pending ones reserved before `abandonedBefore`: their process is
   * gone; younger pending rows belong to attempts still running and are left to settle), and
   * remembers `knownAddress.address` for each of its keys.
   */
  recordSuccess(input: {
    attemptId: string;
    clearKeys: readonly string[];
    abandonedBefore: Timestamp;
    knownAddress?: { keys: readonly string[]; address: string; at: Timestamp };
  }): Promise<void>;
  /** Deletes attempts reserved before each rule's `before` under keys starting with its prefix, and known addresses last used before `knownAddressesBefore`; returns how many rows went. */
  prune(input: { attempts: ReadonlyArray<{ keyPrefix: string; before: Timestamp }>; knownAddressesBefore: Timestamp }): Promise<number>;
  /** `countAttempts` outside a reservation (for diagnostics and tests). */
  count(keys: readonly string[], since: Timestamp): Promise<Record<string, number>>;
  /**
   * An administrator clears the throttle of one account, in one transaction: deletes the failed
   * attempts, and the pending ones reserved before `abandonedBefore` (their process is gone), under
   * `nameKeys`, under `accountKey`, and under the name keys (`user:…`) of every attempt that reached
   * `accountKey` (the other names the account was tried by). Pending attempts still running are left
   * to settle, and address keys are not touched. Appends the audit entry `audit` makes of what was
   * deleted; returns the same.
   */
  clearFailures(input: {
    nameKeys: readonly string[];
    accountKey?: string | undefined;
    abandonedBefore: Timestamp;
    audit: (cleared: ClearedLoginFailures) => NewAuditEntry;
  }): Promise<ClearedLoginFailures>;
}

/** What `clearFailures` deleted: how many attempts (one attempt has a row under each of its keys), and rows per key. */
export interface ClearedLoginFailures {
  attempts: number;
  keys: Record<string, number>;
}

/** Appends audit entries inside a transaction (the store's own writer). */
export type AuditAppender = (trx: Transaction<Database>, entries: readonly NewAuditEntry[]) => Promise<void>;

/** The prefix of the keys that count typed names. */
const NAME_KEY_PREFIX = 'user:';
/** The most other names one clearing deletes under (an account has a handful: uid, cn, mail, UPN, DOMAIN\\name). */
const MAX_CLEARED_NAMES = 1000;

/** The most keys one reservation may lock: an attempt has a handful. */
const MAX_KEYS = 16;
/** The first of the two 32-bit advisory lock keys: this namespace is the throttle's ("dbth"). */
const LOCK_CLASS = 0x64627468;

/** The second advisory lock key of a throttle key: 32 bits of its SHA-256 (a collision only makes two keys share a lock). */
export function lockIdOf(key: string): number {
  return createHash('sha256').update(key).digest().readInt32BE(0);
}

function distinctKeys(keys: readonly string[]): string[] {
  const unique = [...new Set(keys)];
  if (unique.length > MAX_KEYS) throw new DirbridgeError('usage.invalid', `a login attempt has at most ${MAX_KEYS} throttle keys, got ${unique.length}`);
  return unique;
}

function createReader(db: Kysely<Database> | Transaction<Database>): LoginAttemptReader {
  return {
    async countAttempts(keys, since) {
      const from = normalizeTimestamp(since, 'since');
      const unique = distinctKeys(keys);
      const counts = new Map<string, number>(unique.map((key) => [key, 0]));
      if (unique.length === 0) return {};
      const rows = await db
        .selectFrom('login_failures')
        .select((eb) => ['failure_key', eb.fn.countAll().as('count')])
        .where('failure_key', 'in', unique)
        .where('at', '>=', from)
        .groupBy('failure_key')
        .execute();
      for (const row of rows) counts.set(row.failure_key, Number(row.count));
      return Object.fromEntries(counts);
    },

    async countUnsettledAttempts(key, window) {
      const pendingSince = normalizeTimestamp(window.pendingSince, 'pendingSince');
      const settledSince = normalizeTimestamp(window.settledSince, 'settledSince');
      const row = await db
        .selectFrom('login_failures')
        .select((eb) => eb.fn.countAll().as('count'))
        .where('failure_key', '=', key)
        .where((eb) =>
          eb.or([
            eb.and([eb('status', '=', 'pending'), eb('at', '>=', pendingSince)]),
            eb.and([eb('status', '=', 'failed'), eb('settled_at', '>=', settledSince)]),
          ]),
        )
        .executeTakeFirst();
      return Number(row?.count ?? 0);
    },

    async knownAddressKeys(keys, address, since) {
      const from = normalizeTimestamp(since, 'since');
      const unique = distinctKeys(keys);
      if (unique.length === 0) return [];
      const rows = await db
        .selectFrom('login_known_addresses')
        .select('subject_key')
        .where('subject_key', 'in', unique)
        .where('address', '=', address)
        .where('last_success_at', '>=', from)
        .execute();
      return rows.map((row) => row.subject_key);
    },
  };
}

/** Creates the login throttle's part of the store over an open, migrated Kysely instance. */
export function createLoginAttemptStore(db: Kysely<Database>, dialect: StoreDialect, appendAudit: AuditAppender): LoginAttemptStore {
  return {
    lockKeys: (keys, work) =>
      withDbErrors('reserve a login attempt', () =>
        db.transaction().execute(async (trx) => {
          const locked = distinctKeys(keys);
          if (dialect === 'postgres') {
            // One global order (by lock id, not by key: two keys may share an id), so no two reservations wait on each other in a cycle.
            const ids = [...new Set(locked.map(lockIdOf))].sort((a, b) => a - b);
            for (const id of ids) await sql`select pg_advisory_xact_lock(${LOCK_CLASS}::integer, ${id}::integer)`.execute(trx);
          }
          return work({
            ...createReader(trx),
            async insertPendingAttempt(attemptId, keys, at) {
              const reservedAt = normalizeTimestamp(at, 'at');
              const rows = distinctKeys(keys).map((key) => ({
                id: randomUUID(),
                failure_key: key,
                at: reservedAt,
                attempt_id: attemptId,
                status: 'pending' as const,
                settled_at: null,
              }));
              if (rows.length > 0) await trx.insertInto('login_failures').values(rows).execute();
            },
          });
        }),
      ),

    settle: (attemptId, outcome, at) =>
      withDbErrors('settle a login attempt', async () => {
        const settledAt = normalizeTimestamp(at, 'at');
        if (outcome === 'released') {
          await db.deleteFrom('login_failures').where('attempt_id', '=', attemptId).execute();
          return;
        }
        await db
          .updateTable('login_failures')
          .set({ status: 'failed', settled_at: settledAt })
          .where('attempt_id', '=', attemptId)
          .where('status', '=', 'pending')
          .execute();
      }),

    recordSuccess: (input) =>
      withDbErrors('record a successful login', () =>
        db.transaction().execute(async (trx) => {
          const abandonedBefore = normalizeTimestamp(input.abandonedBefore, 'abandonedBefore');
          await trx.deleteFrom('login_failures').where('attempt_id', '=', input.attemptId).execute();
          const clearKeys = distinctKeys(input.clearKeys);
          if (clearKeys.length > 0) {
            await trx
              .deleteFrom('login_failures')
              .where('failure_key', 'in', clearKeys)
              .where((eb) => eb.or([eb('status', '=', 'failed'), eb('at', '<', abandonedBefore)]))
              .execute();
          }
          const known = input.knownAddress;
          if (known === undefined) return;
          const at = normalizeTimestamp(known.at, 'knownAddress.at');
          const rows = distinctKeys(known.keys).map((key) => ({ subject_key: key, address: known.address, last_success_at: at }));
          if (rows.length === 0) return;
          await trx
            .insertInto('login_known_addresses')
            .values(rows)
            .onConflict((conflict) =>
              conflict.columns(['subject_key', 'address']).doUpdateSet((eb) => ({ last_success_at: eb.ref('excluded.last_success_at') })),
            )
            .execute();
        }),
      ),

    prune: (input) =>
      withDbErrors('prune login attempts', async () => {
        let deleted = 0;
        for (const rule of input.attempts) {
          const before = normalizeTimestamp(rule.before, 'before');
          const result = await db
            .deleteFrom('login_failures')
            .where(sql<string>`substr(failure_key, 1, ${rule.keyPrefix.length})`, '=', rule.keyPrefix)
            .where('at', '<', before)
            .executeTakeFirst();
          deleted += Number(result.numDeletedRows);
        }
        const knownBefore = normalizeTimestamp(input.knownAddressesBefore, 'knownAddressesBefore');
        const known = await db.deleteFrom('login_known_addresses').where('last_success_at', '<', knownBefore).executeTakeFirst();
        return deleted + Number(known.numDeletedRows);
      }),

    count: (keys, since) => withDbErrors('count login attempts', () => createReader(db).countAttempts(keys, since)),

    clearFailures: (input) =>
      withDbErrors('clear login failures', () =>
        db.transaction().execute(async (trx) => {
          const abandonedBefore = normalizeTimestamp(input.abandonedBefore, 'abandonedBefore');
          const keys = new Set(input.nameKeys);
          if (input.accountKey !== undefined) {
            keys.add(input.accountKey);
            const reached = trx
              .selectFrom('login_failures')
              .select('attempt_id')
              .where('failure_key', '=', input.accountKey)
              .where('attempt_id', 'is not', null);
            const names = await trx
              .selectFrom('login_failures')
              .select('failure_key')
              .distinct()
              .where('attempt_id', 'in', reached)
              .where(sql<string>`substr(failure_key, 1, ${NAME_KEY_PREFIX.length})`, '=', NAME_KEY_PREFIX)
              .limit(MAX_CLEARED_NAMES)
              .execute();
            for (const row of names) keys.add(row.failure_key);
          }
          const cleared: ClearedLoginFailures = { attempts: 0, keys: {} };
          if (keys.size > 0) {
            const isClearable = (eb: ExpressionBuilder<Database, 'login_failures'>) =>
              eb.and([eb('failure_key', 'in', [...keys]), eb.or([eb('status', '=', 'failed'), eb('at', '<', abandonedBefore)])]);
            // Few rows: an account's keys take no more attempts once their limit is reached.
            const rows = await trx.selectFrom('login_failures').select(['id', 'failure_key', 'attempt_id']).where(isClearable).execute();
            const attempts = new Set<string>();
            for (const row of rows) {
              cleared.keys[row.failure_key] = (cleared.keys[row.failure_key] ?? 0) + 1;
              // A row from before attempts had ids is an attempt of its own.
              attempts.add(row.attempt_id ?? `row:${row.id}`);
            }
            cleared.attempts = attempts.size;
            await trx.deleteFrom('login_failures').where(isClearable).execute();
          }
          await appendAudit(trx, [input.audit(cleared)]);
          return cleared;
        }),
      ),
  };
}
