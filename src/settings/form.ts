/**
 * The console's settings form: sections as the seeds group them (Rocket.Chat's LDAP tabs, Pocket
 * ID's attribute table, RustDesk's connection fields), each field with its label and help text.
 * Labels and help are written here; the kind of input, enum options, defaults, bounds and whether
 * a field may be left empty are derived from the zod schema, so the form cannot drift from what
 * the server accepts. `buildSettingsForm` refuses a layout that names a path the schema lacks.
 */
import { z } from 'zod';
import { SECRET_SETTING_PATHS, settingsSchema } from './schema.ts';

/** How a field is edited. `list` is one value per line (or checkboxes with `options`); `map` is a JSON object. */
export type SettingsFieldKind = 'string' | 'secret' | 'boolean' | 'integer' | 'number' | 'enum' | 'list' | 'map' | 'json';

/** One setting as the console shows it. */
export interface SettingsField {
  /** Dotted path into the settings document, e.g. `directory.bindDn`. */
  path: string;
  label: string;
  help: string;
  kind: SettingsFieldKind;
  /** Allowed values of an `enum`, or of the items of a `list`. */
  options?: string[];
  /** How the console names each option (the seeds' wording), when it differs from the value. */
  optionLabels?: Record<string, string>;
  /** The value the server uses when the field is absent. */
  defaultValue?: unknown;
  /** True when the field may be left empty (absent from the document). */
  isOptional: boolean;
  min?: number;
  max?: number;
  /** The longest text a `string` field takes. */
  maxLength?: number;
  /** An example value shown in an empty input. */
  placeholder?: string;
}

/** A group of settings, as a seed groups them on one page or tab. */
export interface SettingsSection {
  id: string;
  title: string;
  description: string;
  fields: SettingsField[];
}

/** The whole form. */
export interface SettingsForm {
  sections: SettingsSection[];
}

type FieldText = readonly [path: string, label: string, help: string, placeholder?: string];

interface SectionText {
  id: string;
  title: string;
  description: string;
  fields: readonly FieldText[];
}

/** Paths the console never shows: where dirbridge keeps its own data is set at start-up, not here. */
export const HIDDEN_SETTING_PREFIXES: readonly string[] = ['store.'];

