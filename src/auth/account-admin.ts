/**
 * What administrators may change on an account. Fields the directory manages (its attributes,
 * the username and group memberships) are read-only for directory users; local fields stay
 * editable. Every lifecycle change is audited with who did it and why.
 */
import { DirbridgeError } from '../errors.ts';
import type { UserRecord } from '../model/index.ts';
import type { MappingSettings } from '../settings/schema.ts';
import type { Store, StoreWriter } from '../store/store.ts';
import type { LoginThrottle, ThrottleStatus } from './throttle.ts';

/** Fields an administrator may try to change. */
export interface ProfileChanges {
  username?: string;
  email?: string | null;
  firstName?: string;
  lastName?: string;
  displayName?: string | null;
  notes?: string | null;
  isAdmin?: boolean;
}

/** The profile fields sync writes for directory users; changing them here would be undone by the next sync. */
export const DIRECTORY_MANAGED_FIELDS = ['username', 'email', 'firstName', 'lastName', 'displayName'] as const;

/** A field the console may show read-only: a profile field, or the user's group memberships. */
export type ManagedField = keyof ProfileChanges | 'groups';

/**
 * The fields the directory manages for `user`: none for local users; for directory users the
 * profile fields and memberships, and the administrator flag while an admin group is mapped
 * (sync sets it from membership of that group).
 */
export function directoryManagedFields(user: Pick<UserRecord, 'source'>, mapping: Pick<MappingSettings, 'adminGroup'> | undefined): ManagedField[] {
  if (user.source !== 'directory') return [];
  return [...DIRECTORY_MANAGED_FIELDS, ...(mapping?.adminGroup === undefined ? [] : (['isAdmin'] as const)), 'groups'];
}

/**
 * Creates the account administration service; `actor` names the administrator in the audit log.
 * `mapping` returns the mapping settings in force (they decide whether the admin flag is managed).
 */
