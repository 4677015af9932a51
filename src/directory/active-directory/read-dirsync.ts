/**
 * Reading Active Directory's changes with the DirSync control: without a cookie, every matching
 * object and a cookie; with the cookie, only the objects changed since, each with only its changed
 * attributes (and its objectGUID), deleted objects as tombstones (`isDeleted: TRUE`, under
 * CN=Deleted Objects), and with `incrementalValues` only the values added to and removed from
 * link attributes such as `member`.
 *
 * Rules the caller must know:
 * - DirSync searches a whole naming context. Entries outside `baseDn` are reported as `outside`
 *   events (so an object moved out of scope can be dropped), tombstones as `deleted` wherever they are.
 * - The filter is evaluated on tombstones too, which keep only a few attributes (objectClass,
 *   sAMAccountName, objectGUID, objectSid...): a filter on anything else (mail, memberOf...) hides
 *   deletions. Use a broad filter such as `(|(objectClass=user)(objectClass=group))` and narrow
 *   client-side, re-reading full entries where needed.
 * - The bind account needs the "Replicating Directory Changes" right; without it the server
 *   answers insufficientAccessRights, thrown as `directory.sync_not_permitted` (fall back to
 *   uSNChanged polling, read-usn-changes.ts).
 * - A cookie the server cannot use throws `directory.sync_cookie_invalid` (do a full sync). Samba
 *   checks little itself (a wrong signature or a USN it has not reached yields success and no
 *   changes), so the cookie is checked here first against the DC's identity (server-identity.ts):
 *   its layout, its invocationId, and its USNs against highestCommittedUSN.
 */
import { DirbridgeError, isDirbridgeError } from '../../errors.ts';
import { dnEquals, isDescendantOf } from '../../ldap/dn.ts';
import type { DirectoryEntry } from '../../ldap/entry.ts';
import { firstString } from '../../ldap/entry.ts';
import type { Filter } from '../../ldap/filter.ts';
import type { DirectoryConnection } from '../connect.ts';
import { DIRSYNC_FLAGS, DirSyncControl } from '../controls/dirsync.ts';
import { uniqueIdOf } from '../normalize-entry.ts';
import { parseDirSyncCookie } from './dirsync-cookie.ts';
import { splitIncrementalValues, type ValueChange } from './incremental-values.ts';
import { type AdServerIdentity, readAdServerIdentity } from './server-identity.ts';

/** One DirSync read. */
export interface DirSyncRequest {
  /** The naming context root to search (the RootDSE's defaultNamingContext). */
  namingContext: string;
  /** Only entries at or under this DN are reported as `changed` (compared as DNs, client-side). */
  baseDn: string;
  /** Which objects (RFC 4515 text or our AST); see the module notes on tombstones. */
  filter: Filter | string;
  /** Attributes to return; the unique id attribute, `isDeleted` and `name` are always added. */
  attributes: readonly string[];
  /** The cookie of the previous read; absent or empty for a first, full read. */
  cookie?: Buffer | undefined;
  /** Ask for link attribute changes as added/removed values (flag 0x80000000). */
  incrementalValues: boolean;
  /** `objectGUID`: ids are formatted as `uniqueIdOf(entry, 'objectGUID')` formats them. */
  uniqueIdAttribute: string;
  /** The DC's identity, when the caller has just read it (saves two searches when a cookie is checked). */
  serverIdentity?: AdServerIdentity;
  /** DirSync MaxBytes (default 0: the server's choice; Samba ignores it). */
  maxBytes?: number;
}

/** What a DirSync read reports, in order; a `cookie` closes each round trip. */
export type DirSyncEvent =
  | {
      type: 'changed';
      uniqueId: string;
      dn: string;
      /** Only the attributes DirSync sent (lower-case names), without the incremental values. */
      entry: DirectoryEntry;
      /** With `incrementalValues`: values added to and removed from link attributes such as `member`. */
      valueChanges: ValueChange[];
    }
  | { type: 'deleted'; uniqueId: string; dn: string }
  /** A changed object outside `baseDn` (possibly one that was just moved out of it). */
  | { type: 'outside'; uniqueId: string; dn: string }
  /** The state after the round trip; store it once every event before it is applied. */
  | { type: 'cookie'; cookie: Buffer };

/** Upper bound on round trips of one read (each one returns changes, so this is never reached in practice). */
const MAX_ROUNDS = 100_000;

function withAttribute(attributes: string[], name: string): void {
  if (!attributes.some((attribute) => attribute.toLowerCase() === name.toLowerCase())) attributes.push(name);
}

