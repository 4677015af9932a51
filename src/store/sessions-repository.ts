/**
 * Login sessions: lookups and listings, and (inside a transaction) inserts, use, revocation and
 * clean-up. Only the SHA-256 of a token is ever stored.
 */
import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { NewSession, PageQuery, SessionRecord, SessionWithUsername, Timestamp } from '../model/index.ts';
import { chunk, rowsPerStatement } from './batch.ts';
import { distinct } from './collections.ts';
import { withDbErrors } from './db-errors.ts';
import { checkPage } from './page.ts';
import type { RepositoryContext } from './repository-context.ts';
import { normalizeTimestamp, SESSION_COLUMNS, toNewSessionRow, toSessionRecord } from './rows.ts';
import type { Database } from './schema.ts';

/** Reads of sessions, on the store and inside a transaction. */
export interface SessionReader {
  /** Finds a session by the SHA-256 hash of its token, whatever its state. */
  findByTokenHash(tokenHash: string): Promise<SessionRecord | undefined>;
  /** Lists sessions newest first; `isActive` keeps those neither revoked nor expired at `now`. */
  list(query: PageQuery & { userId?: string; isActive?: boolean; now?: Timestamp }): Promise<{ total: number; sessions: SessionWithUsername[] }>;
}

/** Writes of sessions, available only inside `Store.transaction`. */
export interface SessionWriter extends SessionReader {
  /**
   * Inserts a session. `tokenHash` must be a lower-case hex SHA-256 (`usage.invalid` otherwise, so a raw
   * token is never stored); a taken hash throws `store.conflict`, an unknown user `store.not_found`.
   */
  insert(session: NewSession): Promise<SessionRecord>;
  /** Records that a session was used at `at`; `lastSeenAt` only moves forward, and an unknown id is ignored. */
  touch(id: string, at: Timestamp): Promise<void>;
  /** Revokes the sessions among `ids` and of `userIds` that are active at `at`; returns the revoked sessions. */
  revoke(target: { ids?: readonly string[]; userIds?: readonly string[] }, reason: string, at: Timestamp): Promise<SessionRecord[]>;
  /** Revokes every session active at `at` whose user is disabled, in one statement; returns them. */
  revokeOfDisabledUsers(reason: string, at: Timestamp): Promise<SessionRecord[]>;
  /** Deletes sessions that expired or were revoked before `before`; returns how many. */
  deleteEndedBefore(before: Timestamp): Promise<number>;
}

/** The session reads over `db` (the database, or a transaction). */
export function createSessionReader(db: Kysely<Database>, ctx: RepositoryContext): SessionReader {
  return {
    findByTokenHash: (tokenHash) =>
      withDbErrors('find a session', async () => {
        const row = await db.selectFrom('sessions').select(SESSION_COLUMNS).where('token_hash', '=', tokenHash).executeTakeFirst();
        return row === undefined ? undefined : toSessionRecord(row);
      }),

    list: (query) =>
      withDbErrors('list sessions', async () => {
        checkPage(query);
        const now = query.now === undefined ? ctx.now() : normalizeTimestamp(query.now, 'now');
        const conditions = [];
        if (query.userId !== undefined) conditions.push(sql<boolean>`sessions.user_id = ${query.userId}`);
        if (query.isActive === true) conditions.push(sql<boolean>`(sessions.revoked_at is null and sessions.expires_at > ${now})`);
        if (query.isActive === false) conditions.push(sql<boolean>`(sessions.revoked_at is not null or sessions.expires_at <= ${now})`);
        const where = conditions.length === 0 ? sql<boolean>`1 = 1` : sql<boolean>`${sql.join(conditions, sql` and `)}`;
        const total = await db
          .selectFrom('sessions')
          .select((eb) => eb.fn.countAll().as('total'))
          .where(where)
          .executeTakeFirstOrThrow();
        const rows = await db
          .selectFrom('sessions')
          .innerJoin('users', 'users.id', 'sessions.user_id')
          .select(SESSION_COLUMNS.map((column) => `sessions.${column}` as const))
          .select('users.username')
          .where(where)
          .orderBy('sessions.created_at', 'desc')
          .orderBy('sessions.id', 'desc')
          .limit(query.limit)
          .offset(query.offset)
          .execute();
        return { total: Number(total.total), sessions: rows.map((row) => ({ ...toSessionRecord(row), username: row.username })) };
      }),
  };
}

/** The session reads and writes over a transaction. */
export function createSessionWriter(db: Kysely<Database>, ctx: RepositoryContext): SessionWriter {
  const { dialect } = ctx;
  return {
    ...createSessionReader(db, ctx),

    insert: (session) =>
      withDbErrors('insert a session', async () => {
        const row = toNewSessionRow(session, randomUUID(), ctx.now());
        await db.insertInto('sessions').values(row).execute();
        return toSessionRecord(row);
      }),

    touch: (id, at) =>
      withDbErrors('touch a session', async () => {
        const seen = normalizeTimestamp(at, 'at');
        // Only forward: concurrent requests may finish out of order.
        await db
          .updateTable('sessions')
          .set({ last_seen_at: seen })
          .where('id', '=', id)
          .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', seen)]))
          .execute();
      }),

    revoke: (target, reason, at) =>
      withDbErrors('revoke sessions', async () => {
        const revokedAt = normalizeTimestamp(at, 'at');
        const revoked: SessionRecord[] = [];
        const byColumn = [
          ['id', distinct(target.ids ?? [])],
          ['user_id', distinct(target.userIds ?? [])],
        ] as const;
        for (const [column, values] of byColumn) {
          for (const part of chunk(values, rowsPerStatement(dialect, 1, 3))) {
            const rows = await db
              .updateTable('sessions')
              .set({ revoked_at: revokedAt, revoked_reason: reason })
              .where(column, 'in', part)
              .where('revoked_at', 'is', null)
              .where('expires_at', '>', revokedAt)
              .returning(SESSION_COLUMNS)
              .execute();
            revoked.push(...rows.map(toSessionRecord));
          }
        }
        return revoked;
      }),

    revokeOfDisabledUsers: (reason, at) =>
      withDbErrors('revoke sessions of disabled users', async () => {
        const revokedAt = normalizeTimestamp(at, 'at');
        const rows = await db
          .updateTable('sessions')
          .set({ revoked_at: revokedAt, revoked_reason: reason })
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', revokedAt)
          // The literal matches the partial index users_disabled_username_idx (a bound parameter would not).
          .where('user_id', 'in', db.selectFrom('users').select('id').where(sql<boolean>`is_enabled = false`))
          .returning(SESSION_COLUMNS)
          .execute();
        return rows.map(toSessionRecord);
      }),

    deleteEndedBefore: (before) =>
      withDbErrors('delete ended sessions', async () => {
        const limit = normalizeTimestamp(before, 'before');
        const result = await db
          .deleteFrom('sessions')
          .where((eb) => eb.or([eb('expires_at', '<', limit), eb('revoked_at', '<', limit)]))
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      }),
  };
}
