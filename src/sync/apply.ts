/**
 * Applies a guarded plan to the store in batched transactions. Steps are idempotent, so a
 * run cut short is completed by the next one. The order keeps references valid: users and
 * groups exist before memberships point at them.
 */

import type { UserPatch } from '../model/index.ts';
import { PRIMARY_DIRECTORY_ID } from '../model/writeback.ts';
import { chunk } from '../store/batch.ts';
import type { Store, StoreWriter } from '../store/store.ts';
import { fieldValues } from '../writeback/resolve-conflict.ts';
import { changeEventsOf } from './change-events.ts';
import type { CurrentState, PlanStep, SyncPlan } from './plan.ts';
import { PASSWORD_CHANGED_REASON } from './plan-password-changes.ts';
import { type WriteBackState, withoutHeldChanges } from './write-back-state.ts';

type StepOf<K extends PlanStep['kind']> = Extract<PlanStep, { kind: K }>;

/** Applies every step of the plan; `onProgress` is told how many steps are done. */
export async function applyPlan(
  store: Store,
  plan: SyncPlan,
  current: CurrentState,
  options: {
    batchSize: number;
    /** Who the audit log names for lifecycle changes, e.g. `sync` or `login`. */
    actor: string;
    now?: () => Date;
    onProgress?: (done: number, total: number) => void;
    /**
     * Reads write-back's state of the given users inside the transaction that updates them, so a
     * local change committed (with its outbox row or baseline) after planning is not overwritten.
     */
    writeBackNow?: (tx: StoreWriter, userIds: readonly string[]) => Promise<WriteBackState | undefined>;
  },
): Promise<void> {
  const now = (options.now ?? (() => new Date()))().toISOString();
  const byKind = groupByKind(plan.steps);
  const ids = idsByExternalId(current);
  const total = plan.steps.length;
  let done = 0;
  const report = (count: number) => {
    done += count;
    options.onProgress?.(done, total);
  };

  // What changes for users that already existed, written first: a run cut short may repeat an
  // entry in the change feed, never lose one.
  for (const batch of chunk(changeEventsOf(plan.steps, current, { actor: options.actor, at: now }), options.batchSize)) {
    await store.transaction((tx) => tx.audit.append(batch));
  }

  // Renames may rotate usernames between accounts, so all of them go into one transaction,
  // with what they settle of local changes (unsynced write-back): a conflict is recorded exactly
  // when the store takes, or keeps, its winner.
  const userChanges = [...byKind.linkUser, ...byKind.updateUser];
  await store.transaction(async (tx) => {
    const updates =
      options.writeBackNow === undefined || byKind.updateUser.length === 0
        ? byKind.updateUser
        : withoutHeldChanges(
            byKind.updateUser,
            await options.writeBackNow(
              tx,
              byKind.updateUser.map((step) => step.userId),
            ),
            settledFields(byKind.settleLocalChange),
          );
    await writeUserChanges(tx, [...byKind.linkUser, ...updates], now);
    await settleLocalChanges(tx, byKind.settleLocalChange);
    await tx.audit.append(
      byKind.linkUser.map((step) => ({
        actor: options.actor,
        action: 'user.linked',
        userId: step.userId,
        subject: step.fields.username,
        reason: step.reason,
        at: now,
      })),
    );
  });
  for (const step of byKind.linkUser) ids.users.set(step.externalId, step.userId);
  report(userChanges.length + byKind.settleLocalChange.length);

  for (const batch of chunk(byKind.createUser, options.batchSize)) {
    const created = await store.transaction(async (tx) => {
      const users = await tx.users.insert(
        batch.map((step) => ({
          ...step.fields,
          source: 'directory' as const,
          externalId: step.externalId,
          isEnabled: step.isEnabled,
          disabledBy: step.isEnabled ? null : ('directory' as const),
          disabledReason: step.isEnabled ? null : step.reason,
          lastSyncedAt: now,
        })),
      );
      await tx.audit.append(
        batch.map((step, index) => ({
          actor: options.actor,
          action: 'user.created',
          userId: users[index]?.id ?? null,
          subject: step.fields.username,
          reason: step.reason,
          at: now,
        })),
      );
      return users;
    });
    for (const user of created) if (user.externalId !== null) ids.users.set(user.externalId, user.id);
    report(batch.length);
  }

  const groupChanges = [...byKind.createGroup, ...byKind.updateGroup];
  for (const batch of chunk(groupChanges, options.batchSize)) {
    await store.transaction(async (tx) => {
      const creates = batch.filter((step): step is StepOf<'createGroup'> => step.kind === 'createGroup');
      const updates = batch.filter((step): step is StepOf<'updateGroup'> => step.kind === 'updateGroup');
      if (creates.length > 0) {
        const inserted = await tx.groups.insert(
          creates.map((step) => ({ externalId: step.externalId, name: step.name, dn: step.dn, source: 'directory' as const })),
        );
        for (const group of inserted) if (group.externalId !== null) ids.groups.set(group.externalId, group.id);
      }
      if (updates.length > 0) await tx.groups.update(updates.map((step) => ({ id: step.groupId, ...step.changes })));
      for (const step of updates) if (step.changes.externalId !== undefined) ids.groups.set(step.changes.externalId, step.groupId);
    });
    report(batch.length);
  }

  // Sorted by key, so the membership index fills in order instead of at random (3x faster at 500k).
  const additions = byKind.addMembership
    .flatMap((step) => {
      const userId = ids.users.get(step.userExternalId);
      const groupId = ids.groups.get(step.groupExternalId);
      return userId === undefined || groupId === undefined ? [] : [{ userId, groupId }];
    })
    .sort((a, b) => (a.userId === b.userId ? compareText(a.groupId, b.groupId) : compareText(a.userId, b.userId)));
  for (const batch of chunk(additions, options.batchSize)) {
    await store.transaction((tx) => tx.groups.addMemberships(batch));
    report(batch.length);
  }
  report(byKind.addMembership.length - additions.length);
  for (const batch of chunk(byKind.removeMembership, options.batchSize)) {
    await store.transaction((tx) => tx.groups.removeMemberships(batch.map(({ userId, groupId }) => ({ userId, groupId }))));
    report(batch.length);
  }

  await applyMappingSteps(store, byKind, ids.users, current, { ...options, now, report });

  const stateChanges = [...byKind.disableUser, ...byKind.enableUser, ...byKind.markMissing, ...byKind.markPresent];
  for (const batch of chunk(stateChanges, options.batchSize)) {
    await store.transaction(async (tx) => {
      await tx.users.update(batch.map(statePatch));
      await tx.audit.append(
        batch.flatMap((step) =>
          step.kind === 'disableUser' || step.kind === 'enableUser'
            ? [
                {
                  actor: options.actor,
                  action: step.kind === 'disableUser' ? 'user.disabled' : 'user.enabled',
                  userId: step.userId,
                  subject: step.username,
                  reason: step.reason,
                  at: now,
                },
              ]
            : [],
        ),
      );
    });
    report(batch.length);
  }

  for (const batch of chunk([...byKind.recordPasswordChange, ...byKind.revokeSessions], options.batchSize)) {
    await store.transaction((tx) => applyPasswordChanges(tx, batch, { actor: options.actor, at: now }));
    report(batch.length);
  }

  for (const batch of chunk(byKind.deleteGroup, options.batchSize)) {
    await store.transaction((tx) => tx.groups.delete(batch.map((step) => step.groupId)));
    report(batch.length);
  }
  report(byKind.skipUser.length + byKind.skipGroup.length);

  // "Last synced" is the last time a sync saw the user: every existing user of the read, not only
  // the changed ones (created, updated and linked users got the time above).
  const written = new Set(userChanges.map((step) => step.userId));
  for (const batch of chunk(
    plan.seenUserIds.filter((id) => !written.has(id)),
    options.batchSize,
  )) {
    await store.transaction((tx) => tx.users.markSynced(batch, now));
  }
}

