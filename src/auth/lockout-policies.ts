/**
 * Reads the directory's account lockout policy with the service connection, and keeps it.
 *
 * Where it looks: on Active Directory the domain head (the default naming context); on 389-DS
 * `cn=config` only (389-DS has no `pwdPolicy` entries, and shows `cn=config` to nobody but Directory
 * Manager unless an ACI lets the service account read it); elsewhere the `pwdPolicy` entries under
 * the naming contexts, preferring the one named `cn=default`, else the strictest. A user entry that
 * names its own policy (`pwdPolicySubentry`, AD `msDS-ResultantPSO`) gets that one; on 389-DS only
 * while `cn=config` says `nsslapd-pwpolicy-local: on` (while it is off, 389-DS applies the global
 * policy to every entry), and the stricter of the two when that cannot be read. What cannot be read
 * is an `unknown` policy (the documented default bound), never an error: a policy that cannot be
 * read must not stop logins.
 *
 * The cache lives as long as the settings version (the app rebuilds it on every change). An entry
 * is refreshed at most every `refreshMs` (a failed read is retried after `retryMs`), in the
 * background while the last answer is served; only the very first read is waited for, and at
 * most `waitMs`.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import type { ServerType } from '../directory/root-dse.ts';
import { isDirbridgeError } from '../errors.ts';
import { rdnValue } from '../ldap/dn.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { eq } from '../ldap/filter.ts';
import {
  dirsrvLocalPolicies,
  entryPolicyDn,
  type LockoutPolicy,
  lockoutWarnings,
  POLICY_ATTRIBUTES,
  readLockoutPolicy,
  stricterPolicy,
  type ThrottleSettings,
  unknownPolicyLimit,
} from './lockout-policy.ts';

/** What is read of 389-DS's cn=config: the policy, and whether entries' own policies are in force. */
const DIRSRV_CONFIG_ATTRIBUTES: readonly string[] = [...POLICY_ATTRIBUTES, 'nsslapd-pwpolicy-local'];

/** Whether the policy an entry names governs it: always, never (389-DS with local policies off), or not known. */
type NamedPolicies = 'apply' | 'ignored' | 'unknown';

/** The directory's default policy, and whether the policies entries name replace it. */
interface DefaultPolicy {
  policy: LockoutPolicy;
  namedPolicies: NamedPolicies;
}

/** Errors that mean "this is not readable here", not "the directory is down". */
function isUnreadable(error: unknown): boolean {
  return isDirbridgeError(error, 'directory.no_such_object', 'directory.insufficient_access', 'directory.size_limit', 'directory.invalid_dn');
}

function unknownPolicy(problem: string, serverType: ServerType | undefined): LockoutPolicy {
  return { kind: 'unknown', source: 'none', problem, limit: unknownPolicyLimit(serverType) };
}

/** Reads one entry's policy attributes; undefined when it cannot be read. */
async function readPolicyEntry(
  directory: DirectoryConnection,
  dn: string,
  attributes: readonly string[] = POLICY_ATTRIBUTES,
): Promise<DirectoryEntry | undefined> {
  try {
    const [entry] = await directory.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes: [...attributes], maxEntries: 1 });
    return entry;
  } catch (error) {
    if (isUnreadable(error)) return undefined;
    throw error;
  }
}

/** The strictest of several policies (see stricterPolicy); the first when they are alike. */
function strictest(policies: readonly LockoutPolicy[]): LockoutPolicy | undefined {
  const [first, ...rest] = policies;
  return first === undefined ? undefined : rest.reduce(stricterPolicy, first);
}

