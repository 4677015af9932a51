/**
 * Reads the directory's account lockout policy with the service connection, and keeps it.
 *
 * Where it looks: on Active Directory the domain head (the default naming context); on 389-DS
 * `cn=config` (often unreadable for a service account), then as on OpenLDAP: the `pwdPolicy`
 * entries under the naming contexts, preferring the one named `cn=default`, else the strictest.
 * A user entry that names its own policy (`pwdPolicySubentry`, AD `msDS-ResultantPSO`) gets that
 * one. What cannot be read is an `unknown` policy (the documented default bound), never an error:
 * a policy that cannot be read must not stop logins.
 *
 * The cache lives as long as the settings version (the app rebuilds it on every change). An entry
 * is refreshed at most every `refreshMs` (a failed read is retried after `retryMs`), in the
 * background while the last answer is served; only the very first read is waited for, and at
 * most `waitMs`.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { isDirbridgeError } from '../errors.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { rdnValue } from '../ldap/dn.ts';
import { eq } from '../ldap/filter.ts';
import { entryPolicyDn, lockoutWarnings, POLICY_ATTRIBUTES, readLockoutPolicy, type LockoutPolicy, type ThrottleSettings } from './lockout-policy.ts';

/** Errors that mean "this is not readable here", not "the directory is down". */
function isUnreadable(error: unknown): boolean {
  return isDirbridgeError(error, 'directory.no_such_object', 'directory.insufficient_access', 'directory.size_limit', 'directory.invalid_dn');
}

function unknownPolicy(problem: string): LockoutPolicy {
  return { kind: 'unknown', source: 'none', problem };
}

/** Reads one entry's policy attributes; undefined when it cannot be read. */
async function readPolicyEntry(directory: DirectoryConnection, dn: string): Promise<DirectoryEntry | undefined> {
  try {
    const [entry] = await directory.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes: [...POLICY_ATTRIBUTES], maxEntries: 1 });
    return entry;
  } catch (error) {
    if (isUnreadable(error)) return undefined;
    throw error;
  }
}

/** The strictest of several policies: the lowest threshold that locks, the longest memory among those. */
function strictest(policies: readonly LockoutPolicy[]): LockoutPolicy | undefined {
  const locking = policies.filter((policy) => policy.kind === 'lockout');
  if (locking.length === 0) return policies[0];
  return locking.reduce((a, b) => (b.threshold < a.threshold || (b.threshold === a.threshold && (b.memorySeconds === null || (a.memorySeconds !== null && b.memorySeconds > a.memorySeconds))) ? b : a));
}

/** The `pwdPolicy` entries under `bases`: `cn=default` if there is one, else the strictest. */
async function findPwdPolicy(directory: DirectoryConnection, bases: readonly string[]): Promise<LockoutPolicy | undefined> {
  const found: Array<{ dn: string; policy: LockoutPolicy }> = [];
  for (const baseDn of bases) {
    let entries: DirectoryEntry[];
    try {
      entries = await directory.searchAll({ baseDn, scope: 'sub', filter: eq('objectClass', 'pwdPolicy'), attributes: [...POLICY_ATTRIBUTES], maxEntries: 100 });
    } catch (error) {
      if (isUnreadable(error)) continue;
      throw error;
    }
    for (const entry of entries) {
      const policy = readLockoutPolicy(entry);
      if (policy !== undefined) found.push({ dn: entry.dn, policy });
    }
  }
  const named = found.find((candidate) => rdnValue(candidate.dn, 'cn')?.toLowerCase() === 'default');
  return named?.policy ?? strictest(found.map((candidate) => candidate.policy));
}

/**
 * Finds the directory's default lockout policy on a connection bound as the service account.
 * Throws only on faults (unreachable, timed out); what cannot be read is an `unknown` policy.
 */
export async function discoverLockoutPolicy(directory: DirectoryConnection, settings: { users: { baseDn: string } }): Promise<LockoutPolicy> {
  const root = directory.rootDse;
  const bases = root.namingContexts.length > 0 ? root.namingContexts : [settings.users.baseDn];
  if (root.serverType === 'active-directory') {
    const domain = root.defaultNamingContext ?? bases[0] ?? settings.users.baseDn;
    const entry = await readPolicyEntry(directory, domain);
    return (entry === undefined ? undefined : readLockoutPolicy(entry)) ?? unknownPolicy(`no lockoutThreshold readable on ${domain}`);
  }
  if (root.serverType === '389-ds') {
    const config = await readPolicyEntry(directory, 'cn=config');
    const policy = config === undefined ? undefined : readLockoutPolicy(config);
    if (policy !== undefined) return policy;
  }
  return (await findPwdPolicy(directory, bases)) ?? unknownPolicy(`no readable pwdPolicy entry under ${bases.join('; ')}`);
}

