/** Auto logout: revokes every session of a deactivated user, and audits each one. */
import type { Store } from '../store/store.ts';

/** How long ended sessions are kept for review before they are deleted. */
const ENDED_SESSION_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/** Revokes the sessions of disabled users, and deletes sessions ended long ago; returns how many were revoked. */
export async function logoutDeactivatedUsers(store: Store, now: () => Date): Promise<number> {
  const at = now().toISOString();
  return store.transaction(async (tx) => {
    const revoked = await tx.sessions.revokeOfDisabledUsers('user deactivated', at);
    await tx.sessions.deleteEndedBefore(new Date(now().getTime() - ENDED_SESSION_RETENTION_MS).toISOString());
    await tx.audit.append(
      revoked.map((session) => ({
        actor: 'auto-logout',
        action: 'session.revoked',
        userId: session.userId,
        subject: session.id,
        reason: 'user deactivated',
        at,
      })),
    );
    return revoked.length;
  });
}