const LAYOUT: readonly SectionText[] = [
  {
    id: 'connection',
    title: 'Connection',
    description: 'How dirbridge reaches the directory servers and binds as its service account. Test Connection uses these values.',
    fields: [
      [
        'directory.urls',
        'LDAP URLs',
        'One server per line, tried in order until one answers (failover). ldap://host[:port] or ldaps://host[:port]; 389 and 636 are the default ports.',
        'ldaps://dc1.example.org',
      ],
      [
        'directory.startTls',
        'StartTLS',
        'Upgrade ldap:// connections with StartTLS. A failed upgrade is an error; dirbridge never falls back to plain text. Cannot be combined with ldaps:// URLs.',
      ],
      [
        'directory.tls.caFile',
        'CA certificate file',
        "PEM file (on the server) of the CA that signs the directory servers' certificates. Leave empty to use the system CAs.",
        '/etc/ssl/corp-ca.pem',
      ],
      [
        'directory.tls.rejectUnauthorized',
        'Verify TLS certificates',
        "Check the servers' certificates (RustDesk's NoTLSVerify, inverted). Leave on unless you are sure: without it anyone on the path can read the bind password.",
      ],
      [
        'directory.tls.serverName',
        'TLS server name',
        'The name to verify the certificate against, when it differs from the host in the URL.',
        'dc.example.org',
      ],
      [
        'directory.bindDn',
        'Bind DN',
        'The service account used to search the directory and to look users up at login, e.g. cn=reader,dc=example,dc=org. Leave empty (with no password) for anonymous reads.',
        'cn=reader,dc=example,dc=org',
      ],
      [
        'directory.bindPassword',
        'Bind password',
        "The service account's password. It is stored encrypted, never shown again and never logged; leave the field untouched to keep the current one.",
      ],
      ['directory.connectTimeoutMs', 'Connect timeout (ms)', 'How long one connection attempt may take before the next URL is tried.'],
      [
        'directory.operationTimeoutMs',
        'Operation timeout (ms)',
        'How long one LDAP operation (bind, one page of a search) may take. A timed-out read refuses the sync instead of acting on partial data.',
      ],
      ['directory.pageSize', 'Page size', 'Entries per page of a paged search (RFC 2696). Active Directory returns at most 1000 per page.'],
    ],
  },
  {
    id: 'user-search',
    title: 'User Search',
    description: 'Where users are searched. Test LDAP Search finds a user exactly as login will with these values.',
    fields: [
      ['users.baseDn', 'Base DN', 'The starting point of the user search (LDAP Search Base), e.g. ou=people,dc=example,dc=org.', 'ou=people,dc=example,dc=org'],
      ['users.scope', 'Scope', 'one: only the entries immediately below the base DN; sub: the whole subtree.'],
      [
        'users.filter',
        'Filter',
        'The LDAP filter every user entry must match, e.g. (objectClass=person) or (&(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2))).',
        '(objectClass=inetOrgPerson)',
      ],
    ],
  },
  {
    id: 'data-sync',
    title: 'Data Sync',
    description: 'Which attributes feed the user record, and how directory users meet existing accounts.',
    fields: [
      [
        'users.uniqueIdAttribute',
        'User Unique Identifier Attribute',
        'The attribute that identifies an account and never changes, even on rename. auto picks entryUUID (OpenLDAP), objectGUID (Active Directory) or nsUniqueId (389-DS).',
      ],
      [
        'users.usernameAttribute',
        'Username Attribute',
        'The attribute(s) holding the username, one per line; the first with a value wins (e.g. uid, or sAMAccountName on Active Directory).',
      ],
      ['users.emailAttribute', 'User Mail Attribute', "The attribute used as the user's email address."],
      ['users.firstNameAttribute', 'User First Name Attribute', 'The attribute used as the first name.'],
      ['users.lastNameAttribute', 'User Last Name Attribute', 'The attribute used as the last name.'],
      ['users.displayNameAttribute', 'Display Name Attribute', 'The attribute used as the display name.'],
      [
        'sync.mergeExistingUsers.enabled',
        'Merge Existing Users',
        'Link a directory user to an existing local account with the same username or email instead of creating a second account. Never two directory users to one account, never an administrator.',
      ],
      ['sync.mergeExistingUsers.matchBy', 'Merge by', 'Which field must match for a merge: username or email.'],
      [
        'login.createOnFirstLogin',
        'Create user on first login',
        'Create the account at the first successful directory login, even before a sync has imported it (RustDesk).',
      ],
      ['login.updateOnLogin', 'Update User Data on Login', "Refresh the user's attributes and memberships from the directory at every login."],
    ],
  },
  {
    id: 'group-search',
    title: 'Group Search',
    description:
      'Where groups are read, how their members are listed, and how membership of a mapped group is decided (shared by Sync Roles and Sync Channels, as in the seed).',
    fields: [
      ['groups.enabled', 'Sync groups', 'Read groups and their memberships from the directory.'],
      ['groups.baseDn', 'LDAP Group BaseDN', 'Where groups are searched, e.g. ou=groups,dc=example,dc=org.', 'ou=groups,dc=example,dc=org'],
      ['groups.scope', 'Group search scope', 'one: only the entries immediately below the base DN; sub: the whole subtree.'],
      ['groups.filter', 'Group filter', 'The LDAP filter every group entry must match.'],
      [
        'groups.uniqueIdAttribute',
        'Group Unique Identifier Attribute',
        'The attribute that identifies a group and never changes; auto picks it by server type.',
      ],
      ['groups.nameAttribute', 'Group Name Attribute', 'The attribute used as the name of synced groups.'],
      ['groups.memberAttribute', 'Member attributes', "Which attributes list a group's members: member and uniqueMember hold DNs, memberUid holds usernames."],
      [
        'groups.nestedGroups',
        'Nested groups',
        'Count the members of member groups too, transitively. Cycles are detected and reported. Mapped groups (roles, channels, admin) still follow the User Group Filter: it is asked about member groups too, and nesting passes only through the ones it admits.',
      ],
      [
        'mapping.groupSearch.baseDn',
        'Mapped groups BaseDN',
        'Where the groups named in the role and channel maps are looked up. Empty: the LDAP Group BaseDN above.',
      ],
      [
        'mapping.groupSearch.strategy',
        'Group membership validation strategy',
        'each: apply the User Group Filter for each mapped group (slower; needed for #{groupName}). once: apply it once per user and take every group it returns (faster; #{groupName} is not allowed).',
      ],
      [
        'mapping.groupSearch.userGroupFilter',
        'User Group Filter',
        'The filter that decides whether a user is in a group. Placeholders: #{username}, #{groupName}, #{userdn}; their values are always escaped. Example: (&(cn=#{groupName})(memberUid=#{username})).',
      ],
      [
        'mapping.groupSearch.nameAttribute',
        'Mapped group name attribute',
        'With the once strategy: the attribute(s) naming each group the filter returns, one per line.',
      ],
    ],
  },
  {
    id: 'background-sync',
    title: 'Background Sync',
    description: 'Automatic synchronisation on a schedule (Rocket.Chat), and on start-up (Pocket ID).',
    fields: [
      ['backgroundSync.enabled', 'Background Sync', 'Synchronise with the directory automatically on the schedule below.'],
      ['backgroundSync.schedule', 'Background Sync Interval', 'A cron expression (0 * * * *) or Cron Text (every 1 hour, every day at 02:00).', 'every 1 hour'],
      ['backgroundSync.onStartup', 'Sync on startup', 'Also run a sync when the server starts.'],
      [
        'backgroundSync.fullSchedule',
        'Full sync interval',
        'When Background Sync is on and its syncs are incremental, also read the whole directory on this schedule: it catches what a change feed cannot see (deletes, when changes are found by modification time).',
        'every day at 03:00',
      ],
      [
        'sync.importNewUsers',
        'Background Sync Import New Users',
        'Create accounts for users who exist in the directory (within the filters) but not yet in dirbridge.',
      ],
      [
        'sync.updateExistingUsers',
        'Background Sync Update Existing Users',
        'Update names, email and username of users already imported. The DN is always kept current.',
      ],
      [
        'sync.disableMissingUsers',
        'Automatically Disable Users Not Found in LDAP',
        'Disable accounts whose directory entry is gone (under the guard, after the grace runs in Advanced Sync). They are enabled again when the entry returns.',
      ],
    ],
  },
  {
    id: 'sync-roles',
    title: 'Sync Roles',
    description: "Roles from directory groups, and dirbridge's own administrators (Pocket ID's Admin Group Name).",
    fields: [
      ['mapping.roles.enabled', 'Sync LDAP Groups', 'Grant roles from group membership, as the User Data Group Map says.'],
      [
        'mapping.roles.autoRemove',
        'Auto Remove User Roles',
        'Take away roles from users who are no longer in the group. Only roles that appear in the map are removed.',
      ],
      [
        'mapping.roles.map',
        'User Data Group Map',
        'A JSON object from group name to one role or a list of roles, e.g. {"rocket-admin": "admin", "manager": ["leader", "moderator"]}.',
      ],
      [
        'mapping.adminGroup',
        'Admin Group Name',
        "Members of this group get dirbridge's admin flag and may sign in to this console; leaving the group takes it away. Local administrators are never touched.",
        '_dirbridge_admins',
      ],
    ],
  },
  {
    id: 'sync-channels',
    title: 'Sync Channels',
    description: 'Channel membership from directory groups.',
    fields: [
      ['mapping.channels.enabled', 'Auto Sync LDAP Groups to Channels', 'Add users to channels based on their groups. Missing channels are created.'],
      ['mapping.channels.autoRemove', 'Auto Remove Users from Channels', 'Remove users from channels when they are no longer in the corresponding group.'],
      ['mapping.channels.channelAdmin', 'Channel Admin', 'The user who owns channels that a sync creates.', 'rocket.cat'],
      [
        'mapping.channels.map',
        'LDAP Group Channel Map',
        'A JSON object from group name to one channel or a list, e.g. {"employee": "general", "techsupport": ["helpdesk", "support"]}.',
      ],
    ],
  },
  {
    id: 'sync-teams',
    title: 'Sync Teams',
    description: 'Team membership from directory groups.',
    fields: [
      ['mapping.teams.enabled', 'Enable team mapping', 'Synchronise team assignments from the directory with the mapping and query below.'],
      [
        'mapping.teams.map',
        'Team mapping',
        'A JSON object from directory team name to team name(s), e.g. {"ldap-team-1": "TeamA"}. Only mapped teams are synchronised.',
      ],
      ['mapping.teams.baseDn', 'LDAP Teams BaseDN', "Where users' teams are looked up. Empty: the LDAP Group BaseDN."],
      ['mapping.teams.nameAttribute', 'LDAP Team Name Attribute', 'The attribute(s) naming a team, one per line (e.g. cn and ou).'],
      [
        'mapping.teams.userGroupsQuery',
        'LDAP query to get user groups',
        "The filter returning a user's groups; #{username} and #{userdn} are replaced (escaped). Example: (&(objectClass=groupOfNames)(member=#{userdn})).",
      ],
      [
        'mapping.teams.validateOnLogin',
        'Validate mapping for each login',
        "Update the user's teams at every login. When off, teams are loaded only at the first login.",
      ],
    ],
  },
  {
    id: 'sync-custom-fields',
    title: 'Sync Custom Fields',
    description: 'Custom profile fields from directory attributes.',
    fields: [
      ['mapping.customFields.enabled', 'Sync Custom Fields', "Update users' custom fields from the mapped attributes."],
      [
        'mapping.customFields.map',
        'Custom Fields Mapping',
        'A JSON object from LDAP attribute to custom field name, e.g. {"departmentNumber": "department", "employeeType": "roleType"}. Only mapped attributes are considered.',
      ],
    ],
  },
  {
    id: 'abac',
    title: 'ABAC',
    description: 'Attributes for attribute-based access control; multi-valued attributes keep every value.',
    fields: [
      ['mapping.abac.enabled', 'Sync ABAC Attributes', "Keep users' ABAC attributes in sync with the mapped directory attributes."],
      [
        'mapping.abac.map',
        'ABAC Attribute Mapping',
        'A JSON object from LDAP attribute to ABAC attribute name, e.g. {"department": "dept", "region": "region"}.',
      ],
      [
        'mapping.abac.backgroundSync.enabled',
        'ABAC Attributes Background Sync',
        'Run a separate, lighter pass over just these attributes on its own schedule.',
      ],
      ['mapping.abac.backgroundSync.schedule', 'ABAC Attributes Background Sync Interval', 'A cron expression or Cron Text (every 1 hour).'],
    ],
  },
  {
    id: 'avatars',
    title: 'Avatars',
    description: 'User photos from the directory (Avatar Background Sync).',
    fields: [
      ['mapping.avatars.enabled', 'Avatar Background Sync', 'Synchronise avatars in a separate background process.'],
      ['mapping.avatars.schedule', 'Avatar Background Sync Interval', 'A cron expression or Cron Text (every 1 hour).'],
      ['mapping.avatars.attributes', 'Avatar attributes', 'The attributes holding photos, one per line; the first with a JPEG, PNG, GIF or WebP image wins.'],
      ['mapping.avatars.maxBytes', 'Maximum avatar size (bytes)', 'Larger photos are skipped with a warning in the audit log.'],
    ],
  },
  {
    id: 'auto-logout',
    title: 'Auto Logout',
    description: 'Ending the sessions of users who were deactivated.',
    fields: [
      ['autoLogout.enabled', 'Enable Auto Logout', 'Revoke every session of a deactivated user.'],
      ['autoLogout.schedule', 'Auto Logout Interval', 'How often deactivated users are checked for, as cron (*/5 * * * * is every five minutes) or Cron Text.'],
    ],
  },
  {
    id: 'advanced-sync',
    title: 'Advanced Sync',
    description: 'Account state, extra attributes, and the guard that refuses a suspicious sync.',
    fields: [
      [
        'sync.activeState',
        'Sync User Active State',
        'none: do nothing; disable: disable users the directory disables; enable: re-enable users it enables; both. Uses pwdAccountLockedTime (OpenLDAP), userAccountControl (Active Directory) or nsAccountLock (389-DS).',
      ],
      [
        'directory.attributesToQuery',
        'Attributes to Query',
        'Extra attributes to request, one per line; * is all regular and + all operational attributes. The mappers add what they need on top.',
      ],
      [
        'sync.guard.maxDisable.count',
        'Guard: most accounts disabled per run',
        'A plan that would disable more accounts (or delete more groups) than this is refused and recorded, not applied.',
      ],
      ['sync.guard.maxDisable.percent', 'Guard: most accounts disabled per run (%)', "The same limit as a percentage of the directory's accounts."],
      [
        'sync.guard.maxRevoke.count',
        'Guard: most users losing access per run',
        'A plan that would take group memberships, roles, channels, teams or the administrator flag away from more users than this is refused and recorded, not applied: a wrong group base DN or member attribute looks like "nobody is in any group". Raise it for a planned reorganisation.',
      ],
      ['sync.guard.maxRevoke.percent', 'Guard: most users losing access per run (%)', "The same limit as a percentage of the directory's accounts."],
      [
        'sync.missingGraceRuns',
        'Grace runs for missing users',
        'Consecutive runs a vanished user stays enabled before it is disabled (0: at the first run without it).',
      ],
      ['sync.batchSize', 'Apply batch size', 'Plan steps written per transaction.'],
      [
        'sync.incremental.feed',
        'Incremental sync',
        "auto: after the first full sync, read only what changed, through the server's change feed (content sync on OpenLDAP and 389-DS with its Content Synchronization plugin, DirSync on Active Directory, uSNChanged where the account lacks the replication right) or modification times elsewhere; off: read everything every time. A source can be named to force it. sync --full and the full sync schedule always read everything.",
      ],
      [
        'sync.incremental.timestampOverlapSeconds',
        'Modification-time overlap (seconds)',
        'Polling by modification time reads this far before the last read again, for clock differences between dirbridge and the server and changes committed during a read.',
      ],
      [
        'sync.live.enabled',
        'Live sync',
        "Watch the directory over one long-lived connection and sync each change within seconds (content sync on OpenLDAP and 389-DS, DirSync polled on Active Directory). One instance watches at a time; the runs it starts take the background sync's lock.",
      ],
      [
        'sync.live.pollSeconds',
        'Live sync poll interval (seconds)',
        'How often DirSync is asked on Active Directory (content sync servers push changes at once).',
      ],
    ],
  },
  {
    id: 'login',
    title: 'Login & Sessions',
    description: 'Directory login: sessions, throttling and the connections used to check passwords.',
    fields: [
      ['login.sessionTtlMinutes', 'Session lifetime (minutes)', 'How long a session token stays valid.'],
      [
        'sync.revokeSessionsOnPasswordChange',
        'Revoke sessions on a password change',
        'When the directory says a user\'s password changed since the last sync or login saw it (pwdChangedTime on OpenLDAP with ppolicy, pwdUpdateTime on 389-DS with passwordTrackUpdateTime on, pwdLastSet on Active Directory, where "must change at next logon" counts too), end all of that user\'s sessions, with session.revoked in the audit log. A login with the new password starts a new session after it.',
      ],
      [
        'login.throttle.maxFailures',
        'Failed logins allowed per username',
        'Failed attempts allowed per username (and per directory account, whichever name was typed) from all addresses together within the window below. With "Stay below the directory\'s lockout" on, the directory\'s own threshold may lower it.',
      ],
      [
        'login.throttle.windowSeconds',
        'Throttle window (seconds)',
        "The window in which failed attempts are counted. A directory account's failures are kept at least as long as the directory itself counts them (its failure count interval, or until a successful login when it never forgets).",
      ],
      [
        'login.throttle.maxFailuresPerAddress',
        'Failed logins allowed per address',
        'Failed attempts allowed from one client address (an IPv6 address counts with its /64 network) within the window, over all usernames. Attempts at a username from an address it signed in from before do not count here.',
      ],
      [
        'login.throttle.stayBelowDirectoryLockout',
        "Stay below the directory's lockout",
        "Stop guesses at a directory account before the directory's password policy would lock it: the limit becomes one less than its lockout threshold (ppolicy pwdMaxFailure, Active Directory lockoutThreshold, 389-DS passwordMaxFailure), and 3 when no policy can be read. Failures other applications caused count too where the directory shows them (pwdFailureTime, badPwdCount).",
      ],
      [
        'login.throttle.knownAddressDays',
        'Remember sign-in addresses (days)',
        'After a successful login, the username and client address are remembered for this many days (0: never). From a remembered address the per-address limit does not apply and the reserve below is available.',
      ],
      [
        'login.throttle.knownAddressReserve',
        'Attempts reserved for known addresses',
        "Attempts of the per-username limit that only remembered addresses may use: while strangers' guesses are refused, the user still signs in from an address they used before. Must be less than the per-username limit.",
      ],
      ['login.bindPoolSize', 'Bind pool size', 'Directory connections used to verify passwords; logins share them and never open one each.'],
    ],
  },
  {
    id: 'write-back',
    title: 'Write-back',
    description:
      'Two-way sync: what dirbridge writes back to the directory when an administrator creates, changes, disables or deletes users and groups here, or sets a password. Every write is planned, guarded and audited like a sync; a write the directory cannot take now waits in the outbox (Write-back page) and is retried.',
    fields: [
      [
        'writeBack.enabled',
        'Enable write-back',
        'Turn two-way sync on. Off: the directory is read only, and user and group changes made here stay in dirbridge.',
      ],
      [
        'writeBack.mode',
        'Mode',
        'readOnly: never write (directory users stay read-only here). writable: changes made here go to the directory. unsynced: changes made here are kept in dirbridge and never written; the next sync does not undo them.',
      ],
      [
        'writeBack.authority.default',
        'Authority',
        "Who wins when dirbridge and the directory both changed the same value since dirbridge last saw it: directory (the directory's value stays, dirbridge follows it) or dirbridge (dirbridge's value is written). The loser's value is kept as a conflict for an administrator to review.",
      ],
      [
        'writeBack.authority.fields',
        'Authority per field',
        'Overrides by user field, as JSON, e.g. {"email": "dirbridge"}. Fields: email, firstName, lastName, displayName.',
      ],
      [
        'writeBack.usersDn',
        'Users DN',
        'Where new users are created, e.g. ou=people,dc=example,dc=com. Required in writable mode.',
        'ou=people,dc=example,dc=com',
      ],
      ['writeBack.groupsDn', 'Groups DN', 'Where new groups are created, e.g. ou=groups,dc=example,dc=com.', 'ou=groups,dc=example,dc=com'],
      [
        'writeBack.entry.preset',
        'Entry preset',
        'The shape of new entries. auto follows the server Test Connection finds: OpenLDAP and 389-DS inetOrgPerson named by uid, groupOfNames with member; Active Directory user named by cn, with sAMAccountName and userPrincipalName kept in step with the username, and group with member.',
      ],
      ['writeBack.entry.userObjectClasses', 'User object classes', "Overrides the preset's object classes of new users, one per line."],
      ['writeBack.entry.userRdnAttribute', 'User RDN attribute', 'Overrides the attribute that names new users (uid, or cn on Active Directory).'],
      ['writeBack.entry.groupObjectClasses', 'Group object classes', "Overrides the preset's object classes of new groups, one per line."],
      [
        'writeBack.entry.groupMemberAttribute',
        'Group member attribute',
        'Overrides the attribute new groups list their members in: member, uniqueMember or memberUid.',
      ],
      [
        'writeBack.entry.placeholderMember',
        'Placeholder member',
        "Kept in a group whose schema requires a member (OpenLDAP's groupOfNames) while it has no other member, so an empty group is kept rather than deleted. It names no real entry.",
      ],
      [
        'writeBack.entry.userPrincipalSuffix',
        'UPN suffix',
        "Active Directory only: the suffix of userPrincipalName (user@suffix); by default the DNS name of the users DN's domain.",
        'example.com',
      ],
      [
        'writeBack.fields',
        'Fields written back',
        'The user fields dirbridge writes, each to the attribute the user mapping reads it from (Email Field, First Name Field, ...). The username is always written when a user is renamed.',
      ],
      [
        'writeBack.scopeGroups',
        'Only members of these groups',
        'Only users in one of these dirbridge groups are written back, one group name per line; empty: every user.',
      ],
      [
        'writeBack.deletion.users',
        'When a user is deleted',
        'What a user deleted in dirbridge becomes in the directory: disable (the default; the entry stays, disabled), delete (the entry is deleted) or keep (left as it is). Disabling a user here only ever disables it there.',
      ],
      [
        'writeBack.deletion.groups',
        'When a group is deleted',
        "keep (the default) leaves the directory's group; delete deletes it. A group is never deleted for being empty.",
      ],
      [
        'writeBack.passwords',
        'Write passwords',
        "Password resets and users' own password changes go to the directory: the Password Modify operation on OpenLDAP and 389-DS (the server hashes the password and applies its policy), unicodePwd over LDAPS or StartTLS on Active Directory. Passwords are never kept in dirbridge.",
      ],
    ],
  },
];

