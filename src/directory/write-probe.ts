/**
 * Can the bound account write under a DN? Answered without changing anything: a modify that
 * deletes a `description` value the entry cannot have (a random token). Every server checks
 * access rights before it looks for the value, so the answer is insufficientAccess (50) when the
 * account may not write there, and noSuchAttribute (16) when it may, and nothing is written either
 * way (a failed modify changes no data and no modification time).
 *
 * Why this and not the alternatives, measured on slapd 2.5, Samba 4.17 and 389-DS 2.3:
 * - a modify under a false Assertion control: slapd evaluates the assertion before the access
 *   check, so a read-only account gets assertionFailed (122) too and the probe tells nothing;
 * - the Get Effective Rights control exists on 389-DS only, and AD's `allowedAttributesEffective`
 *   on AD only; one probe that behaves the same on all three is simpler to trust;
 * - adding and deleting a scratch entry writes (change logs, USNs, replication) and can leave the
 *   entry behind if the connection drops in between.
 *
 * It proves write access to the entry at `dn` itself (the users or groups container). Rights
 * delegated only on the children (AD "create user objects") are a different grant; the probe
 * reports what it saw, and the write-back's first write is the final word.
 */
import { randomBytes } from 'node:crypto';
import { isDirbridgeError } from '../errors.ts';
import type { WritableDirectoryConnection } from './connect.ts';
import { deleteValues } from './modifications.ts';

/** What the probe found at one DN. */
export interface WriteAccess {
  dn: string;
  /** True: may write; false: access denied; undefined: the server's answer did not tell (see `detail`). */
  writable: boolean | undefined;
  /** A sentence for Test Connection's report. */
  detail: string;
}

/** Probes whether the connection's account can modify the entry at `dn`; `directory.no_such_object` and faults throw. */
export async function probeWriteAccess(connection: WritableDirectoryConnection, dn: string): Promise<WriteAccess> {
  const token = `dirbridge-write-probe-${randomBytes(12).toString('hex')}`;
  try {
    await connection.modify(dn, [deleteValues('description', [token])]);
    // Not expected: the value cannot be there. Nothing was deleted but the token itself.
    return { dn, writable: true, detail: 'the bind account may modify this entry' };
  } catch (error) {
    if (isDirbridgeError(error, 'directory.no_such_value')) return { dn, writable: true, detail: 'the bind account may modify this entry' };
    if (isDirbridgeError(error, 'directory.insufficient_access')) return { dn, writable: false, detail: 'the bind account has no write access to this entry' };
    if (isDirbridgeError(error, 'directory.no_such_object', 'directory.unavailable', 'directory.timeout', 'directory.busy', 'directory.tls_failure'))
      throw error;
    if (isDirbridgeError(error)) return { dn, writable: undefined, detail: `the server's answer did not tell: ${error.message}` };
    throw error;
  }
}