/**
 * Records password change times, and revokes every active session of the users whose change this
 * transaction recorded, auditing each revoked session as `session.revoked`. The record is a
 * compare-and-set on the time the plan saw: when a login (or another run) recorded the change
 * first, it also revoked first, and nothing is revoked here — in particular not the session that
 * login has just started with the new password.
 */
async function applyPasswordChanges(
  tx: StoreWriter,
  steps: ReadonlyArray<StepOf<'recordPasswordChange'> | StepOf<'revokeSessions'>>,
  options: { actor: string; at: string },
): Promise<void> {
  const recorded = new Set(await tx.users.recordPasswordChanges(steps.map(({ userId, from, to }) => ({ userId, from, to }))));
  const revoking = new Map(steps.flatMap((step) => (step.kind === 'revokeSessions' && recorded.has(step.userId) ? [[step.userId, step] as const] : [])));
  if (revoking.size === 0) return;
  const revoked = await tx.sessions.revoke({ userIds: [...revoking.keys()] }, PASSWORD_CHANGED_REASON, options.at);
  await tx.audit.append(
    revoked.map((session) => {
      const step = revoking.get(session.userId);
      return {
        actor: options.actor,
        action: 'session.revoked',
        userId: session.userId,
        subject: session.id,
        reason: step?.reason ?? PASSWORD_CHANGED_REASON,
        details: { passwordChangedAt: step?.to ?? null, previous: step?.from ?? null },
        at: options.at,
      };
    }),
  );
}

