/**
 * Local accounts: administrators and people the directory does not know. Their passwords are
 * scrypt hashes in the store; the directory never authenticates them.
 */
import { randomBytes } from 'node:crypto';
import { DirbridgeError } from '../errors.ts';
import type { UserRecord } from '../model/index.ts';
import type { Store } from '../store/store.ts';
import { hashPassword } from './password-hash.ts';

/** The username of the administrator created on first start. */
export const INITIAL_ADMIN_USERNAME = 'admin';

/**
 * Creates the first administrator when the store has none. The password comes from
 * `DIRBRIDGE_ADMIN_PASSWORD`; without it a generated one is returned so the caller can show it once.
 */
export async function ensureInitialAdmin(
  store: Store,
  env: NodeJS.ProcessEnv,
): Promise<{ created: false } | { created: true; user: UserRecord; generatedPassword?: string }> {
  const admins = await store.users.list({ limit: 1, offset: 0, isAdmin: true });
  if (admins.total > 0) return { created: false };
  const fromEnv = env['DIRBRIDGE_ADMIN_PASSWORD'];
  const password = fromEnv !== undefined && fromEnv.trim() !== '' ? fromEnv : randomBytes(18).toString('base64url');
  const user = await createLocalAccount(store, { username: INITIAL_ADMIN_USERNAME, password, isAdmin: true, actor: 'system' });
  return fromEnv !== undefined && fromEnv.trim() !== '' ? { created: true, user } : { created: true, user, generatedPassword: password };
}

/** Creates a local account with a hashed password, and records it in the audit log. */
export async function createLocalAccount(
  store: Store,
  input: { username: string; password: string; isAdmin?: boolean; email?: string | null; actor: string },
): Promise<UserRecord> {
  if (input.password.trim() === '') throw new DirbridgeError('usage.invalid', 'a local account needs a non-empty password');
  if (input.username.trim() === '') throw new DirbridgeError('usage.invalid', 'a local account needs a username');
  const passwordHash = await hashPassword(input.password);
  return store.transaction(async (tx) => {
    const [user] = await tx.users.insert([
      { username: input.username.trim(), source: 'local', passwordHash, isAdmin: input.isAdmin === true, email: input.email ?? null },
    ]);
    if (user === undefined) throw new DirbridgeError('store.conflict', 'the account was not created');
    await tx.audit.append([
      {
        actor: input.actor,
        action: 'user.created',
        userId: user.id,
        subject: user.username,
        reason: input.isAdmin === true ? 'local administrator' : 'local account',
      },
    ]);
    return user;
  });
}
