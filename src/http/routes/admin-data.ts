/**
 * The console's data API: users (with profile changes and enable/disable through the account
 * administration service, and their avatars), groups, roles, channels, teams and their members,
 * sync runs, the audit log, and sessions. The admin guard has authenticated every request before
 * it gets here.
 *
 * Every page of users carries each user's avatar hash, read for the whole page in one query (never
 * one per user); the browser then fetches only the images it shows.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DIRECTORY_MANAGED_FIELDS } from '../../auth/account-admin.ts';
import { revokeSessionsAsAdmin } from '../../auth/revoke-sessions.ts';
import { DirbridgeError, isDirbridgeError } from '../../errors.ts';
import { type PageQuery, USER_STATES, type UserPage, type UserRecord } from '../../model/index.ts';
import { checkUserInScope, writeModeOf } from '../../writeback/action-context.ts';
import { adminOf } from '../admin-auth.ts';
import { avatarCacheHook, avatarHashes, avatarQuerySchema, avatarRef, imageResponseSchema, sendAvatar } from '../avatar.ts';
import type { RouteContext } from '../context.ts';
import { HttpError } from '../errors.ts';
import {
  auditEntrySchema,
  avatarRefSchema,
  channelSchema,
  errorSchema,
  groupSchema,
  idParamsSchema,
  pageQuerySchema,
  publicUser,
  runSchema,
  searchPageQuerySchema,
  sessionSchema,
  stepSummarySchema,
  teamSchema,
  userPageSchema,
  userSchema,
} from '../schemas.ts';

const A = '/api/v1/admin';
/** The response header that says how a change's directory side went (a write-back outcome). */
export const WRITE_BACK_HEADER = 'dirbridge-write-back';
const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema } as const;
const tags = ['admin'];
const security = [{ adminSession: [] }];
const booleanQuery = z.enum(['true', 'false']).transform((value) => value === 'true');

const throttleStatusSchema = z
  .object({
    isThrottled: z.boolean().describe('true when a login from an address the user has not signed in from is refused as throttled now'),
    failures: z.number().describe('failed (or still running) login attempts counted under the username and under the directory account, the more of the two'),
    limit: z.number().describe("how many a stranger's login may find before it is refused"),
  })
  .describe(
    "dirbridge's own login throttle for this user, from its own count (no directory call): the directory's own failure counter, a lockout in the directory and a policy the entry names are not shown",
  );

const userDetailSchema = z.object({
  user: userSchema,
  groups: z.array(z.object({ id: z.string(), name: z.string(), source: z.enum(['local', 'directory']) })),
  roles: z.array(z.string()),
  channels: z.array(z.object({ id: z.string(), name: z.string() })),
  teams: z.array(z.object({ id: z.string(), name: z.string() })),
  customFields: z.record(z.string(), z.string()),
  abacAttributes: z.record(z.string(), z.array(z.string())),
  readOnlyFields: z.array(z.string()).describe('fields the directory manages for this user; the console shows them read-only'),
  avatar: avatarRefSchema
    .unwrap()
    .extend({ mimeType: z.string(), byteLength: z.number(), updatedAt: z.string() })
    .nullable()
    .describe('the stored avatar (url under /api/v1/admin), null when the user has none'),
  loginThrottle: throttleStatusSchema,
});

/** What `GET users/:id` sends (the console imports it). */
export type UserDetailView = z.infer<typeof userDetailSchema>;

const unthrottleResultSchema = z.object({ cleared: z.number().describe('failed login attempts cleared'), loginThrottle: throttleStatusSchema });

/** What `POST users/:id/unthrottle` sends (the console imports it). */
export type UnthrottleView = z.infer<typeof unthrottleResultSchema>;

const profileChangesSchema = z
  .strictObject({
    username: z.string().min(1).max(256).optional(),
    email: z.string().max(320).nullable().optional(),
    firstName: z.string().max(256).optional(),
    lastName: z.string().max(256).optional(),
    displayName: z.string().max(256).nullable().optional(),
    notes: z.string().max(10_000).nullable().optional(),
    isAdmin: z.boolean().optional(),
  })
  .refine((changes) => Object.keys(changes).length > 0, { message: 'name at least one field to change' });

