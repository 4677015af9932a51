/**
 * The Sync Request control (RFC 4533 section 2.2, OID 1.3.6.1.4.1.4203.1.9.1.1), sent with the
 * search that starts content synchronisation:
 *
 *     syncRequestValue ::= SEQUENCE { mode ENUMERATED { refreshOnly (1), refreshAndPersist (3) },
 *                                     cookie syncCookie OPTIONAL, reloadHint BOOLEAN DEFAULT FALSE }
 *
 * Sent critical: a server without the content synchronisation engine must refuse the search
 * rather than answer it as a plain one that looks complete.
 */
import { BerWriter, Control } from 'ldapts';

/** OID of the Sync Request control. */
export const SYNC_REQUEST_OID = '1.3.6.1.4.1.4203.1.9.1.1';

/** The two synchronisation modes of RFC 4533. */
export type SyncMode = 'refreshOnly' | 'refreshAndPersist';

/** What the Sync Request control carries. */
export interface SyncRequestValue {
  mode: SyncMode;
  /** The cookie of the last synchronisation; absent for an initial refresh. */
  cookie?: Buffer | undefined;
  /** Ask the server to resend everything instead of the changes (default false). */
  reloadHint?: boolean;
}

/** The control value's BER encoding (DER: a false reloadHint is left out). */
export function encodeSyncRequestValue(value: SyncRequestValue): Buffer {
  const writer = new BerWriter();
  writer.startSequence();
  writer.writeEnumeration(value.mode === 'refreshOnly' ? 1 : 3);
  if (value.cookie !== undefined) writer.writeBuffer(value.cookie, 0x04);
  if (value.reloadHint === true) writer.writeBoolean(true);
  writer.endSequence();
  return writer.buffer;
}

/** The request control (critical), for ldapts request messages. */
export class SyncRequestControl extends Control {
  constructor(readonly value: SyncRequestValue) {
    super(SYNC_REQUEST_OID, { critical: true });
  }

  protected override writeControl(writer: BerWriter): void {
    writer.writeBuffer(encodeSyncRequestValue(this.value), 0x04);
  }
}
