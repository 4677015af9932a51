/**
 * Writes to the unique columns of users and groups (username keys, external ids): finds who holds
 * the claimed values, refuses genuine conflicts and parks the holders that move within the batch
 * (`unique-claims.ts` plans it), and names the ids a batch addressed that do not exist.
 */
import { type Kysely, sql } from 'kysely';
import { DirbridgeError } from '../errors.ts';
import { chunk, rowsPerStatement } from './batch.ts';
import type { Database } from './schema.ts';
import type { StoreDialect } from './store.ts';
import { planUniqueClaims, type UniqueClaim, type UniqueHolder } from './unique-claims.ts';

/** A unique column of users or groups. */
type UniqueColumn = 'username_key' | 'external_id';

/** Prefix of the parking value a username key holds while usernames rotate within one batch. */
const PARKED_KEY_PREFIX = '\u0001';

/** Current holders of the given values of a unique users/groups column. */
async function findHolders(
  db: Kysely<Database>,
  dialect: StoreDialect,
  table: 'users' | 'groups',
  column: UniqueColumn,
  values: string[],
): Promise<UniqueHolder[]> {
  const holders: UniqueHolder[] = [];
  for (const part of chunk([...new Set(values)], rowsPerStatement(dialect, 1))) {
    const rows =
      table === 'groups'
        ? await db.selectFrom('groups').select(['id', 'external_id as value']).where('external_id', 'in', part).execute()
        : column === 'external_id'
          ? await db.selectFrom('users').select(['id', 'external_id as value']).where('external_id', 'in', part).execute()
          : await db.selectFrom('users').select(['id', 'username_key as value']).where('username_key', 'in', part).execute();
    for (const row of rows) {
      if (row.value !== null) holders.push({ id: row.id, value: row.value });
    }
  }
  return holders;
}

/** Checks claims on a unique column and parks the holders that move within this batch. */
export async function claimUnique(
  db: Kysely<Database>,
  dialect: StoreDialect,
  table: 'users' | 'groups',
  column: UniqueColumn,
  field: string,
  claims: UniqueClaim[],
  movingIds: ReadonlySet<string>,
): Promise<void> {
  if (claims.length === 0) return;
  const holders = await findHolders(
    db,
    dialect,
    table,
    column,
    claims.map((claim) => claim.value),
  );
  const park = planUniqueClaims(field, claims, holders, movingIds);
  for (const part of chunk(park, rowsPerStatement(dialect, 1))) {
    if (table === 'groups') {
      await db.updateTable('groups').set({ external_id: null }).where('id', 'in', part).execute();
    } else if (column === 'external_id') {
      await db.updateTable('users').set({ external_id: null }).where('id', 'in', part).execute();
    } else {
      await db
        .updateTable('users')
        .set({ username_key: sql<string>`${PARKED_KEY_PREFIX} || id` })
        .where('id', 'in', part)
        .execute();
    }
  }
}

/** Claims the new external ids of patched rows; rows that set one move out of the way first. */
export async function claimPatchedExternalIds(
  db: Kysely<Database>,
  dialect: StoreDialect,
  table: 'users' | 'groups',
  field: string,
  updates: ReadonlyArray<{ id: string; columns: { external_id?: string | null } }>,
): Promise<void> {
  const relinked = updates.filter((update) => update.columns.external_id !== undefined);
  await claimUnique(
    db,
    dialect,
    table,
    'external_id',
    field,
    relinked.flatMap((update) => {
      const value = update.columns.external_id;
      return value === null || value === undefined ? [] : [{ id: update.id, value, label: value }];
    }),
    new Set(relinked.map((update) => update.id)),
  );
}

/** Throws `store.not_found` naming the ids of `table` that do not exist. */
export async function reportMissing(db: Kysely<Database>, dialect: StoreDialect, table: 'users' | 'groups', ids: string[]): Promise<never> {
  const found = new Set<string>();
  for (const part of chunk(ids, rowsPerStatement(dialect, 1))) {
    const rows = await db.selectFrom(table).select('id').where('id', 'in', part).execute();
    for (const row of rows) found.add(row.id);
  }
  const missing = ids.filter((id) => !found.has(id));
  throw new DirbridgeError('store.not_found', `no such ${table === 'users' ? 'user' : 'group'}: ${missing.slice(0, 5).join(', ')}`, {
    details: { table, missing: missing.slice(0, 100) },
  });
}
