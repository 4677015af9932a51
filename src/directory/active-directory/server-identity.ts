/**
 * Which Active Directory domain controller, and which copy of its database, a connection talks to.
 * A DirSync cookie or a uSNChanged high-water mark is only meaningful against the same
 * `dsServiceName` (the DC's NTDS Settings object) and `invocationId` (which changes when the DC's
 * database is restored from backup); when either differs, the caller must do a full sync.
 */
import { DirbridgeError } from '../../errors.ts';
import { firstBuffer, firstString } from '../../ldap/entry.ts';
import { formatObjectGuid } from '../../ldap/guid.ts';
import type { DirectoryConnection } from '../connect.ts';

/** The identity of a DC and its current replication position. */
export interface AdServerIdentity {
  /** DN of the DC's NTDS Settings object, from the RootDSE. */
  dsServiceName: string;
  /** The NTDS Settings object's invocationId, as lower-case GUID text. */
  invocationId: string;
  /** The RootDSE's highestCommittedUSN (decimal text: USNs are 64-bit). */
  highestCommittedUsn: string;
}

function missing(connection: DirectoryConnection, what: string): DirbridgeError {
  return new DirbridgeError('directory.protocol', `the server did not return ${what}: is it an Active Directory domain controller? (${connection.url})`, {
    details: { url: connection.url },
  });
}

/** Reads the DC's dsServiceName and highestCommittedUSN (RootDSE) and its invocationId (NTDS Settings). */
export async function readAdServerIdentity(connection: DirectoryConnection): Promise<AdServerIdentity> {
  const [rootDse] = await connection.searchAll({
    baseDn: '',
    scope: 'base',
    filter: '(objectClass=*)',
    attributes: ['dsServiceName', 'highestCommittedUSN'],
    maxEntries: 1,
  });
  const dsServiceName = rootDse === undefined ? undefined : firstString(rootDse, 'dsServiceName');
  const highestCommittedUsn = rootDse === undefined ? undefined : firstString(rootDse, 'highestCommittedUSN');
  if (dsServiceName === undefined) throw missing(connection, 'dsServiceName in its RootDSE');
  if (highestCommittedUsn === undefined || !/^\d+$/.test(highestCommittedUsn)) throw missing(connection, 'a highestCommittedUSN in its RootDSE');
  const [settings] = await connection.searchAll({
    baseDn: dsServiceName,
    scope: 'base',
    filter: '(objectClass=*)',
    attributes: ['invocationId'],
    binaryAttributes: ['invocationId'],
    maxEntries: 1,
  });
  const invocationId = settings === undefined ? undefined : firstBuffer(settings, 'invocationId');
  if (invocationId === undefined || invocationId.length !== 16) throw missing(connection, `the invocationId of ${dsServiceName}`);
  return { dsServiceName, invocationId: formatObjectGuid(invocationId), highestCommittedUsn };
}
