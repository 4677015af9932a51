/**
 * The DirSync cookie's layout (MS-ADTS 3.1.1.3.4.1.3, "Cookie"), read client-side because Samba
 * does not check it: a cookie with a wrong signature, or with USNs the server has not reached, is
 * answered with success and no changes, which a caller would take for "nothing changed".
 *
 * `signature "MSDS" | version u32 | creationTime u64 | reserved u64 | utdVectorSize u32 |
 *  usnVector { usnHighObjUpdate u64, usnReserved u64, usnHighPropUpdate u64 } | invocationId GUID |
 *  utdVector[utdVectorSize]`, little-endian.
 */
import { DirbridgeError } from '../../errors.ts';
import { formatObjectGuid } from '../../ldap/guid.ts';

/** What a DirSync cookie says about the state it resumes from. */
export interface DirSyncCookieInfo {
  /** The invocationId of the DC that issued it (lower-case GUID text). */
  invocationId: string;
  /** The highest USN of an object and of a property it has seen (decimal text). */
  highObjUpdate: string;
  highPropUpdate: string;
}

const SIGNATURE = 'MSDS';
const HEADER_LENGTH = 68;

/** Parses a DirSync cookie; throws `directory.sync_cookie_invalid` when it is not one. */
export function parseDirSyncCookie(cookie: Buffer): DirSyncCookieInfo {
  const invalid = (problem: string): DirbridgeError =>
    new DirbridgeError('directory.sync_cookie_invalid', `the stored DirSync cookie is not valid (${problem}); a full sync is needed`, {
      details: { problem, length: cookie.length },
    });
  if (cookie.length < HEADER_LENGTH) throw invalid(`${cookie.length} bytes, shorter than its ${HEADER_LENGTH}-byte header`);
  if (cookie.toString('latin1', 0, 4) !== SIGNATURE) throw invalid('no MSDS signature');
  const utdVectorSize = cookie.readUInt32LE(24);
  if (HEADER_LENGTH + utdVectorSize !== cookie.length)
    throw invalid(`its length ${cookie.length} does not match its header (${HEADER_LENGTH} + ${utdVectorSize})`);
  return {
    invocationId: formatObjectGuid(cookie.subarray(52, 68)),
    highObjUpdate: cookie.readBigUInt64LE(28).toString(),
    highPropUpdate: cookie.readBigUInt64LE(44).toString(),
  };
}
