/**
 * The one settings document. Every part of dirbridge receives its slice of the parsed
 * `Settings` as an argument; nothing reads settings on its own.
 *
 * Names follow the seeds (Rocket.Chat, Pocket ID, RustDesk, Defguard) where they exist;
 * the README's settings reference lists the seed name beside each key.
 */
import { z } from 'zod';
import { parseDn } from '../ldap/dn.ts';
import { parseFilter, parseFilterTemplate } from '../ldap/filter.ts';
import { CHANGE_SOURCES } from '../model/sync-cursor.ts';
import { parseSettingSchedule } from '../scheduler/schedule.ts';

/** Accepts numbers and numeric strings (environment variables are strings). */
function integer() {
  return z.preprocess((value) => (typeof value === 'string' && value.trim() !== '' ? Number(value) : value), z.number().int());
}

/**
 * The longest delay Node's timers hold: `setTimeout` with more fires at once (with a warning),
 * so a longer timeout would make every operation fail immediately. Every duration setting's
 * upper bound stays below it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `3600000 ms (1 hour)`: a bound as the messages and the README show it. */
function describeMs(ms: number): string {
  const units: Array<[number, string]> = [
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1_000, 'second'],
  ];
  const unit = units.find(([size]) => ms >= size && ms % size === 0);
  if (unit === undefined) return `${ms} ms`;
  const count = ms / unit[0];
  return `${ms} ms (${count} ${unit[1]}${count === 1 ? '' : 's'})`;
}

/** An integer setting within [min, max]; `unit` follows the numbers in the messages (e.g. " runs"). */
function integerIn(min: number, max: number, unit = '') {
  return integer().pipe(z.number().int().min(min, `must be at least ${min}${unit}`).max(max, `must be at most ${max}${unit}`));
}

/** A duration in milliseconds within [min, max]; `max` never exceeds what Node's timers hold. */
function durationMs(min: number, max: number, minReason: string) {
  if (max > MAX_TIMER_MS) throw new Error(`durationMs: ${max} ms exceeds what Node's timers hold`);
  return integer().pipe(
    z
      .number()
      .int()
      .min(min, `must be at least ${describeMs(min)} (${minReason})`)
      .max(max, `must be at most ${describeMs(max)}`),
  );
}

/** Upper bounds on text and lists, so a pasted document cannot make a setting unbounded. */
export const SETTING_LIMITS = {
  /** A DN: AD allows 255 characters per RDN value; a whole DN of a few thousand is plenty. */
  dn: 2_048,
  /** An LDAP filter or filter template. */
  filter: 8_192,
  /** An attribute name or OID (with options such as `;binary`). */
  attribute: 128,
  /** A URL. */
  url: 1_024,
  /** A name: a group, role, channel, team, custom field or user name. */
  name: 256,
  /** A file path or host name. */
  path: 4_096,
  /** The bind password (AD allows 256 characters). */
  secret: 1_024,
  /** A schedule, cron or text form. */
  schedule: 128,
  /** Servers in `directory.urls`. */
  urls: 16,
  /** Attributes in one attribute list. */
  attributes: 64,
  /** Entries in one map (roles, channels, teams, custom fields, ABAC). */
  mapEntries: 5_000,
  /** Names one map entry may list. */
  mapValues: 100,
} as const;

/** A string of at most `max` characters; `what` names it in the message. */
function text(max: number, what: string) {
  return z.string().max(max, `must be at most ${max} characters (${what})`);
}

/** A non-empty string of at most `max` characters. */
function nonEmptyText(max: number, what: string) {
  return text(max, what).min(1, 'must not be empty');
}

/** Accepts booleans and the usual textual forms of them. */
function boolean() {
  return z.preprocess((value) => {
    if (typeof value !== 'string') return value;
    const text = value.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(text)) return true;
    if (['false', '0', 'no', 'off'].includes(text)) return false;
    return value;
  }, z.boolean());
}

