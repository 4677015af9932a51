/**
 * The admin API's changes to users and groups that write back to the directory: create, rename,
 * move, delete and password reset of users; create, rename and delete of groups and their
 * members. Each calls the same write-back service as the CLI and answers with the action's
 * result: its outcome (written, pending, failed, local, planned, unchanged), each directory step
 * with its status and error, and the conflicts it met. `dryRun` shows the plan and changes nothing.
 * Profile changes and disable/enable stay on their routes in admin-data.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DirbridgeError } from '../../errors.ts';
import type { WriteActionResult } from '../../writeback/apply-write-plan.ts';
import { adminOf } from '../admin-auth.ts';
import type { RouteContext } from '../context.ts';
import { errorSchema, groupSchema, idParamsSchema, publicUser, userSchema } from '../schemas.ts';

const A = '/api/v1/admin';
const tags = ['admin write-back'];
const security = [{ adminSession: [] }];
const errors = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  409: errorSchema,
  422: errorSchema,
  502: errorSchema,
  503: errorSchema,
  504: errorSchema,
} as const;

const stepSchema = z.object({
  kind: z
    .string()
    .describe(
      'createUser, updateUser, renameUser, moveUser, disableUser, enableUser, deleteUser, createGroup, renameGroup, deleteGroup, addMember, removeMember, followRename, setPassword',
    ),
  subject: z.string(),
  reason: z.string(),
  dn: z.string(),
  status: z.enum(['planned', 'done', 'pending', 'failed', 'not_sent']),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

/** An action's result, as the CLI prints it with --json. */
export const writeActionSchema = z.object({
  action: z.string(),
  mode: z.enum(['writable', 'unsynced', 'local']),
  isDryRun: z.boolean(),
  outcome: z
    .enum(['written', 'pending', 'failed', 'local', 'planned', 'unchanged'])
    .describe(
      'written: the directory holds the change; pending: it waits in the outbox and is retried; failed: the directory refused a write (kept in the outbox as failed); local: only dirbridge changed; planned: a dry run; unchanged: nothing to write',
    ),
  message: z.string(),
  steps: z.array(stepSchema),
  conflicts: z.array(
    z.object({
      subject: z.string(),
      field: z.string(),
      winner: z.enum(['directory', 'dirbridge']),
      directoryValue: z.string().nullable(),
      dirbridgeValue: z.string().nullable(),
    }),
  ),
});

const dryRun = z.boolean().default(false).describe('show the plan; change nothing');
const withUser = writeActionSchema.extend({ user: userSchema.optional() });
const withGroup = writeActionSchema.extend({ group: groupSchema.optional() });

function describeResult(result: WriteActionResult): z.infer<typeof writeActionSchema> {
  const { action, mode, isDryRun, outcome, message, steps, conflicts } = result;
  return { action, mode, isDryRun, outcome, message, steps, conflicts };
}

