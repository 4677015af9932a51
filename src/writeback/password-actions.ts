/**
 * Passwords: an administrator's reset and a user's own change. For a directory user they go to
 * the directory at once (the Password Modify operation on OpenLDAP and 389-DS, unicodePwd on AD,
 * directory/passwords.ts), never to the outbox and never to dirbridge's store; a policy refusal
 * comes back naming the rule. A local account's password is a hash in the store.
 */
import { hashPassword, verifyPassword } from '../auth/password-hash.ts';
import { changeOwnPassword as changeOwnDirectoryPassword } from '../directory/index.ts';
import { DirbridgeError } from '../errors.ts';
import type { UserRecord } from '../model/index.ts';
import { type ActionOptions, checkUserInScope, dnOf, localReason, userNamed, writeModeOf } from './action-context.ts';
import { guardWritePlan, localResult, setPasswordNow, type WriteActionResult, type WriteBackDeps } from './apply-write-plan.ts';
import { emptyWritePlan, type WritePlan } from './write-step.ts';

function checkNotEmpty(password: string): void {
  if (password === '') throw new DirbridgeError('usage.invalid', 'the new password is empty');
}

function passwordPlan(user: UserRecord, dn: string, reason: string): WritePlan {
  const plan = emptyWritePlan();
  plan.steps.push({ kind: 'setPassword', subject: user.username, reason, dn });
  return plan;
}

/** True when a directory user's password goes to the directory (writable mode, passwords on); a refusal names the setting otherwise. */
function checkDirectoryPasswords(deps: WriteBackDeps, user: UserRecord): void {
  const settings = deps.settings();
  if (writeModeOf(settings) !== 'writable') {
    throw new DirbridgeError(
      'users.directory_managed',
      `the password of ${user.username} is the directory's (${localReason(settings, user)}); change it there, or set writeBack.mode writable and writeBack.passwords`,
    );
  }
}

/** An administrator sets a user's password; the user's sessions end (audited). */
export async function resetUserPassword(deps: WriteBackDeps, username: string, password: string, options: ActionOptions): Promise<WriteActionResult> {
  checkNotEmpty(password);
  const user = await userNamed(deps.store, username);
  const isDryRun = options.isDryRun === true;
  if (user.source === 'directory') {
    checkDirectoryPasswords(deps, user);
    const settings = deps.settings();
    await checkUserInScope(deps.store, settings, user);
    const dn = dnOf(user, user.username);
    const plan = passwordPlan(user, dn, 'password reset by an administrator');
    guardWritePlan(plan, settings);
    if (isDryRun)
      return {
        action: 'users.set-password',
        mode: 'writable',
        isDryRun,
        outcome: 'planned',
        message: 'dry run: the password would be set in the directory; nothing changed',
        steps: [{ kind: 'setPassword', subject: user.username, reason: 'password reset by an administrator', dn, status: 'planned' }],
        conflicts: [],
      };
    try {
      await setPasswordNow(deps, dn, password);
    } catch (error) {
      await deps.store.transaction((tx) =>
        tx.audit.append([
          {
            actor: options.actor,
            action: 'user.password_reset_failed',
            userId: user.id,
            subject: user.username,
            reason: error instanceof DirbridgeError ? `${error.code}: ${error.message}` : 'the directory refused the password',
          },
        ]),
      );
      throw error;
    }
    await endSessions(deps, user, options.actor, 'password reset by an administrator');
    return {
      action: 'users.set-password',
      mode: 'writable',
      isDryRun,
      outcome: 'written',
      message: "the password was set in the directory; the user's sessions were ended",
      steps: [{ kind: 'setPassword', subject: user.username, reason: 'password reset by an administrator', dn, status: 'done' }],
      conflicts: [],
    };
  }
  if (isDryRun) return localResult('users.set-password', 'local', true, "the local account's password would be replaced");
  const passwordHash = await hashPassword(password);
  await deps.store.transaction((tx) => tx.users.update([{ id: user.id, passwordHash }]));
  await endSessions(deps, user, options.actor, 'password reset by an administrator');
  return localResult('users.set-password', 'local', false, `${localReason(deps.settings(), user)}; its sessions were ended`);
}

/**
 * A user changes their own password, proving the old one. The caller throttles it like a login
 * (a wrong old password is a guess). The user's other sessions end; `keepSessionId` stays.
 */
export async function changeOwnPassword(
  deps: WriteBackDeps,
  user: UserRecord,
  input: { oldPassword: string; newPassword: string; keepSessionId?: string },
): Promise<void> {
  checkNotEmpty(input.newPassword);
  if (input.oldPassword === '') throw new DirbridgeError('auth.invalid_credentials', 'the current password is wrong');
  if (user.source === 'directory') {
    checkDirectoryPasswords(deps, user);
    const settings = deps.settings();
    if (!settings.writeBack.passwords)
      throw new DirbridgeError('writeback.passwords_off', 'writeBack.passwords is off: dirbridge does not write passwords to the directory');
    const dn = dnOf(user, user.username);
    guardWritePlan(passwordPlan(user, dn, 'changed by the user'), settings);
    await using directory = await deps.openWritable();
    try {
      await changeOwnDirectoryPassword(directory, { dn, oldPassword: input.oldPassword, newPassword: input.newPassword });
    } catch (error) {
      if (error instanceof DirbridgeError && error.code === 'directory.invalid_credentials')
        throw new DirbridgeError('auth.invalid_credentials', 'the current password is wrong');
      throw error;
    }
  } else {
    const hash = await deps.store.users.getPasswordHash(user.id);
    if (hash === null || !(await verifyPassword(input.oldPassword, hash)))
      throw new DirbridgeError('auth.invalid_credentials', 'the current password is wrong');
    const passwordHash = await hashPassword(input.newPassword);
    await deps.store.transaction((tx) => tx.users.update([{ id: user.id, passwordHash }]));
  }
  await endSessions(deps, user, 'user', 'password changed by the user', input.keepSessionId);
  await deps.store.transaction((tx) =>
    tx.audit.append([
      { actor: `user:${user.username}`, action: 'user.password_changed', userId: user.id, subject: user.username, reason: 'changed by the user' },
    ]),
  );
}

async function endSessions(deps: WriteBackDeps, user: UserRecord, actor: string, reason: string, keepSessionId?: string): Promise<void> {
  const at = deps.now().toISOString();
  await deps.store.transaction(async (tx) => {
    const active = await tx.sessions.list({ userId: user.id, isActive: true, limit: 10_000, offset: 0 });
    const ids = active.sessions.map((session) => session.id).filter((id) => id !== keepSessionId);
    if (ids.length === 0) return;
    const revoked = await tx.sessions.revoke({ ids }, reason, at);
    await tx.audit.append(revoked.map((session) => ({ actor, action: 'session.revoked', userId: user.id, subject: session.id, reason, at })));
  });
}
