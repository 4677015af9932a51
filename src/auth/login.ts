/**
 * Directory login: find the user with the service connection, then bind as them on the bind
 * pool; create or refresh the account with the same mapping and planner as sync; start a
 * session. Every outcome is audited with its precise reason, while callers outside see one
 * uniform "invalid credentials" (or "directory unavailable"), so no account can be enumerated.
 */
import type { BindPool } from '../directory/index.ts';
import { DirbridgeError, isDirbridgeError } from '../errors.ts';
import { dnEquals } from '../ldap/dn.ts';
import { readPasswordLockout } from '../mapping/account-status.ts';
import { isMappingActive } from '../mapping/grants.ts';
import type { SessionRecord, UserRecord } from '../model/index.ts';
import type { MappingSettings, Settings } from '../settings/schema.ts';
import type { Store } from '../store/store.ts';
import { type FoundEntry, findDirectoryEntry } from '../sync/find-directory-user.ts';
import { applyPasswordChangeOf, provisionUser } from '../sync/sync-one-user.ts';
import { ENTRY_LOCKOUT_ATTRIBUTES, lockoutDurationOf } from './lockout-policy.ts';
import { readLoginName } from './login-name.ts';
import type { LookupConnection } from './lookup-connection.ts';
import { verifyPassword } from './password-hash.ts';
import type { SessionService } from './sessions.ts';
import type { LoginAttempt, LoginThrottle } from './throttle.ts';

/** Why a login failed, as the audit log records it. Never shown to the client. */
export type LoginFailureReason =
  | 'empty_password'
  | 'unknown_user'
  | 'ambiguous_user'
  | 'wrong_password'
  | 'locked_in_directory'
  | 'disabled_in_directory'
  | 'password_expired'
  | 'disabled_in_dirbridge'
  | 'not_provisioned'
  | 'username_conflict'
  | 'throttled'
  | 'directory_unavailable';

/**
 * A failed login. `code` and `message` are what a client may see; `reason` is for the audit
 * log and tests only.
 */
export class LoginFailure extends DirbridgeError {
  readonly reason: LoginFailureReason;

  constructor(reason: LoginFailureReason, cause?: unknown) {
    const code = reason === 'directory_unavailable' ? 'auth.directory_unavailable' : reason === 'throttled' ? 'auth.throttled' : 'auth.invalid_credentials';
    const message =
      code === 'auth.directory_unavailable'
        ? 'the directory is unavailable; try again later'
        : code === 'auth.throttled'
          ? 'too many failed attempts; try again later'
          : 'invalid username or password';
    super(code, message, cause === undefined ? {} : { cause });
    this.name = 'LoginFailure';
    this.reason = reason;
  }
}

/**
 * Reasons that are not guesses at a password: the attempt is released, not counted. The directory
 * was unavailable, the login was refused before anything was tried, or the password was accepted
 * and the login failed afterwards.
 */
const NOT_A_GUESS: ReadonlySet<LoginFailureReason> = new Set([
  'directory_unavailable',
  'throttled',
  'disabled_in_dirbridge',
  'not_provisioned',
  'username_conflict',
]);

/** What a login is asked with. */
export interface LoginInput {
  username: string;
  password: string;
  /**
   * The end user's IP address: counted and remembered by the throttle, recorded on the session.
   * Absent for the CLI and for applications that do not pass it on (then no address is counted).
   */
  clientAddress?: string | undefined;
  /** How the request came: `cli` (the command line on the server) or `app` (an application with the app API key); recorded in the audit log. */
  via?: 'cli' | 'app' | undefined;
}

/** A successful login. */
export interface LoginSuccess {
  token: string;
  session: SessionRecord;
  user: UserRecord;
  /** True when this login created the account. */
  isNewUser: boolean;
}

/** What the login service needs. */
export interface LoginDeps {
  store: Store;
  settings: Pick<Settings, 'users' | 'groups' | 'sync' | 'login' | 'directory' | 'mapping'>;
  lookup: LookupConnection;
  /** Verifies a user's password by binding as them (the bind pool, created on first use). */
  bindPool: Pick<BindPool, 'verify'>;
  sessions: SessionService;
  throttle: LoginThrottle;
  now: () => Date;
}

/** Maps AD's bind sub-codes (data 52e, 533, ...) to failure reasons. */
const AD_REASONS: Readonly<Record<string, LoginFailureReason>> = {
  '52e': 'wrong_password',
  '525': 'unknown_user',
  '530': 'disabled_in_directory',
  '531': 'disabled_in_directory',
  '532': 'password_expired',
  '533': 'disabled_in_directory',
  '701': 'password_expired',
  '773': 'password_expired',
  '775': 'locked_in_directory',
};

/** A failure of the directory (unreachable, timed out, a size limit, a refused search, ...). */
function isDirectoryFault(error: unknown): boolean {
  return isDirbridgeError(error) && error.code.startsWith('directory.');
}