/** Reads the policy at `dn` (one a user entry names); `unknown` when it cannot be read. */
export async function readLockoutPolicyAt(directory: DirectoryConnection, dn: string): Promise<LockoutPolicy> {
  const entry = await readPolicyEntry(directory, dn);
  return (entry === undefined ? undefined : readLockoutPolicy(entry)) ?? unknownPolicy(`the password policy ${dn} that the account names cannot be read`);
}

/** What the cache needs. */
export interface LockoutPolicyDeps {
  /** Runs directory reads on the service connection (the login lookup connection). */
  read: <T>(work: (directory: DirectoryConnection) => Promise<T>) => Promise<T>;
  settings: { users: { baseDn: string } };
  now: () => Date;
  /** How long a read policy is used before it is read again (default 5 minutes). */
  refreshMs?: number;
  /** How soon a failed read is tried again (default 30 s). */
  retryMs?: number;
  /** How long a login waits for the first read (default 2 s); then it goes on with the default bound. */
  waitMs?: number;
  /** Told about failed reads (logging); must not throw. */
  onError?: (error: unknown) => void;
}

/** The cached policies. */
export interface LockoutPolicies {
  /** The directory's default policy. */
  current(): Promise<LockoutPolicy>;
  /** The policy that governs a user entry: the one it names, else the default. */
  forEntry(entry: DirectoryEntry): Promise<LockoutPolicy>;
}

interface Slot {
  policy?: LockoutPolicy;
  readAt: number;
  hasFailed: boolean;
  loading?: Promise<LockoutPolicy>;
}

/** Creates the policy cache. */
export function createLockoutPolicies(deps: LockoutPolicyDeps): LockoutPolicies {
  const refreshMs = deps.refreshMs ?? 5 * 60_000;
  const retryMs = deps.retryMs ?? 30_000;
  const waitMs = deps.waitMs ?? 2_000;
  const slots = new Map<string, Slot>();

  const get = async (key: string, load: () => Promise<LockoutPolicy>): Promise<LockoutPolicy> => {
    let slot = slots.get(key);
    if (slot === undefined) {
      slot = { readAt: Number.NEGATIVE_INFINITY, hasFailed: false };
      slots.set(key, slot);
    }
    const age = deps.now().getTime() - slot.readAt;
    if (slot.policy !== undefined && age < (slot.hasFailed ? retryMs : refreshMs)) return slot.policy;
    const current = slot;
    const loading = (current.loading ??= load()
      .then(
        (policy) => {
          current.policy = policy;
          current.hasFailed = false;
          return policy;
        },
        (error: unknown) => {
          deps.onError?.(error);
          // A failed refresh keeps what was read before; a failed first read is the default bound.
          current.policy ??= unknownPolicy(`reading it failed: ${error instanceof Error ? error.message : String(error)}`);
          current.hasFailed = true;
          return current.policy;
        },
      )
      .finally(() => {
        current.readAt = deps.now().getTime();
        current.loading = undefined;
      }));
    if (current.policy !== undefined) return current.policy;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<LockoutPolicy>((resolve) => {
      timer = setTimeout(() => resolve(unknownPolicy(`the directory did not answer within ${waitMs} ms`)), waitMs);
    });
    try {
      return await Promise.race([loading, late]);
    } finally {
      clearTimeout(timer);
    }
  };

  const current = () => get('', () => deps.read((directory) => discoverLockoutPolicy(directory, deps.settings)));

  return {
    current,
    async forEntry(entry) {
      const dn = entryPolicyDn(entry);
      if (dn === undefined || dn.trim() === '') return current();
      return get(`dn:${dn.toLowerCase()}`, () => deps.read((directory) => readLockoutPolicyAt(directory, dn)));
    },
  };
}

/** Test Connection's warnings about the throttle and the directory's lockout policy, read on `directory` (a fault is a warning too, never a failure). */
export async function throttleWarnings(directory: DirectoryConnection, settings: { users: { baseDn: string }; login: { throttle: ThrottleSettings } }): Promise<string[]> {
  let policy: LockoutPolicy;
  try {
    policy = await discoverLockoutPolicy(directory, settings);
  } catch (error) {
    policy = unknownPolicy(`reading it failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return lockoutWarnings(settings.login.throttle, policy);
}