/** A list of attribute names, given as an array or as the seeds' comma-separated text ("uid,cn"). */
function attributeList() {
  return z.preprocess(
    (value) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((part) => part.trim())
            .filter((part) => part !== '')
        : value,
    z
      .array(
        text(SETTING_LIMITS.attribute, 'an attribute name').regex(
          /^(\*|\+|[A-Za-z][A-Za-z0-9-]*(;[A-Za-z0-9-]+)*|[0-9]+(\.[0-9]+)+)$/,
          'expected an attribute name',
        ),
      )
      .max(SETTING_LIMITS.attributes, `at most ${SETTING_LIMITS.attributes} attributes`),
  );
}

/** An RFC 4514 distinguished name, checked when the settings load. */
function distinguishedName() {
  return text(SETTING_LIMITS.dn, 'a DN').superRefine((value, ctx) => {
    try {
      parseDn(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `not a valid DN: ${error instanceof Error ? error.message : String(error)}` });
    }
  });
}

/**
 * A base DN to search under: a DN that is not the root (""). A search from the root DSE finds
 * nothing on OpenLDAP and 389-DS and only referrals on an Active Directory domain controller.
 */
function baseDn() {
  return distinguishedName().refine((value) => value.trim() !== '', {
    message:
      'must not be empty: a search from the root ("") finds no entries; give the naming context, e.g. dc=example,dc=org (on an AD global catalog, the forest root domain)',
  });
}

/** A `#{…}` placeholder, as the User Group Filter and the team query take them. */
const PLACEHOLDER = /#\{[^}]*\}/;

/**
 * An RFC 4515 filter, checked when the settings load, used as written: a `#{…}` placeholder
 * would be searched for literally and match nothing, so it is refused.
 */
function searchFilter() {
  return text(SETTING_LIMITS.filter, 'an LDAP filter').superRefine((value, ctx) => {
    const placeholder = PLACEHOLDER.exec(value)?.[0];
    if (placeholder !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `${placeholder} is not filled in here: only the User Group Filter (mapping.groupSearch.userGroupFilter) and the team query (mapping.teams.userGroupsQuery) take placeholders, this filter is sent as written (to match the text, write # as \\23)`,
      });
      return;
    }
    try {
      parseFilter(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `not a valid LDAP filter: ${error instanceof Error ? error.message : String(error)}` });
    }
  });
}

