/**
 * Strict reading helpers over ldapts's exported `BerReader`, which answers `null` for data that
 * ends too early: here truncation and wrong tags are `directory.protocol` errors, never nulls.
 */
import { BerReader } from 'ldapts';
import { DirbridgeError } from '../../errors.ts';

/** BER tags used by the content synchronisation messages and controls. */
export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  octetString: 0x04,
  enumerated: 0x0a,
  sequence: 0x30,
  set: 0x31,
} as const;

/** A `directory.protocol` error for a malformed message (`what` names the message). */
export function malformed(what: string, cause?: unknown): DirbridgeError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new DirbridgeError('directory.protocol', `malformed ${what} from the directory server${reason}`, cause === undefined ? {} : { cause });
}

/** The value, or a `directory.protocol` error when the reader answered null (truncated data). */
export function need<T>(value: T | null, what: string): T {
  if (value === null) throw malformed(what, new Error('the data ends early'));
  return value;
}

/** A reader over `data`; its `read*` methods throw ldapts's InvalidAsn1Error on a wrong tag. */
export function readerOf(data: Buffer): BerReader {
  return new BerReader(data);
}

/** Reads a constructed element with `tag`; returns the offset where its contents end. */
export function enter(reader: BerReader, tag: number, what: string): number {
  need(reader.readSequence(tag), what);
  const end = reader.offset + reader.length;
  if (end > reader.buffer.length) throw malformed(what, new Error('an element is longer than its message'));
  return end;
}

/** True when the next element before `end` has `tag`. */
export function nextIs(reader: BerReader, end: number, tag: number): boolean {
  return reader.offset < end && reader.peek() === tag;
}

/** Reads an OCTET STRING (or another primitive `tag`) as a copy of its bytes. */
export function readBytes(reader: BerReader, what: string, tag: number = TAG.octetString): Buffer {
  return Buffer.from(need(reader.readString(tag, true), what));
}

/** Runs `read` and turns anything it throws (ldapts's InvalidAsn1Error, RangeErrors) into `directory.protocol`. */
export function decoding<T>(what: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof DirbridgeError) throw error;
    throw malformed(what, error);
  }
}