/** Registers the write-back action routes. */
export function registerAdminWriteActionRoutes(server: FastifyInstance, context: RouteContext): void {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  const { app } = context;
  const usernameOf = async (id: string) => {
    const user = await app.store.users.get(id);
    if (user === undefined) throw new DirbridgeError('users.not_found', `no user with id ${id}`);
    return user.username;
  };
  const groupNameOf = async (id: string) => {
    const group = await app.store.groups.get(id);
    if (group === undefined) throw new DirbridgeError('users.not_found', `no group with id ${id}`);
    return group.name;
  };
  const userResult = (result: WriteActionResult & { user?: Parameters<typeof publicUser>[0] }) => ({
    ...describeResult(result),
    ...(result.user === undefined ? {} : { user: publicUser(result.user) }),
  });
  const groupResult = (result: WriteActionResult & { group?: z.infer<typeof groupSchema> }) => ({
    ...describeResult(result),
    ...(result.group === undefined ? {} : { group: groupSchema.parse(result.group) }),
  });

  typed.post(
    `${A}/users`,
    {
      schema: {
        tags,
        security,
        summary:
          'Create a user: in the directory under writeBack.usersDn in writable mode (the password, if given, is set there and never stored), else a local account',
        body: z.strictObject({
          username: z.string().min(1).max(256),
          email: z.string().max(320).optional(),
          firstName: z.string().max(256).optional(),
          lastName: z.string().max(256).optional(),
          displayName: z.string().max(256).optional(),
          groups: z.array(z.string().min(1).max(256)).max(100).default([]),
          password: z.string().min(1).max(1024).optional(),
          dryRun,
        }),
        response: { 200: withUser, ...errors },
      },
    },
    async (request) => {
      const { dryRun: isDryRun, ...input } = request.body;
      return userResult(await app.writeBack.users.create(input, { actor: adminOf(request).actor, isDryRun }));
    },
  );

  typed.post(
    `${A}/users/:id/rename`,
    {
      schema: {
        tags,
        security,
        summary: 'Rename a user (a modify DN and the username attributes in writable mode)',
        params: idParamsSchema,
        body: z.strictObject({ username: z.string().min(1).max(256), dryRun }),
        response: { 200: withUser, ...errors },
      },
    },
    async (request) =>
      userResult(
        await app.writeBack.users.rename(await usernameOf(request.params.id), request.body.username, {
          actor: adminOf(request).actor,
          isDryRun: request.body.dryRun,
        }),
      ),
  );

  typed.post(
    `${A}/users/:id/move`,
    {
      schema: {
        tags,
        security,
        summary: "Move a directory user's entry under another parent DN (within users.baseDn)",
        params: idParamsSchema,
        body: z.strictObject({ parentDn: z.string().min(1).max(2048), dryRun }),
        response: { 200: withUser, ...errors },
      },
    },
    async (request) =>
      userResult(
        await app.writeBack.users.move(await usernameOf(request.params.id), request.body.parentDn, {
          actor: adminOf(request).actor,
          isDryRun: request.body.dryRun,
        }),
      ),
  );

  typed.post(
    `${A}/users/:id/delete`,
    {
      schema: {
        tags,
        security,
        summary:
          'Delete a user. In writable mode the directory entry follows writeBack.deletion.users: disable (kept, disabled), delete, or keep; dirbridge keeps a disabled account unless the entry is deleted',
        params: idParamsSchema,
        body: z.strictObject({ dryRun }).default({ dryRun: false }),
        response: { 200: withUser, ...errors },
      },
    },
    async (request) =>
      userResult(await app.writeBack.users.delete(await usernameOf(request.params.id), { actor: adminOf(request).actor, isDryRun: request.body.dryRun })),
  );

  typed.post(
    `${A}/users/:id/password`,
    {
      schema: {
        tags,
        security,
        summary:
          "Reset a user's password: set in the directory for directory users (writable mode with writeBack.passwords; the server's policy applies and a refusal names its rule, 422), hashed in the store for local accounts. The user's sessions end. Never stored or logged for directory users",
        params: idParamsSchema,
        body: z.strictObject({ password: z.string().min(1).max(1024), dryRun }),
        response: { 200: writeActionSchema, ...errors },
      },
    },
    async (request) =>
      describeResult(
        await app.writeBack.users.setPassword(await usernameOf(request.params.id), request.body.password, {
          actor: adminOf(request).actor,
          isDryRun: request.body.dryRun,
        }),
      ),
  );

  typed.post(
    `${A}/groups`,
    {
      schema: {
        tags,
        security,
        summary:
          'Create a group: in the directory under writeBack.groupsDn in writable mode (with the placeholder member where the schema requires one), else a local group',
        body: z.strictObject({ name: z.string().min(1).max(256), dryRun }),
        response: { 200: withGroup, ...errors },
      },
    },
    async (request) => groupResult(await app.writeBack.groups.create(request.body.name, { actor: adminOf(request).actor, isDryRun: request.body.dryRun })),
  );

  typed.post(
    `${A}/groups/:id/rename`,
    {
      schema: {
        tags,
        security,
        summary: 'Rename a group (a modify DN in writable mode)',
        params: idParamsSchema,
        body: z.strictObject({ name: z.string().min(1).max(256), dryRun }),
        response: { 200: withGroup, ...errors },
      },
    },
    async (request) =>
      groupResult(
        await app.writeBack.groups.rename(await groupNameOf(request.params.id), request.body.name, {
          actor: adminOf(request).actor,
          isDryRun: request.body.dryRun,
        }),
      ),
  );

  typed.post(
    `${A}/groups/:id/delete`,
    {
      schema: {
        tags,
        security,
        summary:
          'Delete a group; in writable mode the directory group follows writeBack.deletion.groups (keep or delete). A group is never deleted for being empty',
        params: idParamsSchema,
        body: z.strictObject({ dryRun }).default({ dryRun: false }),
        response: { 200: withGroup, ...errors },
      },
    },
    async (request) =>
      groupResult(await app.writeBack.groups.delete(await groupNameOf(request.params.id), { actor: adminOf(request).actor, isDryRun: request.body.dryRun })),
  );

  for (const [verb, isMember] of [
    ['add', true],
    ['remove', false],
  ] as const) {
    typed.post(
      `${A}/groups/:id/members/${verb}`,
      {
        schema: {
          tags,
          security,
          summary: isMember
            ? 'Add a user to a group: one member value in the directory group (writable mode), the others untouched'
            : 'Remove a user from a group: one member value; an empty group is kept',
          params: idParamsSchema,
          body: z.strictObject({ userId: z.string().min(1).max(100), dryRun }),
          response: { 200: withGroup, ...errors },
        },
      },
      async (request) =>
        groupResult(
          await app.writeBack.groups.setMember(await groupNameOf(request.params.id), await usernameOf(request.body.userId), isMember, {
            actor: adminOf(request).actor,
            isDryRun: request.body.dryRun,
          }),
        ),
    );
  }
}
