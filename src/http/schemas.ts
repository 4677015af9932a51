/**
 * The zod schemas of the HTTP API's bodies. Response schemas list every field they return:
 * the serializer encodes through them, so a field that is not listed (a password hash, a token
 * hash, a bind password) can never reach a client.
 */
import { z } from 'zod';
import type { UserRecord } from '../model/index.ts';

/** `{ error: { code, message } }`, the body of every failure. */
export const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), problems: z.array(z.string()).optional(), fields: z.array(z.string()).optional() }),
});

/** Paging and search parameters shared by the list routes. */
export const pageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

/** A page query with a free-text search. */
export const searchPageQuerySchema = pageQuerySchema.extend({ search: z.string().max(256).optional() });

/** A path with an `id`. */
export const idParamsSchema = z.object({ id: z.string().min(1).max(100) });

/** A user as administrators see it. */
export const userSchema = z.object({
  id: z.string(),
  username: z.string(),
  email: z.string().nullable(),
  firstName: z.string(),
  lastName: z.string(),
  displayName: z.string().nullable(),
  source: z.enum(['local', 'directory']),
  externalId: z.string().nullable(),
  dn: z.string().nullable(),
  isEnabled: z.boolean(),
  disabledBy: z.enum(['directory', 'sync', 'admin']).nullable(),
  disabledReason: z.string().nullable(),
  isAdmin: z.boolean(),
  hasPassword: z.boolean(),
  missingRuns: z.number(),
  notes: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  lastSyncedAt: z
    .string()
    .nullable()
    .describe(
      'the last time a sync (a full sync, or a login\'s or "sync one user" one-user sync) read this user from the directory, whether or not anything changed; null for local accounts and users never synced',
    ),
});

/** A user's avatar as a user record mentions it: the SHA-256 of the image and where to fetch it (the URL changes with the image). */
export const avatarRefSchema = z
  .object({
    hash: z.string().describe('SHA-256 of the image bytes, also its ETag; a new hash means a new image'),
    url: z.string().describe('path of the image, with the hash as "v" so the response may be cached'),
  })
  .nullable()
  .describe('null when the user has no avatar');

/** A user with everything mapping gave it, as applications see it. */
export const userProfileSchema = userSchema
  .pick({ id: true, username: true, email: true, firstName: true, lastName: true, displayName: true, source: true, isAdmin: true, isEnabled: true })
  .extend({
    groups: z.array(z.string()),
    roles: z.array(z.string()),
    channels: z.array(z.string()),
    teams: z.array(z.string()),
    customFields: z.record(z.string(), z.string()),
    abacAttributes: z.record(z.string(), z.array(z.string())),
    avatar: avatarRefSchema,
  });

/** The user profile type. */
export type UserProfile = z.infer<typeof userProfileSchema>;

/** A user in a page of users: the record and the hash of its avatar (read for the whole page in one query). */
export const listedUserSchema = userSchema.extend({
  avatarHash: z.string().nullable().describe('SHA-256 of the avatar, null without one; the image is at users/:id/avatar?v=<hash>'),
});

/** A page of users. */
export const userPageSchema = z.object({ total: z.number(), users: z.array(listedUserSchema) });

