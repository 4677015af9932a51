/** Administrator revocation of sessions, audited: the CLI's `sessions revoke` and the admin API share it. */
import type { SessionRecord } from '../model/index.ts';
import type { Store } from '../store/store.ts';

/** Revokes the active sessions among `target` in one transaction, auditing each one with `actor`; returns them. */
export async function revokeSessionsAsAdmin(
  store: Store,
  target: { ids?: readonly string[]; userIds?: readonly string[] },
  actor: string,
  now: () => Date,
): Promise<SessionRecord[]> {
  const at = now().toISOString();
  const reason = 'revoked by an administrator';
  return store.transaction(async (tx) => {
    const revoked = await tx.sessions.revoke(target, reason, at);
    await tx.audit.append(revoked.map((session) => ({ actor, action: 'session.revoked', userId: session.userId, subject: session.id, reason, at })));
    return revoked;
  });
}
