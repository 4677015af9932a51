/**
 * Test LDAP Search (the seeds' button): find one user the way login does and show the entry,
 * the mapped user and its groups. The CLI and the HTTP API both call this.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import type { MappedUser } from '../mapping/user.ts';
import { findDirectoryUser, type FindUserSettings, type FoundUser } from './find-directory-user.ts';

/** The outcome of a Test LDAP Search; binary attribute values are summarised as `<N bytes>`. */
export type TestSearchReport =
  | { status: 'found'; entry: DisplayEntry; user: MappedUser; groups: FoundUser['groups'] }
  | { status: 'not_found'; username: string };

/** An entry for display: string values only. */
export interface DisplayEntry {
  dn: string;
  attributes: Record<string, string[]>;
}

/** Opens a connection, looks the user up and closes it; `directory.ambiguous` and connection errors throw. */
export async function testSearch(
  deps: { openDirectory: () => Promise<DirectoryConnection>; settings: FindUserSettings },
  username: string,
): Promise<TestSearchReport> {
  const directory = await deps.openDirectory();
  try {
    const found = await findDirectoryUser(directory, deps.settings, username);
    if (found === undefined) return { status: 'not_found', username };
    return { status: 'found', entry: displayEntry(found.entry), user: found.user, groups: found.groups };
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