const ldapUrl = text(SETTING_LIMITS.url, 'a URL').regex(/^ldaps?:\/\/[^/\s?#]+(:\d+)?\/?$/i, 'expected ldap://host[:port] or ldaps://host[:port]');

/** Directory timeouts start at 100 ms: 0 would mean "wait forever", less cannot finish a TCP or TLS handshake. */
const TIMEOUT_FLOOR = 'shorter cannot complete a connection; 0 would mean "wait forever"';

/** Connection to the directory server(s). */
export const directorySettingsSchema = z
  .object({
    urls: z.preprocess(
      (value) => (typeof value === 'string' ? value.split(/[\s,]+/).filter((part) => part !== '') : value),
      z.array(ldapUrl).min(1, 'at least one URL is required').max(SETTING_LIMITS.urls, `at most ${SETTING_LIMITS.urls} URLs`),
    ),
    startTls: boolean().default(false),
    tls: z
      .object({
        caFile: nonEmptyText(SETTING_LIMITS.path, 'a file path').optional(),
        rejectUnauthorized: boolean().default(true),
        serverName: nonEmptyText(253, 'a host name').optional(),
      })
      .strict()
      .default({ rejectUnauthorized: true }),
    bindDn: distinguishedName().optional(),
    bindPassword: text(SETTING_LIMITS.secret, 'a password').optional(),
    /** One connection attempt: at most 5 minutes. */
    connectTimeoutMs: durationMs(100, 300_000, TIMEOUT_FLOOR).default(5_000),
    /** One LDAP operation (a bind, one page of a search): at most 1 hour. */
    operationTimeoutMs: durationMs(100, 3_600_000, TIMEOUT_FLOOR).default(30_000),
    pageSize: integerIn(1, 100_000).default(500),
    attributesToQuery: attributeList().default([]),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.bindDn !== undefined && (value.bindPassword === undefined || value.bindPassword.trim() === '')) {
      ctx.addIssue({
        code: 'custom',
        path: ['bindPassword'],
        message: 'required when bindDn is set (an empty password would be an unauthenticated bind)',
      });
    }
    if (value.startTls && value.urls.some((url) => url.toLowerCase().startsWith('ldaps://'))) {
      ctx.addIssue({ code: 'custom', path: ['startTls'], message: 'StartTLS cannot be combined with ldaps:// URLs' });
    }
  });

const scope = z.enum(['one', 'sub']);

/** One attribute name (or `auto` where that is allowed). */
function attributeName() {
  return nonEmptyText(SETTING_LIMITS.attribute, 'an attribute name');
}

/** Where users live and which attributes feed the user record. */
export const userSettingsSchema = z
  .object({
    baseDn: baseDn(),
    scope: scope.default('sub'),
    filter: searchFilter().default('(objectClass=inetOrgPerson)'),
    uniqueIdAttribute: attributeName().default('auto'),
    usernameAttribute: attributeList().pipe(z.array(z.string()).min(1)).default(['uid', 'cn']),
    emailAttribute: attributeName().default('mail'),
    firstNameAttribute: attributeName().default('givenName'),
    lastNameAttribute: attributeName().default('sn'),
    displayNameAttribute: attributeName().default('displayName'),
  })
  .strict();

const memberAttribute = z.enum(['member', 'uniqueMember', 'memberUid']);

/** Where groups live and how their members are listed. */
export const groupSettingsSchema = z
  .object({
    enabled: boolean().default(true),
    baseDn: baseDn(),
    scope: scope.default('sub'),
    filter: searchFilter().default('(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup)(objectClass=group))'),
    uniqueIdAttribute: attributeName().default('auto'),
    nameAttribute: attributeName().default('cn'),
    memberAttribute: z
      .preprocess((value) => (typeof value === 'string' ? value.split(',').map((part) => part.trim()) : value), z.array(memberAttribute).min(1))
      .default(['member']),
    nestedGroups: boolean().default(false),
  })
  .strict();

/** The largest guard count: more accounts than any directory holds, so "no limit" stays expressible. */
const GUARD_COUNT_MAX = 10_000_000;

/** A guard limit: a plan over `count` users, or over `percent` of the directory's enabled users, is refused. */
function guardLimit(defaults: { count: number; percent: number }) {
  return z
    .object({
      count: integerIn(0, GUARD_COUNT_MAX).default(defaults.count),
      percent: z
        .preprocess((value) => (typeof value === 'string' && value.trim() !== '' ? Number(value) : value), z.number().min(0).max(100))
        .default(defaults.percent),
    })
    .strict()
    .default(defaults);
}

/** What a sync may do, and the guard that stops a suspicious one. */
export const syncSettingsSchema = z
  .object({
    importNewUsers: boolean().default(true),
    updateExistingUsers: boolean().default(true),
    mergeExistingUsers: z
      .object({
        enabled: boolean().default(false),
        matchBy: z.enum(['username', 'email']).default('username'),
      })
      .strict()
      .default({ enabled: false, matchBy: 'username' }),
    disableMissingUsers: boolean().default(false),
    activeState: z.enum(['none', 'disable', 'enable', 'both']).default('both'),
    guard: z
      .object({
        maxDisable: guardLimit({ count: 100, percent: 10 }),
        maxRevoke: guardLimit({ count: 1_000, percent: 25 }),
      })
      .strict()
      .default({ maxDisable: { count: 100, percent: 10 }, maxRevoke: { count: 1_000, percent: 25 } }),
    batchSize: integerIn(1, 100_000).default(5_000),
    missingGraceRuns: integerIn(0, 1_000, ' runs').default(0),
    /**
     * Revoke a user's sessions when the directory's password change time moves forward
     * (`pwdChangedTime`, `pwdUpdateTime`, `pwdLastSet`), in sync and at login.
     */
    revokeSessionsOnPasswordChange: boolean().default(true),
    /**
     * Incremental sync (issue #11): `auto` reads the directory's change feed where the server has
     * one (RFC 4533 content sync, AD DirSync, uSNChanged) and modification times elsewhere; a
     * source names one; `off` reads everything every time. `sync --full` always reads everything.
     */
    incremental: z
      .object({
        feed: z.enum(['auto', 'off', ...CHANGE_SOURCES]).default('auto'),
        /** Modification-time polling reads again this far back: clock skew and changes committed mid-read. */
        timestampOverlapSeconds: integerIn(0, 86_400, ' seconds (a day)').default(300),
      })
      .strict()
      .default({ feed: 'auto', timestampOverlapSeconds: 300 }),
    /**
     * Live mode: one long-lived connection watches the directory (content sync's persist stage, or
     * DirSync every `pollSeconds` on Active Directory) and each change starts an incremental run.
     */
    live: z
      .object({
        enabled: boolean().default(false),
        pollSeconds: integerIn(1, 3_600, ' seconds (an hour)').default(5),
      })
      .strict()
      .default({ enabled: false, pollSeconds: 5 }),
  })
  .strict();

/** The change feeds `sync.incremental.feed` may name. */
export type IncrementalFeedSetting = SyncSettings['incremental']['feed'];

/** Directory login: provisioning, sessions, throttling and the bind pool. */
export const loginSettingsSchema = z
  .object({
    createOnFirstLogin: boolean().default(true),
    updateOnLogin: boolean().default(true),
    /** At most a year; a session's expiry is a stored time, never a timer. */
    sessionTtlMinutes: integerIn(1, 525_600, ' minutes (a year)').default(480),
    /** The login throttle (`auth/throttle.ts`; the README's security section explains the keys). */
    throttle: z
      .object({
        maxFailures: integerIn(1, 10_000).default(5),
        windowSeconds: integerIn(1, 86_400, ' seconds (a day)').default(900),
        maxFailuresPerAddress: integerIn(1, 100_000).default(20),
        stayBelowDirectoryLockout: boolean().default(true),
        knownAddressDays: integerIn(0, 3_650, ' days').default(30),
        knownAddressReserve: integerIn(0, 9_999).default(1),
      })
      .strict()
      .superRefine((value, ctx) => {
        if (value.knownAddressReserve >= value.maxFailures) {
          ctx.addIssue({
            code: 'custom',
            path: ['knownAddressReserve'],
            message: `must be less than maxFailures (${value.maxFailures}): strangers need at least one attempt`,
          });
        }
      })
      .default({
        maxFailures: 5,
        windowSeconds: 900,
        maxFailuresPerAddress: 20,
        stayBelowDirectoryLockout: true,
        knownAddressDays: 30,
        knownAddressReserve: 1,
      }),
    bindPoolSize: integerIn(1, 256).default(8),
  })
  .strict();

/**
 * A background job's schedule: a cron expression (five or six fields) or the seeds' Cron Text
 * form ("every 1 hour", "every 24 hours", "every day at 02:00"), checked by
 * `parseSettingSchedule`: at most once a minute. The text is kept as written; the scheduler
 * normalises it.
 */
export const scheduleSetting = text(SETTING_LIMITS.schedule, 'a schedule').superRefine((value, ctx) => {
  try {
    parseSettingSchedule(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
  }
});
const cronExpression = scheduleSetting;

/** A filter with `#{placeholder}` values, checked when the settings load; only `allowed` placeholders may appear. */
function filterTemplate(allowed: readonly string[]) {
  return text(SETTING_LIMITS.filter, 'an LDAP filter').superRefine((value, ctx) => {
    try {
      parseFilterTemplate(value, allowed);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `not a valid LDAP filter template: ${error instanceof Error ? error.message : String(error)}` });
    }
  });
}

