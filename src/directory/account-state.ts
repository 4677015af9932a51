/**
 * Disabling and enabling directory accounts, the way each server does it (the server type comes
 * from the RootDSE):
 *
 * - OpenLDAP (ppolicy overlay): `pwdAccountLockedTime: 000001010000Z`, the value that locks until
 *   an administrator removes it; enabling removes exactly that value, so a lockout the server set
 *   after failed binds (a time stamp) is left to the server's policy.
 * - Active Directory: bit 2 (ACCOUNTDISABLE) of `userAccountControl`, every other bit kept. The
 *   value is read and written back with an Assertion control on the value read, where the server
 *   supports it, so a concurrent change of another bit is never overwritten.
 * - 389-DS: `nsAccountLock: TRUE`; enabling removes the attribute.
 *
 * Each is idempotent: disabling a disabled account (or enabling an enabled one) changes nothing.
 */
import { DirbridgeError } from '../errors.ts';
import { firstString } from '../ldap/entry.ts';
import { eq } from '../ldap/filter.ts';
import type { WritableDirectoryConnection } from './connect.ts';
import { ASSERTION_OID } from './controls/assertion.ts';
import { supportsControl } from './controls/supported.ts';
import { deleteValues, replaceValues } from './modifications.ts';

/** `pwdAccountLockedTime` value meaning "locked until an administrator unlocks it". */
export const OPENLDAP_PERMANENT_LOCK = '000001010000Z';
/** The ACCOUNTDISABLE bit of `userAccountControl`. */
export const AD_ACCOUNTDISABLE = 0x2;

async function readOne(connection: WritableDirectoryConnection, dn: string, attribute: string): Promise<string | undefined> {
  const [entry] = await connection.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes: [attribute], maxEntries: 1 });
  if (entry === undefined) throw new DirbridgeError('directory.no_such_object', `no such entry: ${dn}`, { details: { dn, url: connection.url } });
  return firstString(entry, attribute);
}

async function setAdDisabled(connection: WritableDirectoryConnection, dn: string, disabled: boolean): Promise<void> {
  const text = await readOne(connection, dn, 'userAccountControl');
  const current = text === undefined ? Number.NaN : Number.parseInt(text, 10);
  if (!Number.isInteger(current)) throw new DirbridgeError('directory.protocol', `the entry has no readable userAccountControl: ${dn}`, { details: { dn, url: connection.url } });
  const next = disabled ? current | AD_ACCOUNTDISABLE : current & ~AD_ACCOUNTDISABLE;
  if (next === current) return;
  const assertion = supportsControl(connection.rootDse, ASSERTION_OID) ? eq('userAccountControl', String(current)) : undefined;
  await connection.modify(dn, [replaceValues('userAccountControl', [String(next)])], assertion === undefined ? {} : { assertion });
}

/** Disables (`true`) or enables (`false`) the account at `dn`, as its server type does it. */
export async function setAccountDisabled(connection: WritableDirectoryConnection, dn: string, disabled: boolean): Promise<void> {
  switch (connection.rootDse.serverType) {
    case 'active-directory':
      return setAdDisabled(connection, dn, disabled);
    case 'openldap': {
      const isDisabled = (await readOne(connection, dn, 'pwdAccountLockedTime')) === OPENLDAP_PERMANENT_LOCK;
      if (isDisabled === disabled) return;
      return connection.modify(dn, [disabled ? replaceValues('pwdAccountLockedTime', [OPENLDAP_PERMANENT_LOCK]) : deleteValues('pwdAccountLockedTime', [OPENLDAP_PERMANENT_LOCK])]);
    }
    case '389-ds': {
      const locked = (await readOne(connection, dn, 'nsAccountLock'))?.toLowerCase() === 'true';
      if (locked === disabled) return;
      return connection.modify(dn, [replaceValues('nsAccountLock', disabled ? ['TRUE'] : [])]);
    }
    default:
      throw new DirbridgeError('directory.unsupported', `cannot disable or enable accounts on this server: its type is not recognised (${connection.url})`, { details: { url: connection.url, dn } });
  }
}

/** Whether the account at `dn` is disabled, as its server type records it. */
export async function isAccountDisabled(connection: WritableDirectoryConnection, dn: string): Promise<boolean> {
  switch (connection.rootDse.serverType) {
    case 'active-directory': {
      const value = Number.parseInt((await readOne(connection, dn, 'userAccountControl')) ?? '', 10);
      return Number.isInteger(value) && (value & AD_ACCOUNTDISABLE) !== 0;
    }
    case 'openldap':
      return (await readOne(connection, dn, 'pwdAccountLockedTime')) === OPENLDAP_PERMANENT_LOCK;
    case '389-ds':
      return (await readOne(connection, dn, 'nsAccountLock'))?.toLowerCase() === 'true';
    default:
      throw new DirbridgeError('directory.unsupported', `cannot tell whether accounts are disabled on this server: its type is not recognised (${connection.url})`, { details: { url: connection.url, dn } });
  }
}
