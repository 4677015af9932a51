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
import { parseSchedule } from '../scheduler/schedule.ts';

/** Accepts numbers and numeric strings (environment variables are strings). */
function integer() {
  return z.preprocess(
    (value) => (typeof value === 'string' && value.trim() !== '' ? Number(value) : value),
    z.number().int(),
  );
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
    z.array(z.string().regex(/^(\*|\+|[A-Za-z][A-Za-z0-9-]*(;[A-Za-z0-9-]+)*|[0-9]+(\.[0-9]+)+)$/, 'expected an attribute name')),
  );
}

/** An RFC 4514 distinguished name, checked when the settings load. */
function distinguishedName() {
  return z.string().superRefine((value, ctx) => {
    try {
      parseDn(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `not a valid DN: ${error instanceof Error ? error.message : String(error)}` });
    }
  });
}

/** An RFC 4515 filter, checked when the settings load. */
function searchFilter() {
  return z.string().superRefine((value, ctx) => {
    try {
      parseFilter(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `not a valid LDAP filter: ${error instanceof Error ? error.message : String(error)}` });
    }
  });
}

const ldapUrl = z
  .string()
  .regex(/^ldaps?:\/\/[^/\s?#]+(:\d+)?\/?$/i, 'expected ldap://host[:port] or ldaps://host[:port]');

const positiveMs = integer().pipe(z.number().int().min(1, 'must be at least 1 ms (0 would mean "wait forever")'));

/** Connection to the directory server(s). */
export const directorySettingsSchema = z
  .object({
    urls: z.preprocess(
      (value) => (typeof value === 'string' ? value.split(/[\s,]+/).filter((part) => part !== '') : value),
      z.array(ldapUrl).min(1, 'at least one URL is required'),
    ),
    startTls: boolean().default(false),
    tls: z
      .object({
        caFile: z.string().min(1).optional(),
        rejectUnauthorized: boolean().default(true),
        serverName: z.string().min(1).optional(),
      })
      .strict()
      .default({ rejectUnauthorized: true }),
    bindDn: distinguishedName().optional(),
    bindPassword: z.string().optional(),
    connectTimeoutMs: positiveMs.default(5_000),
    operationTimeoutMs: positiveMs.default(30_000),
    pageSize: integer().pipe(z.number().int().min(1).max(100_000)).default(500),
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

/** Where users live and which attributes feed the user record. */
export const userSettingsSchema = z
  .object({
    baseDn: distinguishedName(),
    scope: scope.default('sub'),
    filter: searchFilter().default('(objectClass=inetOrgPerson)'),
    uniqueIdAttribute: z.string().min(1).default('auto'),
    usernameAttribute: attributeList().pipe(z.array(z.string()).min(1)).default(['uid', 'cn']),
    emailAttribute: z.string().min(1).default('mail'),
    firstNameAttribute: z.string().min(1).default('givenName'),
    lastNameAttribute: z.string().min(1).default('sn'),
    displayNameAttribute: z.string().min(1).default('displayName'),
  })
  .strict();

const memberAttribute = z.enum(['member', 'uniqueMember', 'memberUid']);

/** Where groups live and how their members are listed. */
export const groupSettingsSchema = z
  .object({
    enabled: boolean().default(true),
    baseDn: distinguishedName(),
    scope: scope.default('sub'),
    filter: searchFilter().default(
      '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup)(objectClass=group))',
    ),
    uniqueIdAttribute: z.string().min(1).default('auto'),
    nameAttribute: z.string().min(1).default('cn'),
    memberAttribute: z
      .preprocess(
        (value) => (typeof value === 'string' ? value.split(',').map((part) => part.trim()) : value),
        z.array(memberAttribute).min(1),
      )
      .default(['member']),
    nestedGroups: boolean().default(false),
  })
  .strict();

/** A guard limit: a plan over `count` users, or over `percent` of the directory's enabled users, is refused. */
function guardLimit(defaults: { count: number; percent: number }) {
  return z
    .object({
      count: integer().pipe(z.number().int().min(0)).default(defaults.count),
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
    batchSize: integer().pipe(z.number().int().min(1).max(100_000)).default(5_000),
    missingGraceRuns: integer().pipe(z.number().int().min(0).max(1_000)).default(0),
  })
  .strict();

/** Directory login: provisioning, sessions, throttling and the bind pool. */
export const loginSettingsSchema = z
  .object({
    createOnFirstLogin: boolean().default(true),
    updateOnLogin: boolean().default(true),
    sessionTtlMinutes: integer().pipe(z.number().int().min(1).max(525_600)).default(480),
    throttle: z
      .object({
        maxFailures: integer().pipe(z.number().int().min(1).max(10_000)).default(5),
        windowSeconds: integer().pipe(z.number().int().min(1).max(86_400)).default(900),
      })
      .strict()
      .default({ maxFailures: 5, windowSeconds: 900 }),
    bindPoolSize: integer().pipe(z.number().int().min(1).max(256)).default(8),
  })
  .strict();


/**
 * A background job's schedule: a cron expression (five or six fields) or the seeds' Cron Text
 * form ("every 1 hour", "every 24 hours", "every day at 02:00"), checked by `parseSchedule`.
 * The text is kept as written; the scheduler normalises it.
 */
const cronExpression = z.string().superRefine((value, ctx) => {
  try {
    parseSchedule(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
  }
});

/** A filter with `#{placeholder}` values, checked when the settings load; only `allowed` placeholders may appear. */
function filterTemplate(allowed: readonly string[]) {
  return z.string().superRefine((value, ctx) => {
    try {
      parseFilterTemplate(value, allowed);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `not a valid LDAP filter template: ${error instanceof Error ? error.message : String(error)}` });
    }
  });
}

/** A seed-style JSON map: keys to one name or a list of names, e.g. `{"manager": ["leader", "moderator"]}`. */
const nameMap = z.record(
  z.string().min(1, 'keys must not be empty'),
  z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: 'expected string or string[]' }),
  { error: 'expected an object mapping names to a string or string[]' },
);

/** A seed-style attribute map: LDAP attribute → field name, e.g. `{"departmentNumber": "department"}`. */
const attributeMap = z.record(
  z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'keys must be LDAP attribute names'),
  z.string({ error: 'expected string' }).min(1),
  { error: 'expected an object mapping LDAP attributes to names' },
);

const groupFilterPlaceholders = ['username', 'groupName', 'userdn'] as const;

/** Group-to-role/channel/team, attribute-to-field and avatar mapping (Rocket.Chat premium, Pocket ID). */
export const mappingSettingsSchema = z
  .object({
    /** How membership of a mapped group is decided (shared by roles and channels, as in the seed). */
    groupSearch: z
      .object({
        baseDn: distinguishedName().optional(),
        strategy: z.enum(['each', 'once']).default('each'),
        userGroupFilter: filterTemplate(groupFilterPlaceholders).default('(&(cn=#{groupName})(|(member=#{userdn})(uniqueMember=#{userdn})(memberUid=#{username})))'),
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
      .default({ strategy: 'each', userGroupFilter: '(&(cn=#{groupName})(|(member=#{userdn})(uniqueMember=#{userdn})(memberUid=#{username})))', nameAttribute: ['cn'] }),
    roles: z
      .object({ enabled: boolean().default(false), autoRemove: boolean().default(false), map: nameMap.default({}) })
      .strict()
      .default({ enabled: false, autoRemove: false, map: {} }),
    channels: z
      .object({
        enabled: boolean().default(false),
        autoRemove: boolean().default(false),
        channelAdmin: z.string().min(1).optional(),
        map: nameMap.default({}),
      })
      .strict()
      .default({ enabled: false, autoRemove: false, map: {} }),
    teams: z
      .object({
        enabled: boolean().default(false),
        map: nameMap.default({}),
        baseDn: distinguishedName().optional(),
        nameAttribute: attributeList().pipe(z.array(z.string()).min(1)).default(['cn']),
        userGroupsQuery: filterTemplate(['username', 'userdn']).default('(&(objectClass=groupOfNames)(member=#{userdn}))'),
        validateOnLogin: boolean().default(true),
      })
      .strict()
      .default({ enabled: false, map: {}, nameAttribute: ['cn'], userGroupsQuery: '(&(objectClass=groupOfNames)(member=#{userdn}))', validateOnLogin: true }),
    customFields: z.object({ enabled: boolean().default(false), map: attributeMap.default({}) }).strict().default({ enabled: false, map: {} }),
    abac: z
      .object({
        enabled: boolean().default(false),
        map: attributeMap.default({}),
        /** ABAC Attributes Background Sync (Interval): a separate, lighter pass over just these attributes. */
        backgroundSync: z.object({ enabled: boolean().default(false), schedule: cronExpression.default('0 * * * *') }).strict().default({ enabled: false, schedule: '0 * * * *' }),
      })
      .strict()
      .default({ enabled: false, map: {}, backgroundSync: { enabled: false, schedule: '0 * * * *' } }),
    /** Avatar Background Sync (Interval): photos from jpegPhoto/thumbnailPhoto, stored by content hash. */
    avatars: z
      .object({
        enabled: boolean().default(false),
        schedule: cronExpression.default('0 * * * *'),
        attributes: attributeList().pipe(z.array(z.string()).min(1)).default(['thumbnailPhoto', 'jpegPhoto']),
        maxBytes: integer().pipe(z.number().int().min(1).max(16 * 1024 * 1024)).default(1024 * 1024),
      })
      .strict()
      .default({ enabled: false, schedule: '0 * * * *', attributes: ['thumbnailPhoto', 'jpegPhoto'], maxBytes: 1024 * 1024 }),
    /** Members of this group get dirbridge's own admin rights (Pocket ID's Admin Group Name). */
    adminGroup: z.string().min(1).optional(),
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
  })
  .strict();

/** Where dirbridge keeps its own data. */
export const storeSettingsSchema = z
  .object({
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL (leave unset for the embedded SQLite store)')
      .optional(),
    dataDir: z.string().min(1).default('./data'),
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