/** The seeds' names for enum values, by path; every option of the field must be named. */
const OPTION_LABELS: Readonly<Record<string, Record<string, string>>> = {
  'users.scope': { one: 'One level below the base DN', sub: 'Whole subtree' },
  'groups.scope': { one: 'One level below the base DN', sub: 'Whole subtree' },
  'sync.mergeExistingUsers.matchBy': { username: 'Username', email: 'Email' },
  'sync.activeState': { none: 'Do nothing', disable: 'Disable Users', enable: 'Enable Users', both: 'Enable and Disable Users' },
  'mapping.groupSearch.strategy': { each: 'Apply filter for each group', once: 'Apply filter once to get all memberships' },
};

/** Every leaf path of the settings schema (objects are walked; anything else is a leaf). */
export function settingsLeafPaths(schema: z.ZodType = settingsSchema, prefix = ''): string[] {
  const { inner } = unwrapWrappers(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([key, child]) =>
      settingsLeafPaths(child, prefix === '' ? key : `${prefix}.${key}`),
    );
  }
  return [prefix];
}

/** The form for the settings schema. Throws when the layout names a path the schema lacks or a field that is not a leaf. */
export function buildSettingsForm(schema: z.ZodType = settingsSchema): SettingsForm {
  return {
    sections: LAYOUT.map((section) => ({
      id: section.id,
      title: section.title,
      description: section.description,
      fields: section.fields.map(([path, label, help, placeholder]) => {
        const labels = OPTION_LABELS[path];
        return {
          path,
          label,
          help,
          ...describeLeaf(schema, path),
          ...(labels === undefined ? {} : { optionLabels: { ...labels } }),
          ...(placeholder === undefined ? {} : { placeholder }),
        };
      }),
    })),
  };
}

