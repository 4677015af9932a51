/**
 * The settings API: read the settings in force (secrets redacted: only whether each is set),
 * and replace them. A change is validated, saved as the next version and applied by this
 * instance at once; other instances pick it up within their watch interval.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { SettingsState } from '../../app.ts';
import { redactSettings } from '../../settings/stored-settings.ts';
import { adminOf } from '../admin-auth.ts';
import type { RouteContext } from '../context.ts';
import { errorSchema } from '../schemas.ts';

const A = '/api/v1/admin/settings';
const tags = ['admin settings'];
const security = [{ adminSession: [] }];
const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 409: errorSchema } as const;

const settingsViewSchema = z.object({
  version: z.number().int(),
  updatedAt: z.string().nullable(),
  updatedBy: z.string().nullable(),
  settings: z.record(z.string(), z.unknown()).describe('Every setting except `store` and the secrets'),
  secrets: z.record(z.string(), z.object({ isSet: z.boolean() })).describe('Each secret path and whether it has a value; values are never returned'),
});

function viewOf(state: SettingsState) {
  return { version: state.version, updatedAt: state.updatedAt, updatedBy: state.updatedBy, ...redactSettings(state.settings) };
}

/** Registers the settings routes. */
export function registerAdminSettingsRoutes(server: FastifyInstance, context: RouteContext): void {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  const { app } = context;

  typed.get(A, { schema: { tags, security, summary: 'The settings in force, with their version; secrets redacted', response: { 200: settingsViewSchema, ...errors } } }, async () => {
    // Another instance or the CLI may have saved a newer version since the last watch tick.
    await app.reloadSettings();
    return viewOf(app.settingsState());
  });

  typed.put(
    A,
    {
      schema: {
        tags,
        security,
        summary: 'Replace the settings: validated, saved as the next version and applied without a restart',
        description:
          'The body carries the whole document without `store`. A secret path that is absent keeps its value, a string sets it, null clears it. ' +
          '`version` must be the version the edit started from, otherwise 409 `settings.conflict`. Invalid values give 400 `settings.invalid` with one `problems` entry per path ("path: message").',
        body: z.object({ version: z.number().int().min(0), settings: z.record(z.string(), z.unknown()) }),
        response: { 200: settingsViewSchema.extend({ changed: z.array(z.string()) }), ...errors },
      },
    },
    async (request) => {
      const actor = adminOf(request).actor;
      const result = await app.updateSettings(request.body.settings, { expectedVersion: request.body.version, actor });
      request.log.info({ version: result.version, changed: result.changed, actor }, 'settings updated');
      return { ...viewOf(result), changed: result.changed };
    },
  );
}
