/**
 * The write-back's admin API (issue #10): the outbox's open rows (pending and failed directory
 * writes) and the conflicts, of the one directory an instance reads today; retrying failed rows
 * and resolving a conflict go through `writeback/outbox-actions.ts`, as the CLI's `writeback retry`
 * and `writeback resolve` do. The admin guard has authenticated every request before it gets here.
 *
 * The outbox never holds a password (passwords are set at once, or the action fails). The
 * response schemas still name every field they send, and a change's password attributes are
 * dropped before it is sent: a second lock, so no future row can carry one out.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { OutboxRecord, WriteBackConflictRecord } from '../../model/index.ts';
import { PRIMARY_DIRECTORY_ID } from '../../model/writeback.ts';
import type { AttributeChange, DirectoryChange } from '../../writeback/directory-change.ts';
import { resolveWriteBackConflict, retryWriteBack } from '../../writeback/outbox-actions.ts';
import { adminOf } from '../admin-auth.ts';
import type { RouteContext } from '../context.ts';
import { errorSchema, idParamsSchema, pageQuerySchema } from '../schemas.ts';
import { isSecretAttribute } from './admin-actions.ts';

const A = '/api/v1/admin/writeback';
const tags = ['admin write-back'];
const security = [{ adminSession: [] }];
const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 503: errorSchema } as const;

const attributeChangeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('set'), attribute: z.string(), from: z.array(z.string()), to: z.array(z.string()) }),
  z.object({ kind: z.literal('addValues'), attribute: z.string(), values: z.array(z.string()) }),
  z.object({ kind: z.literal('deleteValues'), attribute: z.string(), values: z.array(z.string()) }),
]);

const directoryChangeSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('add'), dn: z.string(), attributes: z.record(z.string(), z.array(z.string())) }),
    z.object({ kind: z.literal('modify'), dn: z.string(), changes: z.array(attributeChangeSchema) }),
    z.object({ kind: z.literal('modifyDn'), dn: z.string(), newRdn: z.string(), newParent: z.string().optional() }),
    z.object({ kind: z.literal('delete'), dn: z.string() }),
  ])
  .describe('the LDAP write, as the write plan states it (a set is a compare-and-swap of from → to); password attributes are never shown');

const outboxRowSchema = z.object({
  id: z.string(),
  actionId: z.string().describe('the administrator action the row is a step of; its steps are delivered in seq order'),
  seq: z.number(),
  stepKind: z
    .string()
    .describe(
      'createUser, updateUser, renameUser, moveUser, disableUser, enableUser, deleteUser, createGroup, renameGroup, deleteGroup, addMember, removeMember or followRename',
    ),
  subject: z.string().describe('the username or group name'),
  objectKind: z.enum(['user', 'group']),
  objectId: z.string().describe("dirbridge's id of the user or group"),
  change: directoryChangeSchema,
  reason: z.string(),
  actor: z.string(),
  status: z.enum(['pending', 'failed', 'done']).describe('pending: waiting for its next attempt; failed: given up until retried'),
  attempts: z.number(),
  nextAttemptAt: z.string(),
  lastErrorCode: z.string().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const outboxPageSchema = z.object({ rows: z.array(outboxRowSchema), total: z.number() });

const conflictSchema = z.object({
  id: z.string(),
  objectKind: z.enum(['user', 'group']),
  objectId: z.string(),
  subject: z.string().describe('the username or group name'),
  field: z.string().describe('the user field both sides changed (email, firstName, lastName, displayName)'),
  winner: z.enum(['directory', 'dirbridge']).describe('whose value stands, per writeBack.authority'),
  directoryValue: z.array(z.string()),
  dirbridgeValue: z.array(z.string()),
  baseline: z.array(z.string()).describe('what both sides held before they changed'),
  createdAt: z.string(),
  resolvedAt: z.string().nullable(),
  resolvedBy: z.string().nullable(),
  resolution: z.enum(['keep', 'restore']).nullable().describe("keep: the winner's value stays; restore: the loser's value was put back"),
});

const conflictPageSchema = z.object({ rows: z.array(conflictSchema), total: z.number() });

const deliveryRunSchema = z.object({
  done: z.number().describe('rows delivered'),
  retrying: z.number().describe('rows that failed for now and wait for their next attempt'),
  failed: z.number().describe('rows given up until retried'),
  conflicts: z.number().describe('conflicts recorded while delivering'),
  skipped: z
    .enum(['not_writable', 'held_elsewhere'])
    .optional()
    .describe('why nothing was delivered: write-back is not on in writable mode, or another instance is delivering'),
});

const retryResultSchema = z.object({ requeued: z.number().describe('failed rows put back in the outbox, due now'), run: deliveryRunSchema });

/** One open outbox row as the API sends it (the console imports it). */
export type OutboxRowView = z.infer<typeof outboxRowSchema>;
/** A page of open outbox rows. */
export type OutboxPageView = z.infer<typeof outboxPageSchema>;
/** A write-back conflict as the API sends it (the console imports it). */
export type WriteBackConflictView = z.infer<typeof conflictSchema>;
/** A page of conflicts. */
export type ConflictPageView = z.infer<typeof conflictPageSchema>;
/** What `POST retry` answers (the console imports it). */
export type RetryResultView = z.infer<typeof retryResultSchema>;