async function checkCookie(connection: DirectoryConnection, cookie: Buffer, identity: AdServerIdentity | undefined): Promise<void> {
  const info = parseDirSyncCookie(cookie);
  const server = identity ?? (await readAdServerIdentity(connection));
  const invalid = (problem: string): DirbridgeError =>
    new DirbridgeError('directory.sync_cookie_invalid', `the stored DirSync cookie cannot be used with ${connection.url} (${problem}); a full sync is needed`, {
      details: { url: connection.url, problem, cookieInvocationId: info.invocationId, serverInvocationId: server.invocationId },
    });
  if (info.invocationId !== server.invocationId) throw invalid('it was issued by another domain controller, or before the database was restored');
  const highest = BigInt(server.highestCommittedUsn);
  if (BigInt(info.highObjUpdate) > highest || BigInt(info.highPropUpdate) > highest) {
    throw invalid(`it is ahead of the server's highestCommittedUSN ${server.highestCommittedUsn}`);
  }
}

function translate(error: unknown, connection: DirectoryConnection, hadCookie: boolean): unknown {
  if (isDirbridgeError(error, 'directory.insufficient_access')) {
    return new DirbridgeError(
      'directory.sync_not_permitted',
      `the bind account may not use DirSync on ${connection.url}: it needs the "Replicating Directory Changes" right (fall back to uSNChanged polling)`,
      {
        cause: error,
        details: { ...error.details },
      },
    );
  }
  // Samba: unavailableCriticalExtension (12) "0000202C: Unable to unmarshall cookie".
  if (hadCookie && isDirbridgeError(error, 'directory.unsupported')) {
    return new DirbridgeError('directory.sync_cookie_invalid', `${connection.url} refused the stored DirSync cookie; a full sync is needed`, {
      cause: error,
      details: { ...error.details },
    });
  }
  return error;
}

/**
 * Reads changes with DirSync, looping while the server says it has more, and yields them as
 * events, each round trip closed by its cookie. Throws `directory.sync_not_permitted`,
 * `directory.sync_cookie_invalid`, `usage.invalid` (a naming context the server does not hold) or
 * the usual `directory.*` errors.
 */
export async function* readDirSync(connection: DirectoryConnection, request: DirSyncRequest): AsyncGenerator<DirSyncEvent, void, undefined> {
  const contexts = connection.rootDse.namingContexts;
  // AD answers a DirSync below a naming context root with insufficientAccessRights, which would be
  // mistaken for a missing right: refuse it here.
  if (contexts.length > 0 && !contexts.some((context) => dnEquals(context, request.namingContext))) {
    throw new DirbridgeError(
      'usage.invalid',
      `DirSync must search a naming context root; ${JSON.stringify(request.namingContext)} is not one of ${contexts.join('; ')}`,
      {
        details: { namingContext: request.namingContext, namingContexts: contexts },
      },
    );
  }
  const attributes = [...request.attributes];
  for (const name of [request.uniqueIdAttribute, 'isDeleted', 'name']) withAttribute(attributes, name);
  const flags = request.incrementalValues ? DIRSYNC_FLAGS.incrementalValues : 0;
  let cookie = request.cookie ?? Buffer.alloc(0);
  const hadCookie = cookie.length > 0;
  if (hadCookie) await checkCookie(connection, cookie, request.serverIdentity);

  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    const control = new DirSyncControl({ flags, maxBytes: request.maxBytes ?? 0, cookie });
    let entries: DirectoryEntry[];
    try {
      entries = await connection.searchWithControls(
        { baseDn: request.namingContext, scope: 'sub', filter: request.filter, attributes, binaryAttributes: [request.uniqueIdAttribute, 'parentGUID'] },
        [control],
      );
    } catch (error) {
      throw translate(error, connection, hadCookie);
    }
    for (const raw of entries) {
      const uniqueId = uniqueIdOf(raw, request.uniqueIdAttribute);
      if (uniqueId === undefined) {
        throw new DirbridgeError('directory.protocol', `DirSync returned ${raw.dn} without its ${request.uniqueIdAttribute}`, {
          details: { url: connection.url, dn: raw.dn },
        });
      }
      if (firstString(raw, 'isDeleted')?.toUpperCase() === 'TRUE') {
        yield { type: 'deleted', uniqueId, dn: raw.dn };
      } else if (isDescendantOf(raw.dn, request.baseDn, { includeSelf: true })) {
        const { entry, valueChanges } = splitIncrementalValues(raw);
        yield { type: 'changed', uniqueId, dn: raw.dn, entry, valueChanges };
      } else {
        yield { type: 'outside', uniqueId, dn: raw.dn };
      }
    }
    const response = control.response;
    if (response === undefined) {
      throw new DirbridgeError(
        'directory.protocol',
        `${connection.url} answered a DirSync search without ${control.responseMalformed ? 'a readable' : 'the'} DirSync response control`,
        {
          details: { url: connection.url },
        },
      );
    }
    cookie = response.cookie;
    yield { type: 'cookie', cookie };
    if (!response.moreResults) return;
  }
  throw new DirbridgeError('directory.protocol', `DirSync on ${connection.url} still had more results after ${MAX_ROUNDS} round trips`, {
    details: { url: connection.url },
  });
}
