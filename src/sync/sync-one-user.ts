/**
 * One user's sync: the plan the sync planner makes for a single directory user (its account,
 * groups, memberships and mapped grants), scoped to that user, applied like a full run. Login
 * provisions with it after the password check; the API's "sync one user" runs it without one.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { DirbridgeError, isDirbridgeError } from '../errors.ts';
import { normalizeDn } from '../ldap/dn.ts';
import { isMappingActive, mappedAttributes } from '../mapping/grants.ts';
import type { ResolvedGroup } from '../mapping/memberships.ts';
import type { GroupRecord, MappingState, UserRecord } from '../model/index.ts';
import type { MappingSettings, Settings } from '../settings/schema.ts';
import type { Store } from '../store/store.ts';
import { applyPlan } from './apply.ts';
import { type FoundEntry, findDirectoryEntry, readUserGroups, type UserGroup } from './find-directory-user.ts';
import { type CurrentState, countSteps, type PlanCounts, type PlanStep, planSync } from './plan.ts';
import { planPasswordChange } from './plan-password-changes.ts';
import { readGroupNamesForUser } from './read-mapping-inputs.ts';
import { readWriteBackState } from './read-write-back-state.ts';
import { subjectOf } from './run-sync.ts';

/** Runs work on a service-bound directory connection (login's shared lookup connection, or a fresh one). */
export interface DirectoryLookup {
  use<T>(work: (directory: DirectoryConnection) => Promise<T>): Promise<T>;
}

/** What provisioning one user needs. */
export interface ProvisionDeps {
  store: Store;
  /**
   * `writeBack` decides whether unsynced local changes are kept (absent: not unsynced); the app
   * passes its whole settings. Pending writes hold their fields whatever it says.
   */
  settings: Pick<Settings, 'directory' | 'users' | 'groups' | 'sync' | 'mapping'> & Partial<Pick<Settings, 'writeBack'>>;
  lookup: DirectoryLookup;
}

/** The outcome of provisioning: the plan applied, or the reason the planner skipped the user. */
export type ProvisionOutcome = { applied: true; steps: PlanStep[]; counts: PlanCounts } | { conflict: string };

/**
 * Creates or refreshes one found user and its memberships with the sync planner, scoped to that
 * user. `mappingFor` chooses the mapping to apply (undefined for none) by whether the account is
 * new; `actor` names who did it in the audit log.
 *
 * The user's groups and mapped group names are read here, after the caller has decided to
 * provision (a wrong password costs no group searches), and resolved as a full sync resolves
 * them, nested groups included, so the plan never undoes what the next sync does. Any directory
 * fault while reading throws before anything is planned: a failed read never revokes.
 */
export async function provisionUser(
  deps: ProvisionDeps,
  found: FoundEntry,
  options: { mappingFor: (isNewUser: boolean) => MappingSettings | undefined; actor: string },
): Promise<ProvisionOutcome> {
  const { store, settings } = deps;
  const syncGroups = settings.groups?.enabled === true;
  const mapping = options.mappingFor((await store.users.findByExternalId(found.user.externalId)) === undefined);
  const read = await deps.lookup.use(async (directory) => {
    const { groups, skipped } = await readUserGroups(directory, settings.groups, found.user);
    const names =
      mapping === undefined
        ? undefined
        : await readGroupNamesForUser(directory, { mapping, users: settings.users, groups: settings.groups }, found.user, groups);
    return { groups, skipped, names };
  });
  const snapshotGroups: ResolvedGroup[] = read.groups.map((group) => ({
    externalId: group.externalId,
    dn: group.dn,
    dnKey: normalizeDn(group.dn),
    name: group.name,
    memberDnKeys: [],
    memberUids: [],
    memberUserIds: [found.user.externalId],
  }));
  const current = await currentStateFor(deps, found, read.groups, syncGroups, mapping !== undefined);
  const user =
    mapping === undefined || read.names === undefined ? found.user : { ...found.user, mapping: { ...read.names, ...mappedAttributes(found.entry, mapping) } };
  const plan = planSync(
    // Groups the sync skips (no id or name) are listed as skipped too, so their memberships stay as the sync keeps them.
    { users: [user], groups: snapshotGroups, skippedUsers: [], skippedGroups: read.skipped, warnings: [], serverType: 'login', uniqueIdAttribute: '' },
    current,
    {
      ...settings.sync,
      importNewUsers: true,
      disableMissingUsers: false,
      syncGroups,
      scope: 'listed',
      ...(settings.writeBack === undefined ? {} : { writeBackAuthority: settings.writeBack.authority }),
      ...(mapping === undefined ? {} : { mapping }),
    },
  );
  const skipped = plan.steps.find((step) => step.kind === 'skipUser');
  if (skipped !== undefined) return { conflict: skipped.reason };
  await applyPlan(store, plan, current, {
    batchSize: settings.sync.batchSize,
    actor: options.actor,
    writeBackNow: (tx, userIds) => readWriteBackState(tx, settings, { userIds, groupIds: [] }),
  });
  return { applied: true, steps: plan.steps, counts: plan.counts };
}

/**
 * A login's password change check when the rest of the account is not refreshed
 * (`login.updateOnLogin` off): the same planner step and apply as a sync, for this user only, so
 * a login after a password change still ends the older sessions before it starts its own, and
 * the next sync does not end the new one.
 */