/** A change without password attributes (a second lock: the outbox holds none). */
export function withoutSecretAttributes(change: DirectoryChange): DirectoryChange {
  switch (change.kind) {
    case 'add':
      return { ...change, attributes: Object.fromEntries(Object.entries(change.attributes).filter(([name]) => !isSecretAttribute(name))) };
    case 'modify':
      return { ...change, changes: change.changes.filter((item: AttributeChange) => !isSecretAttribute(item.attribute)) };
    default:
      return change;
  }
}

function outboxRowView(row: OutboxRecord): OutboxRowView {
  return {
    id: row.id,
    actionId: row.actionId,
    seq: row.seq,
    stepKind: row.stepKind,
    subject: row.subject,
    objectKind: row.objectKind,
    objectId: row.objectId,
    change: withoutSecretAttributes(row.change),
    reason: row.reason,
    actor: row.actor,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.nextAttemptAt,
    lastErrorCode: row.lastErrorCode,
    lastError: row.lastError,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function conflictView({ directoryId: _directoryId, ...conflict }: WriteBackConflictRecord): WriteBackConflictView {
  return conflict;
}

/** Registers the write-back routes. */
export function registerAdminWriteBackRoutes(server: FastifyInstance, context: RouteContext): void {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  const { store } = context.app;

  typed.get(
    `${A}/outbox`,
    {
      schema: {
        tags,
        security,
        summary: 'The outbox: directory writes not yet delivered (pending) or given up until retried (failed), oldest action first, each step in order',
        querystring: pageQuerySchema,
        response: { 200: outboxPageSchema, ...errors },
      },
    },
    async (request) => {
      const page = await store.writeBack.listOpen(PRIMARY_DIRECTORY_ID, request.query);
      return { rows: page.rows.map(outboxRowView), total: page.total };
    },
  );

  typed.get(
    `${A}/conflicts`,
    {
      schema: {
        tags,
        security,
        summary: 'Write-back conflicts (a field both dirbridge and the directory changed), newest first; open=true: only those not resolved yet',
        querystring: pageQuerySchema.extend({
          open: z
            .enum(['true', 'false'])
            .transform((value) => value === 'true')
            .optional()
            .describe('true: only unresolved conflicts; absent or false: all'),
        }),
        response: { 200: conflictPageSchema, ...errors },
      },
    },
    async (request) => {
      const { open, limit, offset } = request.query;
      const page = await store.writeBack.listConflicts(PRIMARY_DIRECTORY_ID, open === true ? { open: true } : {}, { limit, offset });
      return { rows: page.rows.map(conflictView), total: page.total };
    },
  );

  typed.post(
    `${A}/retry`,
    {
      schema: {
        tags,
        security,
        summary:
          'Retry: puts failed outbox rows (all, or those named) back in the outbox, due now, and delivers at once; answers how many were put back and what the delivery did',
        body: z
          .object({ ids: z.array(z.string().min(1).max(100)).min(1).max(1000).optional().describe('the failed rows to retry; absent: every failed row') })
          .nullish(),
        response: { 200: retryResultSchema, ...errors },
      },
    },
    async (request) => {
      const ids = request.body?.ids;
      return retryWriteBack(context.app, { ...(ids === undefined ? {} : { ids }), actor: adminOf(request).actor });
    },
  );

  typed.post(
    `${A}/conflicts/:id/resolve`,
    {
      schema: {
        tags,
        security,
        summary:
          "Resolves an open conflict: keep leaves the winner's value on both sides; restore gives both sides the loser's value (written to the directory now, so write-back must be on in writable mode). 404 for an unknown conflict, 409 for one already resolved",
        params: idParamsSchema,
        body: z.object({ resolution: z.enum(['keep', 'restore']) }),
        response: { 200: conflictSchema, ...errors, 404: errorSchema, 409: errorSchema },
      },
    },
    async (request) =>
      conflictView(await resolveWriteBackConflict(context.app, { id: request.params.id, resolution: request.body.resolution, actor: adminOf(request).actor })),
  );
}
