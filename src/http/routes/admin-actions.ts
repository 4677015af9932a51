/**
 * The seeds' action buttons: Test Connection, Test LDAP Search, Sync Now (and its dry run),
 * and the sync of one user. Each calls the same function as the CLI.
 *
 * Test Connection and Test LDAP Search take an optional settings document (the console form's
 * unsaved values, shaped as PUT /api/v1/admin/settings takes them). It is checked exactly as a
 * save checks it, and the test runs on a one-off connection with those settings; nothing is
 * saved and the settings in force are untouched. Without one, they test the settings in force.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type DirectoryConnection, openWritableDirectory, type WritableDirectoryConnection } from '../../directory/index.ts';
import { timedWritableConnection, timeOperation } from '../../directory/timed.ts';
import { isDirbridgeError } from '../../errors.ts';
import { startSync } from '../../scheduler/app-jobs.ts';
import type { Settings } from '../../settings/schema.ts';
import { applySettingsEdit } from '../../settings/stored-settings.ts';
import { type SyncResult, subjectOf } from '../../sync/run-sync.ts';
import { syncOneUser } from '../../sync/sync-one-user.ts';
import { summaryOf } from '../../sync/sync-summary.ts';
import { testConnection, writeAccessProbeFor } from '../../sync/test-connection.ts';
import { type DisplayEntry, testSearch } from '../../sync/test-search.ts';
import { timedDirectoryOpener } from '../../verify-settings.ts';
import { adminOf } from '../admin-auth.ts';
import type { RouteContext } from '../context.ts';
import { errorSchema, publicUser, stepSummarySchema, syncSummarySchema, userSchema } from '../schemas.ts';

const A = '/api/v1/admin/actions';
const tags = ['admin actions'];
const security = [{ adminSession: [] }];
const errors = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  409: errorSchema,
  502: errorSchema,
  503: errorSchema,
  504: errorSchema,
} as const;

/** How many plan steps a sync response carries at most (the run keeps its own bounded summary). */
export const MAX_RESPONSE_STEPS = 1000;

/** Attribute names whose values are never shown, even if the service account can read them. */
const SECRET_ATTRIBUTES = new Set([
  'userpassword',
  'unicodepwd',
  'sambantpassword',
  'sambalmpassword',
  'supplementalcredentials',
  'dbcspwd',
  'ntpwdhistory',
  'lmpwdhistory',
  'authpassword',
]);

/** True for an attribute whose values are never shown (passwords and their hashes). */
export function isSecretAttribute(name: string): boolean {
  return SECRET_ATTRIBUTES.has(name.toLowerCase());
}

function withoutSecrets(entry: DisplayEntry): DisplayEntry {
  return { dn: entry.dn, attributes: Object.fromEntries(Object.entries(entry.attributes).filter(([name]) => !isSecretAttribute(name))) };
}

const oidSchema = z.object({ oid: z.string(), name: z.string() });
const writeAccessSchema = z.object({
  dn: z.string(),
  writable: z.boolean().optional().describe('true: the bind account may modify the entry; false: access denied; absent: the answer did not tell (see detail)'),
  detail: z.string(),
});
const testConnectionSchema = z.object({
  status: z.literal('ok'),
  url: z.string(),
  security: z.enum(['ldaps', 'starttls', 'plain']),
  serverType: z.string(),
  uniqueIdAttribute: z.string().describe('the attribute users are keyed by (users.uniqueIdAttribute, with auto resolved for this server)'),
  vendor: z.string().nullable(),
  bind: z.object({ dn: z.string().nullable(), result: z.literal('success') }),
  namingContexts: z.array(z.string()),
  supportsPaging: z.boolean(),
  supportedControls: z.array(oidSchema),
  supportedExtensions: z.array(oidSchema),
  writeAccess: z
    .object({ usersDn: writeAccessSchema.optional(), groupsDn: writeAccessSchema.optional() })
    .optional()
    .describe(
      'only when writeBack.enabled and writeBack.mode is writable: whether the bind account may write to writeBack.usersDn and writeBack.groupsDn (each that is set), probed without changing anything',
    ),
  warnings: z
    .array(z.string())
    .describe(
      'settings that do not fit the data (member attributes left out, a user filter matching nothing, skipped entries, memberUid values naming no user), mapping keys naming no group, and write-back DNs the bind account may not write to (each naming the setting and the DN)',
    ),
});

