/**
 * The settings API: read the settings in force (secrets redacted: only whether each is set),
 * and replace them. A change is validated, saved as the next version and applied by this
 * instance at once; other instances pick it up within their watch interval. With
 * `?verify=connection`, changed connection settings must first connect and bind
 * (`verify-settings.ts`), otherwise the save is refused with 422 and the check's result.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { SettingsState } from '../../app.ts';
import { redactSettings } from '../../settings/stored-settings.ts';
import { saveSettings, timedDirectoryOpener, VERIFICATION_FAILED, verificationMessage } from '../../verify-settings.ts';
import { adminOf } from '../admin-auth.ts';
import type { RouteContext } from '../context.ts';
import { errorSchema } from '../schemas.ts';

const A = '/api/v1/admin/settings';
const tags = ['admin settings'];
const security = [{ adminSession: [] }];
const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 409: errorSchema } as const;

/** What a verified save found (`verify-settings.ts`); never holds a secret. */
const verificationSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('passed'),
    url: z.string(),
    security: z.enum(['ldaps', 'starttls', 'plain']),
    serverType: z.string(),
    bindDn: z.string().nullable(),
    paths: z.array(z.string()),
  }),
  z.object({ status: z.literal('failed'), error: z.object({ code: z.string(), message: z.string() }), paths: z.array(z.string()) }),
  z.object({ status: z.literal('skipped'), reason: z.string(), paths: z.array(z.string()) }),
]);

/** A refused verified save: the usual error body, with the check's result. */
const verificationFailedSchema = z.object({
  error: z.object({ code: z.literal(VERIFICATION_FAILED), message: z.string(), verification: verificationSchema }),
});

const settingsViewSchema = z.object({
  version: z.number().int(),
  updatedAt: z.string().nullable(),
  updatedBy: z.string().nullable(),
  settings: z.record(z.string(), z.unknown()).describe('Every setting except `store` and the secrets'),
  secrets: z.record(z.string(), z.object({ isSet: z.boolean() })).describe('Each secret path and whether it has a value; values are never returned'),
  problems: z
    .array(z.string())
    .describe(
      'Values of the stored version that the current rules refuse ("path: message"), each replaced by its default until the settings are saved again; empty normally',
    ),
});

function viewOf(state: SettingsState) {
  return { version: state.version, updatedAt: state.updatedAt, updatedBy: state.updatedBy, ...redactSettings(state.settings), problems: state.problems };
}

/** Registers the settings routes. */
export function registerAdminSettingsRoutes(server: FastifyInstance, context: RouteContext): void {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  const { app } = context;

  typed.get(
    A,
    { schema: { tags, security, summary: 'The settings in force, with their version; secrets redacted', response: { 200: settingsViewSchema, ...errors } } },
    async () => {
      // Another instance or the CLI may have saved a newer version since the last watch tick.
      await app.reloadSettings();
      return viewOf(app.settingsState());
    },
  );

  typed.put(
    A,
    {
      schema: {
        tags,
        security,
        summary: 'Replace the settings: validated, saved as the next version and applied without a restart',
        description:
          'The body carries the whole document without `store`. A secret path that is absent keeps its value, a string sets it, null clears it. ' +
          '`version` must be the version the edit started from, otherwise 409 `settings.conflict`. Invalid values give 400 `settings.invalid` with one `problems` entry per path ("path: message"). ' +
          'With `?verify=connection`, when any `directory.*` setting changes, the new settings must first connect and bind on a one-off connection: ' +
          "if they cannot, nothing is saved and the answer is 422 `settings.verification_failed` with `error.verification` (the failure's code and message). " +
          'The answer to a verified save carries `verification` (`passed`, or `skipped` when no directory setting changed). Leave `verify` out to save anyway, e.g. during a planned outage.',
        querystring: z.object({
          verify: z.enum(['connection']).optional().describe('connection: refuse the save when changed directory settings cannot connect and bind'),
        }),
        body: z.object({ version: z.number().int().min(0), settings: z.record(z.string(), z.unknown()) }),
        response: {
          200: settingsViewSchema.extend({ changed: z.array(z.string()), verification: verificationSchema.optional() }),
          422: verificationFailedSchema,
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const actor = adminOf(request).actor;
      const verify = request.query.verify === 'connection';
      const saved = await saveSettings(app, request.body.settings, {
        expectedVersion: request.body.version,
        actor,
        verify,
        open: timedDirectoryOpener(context.metrics.observeDirectory),
      });
      if (saved.outcome === 'refused') {
        const { verification } = saved;
        request.log.info(
          { version: saved.state.version, paths: verification.paths, code: verification.error.code, actor },
          'settings refused: the new directory settings could not connect',
        );
        return reply.code(422).send({ error: { code: VERIFICATION_FAILED, message: verificationMessage(verification), verification } });
      }
      request.log.info({ version: saved.state.version, changed: saved.changed, verification: saved.verification?.status, actor }, 'settings updated');
      return { ...viewOf(saved.state), changed: saved.changed, ...(saved.verification === undefined ? {} : { verification: saved.verification }) };
    },
  );
}
