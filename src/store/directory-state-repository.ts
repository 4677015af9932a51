/**
 * Incremental sync's state, per directory id (migration 0013): change feed cursors and the group
 * entries as last read. Written only by runs that applied their plan, in their last transaction.
 */
import type { Kysely } from 'kysely';
import { CHANGE_SOURCES, type ChangeSource, type CursorScope, type StoredDirectoryGroup, type SyncCursor } from '../model/index.ts';
import { chunk, rowsPerStatement } from './batch.ts';
import { withDbErrors } from './db-errors.ts';
import type { RepositoryContext } from './repository-context.ts';
import type { Database } from './schema.ts';

/** Reads of incremental sync's state. */
export interface DirectoryStateReader {
  /** The directory's cursors (none before its first full run). */
  listCursors(directoryId: string): Promise<SyncCursor[]>;
  /** Every stored group entry of the directory. */
  loadGroups(directoryId: string): Promise<StoredDirectoryGroup[]>;
  /** The stored groups' content hashes by external id, without their content. */
  loadGroupHashes(directoryId: string): Promise<Map<string, string>>;
}

/** Writes of incremental sync's state, available only inside `Store.transaction`. */
export interface DirectoryStateWriter extends DirectoryStateReader {
  /** Sets the directory's cursors (replacing any for the same scopes); `updatedAt` is now. */
  putCursors(directoryId: string, cursors: ReadonlyArray<Omit<SyncCursor, 'directoryId' | 'updatedAt'>>): Promise<void>;
  /** Forgets every cursor of the directory: its next run is a full one. */
  clearCursors(directoryId: string): Promise<void>;
  /** Stores new and changed group entries, and removes those named in `removed`. */
  saveGroups(directoryId: string, changes: { upserted: readonly StoredDirectoryGroup[]; removed: readonly string[] }): Promise<void>;
}

const SOURCES: readonly ChangeSource[] = CHANGE_SOURCES;
const SCOPES: readonly CursorScope[] = ['users', 'groups'];

function toCursor(row: Database['sync_cursors']): SyncCursor {
  const source = SOURCES.find((known) => known === row.source);
  const scope = SCOPES.find((known) => known === row.scope);
  // A cursor this version cannot read is treated as none: the next run is full.
  if (source === undefined || scope === undefined) throw new Error(`unknown cursor ${row.scope}/${row.source}`);
  return {
    directoryId: row.directory_id,
    scope,
    source,
    position: row.position,
    serverIdentity: row.server_identity,
    settingsFingerprint: row.settings_fingerprint,
    updatedAt: row.updated_at,
  };
}

/** Incremental sync's reads over the database or a transaction. */
export function createDirectoryStateReader(db: Kysely<Database>): DirectoryStateReader {
  return {
    listCursors: (directoryId) =>
      withDbErrors('read the sync cursors', async () => {
        const rows = await db.selectFrom('sync_cursors').selectAll().where('directory_id', '=', directoryId).execute();
        return rows.flatMap((row) => {
          try {
            return [toCursor(row)];
          } catch {
            return [];
          }
        });
      }),
    loadGroups: (directoryId) =>
      withDbErrors('read the stored group entries', async () => {
        const rows = await db
          .selectFrom('directory_groups')
          .select(['external_id as externalId', 'content', 'content_hash as contentHash'])
          .where('directory_id', '=', directoryId)
          .execute();
        return rows;
      }),
    loadGroupHashes: (directoryId) =>
      withDbErrors('read the stored group hashes', async () => {
        const rows = await db.selectFrom('directory_groups').select(['external_id', 'content_hash']).where('directory_id', '=', directoryId).execute();
        return new Map(rows.map((row) => [row.external_id, row.content_hash]));
      }),
  };
}

/** Incremental sync's reads and writes over one transaction. */
export function createDirectoryStateWriter(db: Kysely<Database>, ctx: RepositoryContext): DirectoryStateWriter {
  return {
    ...createDirectoryStateReader(db),
    putCursors: async (directoryId, cursors) => {
      const updatedAt = ctx.now();
      for (const cursor of cursors) {
        await db
          .insertInto('sync_cursors')
          .values({
            directory_id: directoryId,
            scope: cursor.scope,
            source: cursor.source,
            position: cursor.position,
            server_identity: cursor.serverIdentity,
            settings_fingerprint: cursor.settingsFingerprint,
            updated_at: updatedAt,
          })
          .onConflict((oc) =>
            oc.columns(['directory_id', 'scope']).doUpdateSet((eb) => ({
              source: eb.ref('excluded.source'),
              position: eb.ref('excluded.position'),
              server_identity: eb.ref('excluded.server_identity'),
              settings_fingerprint: eb.ref('excluded.settings_fingerprint'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
    },
    clearCursors: async (directoryId) => {
      await db.deleteFrom('sync_cursors').where('directory_id', '=', directoryId).execute();
    },
    saveGroups: async (directoryId, { upserted, removed }) => {
      for (const ids of chunk(removed, rowsPerStatement(ctx.dialect, 1, 1))) {
        await db.deleteFrom('directory_groups').where('directory_id', '=', directoryId).where('external_id', 'in', ids).execute();
      }
      for (const rows of chunk(upserted, rowsPerStatement(ctx.dialect, 4))) {
        await db
          .insertInto('directory_groups')
          .values(rows.map((group) => ({ directory_id: directoryId, external_id: group.externalId, content: group.content, content_hash: group.contentHash })))
          .onConflict((oc) =>
            oc
              .columns(['directory_id', 'external_id'])
              .doUpdateSet((eb) => ({ content: eb.ref('excluded.content'), content_hash: eb.ref('excluded.content_hash') })),
          )
          .execute();
      }
    },
  };
}
