/**
 * Test LDAP Search (the seeds' button): find one user the way login does and show the entry,
 * the mapped user and its groups, with the warnings about settings that do not fit the data that
 * Test Connection and dry runs give (`check-data-fit.ts`). A base DN that does not exist fails
 * the search, naming the setting. The CLI and the HTTP API both call this.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import type { MappedUser } from '../mapping/user.ts';
import type { DirectorySettings } from '../settings/schema.ts';
import { checkDataFit } from './check-data-fit.ts';
import { type FindUserSettings, type FoundUser, findDirectoryUser } from './find-directory-user.ts';
import { nameBaseDnSetting } from './missing-base.ts';

/** The outcome of a Test LDAP Search; binary attribute values are summarised as `<N bytes>`. */
export type TestSearchReport =
  | { status: 'found'; entry: DisplayEntry; user: MappedUser; groups: FoundUser['groups']; warnings: string[] }
  | { status: 'not_found'; username: string; warnings: string[] };

/** An entry for display: string values only. */
export interface DisplayEntry {
  dn: string;
  attributes: Record<string, string[]>;
}

/** The settings Test LDAP Search reads. */
export type TestSearchSettings = FindUserSettings & { directory: Pick<DirectorySettings, 'attributesToQuery' | 'pageSize'> };

/** Opens a connection, looks the user up, checks the data fit and closes it; `directory.ambiguous`, a missing base and connection errors throw. */
export async function testSearch(
  deps: { openDirectory: () => Promise<DirectoryConnection>; settings: TestSearchSettings },
  username: string,
): Promise<TestSearchReport> {
  const directory = await deps.openDirectory();
  try {
    const found = await findDirectoryUser(directory, deps.settings, username);
    const warnings = await checkDataFit(directory, deps.settings);
    if (found === undefined) return { status: 'not_found', username, warnings };
    return { status: 'found', entry: displayEntry(found.entry), user: found.user, groups: found.groups, warnings };
  } catch (error) {
    throw nameBaseDnSetting(error, deps.settings);
  } finally {
    await directory.close();
  }
}

/** An entry for display: binary values summarised, never dumped. */
export function displayEntry(entry: DirectoryEntry): DisplayEntry {
  const attributes: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(entry.attributes)) {
    attributes[name] = values.map((value) => (typeof value === 'string' ? value : `<${value.length} bytes>`));
  }
  return { dn: entry.dn, attributes };
}
