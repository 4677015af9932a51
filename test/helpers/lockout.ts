/**
 * The directory's own view of failed binds, read as its administrator: how many wrong passwords
 * reached an account (ppolicy `pwdFailureTime`, AD `badPwdCount`, 389-DS `passwordRetryCount`) and
 * whether it is locked. Tests of the login throttle count on this side, not on dirbridge's.
 */
import { readFileSync } from 'node:fs';
import { Client } from 'ldapts';

/** Where to read and as whom. */
export interface DirectoryAdmin {
  url: string;
  adminDn: string;
  adminPassword: string;
  /** For ldaps:// (the fixture's CA). */
  caFile?: string;
}

async function withAdmin<T>(server: DirectoryAdmin, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({
    url: server.url,
    ...(server.caFile === undefined ? {} : { tlsOptions: { ca: [readFileSync(server.caFile)] } }),
    timeout: 10_000,
    connectTimeout: 10_000,
  });
  try {
    await client.bind(server.adminDn, server.adminPassword);
    return await work(client);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

const values = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : value === undefined || value === '' ? [] : [String(value)]);

/** OpenLDAP: the failed binds ppolicy holds for `dn`, and its lock time if it is locked. */
export async function ppolicyState(server: DirectoryAdmin, dn: string): Promise<{ failures: number; lockedTime: string | undefined }> {
  return withAdmin(server, async (client) => {
    const { searchEntries } = await client.search(dn, { scope: 'base', attributes: ['pwdFailureTime', 'pwdAccountLockedTime'] });
    const entry = searchEntries[0];
    return { failures: values(entry?.['pwdFailureTime']).length, lockedTime: values(entry?.['pwdAccountLockedTime'])[0] };
  });
}

/** OpenLDAP: failed binds per DN under `base`, and the DNs that are locked. */
export async function ppolicyFailuresUnder(server: DirectoryAdmin, base: string): Promise<{ failures: Map<string, number>; total: number; locked: string[] }> {
  return withAdmin(server, async (client) => {
    const { searchEntries } = await client.search(base, {
      scope: 'sub',
      filter: '(|(pwdFailureTime=*)(pwdAccountLockedTime=*))',
      attributes: ['pwdFailureTime', 'pwdAccountLockedTime'],
      sizeLimit: 0,
    });
    const failures = new Map<string, number>();
    const locked: string[] = [];
    for (const entry of searchEntries) {
      failures.set(entry.dn, values(entry['pwdFailureTime']).length);
      if (values(entry['pwdAccountLockedTime']).length > 0) locked.push(entry.dn);
    }
    return { failures, total: [...failures.values()].reduce((sum, count) => sum + count, 0), locked };
  });
}

/** Active Directory: `badPwdCount` of `dn` and whether `lockoutTime` is set. */
export async function adLockoutState(server: DirectoryAdmin, dn: string): Promise<{ badPwdCount: number; isLocked: boolean }> {
  return withAdmin(server, async (client) => {
    const { searchEntries } = await client.search(dn, { scope: 'base', attributes: ['badPwdCount', 'lockoutTime'] });
    const entry = searchEntries[0];
    const lockoutTime = values(entry?.['lockoutTime'])[0];
    return { badPwdCount: Number(values(entry?.['badPwdCount'])[0] ?? 0), isLocked: lockoutTime !== undefined && lockoutTime !== '0' };
  });
}

/** Binds as `dn` with a wrong password `times` times, as another application would. */
export async function bindWrongPassword(server: Pick<DirectoryAdmin, 'url' | 'caFile'>, dn: string, times: number): Promise<void> {
  for (let attempt = 0; attempt < times; attempt += 1) {
    const client = new Client({
      url: server.url,
      ...(server.caFile === undefined ? {} : { tlsOptions: { ca: [readFileSync(server.caFile)] } }),
      timeout: 10_000,
    });
    try {
      await client.bind(dn, `certainly-wrong-${attempt}`).then(
        () => {
          throw new Error(`a wrong password was accepted for ${dn}`);
        },
        (error: unknown) => {
          if (!(error instanceof Error) || !/49|Invalid credentials|52e/i.test(`${(error as { code?: unknown }).code ?? ''} ${error.message}`)) throw error;
        },
      );
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }
}

/** 389-DS: what the password policy keeps on `dn` (passwordRetryCount 0 when absent). */
export interface DirsrvLockoutState {
  retryCount: number;
  /** When 389-DS starts counting afresh (set at the first failure: that time + passwordResetFailureCount). */
  retryCountResetTime: string | undefined;
  /** Set when the account is locked: until then, or for good (19700101000000Z) while passwordUnlock is off. */
  accountUnlockTime: string | undefined;
}

/** 389-DS: `passwordRetryCount`, `retryCountResetTime` and `accountUnlockTime` of `dn`, read as Directory Manager. */
export async function dirsrvLockoutState(server: DirectoryAdmin, dn: string): Promise<DirsrvLockoutState> {
  return withAdmin(server, async (client) => {
    const { searchEntries } = await client.search(dn, { scope: 'base', attributes: ['passwordRetryCount', 'retryCountResetTime', 'accountUnlockTime'] });
    const entry = searchEntries[0];
    return {
      retryCount: Number(values(entry?.['passwordRetryCount'])[0] ?? 0),
      retryCountResetTime: values(entry?.['retryCountResetTime'])[0],
      accountUnlockTime: values(entry?.['accountUnlockTime'])[0],
    };
  });
}

/** 389-DS: the DNs under `base` that carry `accountUnlockTime` (locked now, or locked before and not yet reset). */
export async function dirsrvLockedUnder(server: DirectoryAdmin, base: string): Promise<string[]> {
  return withAdmin(server, async (client) => {
    const { searchEntries } = await client.search(base, { scope: 'sub', filter: '(accountUnlockTime=*)', attributes: ['accountUnlockTime'], sizeLimit: 0 });
    return searchEntries.map((entry) => entry.dn);
  });
}
