/**
 * The OpenID Connect account behind a token: a dirbridge user, read from the store each time it
 * is asked for (sign-in, code exchange, refresh, userinfo), so a disabled user, or one taken out
 * of the client's allowed groups, gets no code and no token, and a refresh carries the current
 * groups and roles. `sub` is the user's id, stable across renames and moves in the directory.
 */
import type { UserRecord } from '../model/index.ts';
import type { Store } from '../store/store.ts';

/** The claims dirbridge releases, by scope. */
export const OIDC_CLAIMS_BY_SCOPE = {
  openid: ['sub'],
  profile: ['preferred_username', 'name', 'given_name', 'family_name', 'picture', 'updated_at'],
  email: ['email'],
  groups: ['groups'],
  roles: ['roles'],
} as const;

/** Why a user may not use a client, or undefined when they may. */
export type AccessRefusal = 'unknown_user' | 'disabled_in_dirbridge' | 'not_in_allowed_groups';

/** Whether `user` may sign in to a client limited to `allowedGroups` (empty: everyone enabled); `groups` are the user's group names. */
export function refusalOf(user: UserRecord | undefined, groups: readonly string[], allowedGroups: readonly string[]): AccessRefusal | undefined {
  if (user === undefined) return 'unknown_user';
  if (!user.isEnabled) return 'disabled_in_dirbridge';
  if (allowedGroups.length === 0) return undefined;
  const mine = new Set(groups.map((group) => group.toLowerCase()));
  return allowedGroups.some((group) => mine.has(group.toLowerCase())) ? undefined : 'not_in_allowed_groups';
}

/** Reads a user with their group names, and checks their access to a client (by id; none when no client is known). */
export async function checkAccess(
  store: Store,
  userId: string,
  clientId: string | undefined,
): Promise<{ user: UserRecord | undefined; groups: string[]; refusal: AccessRefusal | undefined }> {
  const user = await store.users.get(userId);
  const groups = user === undefined ? [] : (await store.groups.listOfUser(user.id)).map((group) => group.name);
  const client = clientId === undefined ? undefined : await store.oidc.getOidcClient(clientId);
  return { user, groups, refusal: refusalOf(user, groups, client?.allowedGroups ?? []) };
}

/** The claims of a user (oidc-provider keeps those the granted scopes allow). */
export async function claimsOf(store: Store, user: UserRecord, groups: readonly string[], issuer: string): Promise<Record<string, unknown>> {
  const [roles, avatars] = [await store.mapping.listUserRoles(user.id), await store.mapping.listAvatarInfo([user.id])];
  const avatar = avatars[0];
  const name = user.displayName ?? ([user.firstName, user.lastName].filter((part) => part !== '').join(' ') || user.username);
  return {
    sub: user.id,
    preferred_username: user.username,
    name,
    ...(user.firstName === '' ? {} : { given_name: user.firstName }),
    ...(user.lastName === '' ? {} : { family_name: user.lastName }),
    ...(user.email === null ? {} : { email: user.email }),
    ...(avatar === undefined ? {} : { picture: `${issuer}/api/v1/users/${encodeURIComponent(user.id)}/avatar?v=${avatar.contentHash}` }),
    updated_at: Math.floor(Date.parse(user.updatedAt) / 1000),
    groups: [...groups],
    roles,
  };
}