/** The schema of the leaf setting at `path`, without its optional/default/pipe wrappers; undefined when there is none. */
export function settingSchemaAt(path: readonly string[], root: z.ZodType = settingsSchema): z.ZodType | undefined {
  let current: z.ZodType = root;
  for (const key of path) {
    const step = unwrapWrappers(current).inner;
    if (!(step instanceof z.ZodObject)) return undefined;
    const child = (step.shape as Record<string, z.ZodType | undefined>)[key];
    if (child === undefined) return undefined;
    current = child;
  }
  return unwrapWrappers(current).inner;
}

interface Unwrapped {
  inner: z.ZodType;
  isOptional: boolean;
  defaultValue?: unknown;
}

/** Strips optional/default/pipe wrappers; a pipe's output type is what the value ends up as. */
function unwrapWrappers(schema: z.ZodType): Unwrapped {
  let current: z.ZodType = schema;
  let isOptional = false;
  let defaultValue: unknown;
  let hasDefault = false;
  for (;;) {
    if (current instanceof z.ZodOptional) {
      isOptional = true;
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodDefault) {
      if (!hasDefault) {
        hasDefault = true;
        defaultValue = current.def.defaultValue;
      }
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodPipe) {
      current = current.out as z.ZodType;
    } else {
      return { inner: current, isOptional, ...(hasDefault ? { defaultValue } : {}) };
    }
  }
}