/** The `pwdPolicy` entries under `bases`: `cn=default` if there is one, else the strictest. */
async function findPwdPolicy(directory: DirectoryConnection, bases: readonly string[]): Promise<LockoutPolicy | undefined> {
  const found: Array<{ dn: string; policy: LockoutPolicy }> = [];
  for (const baseDn of bases) {
    let entries: DirectoryEntry[];
    try {
      entries = await directory.searchAll({
        baseDn,
        scope: 'sub',
        filter: eq('objectClass', 'pwdPolicy'),
        attributes: [...POLICY_ATTRIBUTES],
        maxEntries: 100,
      });
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

/** 389-DS: the global policy in cn=config, and whether local policies are on. */
async function discoverDirsrvDefault(directory: DirectoryConnection): Promise<DefaultPolicy> {
  const config = await readPolicyEntry(directory, 'cn=config', DIRSRV_CONFIG_ATTRIBUTES);
  // Without an ACI for it, 389-DS answers a read of cn=config with success and no entry.
  const policy = config === undefined ? undefined : readLockoutPolicy(config);
  if (config === undefined || policy === undefined) {
    const problem =
      'the service account cannot read cn=config; an ACI there must let it read passwordLockout, passwordMaxFailure, passwordResetFailureCount and nsslapd-pwpolicy-local';
    return { policy: unknownPolicy(problem, '389-ds'), namedPolicies: 'unknown' };
  }
  const local = dirsrvLocalPolicies(config);
  return { policy, namedPolicies: local === undefined ? 'unknown' : local ? 'apply' : 'ignored' };
}

/** The default policy and how entries' own policies relate to it (see the module comment). */
async function discoverDefault(directory: DirectoryConnection, settings: { users: { baseDn: string } }): Promise<DefaultPolicy> {
  const root = directory.rootDse;
  const bases = root.namingContexts.length > 0 ? root.namingContexts : [settings.users.baseDn];
  if (root.serverType === '389-ds') return discoverDirsrvDefault(directory);
  if (root.serverType === 'active-directory') {
    const domain = root.defaultNamingContext ?? bases[0] ?? settings.users.baseDn;
    const entry = await readPolicyEntry(directory, domain);
    return {
      policy: (entry === undefined ? undefined : readLockoutPolicy(entry)) ?? unknownPolicy(`no lockoutThreshold readable on ${domain}`, root.serverType),
      namedPolicies: 'apply',
    };
  }
  return {
    policy: (await findPwdPolicy(directory, bases)) ?? unknownPolicy(`no readable pwdPolicy entry under ${bases.join('; ')}`, root.serverType),
    namedPolicies: 'apply',
  };
}

/**
 * Finds the directory's default lockout policy on a connection bound as the service account.
 * Throws only on faults (unreachable, timed out); what cannot be read is an `unknown` policy.
 */
export async function discoverLockoutPolicy(directory: DirectoryConnection, settings: { users: { baseDn: string } }): Promise<LockoutPolicy> {
  return (await discoverDefault(directory, settings)).policy;
}

/** Reads the policy at `dn` (one a user entry names); `unknown` when it cannot be read. */
export async function readLockoutPolicyAt(directory: DirectoryConnection, dn: string): Promise<LockoutPolicy> {
  const entry = await readPolicyEntry(directory, dn);
  return (
    (entry === undefined ? undefined : readLockoutPolicy(entry)) ??
    unknownPolicy(`the password policy ${dn} that the account names cannot be read`, directory.rootDse.serverType)
  );
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
  /** The policy that governs a user entry: the one it names (on 389-DS see the module comment), else the default. */
  forEntry(entry: DirectoryEntry): Promise<LockoutPolicy>;
  /** The default policy as last read, without reading anything: the default bound for an unreadable policy before the first read. */
  peek(): LockoutPolicy;
}

/** A keyed cache's value as last read, without reading (`createSlots`' `peek`). */
type Peek<T> = (key: string) => T | undefined;

interface Slot<T> {
  value?: T;
  readAt: number;
  hasFailed: boolean;
  loading?: Promise<T>;
}

/** A keyed cache of reads: refreshed in the background, a failed first read (or one slower than `waitMs`) answered by `fallback`. */
function createSlots<T>(
  deps: LockoutPolicyDeps,
  fallback: (problem: string) => T,
): { get: (key: string, load: () => Promise<T>) => Promise<T>; peek: Peek<T> } {
  const refreshMs = deps.refreshMs ?? 5 * 60_000;
  const retryMs = deps.retryMs ?? 30_000;
  const waitMs = deps.waitMs ?? 2_000;
  const slots = new Map<string, Slot<T>>();

  const peek: Peek<T> = (key) => slots.get(key)?.value;
  const get = async (key: string, load: () => Promise<T>): Promise<T> => {
    let slot = slots.get(key);
    if (slot === undefined) {
      slot = { readAt: Number.NEGATIVE_INFINITY, hasFailed: false };
      slots.set(key, slot);
    }
    const age = deps.now().getTime() - slot.readAt;
    if (slot.value !== undefined && age < (slot.hasFailed ? retryMs : refreshMs)) return slot.value;
    const current = slot;
    const loading = (current.loading ??= load()
      .then(
        (value) => {
          current.value = value;
          current.hasFailed = false;
          return value;
        },
        (error: unknown) => {
          deps.onError?.(error);
          // A failed refresh keeps what was read before; a failed first read is the default bound.
          current.value ??= fallback(`reading it failed: ${error instanceof Error ? error.message : String(error)}`);
          current.hasFailed = true;
          return current.value;
        },
      )
      .finally(() => {
        current.readAt = deps.now().getTime();
        current.loading = undefined;
      }));
    if (current.value !== undefined) return current.value;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<T>((resolve) => {
      timer = setTimeout(() => resolve(fallback(`the directory did not answer within ${waitMs} ms`)), waitMs);
    });
    try {
      return await Promise.race([loading, late]);
    } finally {
      clearTimeout(timer);
    }
  };
  return { get, peek };
}

/** Creates the policy cache. */
export function createLockoutPolicies(deps: LockoutPolicyDeps): LockoutPolicies {
  /** The server type last seen; until one is, a policy that cannot be read gets the lowest default bound. */
  let serverType: ServerType | undefined;
  const defaults = createSlots<DefaultPolicy>(deps, (problem) => ({ policy: unknownPolicy(problem, serverType), namedPolicies: 'unknown' }));
  const named = createSlots<LockoutPolicy>(deps, (problem) => unknownPolicy(problem, serverType));
  const readDefault = () =>
    defaults.get('', () =>
      deps.read((directory) => {
        serverType = directory.rootDse.serverType;
        return discoverDefault(directory, deps.settings);
      }),
    );

  return {
    current: async () => (await readDefault()).policy,
    peek: () => defaults.peek('')?.policy ?? unknownPolicy('not read yet', serverType),
    async forEntry(entry) {
      const fallback = await readDefault();
      const dn = entryPolicyDn(entry);
      if (dn === undefined || dn.trim() === '' || fallback.namedPolicies === 'ignored') return fallback.policy;
      const own = await named.get(`dn:${dn.toLowerCase()}`, () => deps.read((directory) => readLockoutPolicyAt(directory, dn)));
      return fallback.namedPolicies === 'apply' ? own : stricterPolicy(own, fallback.policy);
    },
  };
}

/** Test Connection's warnings about the throttle and the directory's lockout policy, read on `directory` (a fault is a warning too, never a failure). */
export async function throttleWarnings(
  directory: DirectoryConnection,
  settings: { users: { baseDn: string }; login: { throttle: ThrottleSettings } },
): Promise<string[]> {
  let policy: LockoutPolicy;
  try {
    policy = await discoverLockoutPolicy(directory, settings);
  } catch (error) {
    policy = unknownPolicy(`reading it failed: ${error instanceof Error ? error.message : String(error)}`, directory.rootDse.serverType);
  }
  return lockoutWarnings(settings.login.throttle, policy);
}