/** What `POST actions/test-connection` sends (the console imports it). */
export type TestConnectionView = z.infer<typeof testConnectionSchema>;
const mappedUserSchema = z.object({
  externalId: z.string(),
  dn: z.string(),
  username: z.string(),
  email: z.string().nullable(),
  firstName: z.string(),
  lastName: z.string(),
  displayName: z.string().nullable(),
  directoryState: z.string(),
  directoryStateReason: z.string().optional(),
});
const testSearchSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('found'),
    entry: z.object({ dn: z.string(), attributes: z.record(z.string(), z.array(z.string())) }),
    user: mappedUserSchema,
    groups: z.array(z.object({ dn: z.string(), name: z.string(), externalId: z.string(), isNested: z.boolean() })),
    warnings: z.array(z.string()).describe('settings that do not fit the data, each naming the setting to change (as Test Connection and dry runs give them)'),
  }),
  z.object({ status: z.literal('not_found'), username: z.string(), warnings: z.array(z.string()) }),
]);
/** Unsaved settings to test instead of those in force: the document PUT /api/v1/admin/settings takes. */
const unsavedSettingsSchema = z
  .record(z.string(), z.unknown())
  .optional()
  .describe(
    'Test these settings instead of those in force, without saving them: the whole document without `store`, as PUT /api/v1/admin/settings takes it (a secret left out keeps the stored one, null clears it)',
  );
const syncUserSchema = z.object({
  user: userSchema,
  isNewUser: z.boolean(),
  counts: z.record(z.string(), z.record(z.string(), z.number())),
  steps: z.array(stepSummarySchema),
});

