/** A user with everything mapping gave it: what applications receive on login and session validation. */
import type { UserRecord } from '../model/index.ts';
import type { Store } from '../store/store.ts';
import { avatarRef } from './avatar.ts';
import type { UserProfile } from './schemas.ts';

/** Where the application API serves avatars (`GET /api/v1/users/:id/avatar`). */
export const APP_API_BASE = '/api/v1';

/** Reads the user's groups, roles, channels, teams, custom fields, ABAC attributes and avatar hash. */
export async function userProfile(store: Store, user: UserRecord): Promise<UserProfile> {
  const attributes = await store.mapping.getUserAttributes(user.id);
  const avatar = (await store.mapping.listAvatarInfo([user.id]))[0];
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    firstName: user.firstName,
    lastName: user.lastName,
    displayName: user.displayName,
    source: user.source,
    isAdmin: user.isAdmin,
    isEnabled: user.isEnabled,
    groups: (await store.groups.listOfUser(user.id)).map((group) => group.name),
    roles: await store.mapping.listUserRoles(user.id),
    channels: (await store.mapping.listUserChannels(user.id)).map((channel) => channel.name),
    teams: (await store.mapping.listUserTeams(user.id)).map((team) => team.name),
    customFields: attributes.customFields,
    abacAttributes: attributes.abacAttributes,
    avatar: avatar === undefined ? null : avatarRef(avatar, APP_API_BASE),
  };
}
