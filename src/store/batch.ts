/**
 * Helpers for statements over many rows: chunking under each backend's bound-parameter
 * limit, and batched partial updates (one `WITH v AS (VALUES ...) UPDATE ... FROM v` per
 * set of patched columns).
 */
import { type Kysely, sql } from 'kysely';
import type { StoreDialect } from './store.ts';

/** SQLite (since 3.32) allows 32766 bound parameters per statement; PostgreSQL's protocol allows 65535. */
const MAX_PARAMETERS: Record<StoreDialect, number> = { sqlite: 32_766, postgres: 65_535 };

/** Upper bound on rows per statement, so a single statement stays a reasonable size. */
const MAX_ROWS_PER_STATEMENT = 5_000;

/** How many rows of `parametersPerRow` bound values fit in one statement (keeping `reserved` spare). */
export function rowsPerStatement(dialect: StoreDialect, parametersPerRow: number, reserved = 0): number {
  return Math.max(1, Math.min(MAX_ROWS_PER_STATEMENT, Math.floor((MAX_PARAMETERS[dialect] - reserved) / parametersPerRow)));
}

/** Splits `items` into consecutive chunks of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}

/** The SQL type a patched column is cast to inside the VALUES list (PostgreSQL infers `text` otherwise). */
export type ColumnKind = 'text' | 'integer' | 'boolean';

/** A value that a batched update writes. */
export type ColumnValue = string | number | boolean | null;

/** One row of a batched update: the row's id and the columns it sets. */
export interface RowUpdate {
  id: string;
  columns: Record<string, ColumnValue>;
}

function castType(dialect: StoreDialect, kind: ColumnKind): string {
  if (kind === 'boolean') return dialect === 'postgres' ? 'boolean' : 'integer';
  return kind;
}

/**
 * Updates many rows of `table` by id, setting each row's own values plus `updated_at`.
 * Rows are grouped by the set of columns they patch; every column must be listed in
 * `kinds` (column names are never taken from input). Returns the number of rows updated.
 */
export async function updateRowsById<DB>(
  db: Kysely<DB>,
  dialect: StoreDialect,
  table: string,
  kinds: Readonly<Record<string, ColumnKind>>,
  updates: readonly RowUpdate[],
  updatedAt: string,
): Promise<number> {
  const bySignature = new Map<string, { columns: string[]; rows: RowUpdate[] }>();
  for (const update of updates) {
    const columns = Object.keys(update.columns).sort();
    for (const column of columns) {
      if (kinds[column] === undefined) throw new Error(`updateRowsById: column ${table}.${column} is not updatable`);
    }
    const signature = columns.join(',');
    const group = bySignature.get(signature);
    if (group === undefined) bySignature.set(signature, { columns, rows: [update] });
    else group.rows.push(update);
  }

  let updated = 0;
  for (const { columns, rows } of bySignature.values()) {
    for (const part of chunk(rows, rowsPerStatement(dialect, columns.length + 1, 1))) {
      const values = sql.join(
        part.map(
          (row) =>
            sql`(${sql.join([
              sql`cast(${row.id} as text)`,
              ...columns.map((column) => sql`cast(${row.columns[column] ?? null} as ${sql.raw(castType(dialect, kinds[column] ?? 'text'))})`),
            ])})`,
        ),
      );
      const names = sql.join([sql.ref('id'), ...columns.map((column) => sql.ref(column))]);
      const assignments = sql.join([
        ...columns.map((column) => sql`${sql.ref(column)} = ${sql.ref(`v.${column}`)}`),
        sql`${sql.ref('updated_at')} = ${updatedAt}`,
      ]);
      const result =
        await sql`with v(${names}) as (values ${values}) update ${sql.table(table)} set ${assignments} from v where ${sql.ref(`${table}.id`)} = ${sql.ref('v.id')}`.execute(
          db,
        );
      updated += Number(result.numAffectedRows ?? 0n);
    }
  }
  return updated;
}

/**
 * Splits `items` into consecutive chunks of at most `maxRows` items whose `weight`s add up to at
 * most `maxWeight` (a single heavier item gets a chunk of its own). Used to keep statements that
 * carry large values (avatar bytes) to a reasonable size.
 */
export function chunkByWeight<T>(items: readonly T[], maxRows: number, maxWeight: number, weight: (item: T) => number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let currentWeight = 0;
  for (const item of items) {
    const itemWeight = weight(item);
    if (current.length > 0 && (current.length >= maxRows || currentWeight + itemWeight > maxWeight)) {
      chunks.push(current);
      current = [];
      currentWeight = 0;
    }
    current.push(item);
    currentWeight += itemWeight;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