/** User id → the fields the plan's settle steps decide. */
function settledFields(steps: ReadonlyArray<StepOf<'settleLocalChange'>>): Map<string, Set<string>> {
  const settled = new Map<string, Set<string>>();
  for (const step of steps) settled.set(step.userId, new Set([...(settled.get(step.userId) ?? []), step.field]));
  return settled;
}

/**
 * Unsynced write-back: records the conflicts of local changes the directory changed too, drops
 * the baselines the directory settled or won, and moves those dirbridge won to the directory's
 * new value (so the same conflict is not recorded again).
 */
async function settleLocalChanges(tx: StoreWriter, steps: ReadonlyArray<StepOf<'settleLocalChange'>>): Promise<void> {
  if (steps.length === 0) return;
  const conflicts = steps.filter((step) => step.outcome !== 'settled');
  if (conflicts.length > 0) {
    await tx.writeBack.recordConflicts(
      PRIMARY_DIRECTORY_ID,
      conflicts.map((step) => ({
        objectKind: 'user' as const,
        objectId: step.userId,
        subject: step.username,
        field: step.field,
        winner: step.outcome === 'dirbridgeWins' ? ('dirbridge' as const) : ('directory' as const),
        directoryValue: fieldValues(step.directoryValue),
        dirbridgeValue: fieldValues(step.dirbridgeValue),
        baseline: [...step.baseline],
      })),
    );
  }
  const dropped = steps.filter((step) => step.outcome !== 'dirbridgeWins');
  if (dropped.length > 0)
    await tx.writeBack.deleteBaselines(
      PRIMARY_DIRECTORY_ID,
      dropped.map((step) => ({ objectKind: 'user' as const, objectId: step.userId, field: step.field })),
    );
  const moved = steps.filter((step) => step.outcome === 'dirbridgeWins');
  if (moved.length > 0) {
    await tx.writeBack.upsertBaselines(
      PRIMARY_DIRECTORY_ID,
      moved.map((step) => ({
        objectKind: 'user' as const,
        objectId: step.userId,
        field: step.field,
        values: fieldValues(step.directoryValue),
        changeMarker: null,
      })),
    );
  }
}

async function writeUserChanges(tx: StoreWriter, steps: ReadonlyArray<StepOf<'linkUser'> | StepOf<'updateUser'>>, now: string): Promise<void> {
  if (steps.length === 0) return;
  await tx.users.update(
    steps.map((step) =>
      step.kind === 'linkUser'
        ? { id: step.userId, ...step.fields, source: 'directory' as const, externalId: step.externalId, lastSyncedAt: now }
        : { id: step.userId, ...step.changes, lastSyncedAt: now },
    ),
  );
}

