/**
 * The audit log: listings (newest first, and by id after a cursor for the change feed) and
 * (inside a transaction) appends.
 */
import { type Kysely, sql } from 'kysely';
import { DirbridgeError } from '../errors.ts';
import type { AuditEntry, NewAuditEntry, PageQuery } from '../model/index.ts';
import { chunk, rowsPerStatement } from './batch.ts';
import { withDbErrors } from './db-errors.ts';
import { orderedUuid } from './ordered-id.ts';
import { checkPage } from './page.ts';
import type { RepositoryContext } from './repository-context.ts';
import { toAuditEntry, toNewAuditRow } from './rows.ts';
import type { Database } from './schema.ts';

/** Reads of the audit log, on the store and inside a transaction. */
export interface AuditReader {
  /** Lists audit entries newest first (entries with the same `at` newest-appended first), optionally for one user or one action. */
  list(query: PageQuery & { userId?: string; action?: string }): Promise<{ total: number; entries: AuditEntry[] }>;
  /**
   * Audit entries in id order (ids are time-ordered UUIDv7) after `after` and before `before`
   * (both exclusive, either optional), whose action starts with one of `actionPrefixes` or equals
   * one of `actions`: a keyset page, as cheap at the millionth entry as at the first.
   */
  listAfter(query: { after?: string; before?: string; limit: number; actionPrefixes: readonly string[]; actions: readonly string[] }): Promise<AuditEntry[]>;
}

/** Writes of the audit log, available only inside `Store.transaction`. */
export interface AuditWriter extends AuditReader {
  /** Appends audit entries in multi-row statements; `userId` is not checked (entries may be about deleted users). */
  append(entries: readonly NewAuditEntry[]): Promise<void>;
}

/** The audit reads over `db` (the database, or a transaction). */
export function createAuditReader(db: Kysely<Database>): AuditReader {
  return {
    list: (query) =>
      withDbErrors('list the audit log', async () => {
        checkPage(query);
        const conditions = [];
        if (query.userId !== undefined) conditions.push(sql<boolean>`user_id = ${query.userId}`);
        if (query.action !== undefined) conditions.push(sql<boolean>`action = ${query.action}`);
        const where = conditions.length === 0 ? sql<boolean>`1 = 1` : sql<boolean>`${sql.join(conditions, sql` and `)}`;
        const total = await db
          .selectFrom('audit_log')
          .select((eb) => eb.fn.countAll().as('total'))
          .where(where)
          .executeTakeFirstOrThrow();
        const rows = await db
          .selectFrom('audit_log')
          .selectAll()
          .where(where)
          .orderBy('at', 'desc')
          .orderBy('id', 'desc')
          .limit(query.limit)
          .offset(query.offset)
          .execute();
        return { total: Number(total.total), entries: rows.map(toAuditEntry) };
      }),

    listAfter: (query) =>
      withDbErrors('read the audit log after a cursor', async () => {
        if (!Number.isInteger(query.limit) || query.limit < 1) throw new DirbridgeError('usage.invalid', 'limit must be a positive integer');
        const matches = [
          ...query.actionPrefixes.map((prefix) => sql<boolean>`action like ${`${prefix.replace(/[\\%_]/g, (character) => `\\${character}`)}%`} escape '\\'`),
          ...query.actions.map((action) => sql<boolean>`action = ${action}`),
        ];
        if (matches.length === 0) return [];
        let select = db
          .selectFrom('audit_log')
          .selectAll()
          .where(sql<boolean>`(${sql.join(matches, sql` or `)})`);
        if (query.after !== undefined) select = select.where('id', '>', query.after);
        if (query.before !== undefined) select = select.where('id', '<', query.before);
        const rows = await select.orderBy('id', 'asc').limit(query.limit).execute();
        return rows.map(toAuditEntry);
      }),
  };
}

/** The audit reads and writes over a transaction. */
export function createAuditWriter(db: Kysely<Database>, ctx: RepositoryContext): AuditWriter {
  const { dialect } = ctx;
  return {
    ...createAuditReader(db),

    append: (entries) =>
      withDbErrors('append to the audit log', async () => {
        if (entries.length === 0) return;
        const now = ctx.now();
        const rows = entries.map((entry) => toNewAuditRow(entry, orderedUuid(), now));
        for (const part of chunk(rows, rowsPerStatement(dialect, 8))) {
          await db.insertInto('audit_log').values(part).execute();
        }
      }),
  };
}