const reasonBodySchema = z.object({ reason: z.string().min(1).max(1000).optional() }).nullish();

/** A channel or team name in a path (names are unique case-insensitively). */
const nameParamsSchema = z.object({ name: z.string().min(1).max(256) });
const channelWithCountSchema = channelSchema.extend({ memberCount: z.number() });
const teamWithCountSchema = teamSchema.extend({ memberCount: z.number() });

/** Registers the data routes. */
export function registerAdminDataRoutes(server: FastifyInstance, context: RouteContext): void {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  const { store } = context.app;

  const userOr404 = async (id: string): Promise<UserRecord> => {
    const user = await store.users.get(id);
    if (user === undefined) throw new DirbridgeError('users.not_found', `no user with id ${id}`);
    return user;
  };

  /** A page of users as sent: each with its avatar hash, all read in one query. */
  const withAvatars = async (page: UserPage) => {
    const hashes = await avatarHashes(
      store,
      page.users.map((user) => user.id),
    );
    return { total: page.total, users: page.users.map((user) => ({ ...publicUser(user), avatarHash: hashes.get(user.id) ?? null })) };
  };

  typed.get(
    `${A}/users`,
    {
      schema: {
        tags,
        security,
        summary: 'Users, ordered by username; search matches username, email and names',
        querystring: searchPageQuerySchema.extend({
          source: z.enum(['local', 'directory']).optional(),
          isAdmin: booleanQuery.optional(),
          state: z
            .enum(['all', ...USER_STATES])
            .default('all')
            .describe('active: enabled accounts; disabled: disabled ones, whoever disabled them'),
        }),
        response: { 200: userPageSchema, ...errors },
      },
    },
    async (request) => {
      const { limit, offset, search, source, isAdmin, state } = request.query;
      const page = await store.users.list({
        limit,
        offset,
        ...(search === undefined ? {} : { search }),
        ...(source === undefined ? {} : { source }),
        ...(isAdmin === undefined ? {} : { isAdmin }),
        ...(state === 'all' ? {} : { state }),
      });
      return withAvatars(page);
    },
  );

  /**
   * The fields the console shows read-only: those the directory manages, less the profile fields
   * and username that PATCH writes back (writable and unsynced modes, a user within writeBack.scopeGroups).
   */
  const readOnlyFieldsOf = async (user: UserRecord): Promise<string[]> => {
    const fields = context.app.accounts.readOnlyFields(user);
    if (user.source !== 'directory' || writeModeOf(context.app.settings) === 'local') return fields;
    try {
      await checkUserInScope(store, context.app.settings, user);
    } catch (error) {
      if (isDirbridgeError(error, 'writeback.out_of_scope')) return fields;
      throw error;
    }
    return fields.filter((field) => !(DIRECTORY_MANAGED_FIELDS as readonly string[]).includes(field));
  };

  typed.get(
    `${A}/users/:id`,
    {
      schema: {
        tags,
        security,
        summary: 'One user with groups, roles, channels, teams, custom fields and ABAC attributes',
        params: idParamsSchema,
        response: { 200: userDetailSchema, ...errors },
      },
    },
    async (request) => {
      const user = await userOr404(request.params.id);
      const attributes = await store.mapping.getUserAttributes(user.id);
      const avatar = (await store.mapping.listAvatarInfo([user.id]))[0];
      return {
        user: publicUser(user),
        groups: (await store.groups.listOfUser(user.id)).map((group) => ({ id: group.id, name: group.name, source: group.source })),
        roles: await store.mapping.listUserRoles(user.id),
        channels: (await store.mapping.listUserChannels(user.id)).map((channel) => ({ id: channel.id, name: channel.name })),
        teams: (await store.mapping.listUserTeams(user.id)).map((team) => ({ id: team.id, name: team.name })),
        customFields: attributes.customFields,
        abacAttributes: attributes.abacAttributes,
        readOnlyFields: await readOnlyFieldsOf(user),
        loginThrottle: await context.app.accounts.throttleStatus(user),
        avatar:
          avatar === undefined ? null : { ...avatarRef(avatar, A), mimeType: avatar.mimeType, byteLength: avatar.byteLength, updatedAt: avatar.updatedAt },
      };
    },
  );

  typed.get(
    `${A}/users/:id/avatar`,
    {
      schema: {
        tags,
        security,
        summary:
          "A user's avatar: the image bytes (JPEG, PNG, GIF or WebP, typed from the bytes), a strong ETag, 304 on If-None-Match; 404 avatars.not_found without one",
        params: idParamsSchema,
        querystring: avatarQuerySchema,
        response: { 200: imageResponseSchema, 304: z.null().describe('not modified'), ...errors },
      },
      onSend: avatarCacheHook,
    },
    async (request, reply) => {
      // Cached per session: another administrator (or none, after sign-out) must revalidate.
      reply.header('vary', 'Cookie');
      return sendAvatar(store, request, reply, (await userOr404(request.params.id)).id);
    },
  );

  typed.patch(
    `${A}/users/:id`,
    {
      schema: {
        tags,
        security,
        summary:
          "Change profile fields. A directory user's profile fields and username are written to the directory in writable write-back mode (kept in dirbridge in unsynced mode; the Dirbridge-Write-Back header says how it went: written, pending, failed, unchanged, local); otherwise they are refused with 409 naming them",
        params: idParamsSchema,
        body: profileChangesSchema,
        response: { 200: userSchema, ...errors, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const { actor } = adminOf(request);
      const user = await userOr404(request.params.id);
      if (user.source !== 'directory' || writeModeOf(context.app.settings) === 'local')
        return publicUser(await context.app.accounts.updateProfile(user.id, request.body, actor));
      // A directory user's profile and name go through write-back (written, or kept locally in unsynced mode); local fields stay here.
      const { username, email, firstName, lastName, displayName, ...local } = request.body;
      const profile = {
        ...(email === undefined ? {} : { email }),
        ...(firstName === undefined ? {} : { firstName }),
        ...(lastName === undefined ? {} : { lastName }),
        ...(displayName === undefined ? {} : { displayName }),
      };
      const outcomes: string[] = [];
      if (Object.keys(profile).length > 0) outcomes.push((await context.app.writeBack.users.update(user.username, profile, { actor })).outcome);
      if (username !== undefined && username !== user.username)
        outcomes.push((await context.app.writeBack.users.rename(user.username, username, { actor })).outcome);
      if (Object.keys(local).length > 0) await context.app.accounts.updateProfile(user.id, local, actor);
      if (outcomes.length > 0) reply.header(WRITE_BACK_HEADER, outcomes.join(', '));
      return publicUser(await userOr404(user.id));
    },
  );

  for (const [action, isDisable] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    typed.post(
      `${A}/users/:id/${action}`,
      {
        schema: {
          tags,
          security,
          summary: isDisable
            ? 'Disable an account and end its sessions (sync never re-enables it); in writable write-back mode the directory account is disabled too (never deleted). Dirbridge-Write-Back says how the directory side went'
            : 'Enable an account; in writable write-back mode the directory account too. Dirbridge-Write-Back says how the directory side went',
          params: idParamsSchema,
          body: reasonBodySchema,
          response: { 200: userSchema, ...errors },
        },
      },
      async (request, reply) => {
        const { actor } = adminOf(request);
        const reason = request.body?.reason ?? (isDisable ? 'disabled by an administrator' : 'enabled by an administrator');
        const user = await userOr404(request.params.id);
        const result = await context.app.writeBack.users.setEnabled(user.username, !isDisable, { actor, reason });
        reply.header(WRITE_BACK_HEADER, result.outcome);
        return publicUser(await userOr404(user.id));
      },
    );
  }

  typed.post(
    `${A}/users/:id/unthrottle`,
    {
      schema: {
        tags,
        security,
        summary:
          "Clear dirbridge's login throttle for a user: its failed attempts under its username, its directory account and the other names that account was tried by (audited as login.throttle_cleared). The directory's own failure counter is not cleared (dirbridge never writes to the directory): where the directory counts failures (pwdFailureTime, badPwdCount, passwordRetryCount), logins stay refused until its count allows another attempt",
        params: idParamsSchema,
        body: z.object({}).nullish(),
        response: { 200: unthrottleResultSchema, ...errors },
      },
    },
    async (request) => {
      const result = await context.app.accounts.unthrottle(request.params.id, adminOf(request).actor);
      return { cleared: result.cleared, loginThrottle: result.status };
    },
  );

  typed.delete(
    `${A}/users/:id/sessions`,
    {
      schema: {
        tags,
        security,
        summary: 'Revoke every active session of a user',
        params: idParamsSchema,
        response: { 200: z.object({ revoked: z.array(z.string()) }), ...errors },
      },
    },
    async (request) => {
      const user = await userOr404(request.params.id);
      const revoked = await revokeSessionsAsAdmin(store, { userIds: [user.id] }, adminOf(request).actor, context.app.now);
      return { revoked: revoked.map((session) => session.id) };
    },
  );

  typed.get(
    `${A}/groups`,
    {
      schema: {
        tags,
        security,
        summary: 'Groups with member counts, ordered by name',
        querystring: searchPageQuerySchema,
        response: { 200: z.object({ total: z.number(), groups: z.array(groupSchema.extend({ memberCount: z.number() })) }), ...errors },
      },
    },
    async (request) => {
      const { limit, offset, search } = request.query;
      return store.groups.list({ limit, offset, ...(search === undefined ? {} : { search }) });
    },
  );

  typed.get(
    `${A}/groups/:id`,
    { schema: { tags, security, summary: 'One group', params: idParamsSchema, response: { 200: groupSchema, ...errors } } },
    async (request) => {
      const group = await store.groups.get(request.params.id);
      if (group === undefined) throw new DirbridgeError('store.not_found', `no group with id ${request.params.id}`);
      return group;
    },
  );

  typed.get(
    `${A}/groups/:id/members`,
    {
      schema: {
        tags,
        security,
        summary: 'Members of a group, ordered by username',
        params: idParamsSchema,
        querystring: pageQuerySchema,
        response: { 200: userPageSchema, ...errors },
      },
    },
    async (request) => {
      if ((await store.groups.get(request.params.id)) === undefined) throw new DirbridgeError('store.not_found', `no group with id ${request.params.id}`);
      return withAvatars(await store.groups.listMembers(request.params.id, request.query));
    },
  );

  typed.get(
    `${A}/roles`,
    {
      schema: {
        tags,
        security,
        summary: 'Roles granted by mapping, with how many users hold each',
        response: { 200: z.object({ roles: z.array(z.object({ role: z.string(), userCount: z.number() })) }), ...errors },
      },
    },
    async () => ({ roles: await store.mapping.listRoles() }),
  );

  typed.get(
    `${A}/roles/:role/members`,
    {
      schema: {
        tags,
        security,
        summary: 'Users holding a role',
        params: z.object({ role: z.string().min(1).max(256) }),
        querystring: pageQuerySchema,
        response: { 200: userPageSchema, ...errors },
      },
    },
    async (request) => {
      return withAvatars(await store.mapping.listRoleMembers(request.params.role, request.query));
    },
  );

  // Channels and teams: the same three routes each (the list, one by name, the members of one by id).
  const mappedKinds = [
    {
      path: 'channels',
      title: 'Channels',
      noun: 'channel',
      itemSchema: channelWithCountSchema,
      listSchema: z.object({ total: z.number(), channels: z.array(channelWithCountSchema) }),
      list: (query: PageQuery & { search?: string }) => store.mapping.listChannels(query),
      find: (name: string) => store.mapping.findChannelByName(name),
      members: (id: string, page: PageQuery) => store.mapping.listChannelMembers(id, page),
    },
    {
      path: 'teams',
      title: 'Teams',
      noun: 'team',
      itemSchema: teamWithCountSchema,
      listSchema: z.object({ total: z.number(), teams: z.array(teamWithCountSchema) }),
      list: (query: PageQuery & { search?: string }) => store.mapping.listTeams(query),
      find: (name: string) => store.mapping.findTeamByName(name),
      members: (id: string, page: PageQuery) => store.mapping.listTeamMembers(id, page),
    },
  ] as const;

  for (const kind of mappedKinds) {
    typed.get(
      `${A}/${kind.path}`,
      {
        schema: {
          tags,
          security,
          summary: `${kind.title} with member counts, ordered by name`,
          querystring: searchPageQuerySchema,
          response: { 200: kind.listSchema, ...errors },
        },
      },
      async (request) => {
        const { limit, offset, search } = request.query;
        return kind.list({ limit, offset, ...(search === undefined ? {} : { search }) });
      },
    );

    typed.get(
      `${A}/${kind.path}/:name`,
      {
        schema: {
          tags,
          security,
          summary: `One ${kind.noun} by name (case-insensitively), with its member count; its members are at ${kind.path}/:id/members`,
          params: nameParamsSchema,
          response: { 200: kind.itemSchema, ...errors },
        },
      },
      async (request) => {
        const found = await kind.find(request.params.name);
        if (found === undefined) throw new HttpError(404, `${kind.path}.not_found`, `no ${kind.noun} named ${request.params.name}`);
        return found;
      },
    );

    typed.get(
      `${A}/${kind.path}/:id/members`,
      {
        schema: {
          tags,
          security,
          summary: `Members of a ${kind.noun}, ordered by username`,
          params: idParamsSchema,
          querystring: pageQuerySchema,
          response: { 200: userPageSchema, ...errors },
        },
      },
      async (request) => {
        return withAvatars(await kind.members(request.params.id, request.query));
      },
    );
  }

  typed.get(
    `${A}/runs`,
    {
      schema: {
        tags,
        security,
        summary: 'Recorded sync runs, newest first',
        querystring: pageQuerySchema,
        response: { 200: z.object({ total: z.number(), runs: z.array(runSchema) }), ...errors },
      },
    },
    async (request) => {
      const page = await store.runs.list(request.query);
      return { total: page.total, runs: page.runs.map(({ planSummary: _omitted, ...run }) => run) };
    },
  );

  typed.get(
    `${A}/runs/:id`,
    {
      schema: {
        tags,
        security,
        summary: 'One run with its plan summary (the first steps of each kind, with their reasons)',
        params: idParamsSchema,
        response: { 200: runSchema.extend({ planSummary: z.array(stepSummarySchema) }), ...errors },
      },
    },
    async (request) => {
      const run = await store.runs.get(request.params.id);
      if (run === undefined) throw new DirbridgeError('store.not_found', `no sync run with id ${request.params.id}`);
      const summary = z.array(stepSummarySchema).safeParse(run.planSummary);
      return { ...run, planSummary: summary.success ? summary.data : [] };
    },
  );

  typed.get(
    `${A}/audit`,
    {
      schema: {
        tags,
        security,
        summary: 'The audit log, newest first',
        querystring: pageQuerySchema.extend({ userId: z.string().max(100).optional(), action: z.string().max(100).optional() }),
        response: { 200: z.object({ total: z.number(), entries: z.array(auditEntrySchema) }), ...errors },
      },
    },
    async (request) => {
      const { limit, offset, userId, action } = request.query;
      return store.audit.list({ limit, offset, ...(userId === undefined ? {} : { userId }), ...(action === undefined ? {} : { action }) });
    },
  );

  typed.get(
    `${A}/sessions`,
    {
      schema: {
        tags,
        security,
        summary: 'Sessions, newest first (tokens are never shown)',
        querystring: pageQuerySchema.extend({
          userId: z.string().max(100).optional(),
          all: booleanQuery.default(false).describe('include revoked and expired sessions'),
        }),
        response: { 200: z.object({ total: z.number(), sessions: z.array(sessionSchema) }), ...errors },
      },
    },
    async (request) => {
      const { limit, offset, userId, all } = request.query;
      return store.sessions.list({
        limit,
        offset,
        ...(userId === undefined ? {} : { userId }),
        ...(all ? {} : { isActive: true, now: context.app.now().toISOString() }),
      });
    },
  );

  typed.delete(
    `${A}/sessions/:id`,
    {
      schema: {
        tags,
        security,
        summary: 'Revoke one session',
        params: idParamsSchema,
        response: { 200: z.object({ revoked: z.array(z.string()) }), ...errors },
      },
    },
    async (request) => {
      const revoked = await revokeSessionsAsAdmin(store, { ids: [request.params.id] }, adminOf(request).actor, context.app.now);
      if (revoked.length === 0) throw new DirbridgeError('store.not_found', `no active session with id ${request.params.id}`);
      return { revoked: revoked.map((session) => session.id) };
    },
  );
}