export async function applyPasswordChangeOf(
  deps: Pick<ProvisionDeps, 'store' | 'settings'>,
  found: FoundEntry,
  existing: UserRecord,
  options: { actor: string },
): Promise<PlanStep[]> {
  const step = planPasswordChange(found.user.passwordChangedAt, existing, { revokeSessions: deps.settings.sync.revokeSessionsOnPasswordChange });
  if (step === undefined) return [];
  await applyPlan(
    deps.store,
    { steps: [step], counts: countSteps([step], 0), warnings: [], seenUserIds: [] },
    { users: [existing], groups: [], memberships: [] },
    { batchSize: deps.settings.sync.batchSize, actor: options.actor },
  );
  return [step];
}

/** The result of syncing one user by name. */
export interface OneUserSyncResult {
  user: UserRecord;
  isNewUser: boolean;
  counts: PlanCounts;
  steps: Array<{ kind: PlanStep['kind']; subject: string; reason: string }>;
}

/**
 * Syncs one user by username, as login would provision it but without a password, applying the
 * whole mapping (as a full sync does). Throws `users.not_found` when the directory has no such
 * user, `directory.ambiguous` when several entries match, and `store.conflict` when the planner
 * skips it (e.g. its username is taken by another account).
 */
export async function syncOneUser(deps: ProvisionDeps, username: string, options: { actor: string }): Promise<OneUserSyncResult> {
  const found = await deps.lookup.use((directory) => findDirectoryEntry(directory, deps.settings, username.trim()));
  if (found === undefined) throw new DirbridgeError('users.not_found', `no directory user matches ${JSON.stringify(username.trim())}`);
  const existing = await deps.store.users.findByExternalId(found.user.externalId);
  const mapping = isMappingActive(deps.settings.mapping) ? deps.settings.mapping : undefined;
  const outcome = await provisionUser(deps, found, { mappingFor: () => mapping, actor: options.actor });
  if ('conflict' in outcome) throw new DirbridgeError('store.conflict', outcome.conflict);
  const user = await deps.store.users.findByExternalId(found.user.externalId);
  if (user === undefined) throw new DirbridgeError('store.conflict', `${found.user.username} was not stored`);
  return {
    user,
    isNewUser: existing === undefined,
    counts: outcome.counts,
    steps: outcome.steps.map((step) => ({ kind: step.kind, subject: subjectOf(step), reason: step.reason })),
  };
}

/** The part of the store one user's plan needs: the user, merge candidates, its groups, memberships and grants. */
async function currentStateFor(
  deps: ProvisionDeps,
  found: FoundEntry,
  userGroups: readonly UserGroup[],
  syncGroups: boolean,
  withMapping: boolean,
): Promise<CurrentState> {
  const { store, settings } = deps;
  const users = new Map<string, UserRecord>();
  const add = (user: UserRecord | undefined) => {
    if (user !== undefined) users.set(user.id, user);
  };
  const existing = await store.users.findByExternalId(found.user.externalId);
  add(existing);
  add(await store.users.findByUsername(found.user.username));
  if (settings.sync.mergeExistingUsers.enabled && settings.sync.mergeExistingUsers.matchBy === 'email' && found.user.email !== null) {
    try {
      add(await store.users.findByEmail(found.user.email));
    } catch (error) {
      if (!isDirbridgeError(error, 'store.ambiguous')) throw error;
    }
  }
  const mapping = withMapping ? await mappingStateFor(store, existing) : undefined;
  const groups = new Map<string, GroupRecord>();
  if (syncGroups) {
    for (const group of existing === undefined ? [] : await store.groups.listOfUser(existing.id)) groups.set(group.id, group);
  }
  const memberships = existing === undefined ? [] : [...groups.keys()].map((groupId) => ({ userId: existing.id, groupId }));
  if (syncGroups) {
    for (const group of userGroups) {
      const stored = await store.groups.findByExternalId(group.externalId);
      if (stored !== undefined) groups.set(stored.id, stored);
    }
  }
  // After the users, as a full sync reads it: a local change read above comes with its open rows.
  const writeBack = await readWriteBackState(store, settings, { userIds: [...users.keys()], groupIds: [...groups.keys()] });
  return {
    users: [...users.values()],
    groups: [...groups.values()],
    memberships,
    ...(mapping === undefined ? {} : { mapping }),
    ...(writeBack === undefined ? {} : { writeBack }),
  };
}

/** One user's grants, plus every channel and team (few, and needed to find them by name). */
async function mappingStateFor(store: Store, user: UserRecord | undefined): Promise<MappingState> {
  const channels = (await store.mapping.listChannels({ limit: 100_000, offset: 0 })).channels;
  const teams = (await store.mapping.listTeams({ limit: 100_000, offset: 0 })).teams;
  if (user === undefined) return { roles: [], channels, channelMembers: [], teams, teamMembers: [], customFields: [], abacAttributes: [], avatarHashes: [] };
  const attributes = await store.mapping.getUserAttributes(user.id);
  return {
    roles: (await store.mapping.listUserRoles(user.id)).map((role) => ({ userId: user.id, role })),
    channels,
    channelMembers: (await store.mapping.listUserChannels(user.id)).map((channel) => ({ channelId: channel.id, userId: user.id })),
    teams,
    teamMembers: (await store.mapping.listUserTeams(user.id)).map((team) => ({ teamId: team.id, userId: user.id })),
    customFields: [{ userId: user.id, fields: attributes.customFields }],
    abacAttributes: [{ userId: user.id, attributes: attributes.abacAttributes }],
    avatarHashes: [],
  };
}
