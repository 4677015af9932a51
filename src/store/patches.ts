/**
 * Partial updates of users and groups, prepared for `updateRowsById` (`batch.ts`).
 */
import type { ColumnValue, RowUpdate } from './batch.ts';
import type { GroupsTable, UsersTable } from './schema.ts';

/** Copies the defined values of a column set into a batched-update row. */
export function toRowUpdate(id: string, columns: Partial<UsersTable> | Partial<GroupsTable>): RowUpdate {
  const values: Record<string, ColumnValue> = {};
  for (const [column, value] of Object.entries(columns)) {
    if (value !== undefined) values[column] = value;
  }
  return { id, columns: values };
}

/** Merges patches addressed to the same id (later fields win), keeping first-seen order. */
export function mergePatches<P extends { id: string }>(patches: readonly P[]): P[] {
  const merged = new Map<string, P>();
  for (const patch of patches) {
    const earlier = merged.get(patch.id);
    merged.set(patch.id, earlier === undefined ? patch : { ...earlier, ...patch });
  }
  return [...merged.values()];
}
