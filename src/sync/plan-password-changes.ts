/**
 * Password changes in the plan: when the directory's password change time for a user moved
 * forward since the last sync or login that saw the user, the user's sessions are revoked
 * (`revokeSessions`, reason "password changed in the directory"); the time is recorded either
 * way (`recordPasswordChange`), so each change is acted on once.
 *
 * - The first value seen (nothing stored yet: after the upgrade, or for a linked account) is
 *   recorded without revoking anything. An entry with no change time is recorded as
 *   `PASSWORD_NEVER_CHANGED`, so its first real change counts.
 * - A missing value never revokes (an attribute the service account cannot read, a directory that
 *   keeps none): nothing is planned.
 * - AD's "must change at next logon" (`MUST_CHANGE_PASSWORD`) counts as a change from any other
 *   value; the new password set afterwards counts again.
 * - A value that moved back (a restored backup, a replica with another clock) is recorded, never
 *   acted on.
 * - With `sync.revokeSessionsOnPasswordChange` off, changes are still recorded (so turning it on
 *   later does not revoke for old changes).
 *
 * The guard does not count these steps (see `guard.ts`): revoking sessions takes no account,
 * membership or role away — the user logs in again with the new password — and a directory-wide
 * password reset after a breach is exactly when every session must end, so a limit would block
 * the one run that must not be blocked. The values are the directory's own change times; a clock
 * jump on dirbridge's side moves none of them.
 *
 * Pure.
 */
import { MUST_CHANGE_PASSWORD, PASSWORD_NEVER_CHANGED } from '../mapping/password-change.ts';

/** The reason written on each revoked session and its `session.revoked` audit entry. */
export const PASSWORD_CHANGED_REASON = 'password changed in the directory';

/** A plan step about a user's password change time. */
export type PasswordStep =
  | { kind: 'revokeSessions'; userId: string; username: string; from: string; to: string; reason: string }
  | { kind: 'recordPasswordChange'; userId: string; username: string; from: string | null; to: string; reason: string };

/** The stored side: absent when the caller did not load it (then nothing is planned). */
export interface StoredPasswordChange {
  id: string;
  username: string;
  passwordChangedAt?: string | null;
}

/**
 * The step for one user seen in the directory (`seen`: its change time, null for none, undefined
 * when not read) against the store's `stored` user, or undefined when nothing changed.
 */
export function planPasswordChange(
  seen: string | null | undefined,
  stored: StoredPasswordChange,
  options: { revokeSessions: boolean },
): PasswordStep | undefined {
  const before = stored.passwordChangedAt;
  if (seen === undefined || before === undefined) return undefined;
  const base = { userId: stored.id, username: stored.username };
  if (before === null) {
    const to = seen ?? PASSWORD_NEVER_CHANGED;
    return { kind: 'recordPasswordChange', ...base, from: null, to, reason: `password change time first seen (${describe(to)}); no sessions revoked for it` };
  }
  if (seen === null || seen === before) return undefined;
  const movedForward = seen === MUST_CHANGE_PASSWORD || seen > before;
  if (!movedForward) {
    return {
      kind: 'recordPasswordChange',
      ...base,
      from: before,
      to: seen,
      reason: `password change time moved back to ${describe(seen)} (was ${describe(before)}); sessions kept`,
    };
  }
  const reason = seen === MUST_CHANGE_PASSWORD ? `${PASSWORD_CHANGED_REASON} (must change at next logon)` : PASSWORD_CHANGED_REASON;
  if (!options.revokeSessions) {
    return { kind: 'recordPasswordChange', ...base, from: before, to: seen, reason: `${reason}; sessions kept: sync.revokeSessionsOnPasswordChange is off` };
  }
  return { kind: 'revokeSessions', ...base, from: before, to: seen, reason };
}

/** What a user's change time is to fill in on a new or linked account: the value seen, or "never changed". */
export function initialPasswordChange(seen: string | null | undefined): string | undefined {
  return seen === undefined ? undefined : (seen ?? PASSWORD_NEVER_CHANGED);
}

/**
 * The steps for every directory user the snapshot and the store both hold, in snapshot order.
 * `linked` maps external ids to store ids for users that existed before the plan.
 */
export function planPasswordChanges(
  users: ReadonlyArray<{ externalId: string; passwordChangedAt?: string | null }>,
  storedById: ReadonlyMap<string, StoredPasswordChange>,
  linked: ReadonlyMap<string, string>,
  options: { revokeSessions: boolean },
): PasswordStep[] {
  const steps: PasswordStep[] = [];
  for (const user of users) {
    const userId = linked.get(user.externalId);
    const stored = userId === undefined ? undefined : storedById.get(userId);
    if (stored === undefined) continue;
    const step = planPasswordChange(user.passwordChangedAt, stored, options);
    if (step !== undefined) steps.push(step);
  }
  return steps;
}

function describe(value: string): string {
  if (value === MUST_CHANGE_PASSWORD) return 'must change at next logon';
  if (value === PASSWORD_NEVER_CHANGED) return 'never changed';
  return value;
}