/** Applies role, channel, team, attribute and admin steps; channels and teams are created before members are added. */
async function applyMappingSteps(
  store: Store,
  byKind: StepsByKind,
  userIds: ReadonlyMap<string, string>,
  current: CurrentState,
  options: { batchSize: number; actor: string; now: string; report: (count: number) => void },
): Promise<void> {
  const userIdOf = (externalId: string) => userIds.get(externalId);
  const channelIds = new Map((current.mapping?.channels ?? []).map((channel) => [channel.name.toLowerCase(), channel.id]));
  const teamIds = new Map((current.mapping?.teams ?? []).map((team) => [team.name.toLowerCase(), team.id]));
  if (byKind.createChannel.length > 0 || byKind.createTeam.length > 0) {
    await store.transaction(async (tx) => {
      const channels = await tx.mapping.insertChannels(
        byKind.createChannel.map((step) => ({ name: step.name, ownerUsername: step.ownerUsername, source: 'directory' as const })),
      );
      for (const channel of channels) channelIds.set(channel.name.toLowerCase(), channel.id);
      const teams = await tx.mapping.insertTeams(byKind.createTeam.map((step) => ({ name: step.name, source: 'directory' as const })));
      for (const team of teams) teamIds.set(team.name.toLowerCase(), team.id);
    });
    options.report(byKind.createChannel.length + byKind.createTeam.length);
  }
  const pairsOf = <S>(steps: readonly S[], resolve: (step: S) => { userId?: string | undefined; otherId?: string | undefined }) =>
    steps.flatMap((step) => {
      const { userId, otherId } = resolve(step);
      return userId === undefined || otherId === undefined ? [] : [{ userId, otherId }];
    });
  const writes: Array<{ count: number; write: (tx: StoreWriter, from: number, to: number) => Promise<void> }> = [
    {
      count: byKind.grantRole.length,
      write: (tx, from, to) =>
        tx.mapping.grantRoles(
          byKind.grantRole.slice(from, to).flatMap((step) => {
            const userId = userIdOf(step.userExternalId);
            return userId === undefined ? [] : [{ userId, role: step.role }];
          }),
        ),
    },
    {
      count: byKind.revokeRole.length,
      write: (tx, from, to) => tx.mapping.revokeRoles(byKind.revokeRole.slice(from, to).map(({ userId, role }) => ({ userId, role }))),
    },
    {
      // A channel's owner is a channel fact, not a user's: audited per channel, outside the change feed.
      count: byKind.setChannelOwner.length,
      write: async (tx, from, to) => {
        const steps = byKind.setChannelOwner.slice(from, to);
        await tx.mapping.setChannelOwners(steps.map(({ channelId, ownerUsername }) => ({ channelId, ownerUsername })));
        await tx.audit.append(
          steps.map((step) => ({
            actor: options.actor,
            action: 'channel.owner_changed',
            userId: null,
            subject: `#${step.channel}`,
            reason: step.reason,
            details: { channelId: step.channelId, channel: step.channel, from: step.previousOwner, to: step.ownerUsername },
            at: options.now,
          })),
        );
      },
    },
    {
      count: byKind.addChannelMember.length,
      write: (tx, from, to) =>
        tx.mapping.addChannelMembers(
          pairsOf(byKind.addChannelMember.slice(from, to), (step) => ({
            userId: userIdOf(step.userExternalId),
            otherId: channelIds.get(step.channel.toLowerCase()),
          })).map(({ userId, otherId }) => ({ userId, channelId: otherId })),
        ),
    },
    {
      count: byKind.removeChannelMember.length,
      write: (tx, from, to) =>
        tx.mapping.removeChannelMembers(byKind.removeChannelMember.slice(from, to).map(({ userId, channelId }) => ({ userId, channelId }))),
    },
    {
      count: byKind.addTeamMember.length,
      write: (tx, from, to) =>
        tx.mapping.addTeamMembers(
          pairsOf(byKind.addTeamMember.slice(from, to), (step) => ({
            userId: userIdOf(step.userExternalId),
            otherId: teamIds.get(step.team.toLowerCase()),
          })).map(({ userId, otherId }) => ({ userId, teamId: otherId })),
        ),
    },
    {
      count: byKind.removeTeamMember.length,
      write: (tx, from, to) => tx.mapping.removeTeamMembers(byKind.removeTeamMember.slice(from, to).map(({ userId, teamId }) => ({ userId, teamId }))),
    },
    {
      count: byKind.setCustomFields.length,
      write: (tx, from, to) =>
        tx.mapping.setCustomFields(
          byKind.setCustomFields.slice(from, to).flatMap((step) => {
            const userId = userIdOf(step.userExternalId);
            return userId === undefined ? [] : [{ userId, fields: step.fields }];
          }),
        ),
    },
    {
      count: byKind.setAbacAttributes.length,
      write: (tx, from, to) =>
        tx.mapping.setAbacAttributes(
          byKind.setAbacAttributes.slice(from, to).flatMap((step) => {
            const userId = userIdOf(step.userExternalId);
            return userId === undefined ? [] : [{ userId, attributes: step.attributes }];
          }),
        ),
    },
    {
      count: byKind.setAdmin.length,
      write: async (tx, from, to) => {
        const steps = byKind.setAdmin.slice(from, to).flatMap((step) => {
          const userId = userIdOf(step.userExternalId);
          return userId === undefined ? [] : [{ step, userId }];
        });
        await tx.users.update(steps.map(({ step, userId }) => ({ id: userId, isAdmin: step.isAdmin })));
        await tx.audit.append(
          steps.map(({ step, userId }) => ({
            actor: options.actor,
            action: step.isAdmin ? 'user.admin_granted' : 'user.admin_revoked',
            userId,
            subject: step.username,
            reason: step.reason,
            at: options.now,
          })),
        );
      },
    },
  ];
  for (const { count, write } of writes) {
    for (let from = 0; from < count; from += options.batchSize) {
      const to = Math.min(count, from + options.batchSize);
      await store.transaction((tx) => write(tx, from, to));
      options.report(to - from);
    }
  }
}

