/**
 * What the entries dirbridge creates look like on each server: object classes, the RDN attribute,
 * the group class and its member attribute, how an account is disabled, and whether AD's account
 * names (`sAMAccountName`, `userPrincipalName`) follow the username. Presets come from the server
 * the RootDSE names; each part can be overridden in `writeBack.entry`. Pure.
 */
import { parseDn } from '../ldap/dn.ts';
import type { WriteBackSettings } from '../settings/schema.ts';

/** The servers whose presets differ (the RootDSE's `serverType`, `unknown` taking OpenLDAP's). */
export type PresetServer = 'openldap' | 'active-directory' | '389-ds';

/** How a server marks an account disabled by an administrator (`mapping/account-status.ts` reads the same). */
export type DisableMethod = 'pwdAccountLockedTime' | 'userAccountControl' | 'nsAccountLock';

/** The resolved shape of entries written to one server. */
export interface EntryShape {
  server: PresetServer;
  userObjectClasses: string[];
  userRdnAttribute: string;
  groupObjectClasses: string[];
  groupMemberAttribute: 'member' | 'uniqueMember' | 'memberUid';
  /** True when the group's schema requires at least one member (groupOfNames, groupOfUniqueNames on OpenLDAP). */
  groupNeedsMember: boolean;
  placeholderMember: string;
  disableMethod: DisableMethod;
  /** AD only: the UPN suffix `sAMAccountName` and `userPrincipalName` follow the username with. */
  userPrincipalSuffix?: string;
}

const PRESETS: Record<PresetServer, Omit<EntryShape, 'placeholderMember' | 'userPrincipalSuffix' | 'groupNeedsMember'>> = {
  openldap: {
    server: 'openldap',
    userObjectClasses: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
    userRdnAttribute: 'uid',
    groupObjectClasses: ['top', 'groupOfNames'],
    groupMemberAttribute: 'member',
    disableMethod: 'pwdAccountLockedTime',
  },
  'active-directory': {
    server: 'active-directory',
    userObjectClasses: ['top', 'person', 'organizationalPerson', 'user'],
    userRdnAttribute: 'cn',
    groupObjectClasses: ['top', 'group'],
    groupMemberAttribute: 'member',
    disableMethod: 'userAccountControl',
  },
  '389-ds': {
    server: '389-ds',
    userObjectClasses: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
    userRdnAttribute: 'uid',
    groupObjectClasses: ['top', 'groupOfNames'],
    groupMemberAttribute: 'member',
    disableMethod: 'nsAccountLock',
  },
};

/**
 * Group classes whose schema makes the member attribute MUST. 389-DS ships groupOfNames and
 * groupOfUniqueNames with the member optional; OpenLDAP's core.schema (RFC 4519) requires it.
 */
function groupNeedsMember(server: PresetServer, objectClasses: readonly string[]): boolean {
  if (server !== 'openldap') return false;
  return objectClasses.some((name) => ['groupofnames', 'groupofuniquenames'].includes(name.toLowerCase()));
}

/** Characters Active Directory refuses in `sAMAccountName` (MS-ADTS 3.1.1.5.2.6), which dirbridge keeps with user and group names. */
export const AD_ACCOUNT_NAME_FORBIDDEN = /["/\\[\]:;|=,+*?<>@]/;

/** `dc=example,dc=test` → `example.test`; undefined when the DN has no domain components. */
export function domainOf(dn: string): string | undefined {
  const labels = parseDn(dn)
    .flat()
    .filter((ava) => ava.type.toLowerCase() === 'dc')
    .map((ava) => ava.value);
  return labels.length === 0 ? undefined : labels.join('.').toLowerCase();
}

/** The shape for `serverType` (from the RootDSE) with the settings' overrides applied. */
export function resolveEntryShape(settings: WriteBackSettings, serverType: string): EntryShape {
  const preset: PresetServer =
    settings.entry.preset !== 'auto' ? settings.entry.preset : serverType === 'active-directory' || serverType === '389-ds' ? serverType : 'openldap';
  const base = PRESETS[preset];
  const groupObjectClasses = settings.entry.groupObjectClasses ?? base.groupObjectClasses;
  const suffix =
    preset === 'active-directory'
      ? (settings.entry.userPrincipalSuffix ?? (settings.usersDn === undefined ? undefined : domainOf(settings.usersDn)))
      : undefined;
  return {
    ...base,
    userObjectClasses: settings.entry.userObjectClasses ?? base.userObjectClasses,
    userRdnAttribute: settings.entry.userRdnAttribute ?? base.userRdnAttribute,
    groupObjectClasses,
    groupMemberAttribute: settings.entry.groupMemberAttribute ?? base.groupMemberAttribute,
    groupNeedsMember: groupNeedsMember(preset, groupObjectClasses),
    placeholderMember: settings.entry.placeholderMember,
    ...(suffix === undefined ? {} : { userPrincipalSuffix: suffix }),
  };
}
