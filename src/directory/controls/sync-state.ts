/**
 * The Sync State control (RFC 4533 section 2.3, OID 1.3.6.1.4.1.4203.1.9.1.2), attached by the
 * server to each SearchResultEntry of a synchronisation:
 *
 *     syncStateValue ::= SEQUENCE { state ENUMERATED { present (0), add (1), modify (2), delete (3) },
 *                                   entryUUID syncUUID, cookie syncCookie OPTIONAL }
 */
import { decoding, enter, malformed, need, nextIs, readBytes, readerOf, TAG } from '../content-sync/ber.ts';

/** OID of the Sync State control. */
export const SYNC_STATE_OID = '1.3.6.1.4.1.4203.1.9.1.2';

/** What an entry's Sync State says happened to it. */
export type SyncEntryState = 'present' | 'add' | 'modify' | 'delete';

const STATES: readonly SyncEntryState[] = ['present', 'add', 'modify', 'delete'];

/** A decoded Sync State control value. */
export interface SyncStateValue {
  state: SyncEntryState;
  /** The entry's syncUUID: 16 bytes. */
  entryUuid: Buffer;
  cookie?: Buffer;
}

/** Decodes the control value; throws `directory.protocol` when it is malformed. */
export function decodeSyncState(value: Buffer): SyncStateValue {
  const what = 'Sync State control';
  return decoding(what, () => {
    const reader = readerOf(value);
    const end = enter(reader, TAG.sequence, what);
    const code = need(reader.readEnumeration(), what);
    const state = STATES[code];
    if (state === undefined) throw malformed(what, new Error(`unknown state ${code}`));
    const entryUuid = readBytes(reader, what);
    if (entryUuid.length !== 16) throw malformed(what, new Error(`a syncUUID has 16 bytes, not ${entryUuid.length}`));
    if (!nextIs(reader, end, TAG.octetString)) return { state, entryUuid };
    return { state, entryUuid, cookie: readBytes(reader, what) };
  });
}
