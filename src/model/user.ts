/**
 * Users (accounts): the record callers see, what to insert or patch, and the case-insensitive
 * keys usernames and emails are unique and looked up under.
 */
import type { RecordSource } from './record-source.ts';
import type { Timestamp } from './timestamp.ts';

/**
 * Who disabled an account: the directory's own account state (`directory`), sync because the
 * entry vanished from the directory (`sync`), or an administrator (`admin`, which sync never undoes).
 */
export type DisabledBy = 'directory' | 'sync' | 'admin';

/** The states `users.list` can filter by: enabled accounts (`active`) or disabled ones, whoever disabled them. */
export const USER_STATES = ['active', 'disabled'] as const;

/** An account state to filter users by. */
export type UserState = (typeof USER_STATES)[number];

/** A user as callers see it (the password hash stays in the store; see `users.getPasswordHash`). */
export interface UserRecord {
  id: string;
  username: string;
  email: string | null;
  firstName: string;
  lastName: string;
  displayName: string | null;
  source: RecordSource;
  externalId: string | null;
  dn: string | null;
  isEnabled: boolean;
  disabledBy: DisabledBy | null;
  disabledReason: string | null;
  isAdmin: boolean;
  hasPassword: boolean;
  /** Consecutive syncs in which the directory no longer returned this user. */
  missingRuns: number;
  /** Free text kept by administrators; a local field, editable even for directory users. */
  notes: string | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
  lastSyncedAt: Timestamp | null;
  /**
   * When the directory last changed the password, as sync or login last saw it
   * (`mapping/password-change.ts`; its sentinels for "never changed" and "must change" included);
   * null until one has looked.
   */
  passwordChangedAt: Timestamp | null;
}

/** A user to insert; omitted optional fields take the documented defaults. */
export interface NewUser {
  username: string;
  source: RecordSource;
  email?: string | null;
  /** Defaults to the empty string. */
  firstName?: string;
  /** Defaults to the empty string. */
  lastName?: string;
  displayName?: string | null;
  externalId?: string | null;
  dn?: string | null;
  /** Defaults to true. */
  isEnabled?: boolean;
  disabledBy?: DisabledBy | null;
  disabledReason?: string | null;
  /** Defaults to false. */
  isAdmin?: boolean;
  passwordHash?: string | null;
  /** Defaults to 0. */
  missingRuns?: number;
  notes?: string | null;
  lastSyncedAt?: Timestamp | null;
  passwordChangedAt?: Timestamp | null;
}

/** A partial update of a user; only the given fields change, and `updatedAt` is set by the store. */
export type UserPatch = Partial<NewUser>;

/** A page of users with the total number of matches. */
export interface UserPage {
  total: number;
  users: UserRecord[];
}

/** The case-insensitive key under which a username is unique (and looked up). */
export function usernameKey(username: string): string {
  return username.toLowerCase();
}

/** The case-insensitive key under which an email is looked up. */
export function emailKey(email: string): string {
  return email.toLowerCase();
}
