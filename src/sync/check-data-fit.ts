/**
 * The data-fit check of Test Connection and Test LDAP Search: read the users and groups once, as
 * a dry run reads them (without the mapping's extra reads), and report the read's warnings
 * (`data-fit.ts`), so a setting that silently leaves users or memberships out shows up before a
 * sync runs. A base DN that does not exist throws `directory.no_such_object` naming the setting.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { DirbridgeError } from '../errors.ts';
import type { DirectorySettings, GroupSettings, UserSettings } from '../settings/schema.ts';
import { readSnapshot } from './read-snapshot.ts';

/** The settings the check reads. */
export interface DataFitSettings {
  directory: Pick<DirectorySettings, 'attributesToQuery' | 'pageSize'>;
  users: UserSettings;
  groups?: GroupSettings | undefined;
}

/** Reads users and groups and returns the data-fit warnings (not nesting cycles); a read that fails part-way throws `sync.incomplete_read`. */
export async function checkDataFit(directory: DirectoryConnection, settings: DataFitSettings): Promise<string[]> {
  const snapshot = await readSnapshot(directory, { directory: settings.directory, users: settings.users, groups: settings.groups });
  const { failure } = snapshot;
  if (failure !== undefined) {
    throw new DirbridgeError(
      'sync.incomplete_read',
      `reading the ${failure.phase} failed after ${failure.entriesRead} entries (${failure.code}): ${failure.message}`,
      {
        details: { phase: failure.phase, entriesRead: failure.entriesRead, cause: failure.code },
      },
    );
  }
  return snapshot.dataFitWarnings ?? [];
}