/** Registers the actions. */
export function registerAdminActionRoutes(server: FastifyInstance, context: RouteContext): void {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  const { app } = context;
  const openUnsaved = timedDirectoryOpener(context.metrics.observeDirectory);
  /**
   * What a test runs on, read per request (the settings can change while the server runs): the
   * settings in force, or the submitted ones, validated as a save would validate them (400
   * `settings.invalid` naming each path) against the newest stored version, on their own
   * one-off connection.
   */
  const directoryDeps = async (
    document: Record<string, unknown> | undefined,
  ): Promise<{ openDirectory: () => Promise<DirectoryConnection>; openWritable: () => Promise<WritableDirectoryConnection>; settings: Settings }> => {
    if (document === undefined) return { openDirectory: () => app.openDirectory(), openWritable: () => app.openWritableDirectory(), settings: app.settings };
    // A secret left out means the stored one: read the newest version first, as GET does.
    await app.reloadSettings();
    const settings = applySettingsEdit(document, app.settings);
    return { openDirectory: () => openUnsaved(settings.directory), openWritable: () => openWritableUnsaved(settings.directory), settings };
  };
  const openWritableUnsaved = async (directory: Settings['directory']) =>
    timedWritableConnection(
      await timeOperation(context.metrics.observeDirectory, 'connect', () => openWritableDirectory(directory)),
      context.metrics.observeDirectory,
    );
  /** Syncs answered with 202 and still running; the server waits for them when it closes. */
  const background = new Set<Promise<void>>();
  server.addHook('onClose', async () => {
    while (background.size > 0) await Promise.allSettled([...background]);
  });

  typed.post(
    `${A}/test-connection`,
    {
      schema: {
        tags,
        security,
        summary:
          'Test Connection: connect, bind as the service account, read the RootDSE, read the users and groups to warn about settings that do not fit the data, check the mapping keys, and, when the write-back writes, whether the bind account may write to its users and groups DNs (of the settings in force, or of unsaved ones)',
        body: z.object({ settings: unsavedSettingsSchema }).nullish(),
        response: { 200: testConnectionSchema, ...errors },
      },
    },
    async (request) => {
      const deps = await directoryDeps(request.body?.settings);
      return testConnection({ openDirectory: deps.openDirectory, settings: deps.settings, writeAccess: writeAccessProbeFor(deps.settings, deps.openWritable) });
    },
  );

  typed.post(
    `${A}/test-search`,
    {
      schema: {
        tags,
        security,
        summary: 'Test LDAP Search: find a user the way login does; the entry, the mapped user and its groups (with the settings in force, or unsaved ones)',
        body: z.object({ username: z.string().min(1).max(512), settings: unsavedSettingsSchema }),
        response: { 200: testSearchSchema, ...errors },
      },
    },
    async (request) => {
      const report = await testSearch(await directoryDeps(request.body.settings), request.body.username);
      return report.status === 'found' ? { ...report, entry: withoutSecrets(report.entry) } : report;
    },
  );

  typed.post(
    `${A}/sync`,
    {
      schema: {
        tags,
        security,
        summary:
          "Sync Now, or a dry run that returns the plan with each step's reason and writes nothing. With wait: false, answers 202 {runId} once the run is recorded; follow it at GET /api/v1/admin/runs/{runId}",
        body: z
          .object({
            dryRun: z.boolean().default(false),
            full: z.boolean().default(false).describe('read the whole directory even when only the changes since the last sync could be read'),
            wait: z.boolean().default(true).describe('false: answer 202 {runId} at once; the run goes on in the background'),
          })
          .default({ dryRun: false, full: false, wait: true }),
        response: { 200: syncSummarySchema, 202: z.object({ runId: z.string() }), ...errors },
      },
    },
    async (request, reply) => {
      const actor = adminOf(request).actor;
      const log = request.log;
      // A real sync goes through the scheduler's background-sync job: exclusive across instances.
      let started;
      try {
        started = await startSync(app, context.scheduler, { isDryRun: request.body.dryRun, full: request.body.full, log });
      } catch (error) {
        // A refusal that will clear within a known time says when to try again.
        const retryAfter = isDirbridgeError(error, 'sync.already_running') ? error.details['retryAfterSeconds'] : undefined;
        if (typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
        throw error;
      }
      log.info({ runId: started.runId, dryRun: request.body.dryRun, wait: request.body.wait, actor }, 'sync started');
      const observe = (result: SyncResult) => {
        log.info({ runId: result.runId, status: result.status, dryRun: result.isDryRun, durationMs: result.durationMs, actor }, 'sync finished');
      };
      if (!request.body.wait) {
        const settled = started.finished.then(observe, (error: unknown) => log.error({ runId: started.runId, err: error }, 'background sync failed'));
        background.add(settled);
        void settled.finally(() => background.delete(settled));
        return reply.code(202).send({ runId: started.runId });
      }
      const result = await started.finished;
      observe(result);
      return {
        ...summaryOf(result, false),
        stepsTotal: result.steps.length,
        steps: result.steps.slice(0, MAX_RESPONSE_STEPS).map((step) => ({ kind: step.kind, subject: subjectOf(step), reason: step.reason })),
      };
    },
  );

  typed.post(
    `${A}/sync-user`,
    {
      schema: {
        tags,
        security,
        summary: "Sync one user from the directory (login's provisioning, without a password)",
        body: z.object({ username: z.string().min(1).max(512) }),
        response: { 200: syncUserSchema, ...errors },
      },
    },
    async (request) => {
      const result = await syncOneUser({ store: app.store, settings: app.settings, lookup: oneShotLookup(() => app.openDirectory()) }, request.body.username, {
        actor: adminOf(request).actor,
      });
      return { ...result, user: publicUser(result.user) };
    },
  );
}

/** A lookup over one fresh connection per call, closed afterwards. */
function oneShotLookup(open: () => Promise<DirectoryConnection>) {
  return {
    async use<T>(work: (directory: DirectoryConnection) => Promise<T>): Promise<T> {
      const directory = await open();
      try {
        return await work(directory);
      } finally {
        await directory.close();
      }
    },
  };
}
