/**
 * What a user should have, from the groups they are in and their attributes: roles, channels
 * and teams from the seed-style maps, custom fields and ABAC attributes from mapped attributes,
 * and dirbridge's admin flag from the admin group. Pure; every grant remembers which groups
 * gave it, so plan steps can say why.
 */
import type { DirectoryEntry } from '../ldap/entry.ts';
import type { MappingSettings } from '../settings/schema.ts';

/** The mapping inputs read for one user. */
export interface UserMappingInput {
  /** Keys of the role/channel maps (and the admin group) that the user is a member of. */
  groupNames: string[];
  /** Keys of the team map that the user's team groups are named by. */
  teamGroupNames: string[];
  customFields: Record<string, string>;
  abacAttributes: Record<string, string[]>;
}

/** What the user should have; each granted name maps to the groups that grant it. */
export interface DesiredGrants {
  roles: Map<string, string[]>;
  channels: Map<string, string[]>;
  teams: Map<string, string[]>;
  customFields: Record<string, string>;
  abacAttributes: Record<string, string[]>;
  /** undefined when no admin group is configured (the flag is then left alone). */
  isAdmin: boolean | undefined;
}

/** The values of a name map, as a list. */
export function namesOf(value: string | string[]): string[] {
  return typeof value === 'string' ? [value] : value;
}

/** Every name a map can grant (its values), for deciding what auto-remove may take away. */
export function grantableNames(map: Readonly<Record<string, string | string[]>>): Set<string> {
  return new Set(Object.values(map).flatMap(namesOf));
}

/** Resolves a user's desired grants from their mapping input. */
export function desiredGrants(input: UserMappingInput, settings: MappingSettings): DesiredGrants {
  const lookup = (map: Readonly<Record<string, string | string[]>>, groups: readonly string[]) => {
    const granted = new Map<string, string[]>();
    const member = new Set(groups.map((group) => group.toLowerCase()));
    for (const [group, names] of Object.entries(map)) {
      if (!member.has(group.toLowerCase())) continue;
      for (const name of namesOf(names)) granted.set(name, [...(granted.get(name) ?? []), group]);
    }
    return granted;
  };
  const adminGroup = settings.adminGroup;
  return {
    roles: settings.roles.enabled ? lookup(settings.roles.map, input.groupNames) : new Map(),
    channels: settings.channels.enabled ? lookup(settings.channels.map, input.groupNames) : new Map(),
    teams: settings.teams.enabled ? lookup(settings.teams.map, input.teamGroupNames) : new Map(),
    customFields: settings.customFields.enabled ? input.customFields : {},
    abacAttributes: settings.abac.enabled ? input.abacAttributes : {},
    isAdmin: adminGroup === undefined ? undefined : input.groupNames.some((group) => group.toLowerCase() === adminGroup.toLowerCase()),
  };
}

/** The group names the role/channel/admin mapping asks about. */
export function mappedGroupNames(settings: MappingSettings): string[] {
  const names = new Map<string, string>();
  const add = (name: string) => names.set(name.toLowerCase(), name);
  if (settings.roles.enabled) Object.keys(settings.roles.map).forEach(add);
  if (settings.channels.enabled) Object.keys(settings.channels.map).forEach(add);
  if (settings.adminGroup !== undefined) add(settings.adminGroup);
  return [...names.values()];
}

/** Reads mapped attributes from an entry: custom fields take the first text value, ABAC attributes keep every value in order. */
export function mappedAttributes(entry: DirectoryEntry, settings: MappingSettings): Pick<UserMappingInput, 'customFields' | 'abacAttributes'> {
  const texts = (attribute: string) => (entry.attributes[attribute.toLowerCase()] ?? []).filter((value): value is string => typeof value === 'string');
  const customFields: Record<string, string> = {};
  if (settings.customFields.enabled) {
    for (const [attribute, field] of Object.entries(settings.customFields.map)) {
      const value = texts(attribute)[0];
      if (value !== undefined) customFields[field] = value;
    }
  }
  const abacAttributes: Record<string, string[]> = {};
  if (settings.abac.enabled) {
    for (const [attribute, name] of Object.entries(settings.abac.map)) {
      const values = texts(attribute);
      if (values.length > 0) abacAttributes[name] = values;
    }
  }
  return { customFields, abacAttributes };
}

/** Attributes the attribute mappers need on user entries. */
export function mappedAttributeNames(settings: MappingSettings): string[] {
  return [...(settings.customFields.enabled ? Object.keys(settings.customFields.map) : []), ...(settings.abac.enabled ? Object.keys(settings.abac.map) : [])];
}

/** True when any role, channel, team, attribute or admin mapping is switched on. */
export function isMappingActive(mapping: MappingSettings | undefined): mapping is MappingSettings {
  return (
    mapping !== undefined &&
    (mapping.roles.enabled ||
      mapping.channels.enabled ||
      mapping.teams.enabled ||
      mapping.customFields.enabled ||
      mapping.abac.enabled ||
      mapping.adminGroup !== undefined)
  );
}