function describeLeaf(root: z.ZodType, path: string): Omit<SettingsField, 'path' | 'label' | 'help' | 'placeholder'> {
  let current: z.ZodType = root;
  for (const key of path.split('.')) {
    const step = unwrapWrappers(current);
    if (!(step.inner instanceof z.ZodObject)) throw new Error(`settings form: ${path} is not a settings path`);
    const child = (step.inner.shape as Record<string, z.ZodType | undefined>)[key];
    if (child === undefined) throw new Error(`settings form: ${path} is not a settings path`);
    current = child;
  }
  const leaf = unwrapWrappers(current);
  const base = { isOptional: leaf.isOptional, ...(leaf.defaultValue === undefined ? {} : { defaultValue: leaf.defaultValue }) };
  const inner = leaf.inner;
  if (SECRET_SETTING_PATHS.includes(path)) return { ...base, kind: 'secret' };
  if (inner instanceof z.ZodObject) throw new Error(`settings form: ${path} is an object, not a setting`);
  if (inner instanceof z.ZodBoolean) return { ...base, kind: 'boolean' };
  if (inner instanceof z.ZodNumber) {
    return {
      ...base,
      kind: inner.isInt ? 'integer' : 'number',
      ...(inner.minValue !== null && Number.isFinite(inner.minValue) && inner.minValue > Number.MIN_SAFE_INTEGER ? { min: inner.minValue } : {}),
      ...(inner.maxValue !== null && Number.isFinite(inner.maxValue) && inner.maxValue < Number.MAX_SAFE_INTEGER ? { max: inner.maxValue } : {}),
    };
  }
  if (inner instanceof z.ZodEnum) return { ...base, kind: 'enum', options: inner.options.map(String) };
  if (inner instanceof z.ZodArray) {
    const element = unwrapWrappers(inner.element as z.ZodType).inner;
    return { ...base, kind: 'list', ...(element instanceof z.ZodEnum ? { options: element.options.map(String) } : {}) };
  }
  if (inner instanceof z.ZodRecord) return { ...base, kind: 'map' };
  if (inner instanceof z.ZodString) return { ...base, kind: 'string', ...(inner.maxLength === null ? {} : { maxLength: inner.maxLength }) };
  return { ...base, kind: 'json' };
}
