/**
 * A base DN that does not exist is a settings error: the directory layer throws
 * `directory.no_such_object` naming the DN, and the setting when the caller told it which. This
 * names the setting for searches made where that was not said (mapping reads, login lookups),
 * by matching the DN against the base DN settings.
 */
import { DirbridgeError, isDirbridgeError } from '../errors.ts';
import { normalizeDn } from '../ldap/dn.ts';
import type { GroupSettings, MappingSettings, UserSettings } from '../settings/schema.ts';

/** The settings that hold base DNs. */
export interface BaseDnSettings {
  users: Pick<UserSettings, 'baseDn'>;
  groups?: Pick<GroupSettings, 'baseDn'> | undefined;
  mapping?: { groupSearch: Pick<MappingSettings['groupSearch'], 'baseDn'>; teams: Pick<MappingSettings['teams'], 'baseDn'> } | undefined;
}

function sameDn(a: string, b: string): boolean {
  try {
    return normalizeDn(a) === normalizeDn(b);
  } catch {
    return a.trim().toLowerCase() === b.trim().toLowerCase();
  }
}

/** The setting paths whose value is `baseDn`. */
export function settingsHolding(baseDn: string, settings: BaseDnSettings): string[] {
  const candidates: Array<[string, string | undefined]> = [
    ['users.baseDn', settings.users.baseDn],
    ['groups.baseDn', settings.groups?.baseDn],
    ['mapping.groupSearch.baseDn', settings.mapping?.groupSearch.baseDn],
    ['mapping.teams.baseDn', settings.mapping?.teams.baseDn],
  ];
  return candidates.flatMap(([path, value]) => (value !== undefined && sameDn(value, baseDn) ? [path] : []));
}

/** True when `error` says a search base does not exist. */
export function isMissingBase(error: unknown): error is DirbridgeError {
  return isDirbridgeError(error, 'directory.no_such_object') && typeof error.details['baseDn'] === 'string';
}

/** The error with the setting(s) holding its missing base DN named, when it does not name one yet; other errors as they are. */
export function nameBaseDnSetting(error: unknown, settings: BaseDnSettings): unknown {
  if (!isMissingBase(error) || typeof error.details['setting'] === 'string') return error;
  const baseDn = String(error.details['baseDn']);
  const paths = settingsHolding(baseDn, settings);
  if (paths.length === 0) return error;
  return new DirbridgeError(error.code, `${paths.join(', ')}: ${error.message}`, { cause: error, details: { ...error.details, setting: paths.join(', ') } });
}