/** A name a map entry gives (a role, channel, team or group name). */
function mapName() {
  return z.string().min(1).max(SETTING_LIMITS.name, `must be at most ${SETTING_LIMITS.name} characters (a name)`);
}

/**
 * A map with at most `SETTING_LIMITS.mapEntries` entries, keys of at most `keyMax` characters and
 * at most `SETTING_LIMITS.mapValues` names per entry (checked here, not in the key and value
 * schemas, so the messages say which bound was crossed).
 */
function boundedMap<T extends z.ZodType<Record<string, unknown>>>(map: T, keyMax: number) {
  return map.superRefine((value, ctx) => {
    const keys = Object.keys(value);
    if (keys.length > SETTING_LIMITS.mapEntries) ctx.addIssue({ code: 'custom', message: `at most ${SETTING_LIMITS.mapEntries} entries` });
    for (const key of keys) {
      if (key.length > keyMax) ctx.addIssue({ code: 'custom', path: [key], message: `keys must be at most ${keyMax} characters` });
      const entry = value[key];
      if (Array.isArray(entry) && entry.length > SETTING_LIMITS.mapValues) {
        ctx.addIssue({ code: 'custom', path: [key], message: `at most ${SETTING_LIMITS.mapValues} names per entry` });
      }
    }
  });
}