/** Creates the login service. */
export function createLoginService(deps: LoginDeps) {
  const { store, settings } = deps;

  async function audit(action: 'login.succeeded' | 'login.failed', fields: { userId?: string | null; subject: string; reason?: string; input: LoginInput }) {
    const details = {
      ...(fields.input.clientAddress === undefined ? {} : { clientAddress: fields.input.clientAddress }),
      ...(fields.input.via === undefined ? {} : { via: fields.input.via }),
    };
    await store.transaction((tx) =>
      tx.audit.append([
        {
          actor: 'login',
          action,
          userId: fields.userId ?? null,
          subject: fields.subject,
          reason: fields.reason ?? null,
          details: Object.keys(details).length === 0 ? null : details,
        },
      ]),
    );
  }

  /** Logs a user in; throws LoginFailure on any failure. */
  function login(input: LoginInput): Promise<LoginSuccess> {
    return checkCredentials(input, { startSession: true });
  }

  /**
   * Checks a user's password exactly as a login does (throttled, counted, audited, the account
   * provisioned or refreshed) without starting a session: for a password change, where the old
   * password is a guess like any other. Throws LoginFailure on any failure.
   */
  async function verify(input: LoginInput): Promise<UserRecord> {
    return (await checkCredentials(input, { startSession: false })).user;
  }

  async function checkCredentials(input: LoginInput, mode: { startSession: boolean }): Promise<LoginSuccess> {
    const typed = input.username.trim();
    const attempt = await deps.throttle.begin({ username: typed, clientAddress: input.clientAddress });
    if (attempt === undefined) {
      // The same answer for every name, existing or not: the throttle counts them all alike.
      await audit('login.failed', { subject: typed, reason: 'throttled', input });
      throw new LoginFailure('throttled');
    }
    let isSettled = false;
    const settle = async (outcome: 'failed' | 'released' | 'succeeded') => {
      isSettled = true;
      await attempt[outcome]();
    };
    try {
      return await attemptLogin({ ...input, ...mode }, typed, attempt, settle);
    } catch (error) {
      // Anything unexpected (the store failed, a defect) was no guess: the reservation is given back.
      if (!isSettled) await settle('released').catch(() => undefined);
      throw error;
    }
  }

  async function attemptLogin(
    input: LoginInput & { startSession: boolean },
    typed: string,
    attempt: LoginAttempt,
    settle: (outcome: 'failed' | 'released' | 'succeeded') => Promise<void>,
  ): Promise<LoginSuccess> {
    let knownUserId: string | null = null;
    const fail = async (reason: LoginFailureReason, cause?: unknown): Promise<never> => {
      await settle(NOT_A_GUESS.has(reason) ? 'released' : 'failed');
      await audit('login.failed', { userId: knownUserId, subject: typed, reason, input });
      throw new LoginFailure(reason, cause);
    };

    // Checked before anything else: an empty password must never reach the directory (RFC 4513 unauthenticated bind).
    if (input.password.trim() === '' || typed === '') return fail(typed === '' ? 'unknown_user' : 'empty_password');

    // A local account with a password is authenticated here, never by the directory, unless
    // merging may link it to a directory entry; an administrator is never linked or taken over.
    const local = await store.users.findByUsername(typed);
    const localAccount = local !== undefined && local.source === 'local' && local.hasPassword ? local : undefined;
    const loginLocally = async (account: UserRecord): Promise<LoginSuccess> => {
      knownUserId = account.id;
      const hash = await store.users.getPasswordHash(account.id);
      if (hash === null || !(await verifyPassword(input.password, hash))) return fail('wrong_password');
      if (!account.isEnabled) return fail('disabled_in_dirbridge');
      return succeed(account, false, input, settle);
    };
    if (localAccount !== undefined && (localAccount.isAdmin || !settings.sync.mergeExistingUsers.enabled)) return loginLocally(localAccount);

    // The lookup also reads the entry's own policy and failure counter (pwdFailureTime, badPwdCount, ...) for the throttle.
    const lookupSettings = {
      ...settings,
      directory: { ...settings.directory, attributesToQuery: [...settings.directory.attributesToQuery, ...ENTRY_LOCKOUT_ATTRIBUTES] },
    };
    const lookupStartedAt = deps.now();
    let found: FoundEntry | undefined;
    try {
      found = await deps.lookup.use((directory) =>
        findDirectoryEntry(directory, lookupSettings, readLoginName(typed, directory.rootDse.serverType === 'active-directory')),
      );
    } catch (error) {
      if (isDirbridgeError(error, 'directory.ambiguous')) return fail('ambiguous_user', error);
      return fail('directory_unavailable', error);
    }
    if (found === undefined) return localAccount === undefined ? fail('unknown_user') : loginLocally(localAccount);
    // An account write-back created waits for its entry's unique id: this login links it (by DN).
    const existing = (await store.users.findByExternalId(found.user.externalId)) ?? (await createdByWriteBack(store, found.user));
    knownUserId = existing?.id ?? null;
    if (found.user.directoryState === 'disabled') {
      return fail(found.user.directoryStateReason?.includes('locked') === true ? 'locked_in_directory' : 'disabled_in_directory');
    }
    // Locked out by the password policy after failed binds (389-DS accountUnlockTime, OpenLDAP
    // pwdAccountLockedTime, AD lockoutTime): refused before any bind, which could not succeed.
    const lockout = readPasswordLockout(found.entry, deps.now(), lockoutDurationOf(await deps.throttle.policyFor(found.entry)));
    if (lockout !== undefined) return fail('locked_in_directory', new Error(lockout));

    // Counted under the account itself before its password is tried: whatever name found it.
    if (!(await attempt.reserveAccount({ externalId: found.user.externalId, entry: found.entry, lookupStartedAt }))) return fail('throttled');

    try {
      await deps.bindPool.verify(found.user.dn, input.password);
    } catch (error) {
      if (!isDirbridgeError(error, 'directory.invalid_credentials')) return fail('directory_unavailable', error);
      // OpenLDAP says so in the ppolicy response control, 389-DS with result code 19 (translate-error.ts).
      if (error.details['ppolicyLocked'] === true || error.details['accountLocked'] === true) return fail('locked_in_directory', error);
      const adCode = error.details['adCode'];
      return fail(typeof adCode === 'string' ? (AD_REASONS[adCode.toLowerCase()] ?? 'wrong_password') : 'wrong_password', error);
    }

    if (existing !== undefined && !existing.isEnabled) return fail('disabled_in_dirbridge');
    if (existing === undefined && !settings.login.createOnFirstLogin) return fail('not_provisioned');
    if (existing === undefined || existing.externalId === null || settings.login.updateOnLogin) {
      let outcome: Awaited<ReturnType<typeof provisionUser>>;
      try {
        // Reads the user's groups (nested ones included) and mapped groups, then plans and applies.
        outcome = await provisionUser(deps, found, { mappingFor: mappingForLogin, actor: 'login' });
      } catch (error) {
        // A fault while reading groups throws before anything is planned: nothing was revoked.
        if (isDirectoryFault(error)) return fail('directory_unavailable', error);
        throw error;
      }
      if ('conflict' in outcome) return fail('username_conflict', new Error(outcome.conflict));
    } else {
      // The account is not refreshed, but a password change still ends the older sessions.
      await applyPasswordChangeOf(deps, found, existing, { actor: 'login' });
    }
    const user = await store.users.findByExternalId(found.user.externalId);
    if (user === undefined) return fail('username_conflict');
    knownUserId = user.id;
    if (!user.isEnabled) return fail('disabled_in_dirbridge');
    return succeed(user, existing === undefined, input, settle);
  }

  async function succeed(
    user: UserRecord,
    isNewUser: boolean,
    input: LoginInput & { startSession: boolean },
    settle: (outcome: 'succeeded') => Promise<void>,
  ): Promise<LoginSuccess> {
    if (!input.startSession) {
      await settle('succeeded');
      await audit('login.succeeded', { userId: user.id, subject: user.username, reason: 'password verified, no session started', input });
      // Only `user` is read by `verify`.
      return { token: '', session: undefined as never, user, isNewUser };
    }
    const { token, session } = await deps.sessions.start(user.id, input.clientAddress ?? input.via);
    await settle('succeeded');
    await audit('login.succeeded', { userId: user.id, subject: user.username, input });
    return { token, session, user, isNewUser };
  }

  /** The mapping a login applies: all of it, except teams after the first login when validateOnLogin is off (as in the seed). */
  function mappingForLogin(isFirstLogin: boolean): MappingSettings | undefined {
    if (!isMappingActive(settings.mapping)) return undefined;
    if (isFirstLogin || settings.mapping.teams.validateOnLogin) return settings.mapping;
    return { ...settings.mapping, teams: { ...settings.mapping.teams, enabled: false } };
  }

  return { login, verify };
}

/** The login service's public shape. */
export type LoginService = ReturnType<typeof createLoginService>;

/** The account write-back created for this entry (same username and DN, no unique id yet), if any. */
async function createdByWriteBack(store: Store, user: { username: string; dn: string }): Promise<UserRecord | undefined> {
  const candidate = await store.users.findByUsername(user.username);
  if (candidate === undefined || candidate.source !== 'directory' || candidate.externalId !== null || candidate.dn === null) return undefined;
  try {
    return dnEquals(candidate.dn, user.dn) ? candidate : undefined;
  } catch {
    return undefined;
  }
}
