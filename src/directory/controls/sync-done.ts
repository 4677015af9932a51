/**
 * The Sync Done control (RFC 4533 section 2.4, OID 1.3.6.1.4.1.4203.1.9.1.3), attached by the
 * server to the SearchResultDone that ends a refreshOnly synchronisation:
 *
 *     syncDoneValue ::= SEQUENCE { cookie syncCookie OPTIONAL, refreshDeletes BOOLEAN DEFAULT FALSE }
 *
 * refreshDeletes true: the refresh sent its deletes explicitly (delete phase). False: it ran a
 * present phase, and entries neither sent nor reported present are gone.
 */
import { decoding, enter, need, nextIs, readBytes, readerOf, TAG } from '../content-sync/ber.ts';

/** OID of the Sync Done control. */
export const SYNC_DONE_OID = '1.3.6.1.4.1.4203.1.9.1.3';

/** A decoded Sync Done control value. */
export interface SyncDoneValue {
  cookie?: Buffer;
  refreshDeletes: boolean;
}

/** Decodes the control value (an absent value reads as an empty SEQUENCE); throws `directory.protocol` when malformed. */
export function decodeSyncDone(value: Buffer | undefined): SyncDoneValue {
  if (value === undefined || value.length === 0) return { refreshDeletes: false };
  const what = 'Sync Done control';
  return decoding(what, () => {
    const reader = readerOf(value);
    const end = enter(reader, TAG.sequence, what);
    const cookie = nextIs(reader, end, TAG.octetString) ? readBytes(reader, what) : undefined;
    const refreshDeletes = nextIs(reader, end, TAG.boolean) ? need(reader.readBoolean(), what) : false;
    return cookie === undefined ? { refreshDeletes } : { cookie, refreshDeletes };
  });
}