/** A seed-style JSON map: keys to one name or a list of names, e.g. `{"manager": ["leader", "moderator"]}`. */
const nameMap = boundedMap(
  z.record(z.string().min(1, 'keys must not be empty'), z.union([mapName(), z.array(mapName()).min(1)], { error: 'expected string or string[]' }), {
    error: 'expected an object mapping names to a string or string[]',
  }),
  SETTING_LIMITS.name,
);

/** A seed-style attribute map: LDAP attribute → field name, e.g. `{"departmentNumber": "department"}`. */
const attributeMap = boundedMap(
  z.record(
    z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'keys must be LDAP attribute names'),
    z.string({ error: 'expected string' }).min(1).max(SETTING_LIMITS.name, `must be at most ${SETTING_LIMITS.name} characters (a name)`),
    { error: 'expected an object mapping LDAP attributes to names' },
  ),
  SETTING_LIMITS.attribute,
);

const groupFilterPlaceholders = ['username', 'groupName', 'userdn'] as const;

/** Group-to-role/channel/team, attribute-to-field and avatar mapping (Rocket.Chat premium, Pocket ID). */
export const mappingSettingsSchema = z
  .object({
    /** How membership of a mapped group is decided (shared by roles and channels, as in the seed). */
    groupSearch: z
      .object({
        baseDn: baseDn().optional(),
        strategy: z.enum(['each', 'once']).default('each'),
        userGroupFilter: filterTemplate(groupFilterPlaceholders).default(
          '(&(cn=#{groupName})(|(member=#{userdn})(uniqueMember=#{userdn})(memberUid=#{username})))',
        ),
        nameAttribute: attributeList().pipe(z.array(z.string()).min(1)).default(['cn']),
      })
      .strict()
      .superRefine((value, ctx) => {
        if (value.strategy === 'once' && value.userGroupFilter.includes('#{groupName}')) {
          ctx.addIssue({
            code: 'custom',
            path: ['userGroupFilter'],
            message: '#{groupName} cannot be used with the "once" strategy (one search returns all of a user\'s groups)',
          });
        }
      })
      .default({
        strategy: 'each',
        userGroupFilter: '(&(cn=#{groupName})(|(member=#{userdn})(uniqueMember=#{userdn})(memberUid=#{username})))',
        nameAttribute: ['cn'],
      }),
    roles: z
      .object({ enabled: boolean().default(false), autoRemove: boolean().default(false), map: nameMap.default({}) })
      .strict()
      .default({ enabled: false, autoRemove: false, map: {} }),
    channels: z
      .object({
        enabled: boolean().default(false),
        autoRemove: boolean().default(false),
        channelAdmin: nonEmptyText(SETTING_LIMITS.name, 'a username').optional(),
        map: nameMap.default({}),
      })
      .strict()
      .default({ enabled: false, autoRemove: false, map: {} }),
    teams: z
      .object({
        enabled: boolean().default(false),
        map: nameMap.default({}),
        baseDn: baseDn().optional(),
        nameAttribute: attributeList().pipe(z.array(z.string()).min(1)).default(['cn']),
        userGroupsQuery: filterTemplate(['username', 'userdn']).default('(&(objectClass=groupOfNames)(member=#{userdn}))'),
        validateOnLogin: boolean().default(true),
      })
      .strict()
      .default({ enabled: false, map: {}, nameAttribute: ['cn'], userGroupsQuery: '(&(objectClass=groupOfNames)(member=#{userdn}))', validateOnLogin: true }),
    customFields: z
      .object({ enabled: boolean().default(false), map: attributeMap.default({}) })
      .strict()
      .default({ enabled: false, map: {} }),
    abac: z
      .object({
        enabled: boolean().default(false),
        map: attributeMap.default({}),
        /** ABAC Attributes Background Sync (Interval): a separate, lighter pass over just these attributes. */
        backgroundSync: z
          .object({ enabled: boolean().default(false), schedule: cronExpression.default('0 * * * *') })
          .strict()
          .default({ enabled: false, schedule: '0 * * * *' }),
      })
      .strict()
      .default({ enabled: false, map: {}, backgroundSync: { enabled: false, schedule: '0 * * * *' } }),
    /** Avatar Background Sync (Interval): photos from jpegPhoto/thumbnailPhoto, stored by content hash. */
    avatars: z
      .object({
        enabled: boolean().default(false),
        schedule: cronExpression.default('0 * * * *'),
        attributes: attributeList().pipe(z.array(z.string()).min(1)).default(['thumbnailPhoto', 'jpegPhoto']),
        maxBytes: integerIn(1, 16 * 1024 * 1024, ' bytes (16 MiB)').default(1024 * 1024),
      })
      .strict()
      .default({ enabled: false, schedule: '0 * * * *', attributes: ['thumbnailPhoto', 'jpegPhoto'], maxBytes: 1024 * 1024 }),
    /** Members of this group get dirbridge's own admin rights (Pocket ID's Admin Group Name). */
    adminGroup: nonEmptyText(SETTING_LIMITS.name, 'a group name').optional(),
  })
  .strict();