/** A group. */
export const groupSchema = z.object({
  id: z.string(),
  externalId: z.string().nullable(),
  dn: z.string().nullable(),
  name: z.string(),
  source: z.enum(['local', 'directory']),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** A channel. */
export const channelSchema = z.object({
  id: z.string(),
  name: z.string(),
  ownerUsername: z.string().nullable(),
  source: z.enum(['local', 'directory']),
  createdAt: z.string(),
});

/** A team. */
export const teamSchema = z.object({ id: z.string(), name: z.string(), source: z.enum(['local', 'directory']), createdAt: z.string() });

/** A session as listed (never its token or token hash). */
export const sessionSchema = z.object({
  id: z.string(),
  userId: z.string(),
  username: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  lastSeenAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  revokedReason: z.string().nullable(),
  clientAddress: z.string().nullable(),
});

/** A JSON value (run plan summaries, audit details). */
export const jsonValueSchema: z.ZodType<unknown> = z.unknown();

/** One audit entry. */
export const auditEntrySchema = z.object({
  id: z.string(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  userId: z.string().nullable(),
  subject: z.string().nullable(),
  reason: z.string().nullable(),
  details: jsonValueSchema,
});

/** One step of a plan, summarised. */
export const stepSummarySchema = z.object({ kind: z.string(), subject: z.string(), reason: z.string() });

/** A recorded sync run. */
export const runSchema = z.object({
  id: z.string(),
  trigger: z.string(),
  isDryRun: z.boolean(),
  status: z.enum(['running', 'succeeded', 'failed', 'refused']),
  reason: z.string().nullable(),
  errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  counts: z.record(z.string(), z.number()),
  mode: z
    .enum(['full', 'incremental'])
    .nullable()
    .describe('full: the whole directory was read; incremental: the changes since the last sync (null: not decided yet, or an earlier version)'),
  modeReason: z.string().nullable().describe('why a run read everything when only the changes could have been read'),
  entriesRead: z.number().nullable().describe('directory entries read (null for runs of earlier versions)'),
  progress: z
    .object({
      phase: z.enum(['connecting', 'reading_users', 'reading_groups', 'planning', 'applying', 'finishing']),
      usersRead: z.number(),
      groupsRead: z.number(),
      applied: z.number(),
      applyTotal: z.number(),
      updatedAt: z.string(),
    })
    .nullable()
    .describe('where a running run is, written by the instance running it about once a second; null once it has finished'),
});

const counts = <K extends string>(keys: readonly [K, ...K[]]) => z.object(Object.fromEntries(keys.map((key) => [key, z.number()])) as Record<K, z.ZodNumber>);

/** The summary of a sync run (the CLI's `sync --json`), with summarised steps. */
export const syncSummarySchema = z.object({
  runId: z.string(),
  status: z.enum(['succeeded', 'failed', 'refused']),
  reason: z.string().nullable(),
  dryRun: z.boolean(),
  mode: z
    .enum(['full', 'incremental'])
    .nullable()
    .describe('full: the whole directory was read; incremental: only what changed since the last sync (null: failed before reading)'),
  modeReason: z.string().optional().describe('why a run read everything when only the changes could have been read'),
  entriesRead: z.number().describe('directory entries read'),
  users: counts(['created', 'updated', 'disabled', 'enabled', 'unchanged', 'skipped']),
  groups: counts(['created', 'updated', 'deleted', 'skipped']),
  memberships: counts(['added', 'removed']),
  roles: z.record(z.string(), z.number()),
  channels: z.record(z.string(), z.number()),
  teams: z.record(z.string(), z.number()),
  attributes: z.record(z.string(), z.number()),
  sessions: z
    .record(z.string(), z.number())
    .describe('usersRevoked: users whose sessions were (for a dry run: would be) revoked because their password changed in the directory'),
  durationMs: z.number(),
  warnings: z.array(z.string()),
  stepsTotal: z.number(),
  steps: z.array(stepSummarySchema),
});

const jobTriggerSchema = z.enum(['schedule', 'startup', 'manual']);

/** One finished run of a scheduler job (`JobRunRecord` with its times as ISO strings). */
export const jobRunSchema = z.object({
  trigger: jobTriggerSchema,
  scheduledAt: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: z.number(),
  outcome: z.enum(['succeeded', 'failed']),
  message: z.string().nullable(),
  lockHeldThroughout: z.boolean(),
});

/** A finished job run as the API sends it. */
export type JobRunView = z.infer<typeof jobRunSchema>;

/** A scheduler job as the console shows it (the scheduler's `JobStatus`, as `admin-jobs.ts` turns it into JSON). */
export const jobSchema = z.object({
  name: z.string(),
  schedule: z.string().nullable().describe('as written in the settings (cron or text form); null: only at startup or on demand'),
  cron: z.string().nullable(),
  nextRunAt: z.string().nullable(),
  isRunning: z.boolean(),
  current: z.object({ trigger: jobTriggerSchema, startedAt: z.string() }).nullable(),
  lastRun: jobRunSchema.nullable(),
  lastSkip: z.object({ at: z.string(), trigger: jobTriggerSchema, reason: z.enum(['running', 'locked', 'lock_unavailable', 'stopping']) }).nullable(),
  runs: z.number(),
  failures: z.number(),
  skips: z.number(),
});

/** A scheduler job as the API sends it. */
export type JobView = z.infer<typeof jobSchema>;

/** Credentials in a login body; the limits keep absurd inputs away from the directory. */
export const credentialsSchema = z.object({
  username: z.string().max(512),
  password: z.string().max(4096),
});

/** A user record without anything the store keeps private (the record already has no hash; this narrows it to the schema). */
export function publicUser(user: UserRecord): z.infer<typeof userSchema> {
  return userSchema.parse(user);
}

/** The shapes the API sends, for clients written in TypeScript (the console imports them). */
export type UserView = z.infer<typeof userSchema>;
export type ListedUserView = z.infer<typeof listedUserSchema>;
export type UserPageView = z.infer<typeof userPageSchema>;
export type GroupView = z.infer<typeof groupSchema>;
export type AuditEntryView = z.infer<typeof auditEntrySchema>;
export type StepSummaryView = z.infer<typeof stepSummarySchema>;
export type RunView = z.infer<typeof runSchema>;
export type SyncSummaryView = z.infer<typeof syncSummarySchema>;
