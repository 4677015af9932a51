/**
 * The Active Directory DirSync control (MS-ADTS 3.1.1.3.4.1.3, OID 1.2.840.113556.1.4.841): a
 * search that returns only the objects and attributes changed since the state a cookie names.
 *
 * Request value:  `SEQUENCE { Flags INTEGER, MaxBytes INTEGER, Cookie OCTET STRING }`.
 * Response value: `SEQUENCE { MoreResults INTEGER, unused INTEGER, CookieBuffer OCTET STRING }`.
 *
 * Flags is a 32-bit field written as a signed INTEGER, as AD and Samba read it, so
 * LDAP_DIRSYNC_INCREMENTAL_VALUES (0x80000000) goes on the wire as `02 04 80 00 00 00`. The
 * control is sent critical: a server that does not know it must refuse the search rather than
 * answer it as a plain (full) one that the caller would take for a delta.
 */
import { BerReader, BerWriter, Control } from 'ldapts';

/** OID of the DirSync request and response control. */
export const DIRSYNC_OID = '1.2.840.113556.1.4.841';

/** DirSync flags (MS-ADTS 3.1.1.3.4.1.3). */
export const DIRSYNC_FLAGS = {
  /** Return only objects the caller may read, without needing the replication right. */
  objectSecurity: 0x00000001,
  /** Return parents before children. */
  ancestorsFirstOrder: 0x00000800,
  /** Return only the public data of secret attributes. */
  publicDataOnly: 0x00002000,
  /** Return changes of multi-valued link attributes (such as `member`) as added and removed values. */
  incrementalValues: 0x80000000,
} as const;

/** What the caller asks for in one DirSync round trip. */
export interface DirSyncRequestValue {
  /** Bit set of {@link DIRSYNC_FLAGS} (unsigned; written as a signed 32-bit INTEGER). */
  flags: number;
  /** Upper bound on the bytes of one response (0 lets the server choose). */
  maxBytes: number;
  /** The cookie from the previous response; empty for a first, full read. */
  cookie: Buffer;
}

/** The DirSync response control, decoded. */
export interface DirSyncResponseValue {
  /** True when the server has more changes: search again with `cookie`. */
  moreResults: boolean;
  /** The state to resume from. */
  cookie: Buffer;
}

/** Encodes a request value (the control value's bytes, without the OCTET STRING wrapper). */
export function encodeDirSyncRequest(value: DirSyncRequestValue): Buffer {
  if (!Number.isInteger(value.flags) || value.flags < 0 || value.flags > 0xffffffff)
    throw new RangeError(`DirSync flags must be a 32-bit unsigned integer, got ${value.flags}`);
  if (!Number.isInteger(value.maxBytes) || value.maxBytes < 0 || value.maxBytes > 0x7fffffff)
    throw new RangeError(`DirSync maxBytes must be a non-negative 32-bit integer, got ${value.maxBytes}`);
  const writer = new BerWriter();
  writer.startSequence();
  writer.writeInt(value.flags | 0);
  writer.writeInt(value.maxBytes);
  writer.writeBuffer(value.cookie, 0x04);
  writer.endSequence();
  return writer.buffer;
}

/**
 * Decodes a response value. Returns undefined for anything malformed (never throws: it runs inside
 * ldapts's message parser; the caller turns a missing response into an error).
 */
export function decodeDirSyncResponse(value: Buffer): DirSyncResponseValue | undefined {
  try {
    const reader = new BerReader(value);
    if (reader.readSequence() !== 0x30) return undefined;
    const end = reader.offset + reader.length;
    if (end > value.length) return undefined;
    if (reader.peek() !== 0x02) return undefined;
    const moreResults = reader.readInt();
    if (reader.peek() !== 0x02) return undefined;
    reader.readInt(); // unused
    if (reader.peek() !== 0x04) return undefined;
    const cookie = reader.readString(0x04, true);
    if (moreResults === null || cookie === null || reader.offset !== end) return undefined;
    return { moreResults: moreResults !== 0, cookie: Buffer.from(cookie) };
  } catch {
    return undefined;
  }
}

/**
 * The request control. ldapts decodes a response control into the request control object of the
 * same OID, in place, so each round trip needs a fresh instance; `response` is set when the server
 * answered with the control (`responseMalformed` when it did but the value did not decode).
 */
export class DirSyncControl extends Control {
  response: DirSyncResponseValue | undefined;
  responseMalformed = false;

  constructor(readonly value: DirSyncRequestValue) {
    super(DIRSYNC_OID, { critical: true });
  }

  protected override writeControl(writer: BerWriter): void {
    writer.writeBuffer(encodeDirSyncRequest(this.value), 0x04);
  }

  protected override parseControl(reader: BerReader): void {
    this.response = decodeDirSyncResponse(reader.buffer);
    this.responseMalformed = this.response === undefined;
  }
}