/** The user columns a state step sets: enabled state, who disabled it and why, and the missing-run count. */
function statePatch(step: StepOf<'disableUser'> | StepOf<'enableUser'> | StepOf<'markMissing'> | StepOf<'markPresent'>): { id: string } & UserPatch {
  switch (step.kind) {
    case 'disableUser':
      return { id: step.userId, isEnabled: false, disabledBy: step.disabledBy, disabledReason: step.reason };
    case 'enableUser':
      return { id: step.userId, isEnabled: true, disabledBy: null, disabledReason: null, missingRuns: 0 };
    case 'markMissing':
      return { id: step.userId, missingRuns: step.missingRuns };
    case 'markPresent':
      return { id: step.userId, missingRuns: 0 };
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** External id → store id for every directory user and group the store held before the run. */
function idsByExternalId(state: CurrentState): { users: Map<string, string>; groups: Map<string, string> } {
  const users = new Map<string, string>();
  for (const user of state.users) if (user.externalId !== null) users.set(user.externalId, user.id);
  const groups = new Map<string, string>();
  for (const group of state.groups) if (group.externalId !== null) groups.set(group.externalId, group.id);
  return { users, groups };
}

/** Plan steps sorted into lists by kind. */
type StepsByKind = { [K in PlanStep['kind']]: Array<StepOf<K>> };

function groupByKind(steps: readonly PlanStep[]): StepsByKind {
  const result: StepsByKind = {
    createUser: [],
    linkUser: [],
    updateUser: [],
    disableUser: [],
    enableUser: [],
    markMissing: [],
    markPresent: [],
    settleLocalChange: [],
    skipUser: [],
    createGroup: [],
    updateGroup: [],
    deleteGroup: [],
    skipGroup: [],
    addMembership: [],
    removeMembership: [],
    grantRole: [],
    revokeRole: [],
    createChannel: [],
    setChannelOwner: [],
    addChannelMember: [],
    removeChannelMember: [],
    createTeam: [],
    addTeamMember: [],
    removeTeamMember: [],
    setCustomFields: [],
    setAbacAttributes: [],
    setAdmin: [],
    recordPasswordChange: [],
    revokeSessions: [],
  };
  for (const step of steps) (result[step.kind] as PlanStep[]).push(step);
  return result;
}
