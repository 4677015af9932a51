/**
 * Test Connection's mapping check: which keys of the role, channel and team maps (and the
 * admin group) name no group in the directory. A key that matches nothing is a warning, not an
 * error: the group may simply not exist yet.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { eq, or } from '../ldap/filter.ts';
import type { GroupSettings, MappingSettings, UserSettings } from '../settings/schema.ts';

/** One warning per unmatched key, naming the setting path. */
export async function checkMappingKeys(
  directory: DirectoryConnection,
  settings: { mapping: MappingSettings; users: Pick<UserSettings, 'baseDn'>; groups?: GroupSettings | undefined },
): Promise<string[]> {
  const { mapping } = settings;
  const groupBase = mapping.groupSearch.baseDn ?? settings.groups?.baseDn ?? settings.users.baseDn;
  const checks: Array<{ path: string; names: string[]; baseDn: string; nameAttributes: string[] }> = [];
  if (mapping.roles.enabled)
    checks.push({ path: 'mapping.roles.map', names: Object.keys(mapping.roles.map), baseDn: groupBase, nameAttributes: mapping.groupSearch.nameAttribute });
  if (mapping.channels.enabled)
    checks.push({
      path: 'mapping.channels.map',
      names: Object.keys(mapping.channels.map),
      baseDn: groupBase,
      nameAttributes: mapping.groupSearch.nameAttribute,
    });
  if (mapping.teams.enabled)
    checks.push({
      path: 'mapping.teams.map',
      names: Object.keys(mapping.teams.map),
      baseDn: mapping.teams.baseDn ?? groupBase,
      nameAttributes: mapping.teams.nameAttribute,
    });
  if (mapping.adminGroup !== undefined)
    checks.push({ path: 'mapping.adminGroup', names: [mapping.adminGroup], baseDn: groupBase, nameAttributes: mapping.groupSearch.nameAttribute });

  const warnings: string[] = [];
  for (const check of checks) {
    for (const name of check.names) {
      const found = await directory.searchAll({
        baseDn: check.baseDn,
        scope: 'sub',
        filter: or(...check.nameAttributes.map((attribute) => eq(attribute, name))),
        attributes: ['1.1'],
        maxEntries: 1_000,
      });
      if (found.length === 0) warnings.push(`${check.path}: ${JSON.stringify(name)} matches no group under ${check.baseDn}`);
    }
  }
  return warnings;
}
