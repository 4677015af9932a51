/**
 * Saved settings versions: the newest one, its number, and saving the next one (optimistic: the
 * caller names the version it edited).
 */
import type { Kysely } from 'kysely';
import { DirbridgeError } from '../errors.ts';
import type { JsonValue, NewAuditEntry, StoredSettingsVersion } from '../model/index.ts';
import { createAuditWriter } from './audit-repository.ts';
import { withDbErrors } from './db-errors.ts';
import type { RepositoryContext } from './repository-context.ts';
import { normalizeTimestamp } from './rows.ts';
import type { Database } from './schema.ts';

/** The settings versions, on the store (each call is its own transaction). */
export interface SettingsRepository {
  /** The settings in force: the newest saved version, or undefined before the first save. */
  get(): Promise<StoredSettingsVersion | undefined>;
  /** The newest saved version number (0 before the first save): a cheap check for changes. */
  getVersion(): Promise<number>;
  /**
   * Saves the next settings version. `expectedVersion` must be the newest version (0 when none
   * is saved), otherwise `settings.conflict`; `audit` is written in the same transaction.
   */
  save(input: { expectedVersion: number; document: JsonValue; actor: string; audit?: NewAuditEntry }): Promise<StoredSettingsVersion>;
}

function toSettingsVersion(row: { version: number; document: string; created_at: string; created_by: string }): StoredSettingsVersion {
  return {
    version: Number(row.version),
    document: JSON.parse(row.document) as JsonValue,
    createdAt: normalizeTimestamp(row.created_at, 'created_at'),
    createdBy: row.created_by,
  };
}

/** The settings versions over the database. */
export function createSettingsRepository(db: Kysely<Database>, ctx: RepositoryContext): SettingsRepository {
  return {
    get: () =>
      withDbErrors('read the settings', async () => {
        const row = await db.selectFrom('settings_versions').selectAll().orderBy('version', 'desc').limit(1).executeTakeFirst();
        return row === undefined ? undefined : toSettingsVersion(row);
      }),

    getVersion: () =>
      withDbErrors('read the settings version', async () => {
        const row = await db
          .selectFrom('settings_versions')
          .select((eb) => eb.fn.max('version').as('version'))
          .executeTakeFirst();
        return Number(row?.version ?? 0);
      }),

    save: (input) =>
      withDbErrors('save the settings', async () => {
        const row = { version: input.expectedVersion + 1, document: JSON.stringify(input.document), created_at: ctx.now(), created_by: input.actor };
        const conflict = (current: number) =>
          new DirbridgeError(
            'settings.conflict',
            `the settings changed meanwhile (version ${current}, expected ${input.expectedVersion}); reload them and apply your change again`,
            {
              details: { version: current, expectedVersion: input.expectedVersion },
            },
          );
        try {
          await db.transaction().execute(async (trx) => {
            const newest = await trx
              .selectFrom('settings_versions')
              .select((eb) => eb.fn.max('version').as('version'))
              .executeTakeFirst();
            const current = Number(newest?.version ?? 0);
            if (current !== input.expectedVersion) throw conflict(current);
            await trx.insertInto('settings_versions').values(row).execute();
            if (input.audit !== undefined) await createAuditWriter(trx, ctx).append([input.audit]);
          });
        } catch (error) {
          if (error instanceof DirbridgeError) throw error;
          // A concurrent save of the same version lost the race on the primary key.
          const current = await db
            .selectFrom('settings_versions')
            .select((eb) => eb.fn.max('version').as('version'))
            .executeTakeFirst();
          if (Number(current?.version ?? 0) !== input.expectedVersion) throw conflict(Number(current?.version ?? 0));
          throw error;
        }
        return toSettingsVersion(row);
      }),
  };
}