/** Logging out users who were deactivated. */
export const autoLogoutSettingsSchema = z
  .object({
    enabled: boolean().default(true),
    schedule: cronExpression.default('*/5 * * * *'),
  })
  .strict();

/**
 * Background Sync (Rocket.Chat: Background Sync, Background Sync Interval) and sync on startup
 * (Pocket ID syncs on startup and every hour). The Import New / Update Existing / Merge Existing
 * switches are `sync.*`, shared with every sync.
 */
export const backgroundSyncSettingsSchema = z
  .object({
    enabled: boolean().default(false),
    schedule: cronExpression.default('every 1 hour'),
    onStartup: boolean().default(false),
    /** A sync that reads everything, on its own schedule, also when the scheduled ones are incremental: it catches what a feed cannot see (deletes under modification-time polling). */
    fullSchedule: cronExpression.default('every day at 03:00'),
  })
  .strict();

/** The user fields write-back can write; the username is always written (renames). */
export const WRITABLE_USER_FIELDS = ['email', 'firstName', 'lastName', 'displayName'] as const;

/** Who wins when dirbridge and the directory both changed a value since the last sync. */
const authority = z.enum(['directory', 'dirbridge']);

/** What happens in the directory when a user or group is deleted in dirbridge. */
const deletionPolicy = z.enum(['disable', 'delete', 'keep']);

/**
 * Two-way sync (Defguard's headline; Keycloak's edit modes): what dirbridge writes back to the
 * directory, where new entries go and what they look like. `readOnly` is today's behaviour;
 * `writable` sends dirbridge's changes to the directory; `unsynced` keeps them local.
 */