export function createAccountAdmin(deps: {
  store: Store;
  now: () => Date;
  mapping: () => Pick<MappingSettings, 'adminGroup'> | undefined;
  /** The login throttle in force (it is rebuilt with the settings). */
  throttle: () => Pick<LoginThrottle, 'status' | 'clear'>;
}) {
  const { store } = deps;

  const userOrThrow = async (userId: string): Promise<UserRecord> => {
    const user = await store.users.get(userId);
    if (user === undefined) throw new DirbridgeError('users.not_found', `no user with id ${userId}`);
    return user;
  };

  return {
    /** The fields of `user` an administrator cannot change here (see `directoryManagedFields`). */
    readOnlyFields(user: Pick<UserRecord, 'source'>): ManagedField[] {
      return directoryManagedFields(user, deps.mapping());
    },

    /** Changes profile fields; refuses directory-managed ones on directory users, naming them. */
    async updateProfile(userId: string, changes: ProfileChanges, actor: string): Promise<UserRecord> {
      const user = await userOrThrow(userId);
      if (user.source === 'directory') {
        const managed = directoryManagedFields(user, deps.mapping()).filter(
          (field): field is keyof ProfileChanges => field !== 'groups' && changes[field] !== undefined && changes[field] !== user[field],
        );
        if (managed.length > 0) {
          throw new DirbridgeError(
            'users.directory_managed',
            `${managed.join(', ')} of ${user.username} ${managed.length === 1 ? 'is' : 'are'} managed by the directory and read-only here`,
            {
              details: { fields: managed },
            },
          );
        }
      }
      await store.transaction(async (tx) => {
        await tx.users.update([{ id: userId, ...changes }]);
        await tx.audit.append([{ actor, action: 'user.updated', userId, subject: user.username, reason: `changed ${Object.keys(changes).join(', ')}` }]);
      });
      return userOrThrow(userId);
    },

    /** Adds or removes a membership; refused when the directory manages the user or the group. */
    async setMembership(userId: string, groupId: string, isMember: boolean, actor: string): Promise<void> {
      const user = await userOrThrow(userId);
      const group = await store.groups.get(groupId);
      if (group === undefined) throw new DirbridgeError('users.not_found', `no group with id ${groupId}`);
      if (user.source === 'directory' || group.source === 'directory') {
        throw new DirbridgeError('users.directory_managed', `membership of ${user.username} in ${group.name} is managed by the directory and read-only here`, {
          details: { fields: ['groups'] },
        });
      }
      await store.transaction(async (tx) => {
        if (isMember) await tx.groups.addMemberships([{ userId, groupId }]);
        else await tx.groups.removeMemberships([{ userId, groupId }]);
        await tx.audit.append([{ actor, action: isMember ? 'membership.added' : 'membership.removed', userId, subject: group.name, reason: null }]);
      });
    },

    /** Disables an account and ends its sessions; sync never undoes an administrator's disable. */
    async disable(userId: string, actor: string, reason: string): Promise<UserRecord> {
      const user = await userOrThrow(userId);
      await store.transaction((tx) => disableAccount(tx, user, { actor, reason, at: deps.now().toISOString() }));
      return userOrThrow(userId);
    },

    /** Whether dirbridge's throttle refuses strangers' logins to `user` now (its own count, with the lockout policy last read: no directory call). */
    throttleStatus(user: Pick<UserRecord, 'username' | 'externalId'>): Promise<ThrottleStatus> {
      return deps.throttle().status({ username: user.username, externalId: user.externalId });
    },

    /**
     * Clears dirbridge's login throttle for an account (its failed attempts under its username, its
     * directory account and the other names that account was tried by), audited as
     * `login.throttle_cleared` with `actor`. The directory's own failure counter is left alone:
     * dirbridge never writes to the directory. The status it returns is computed with the lockout
     * policy in force (read from the directory when this process has not read it yet).
     */
    async unthrottle(userId: string, actor: string): Promise<{ user: UserRecord; cleared: number; status: ThrottleStatus }> {
      const user = await userOrThrow(userId);
      const throttle = deps.throttle();
      const cleared = await throttle.clear({ username: user.username, externalId: user.externalId }, ({ attempts, keys }) => ({
        actor,
        action: 'login.throttle_cleared',
        userId,
        subject: user.username,
        reason: `cleared ${attempts} failed login attempt${attempts === 1 ? '' : 's'}`,
        details: { attempts, keys },
      }));
      return { user, cleared: cleared.attempts, status: await throttle.status({ username: user.username, externalId: user.externalId }, { readPolicy: true }) };
    },

    /** Enables an account, whoever disabled it. */
    async enable(userId: string, actor: string, reason: string): Promise<UserRecord> {
      const user = await userOrThrow(userId);
      await store.transaction((tx) => enableAccount(tx, user, { actor, reason }));
      return userOrThrow(userId);
    },
  };
}

/** Disables an account and ends its sessions, audited, inside `tx`; sync never undoes it (disabledBy admin). */
export async function disableAccount(
  tx: StoreWriter,
  user: Pick<UserRecord, 'id' | 'username'>,
  input: { actor: string; reason: string; at: string },
): Promise<void> {
  const { actor, reason, at } = input;
  await tx.users.update([{ id: user.id, isEnabled: false, disabledBy: 'admin', disabledReason: reason }]);
  const revoked = await tx.sessions.revoke({ userIds: [user.id] }, 'user disabled by an administrator', at);
  await tx.audit.append([
    { actor, action: 'user.disabled', userId: user.id, subject: user.username, reason, at },
    ...revoked.map((session) => ({ actor, action: 'session.revoked', userId: user.id, subject: session.id, reason: 'user disabled', at })),
  ]);
}

/** Enables an account, whoever disabled it, audited, inside `tx`. */
export async function enableAccount(tx: StoreWriter, user: Pick<UserRecord, 'id' | 'username'>, input: { actor: string; reason: string }): Promise<void> {
  await tx.users.update([{ id: user.id, isEnabled: true, disabledBy: null, disabledReason: null }]);
  await tx.audit.append([{ actor: input.actor, action: 'user.enabled', userId: user.id, subject: user.username, reason: input.reason }]);
}

/** The account administration service's public shape. */
export type AccountAdmin = ReturnType<typeof createAccountAdmin>;
