/**
 * The Sync Info message (RFC 4533 section 2.5, OID 1.3.6.1.4.1.4203.1.9.1.4), the value of an
 * IntermediateResponse the server sends during a synchronisation:
 *
 *     syncInfoValue ::= CHOICE {
 *       newcookie      [0] syncCookie,
 *       refreshDelete  [1] SEQUENCE { cookie syncCookie OPTIONAL, refreshDone BOOLEAN DEFAULT TRUE },
 *       refreshPresent [2] SEQUENCE { cookie syncCookie OPTIONAL, refreshDone BOOLEAN DEFAULT TRUE },
 *       syncIdSet      [3] SEQUENCE { cookie syncCookie OPTIONAL, refreshDeletes BOOLEAN DEFAULT FALSE,
 *                                     syncUUIDs SET OF syncUUID } }
 */
import { decoding, enter, malformed, need, nextIs, readBytes, readerOf, TAG } from '../content-sync/ber.ts';

/** OID of the Sync Info message (the IntermediateResponse's responseName). */
export const SYNC_INFO_OID = '1.3.6.1.4.1.4203.1.9.1.4';

/** A decoded Sync Info message. */
export type SyncInfo =
  | { kind: 'newCookie'; cookie: Buffer }
  | { kind: 'refreshDelete' | 'refreshPresent'; cookie?: Buffer; refreshDone: boolean }
  | { kind: 'syncIdSet'; cookie?: Buffer; refreshDeletes: boolean; uuids: Buffer[] };

const NEW_COOKIE = 0x80;
const REFRESH_DELETE = 0xa1;
const REFRESH_PRESENT = 0xa2;
const SYNC_ID_SET = 0xa3;

/** Decodes the message value; throws `directory.protocol` when it is malformed. */
export function decodeSyncInfo(value: Buffer): SyncInfo {
  const what = 'Sync Info message';
  return decoding(what, () => {
    const reader = readerOf(value);
    const tag = reader.peek();
    if (tag === NEW_COOKIE) return { kind: 'newCookie', cookie: readBytes(reader, what, NEW_COOKIE) };
    if (tag === REFRESH_DELETE || tag === REFRESH_PRESENT) {
      const end = enter(reader, tag, what);
      const cookie = nextIs(reader, end, TAG.octetString) ? readBytes(reader, what) : undefined;
      const refreshDone = nextIs(reader, end, TAG.boolean) ? need(reader.readBoolean(), what) : true;
      const kind = tag === REFRESH_DELETE ? 'refreshDelete' : 'refreshPresent';
      return cookie === undefined ? { kind, refreshDone } : { kind, cookie, refreshDone };
    }
    if (tag === SYNC_ID_SET) {
      const end = enter(reader, tag, what);
      const cookie = nextIs(reader, end, TAG.octetString) ? readBytes(reader, what) : undefined;
      const refreshDeletes = nextIs(reader, end, TAG.boolean) ? need(reader.readBoolean(), what) : false;
      const setEnd = enter(reader, TAG.set, what);
      const uuids: Buffer[] = [];
      while (reader.offset < setEnd) {
        const uuid = readBytes(reader, what);
        if (uuid.length !== 16) throw malformed(what, new Error(`a syncUUID has 16 bytes, not ${uuid.length}`));
        uuids.push(uuid);
      }
      return cookie === undefined ? { kind: 'syncIdSet', refreshDeletes, uuids } : { kind: 'syncIdSet', cookie, refreshDeletes, uuids };
    }
    throw malformed(what, new Error(`unknown choice 0x${(tag ?? 0).toString(16)}`));
  });
}