export const writeBackSettingsSchema = z
  .object({
    enabled: boolean().default(false),
    mode: z.enum(['readOnly', 'writable', 'unsynced']).default('readOnly'),
    authority: z
      .object({
        default: authority.default('directory'),
        /** Per user field (`email`, `firstName`, ...), overriding `default`. */
        fields: z.partialRecord(z.enum(WRITABLE_USER_FIELDS), authority).default({}),
      })
      .strict()
      .default({ default: 'directory', fields: {} }),
    /** Where new users are created; required in `writable` mode. */
    usersDn: baseDn().optional(),
    /** Where new groups are created; required in `writable` mode when groups are written. */
    groupsDn: baseDn().optional(),
    entry: z
      .object({
        /** `auto` takes the preset of the server the RootDSE names (`writeback/entry-shape.ts`). */
        preset: z.enum(['auto', 'openldap', 'active-directory', '389-ds']).default('auto'),
        userObjectClasses: attributeList().pipe(z.array(z.string()).min(1)).optional(),
        userRdnAttribute: attributeName().optional(),
        groupObjectClasses: attributeList().pipe(z.array(z.string()).min(1)).optional(),
        groupMemberAttribute: memberAttribute.optional(),
        /** Kept in a group whose schema requires a member while it has none (groupOfNames). */
        placeholderMember: distinguishedName().default('cn=dirbridge-placeholder'),
        /** The UPN suffix of new AD users; by default the DNS name of the users DN's domain. */
        userPrincipalSuffix: text(SETTING_LIMITS.name, 'a domain name')
          .regex(/^[A-Za-z0-9.-]+$/, 'expected a DNS name such as example.com')
          .optional(),
      })
      .strict()
      .default({ preset: 'auto', placeholderMember: 'cn=dirbridge-placeholder' }),
    /** The user fields written back; each maps to the attribute the read mapping names. */
    fields: z
      .array(z.enum(WRITABLE_USER_FIELDS))
      .max(WRITABLE_USER_FIELDS.length)
      .default([...WRITABLE_USER_FIELDS]),
    /** Only members of these dirbridge groups are written back; empty means every user. */
    scopeGroups: z.array(nonEmptyText(SETTING_LIMITS.name, 'a group name')).max(SETTING_LIMITS.mapValues).default([]),
    deletion: z
      .object({ users: deletionPolicy.default('disable'), groups: z.enum(['delete', 'keep']).default('keep') })
      .strict()
      .default({ users: 'disable', groups: 'keep' }),
    passwords: boolean().default(false),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.enabled && value.mode === 'writable' && value.usersDn === undefined) {
      ctx.addIssue({ code: 'custom', path: ['usersDn'], message: 'is required in writable mode: it is where new users are created' });
    }
  });

export type WriteBackSettings = z.infer<typeof writeBackSettingsSchema>;
export type WritableUserField = (typeof WRITABLE_USER_FIELDS)[number];

/** True when `field` names a user field write-back writes (a baseline's or a conflict's field, say). */
export function isWritableUserField(field: string): field is WritableUserField {
  return (WRITABLE_USER_FIELDS as readonly string[]).includes(field);
}

/** The mode write-back works in: `readOnly` whenever it is not enabled. */
export function effectiveWriteBackMode(writeBack: Pick<WriteBackSettings, 'enabled' | 'mode'>): WriteBackSettings['mode'] {
  return writeBack.enabled ? writeBack.mode : 'readOnly';
}

/** Where dirbridge keeps its own data. */
export const storeSettingsSchema = z
  .object({
    url: text(SETTING_LIMITS.url, 'a URL')
      .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL (leave unset for the embedded SQLite store)')
      .optional(),
    dataDir: nonEmptyText(SETTING_LIMITS.path, 'a directory path').default('./data'),
  })
  .strict();

/** The whole settings document. */
export const settingsSchema = z
  .object({
    directory: directorySettingsSchema,
    users: userSettingsSchema,
    groups: groupSettingsSchema.optional(),
    sync: syncSettingsSchema.default(syncSettingsSchema.parse({})),
    login: loginSettingsSchema.default(loginSettingsSchema.parse({})),
    autoLogout: autoLogoutSettingsSchema.default(autoLogoutSettingsSchema.parse({})),
    backgroundSync: backgroundSyncSettingsSchema.default(backgroundSyncSettingsSchema.parse({})),
    mapping: mappingSettingsSchema.default(mappingSettingsSchema.parse({})),
    writeBack: writeBackSettingsSchema.default(writeBackSettingsSchema.parse({})),
    store: storeSettingsSchema.default({ dataDir: './data' }),
  })
  .strict();

export type Settings = z.infer<typeof settingsSchema>;
export type DirectorySettings = Settings['directory'];
export type UserSettings = Settings['users'];
export type GroupSettings = NonNullable<Settings['groups']>;
export type SyncSettings = Settings['sync'];
export type StoreSettings = Settings['store'];
export type LoginSettings = Settings['login'];
export type AutoLogoutSettings = Settings['autoLogout'];
export type BackgroundSyncSettings = Settings['backgroundSync'];
export type MappingSettings = Settings['mapping'];

/** Setting paths whose values are secrets: redacted on output, never logged. */
export const SECRET_SETTING_PATHS: readonly string[] = ['directory.bindPassword'];
