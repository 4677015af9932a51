/**
 * Active Directory binary identifiers: objectGUID (16 bytes, mixed-endian) and objectSid.
 */

const GUID_TEXT = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;

/** Formats AD objectGUID bytes as lower-case `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (first three groups little-endian). */
export function formatObjectGuid(buf: Buffer): string {
  if (buf.length !== 16) throw new RangeError(`objectGUID must be 16 bytes, got ${buf.length}`);
  const hex = (start: number, end: number, reverse: boolean): string => {
    const bytes = [...buf.subarray(start, end)];
    if (reverse) bytes.reverse();
    return bytes.map((byte) => byte.toString(16).padStart(2, '0')).join('');
  };
  return [hex(0, 4, true), hex(4, 6, true), hex(6, 8, true), hex(8, 10, false), hex(10, 16, false)].join('-');
}

/** Parses GUID text (with or without braces, any case) back into AD objectGUID byte order. */
export function parseObjectGuid(text: string): Buffer {
  const match = GUID_TEXT.exec(text.trim());
  if (!match) throw new RangeError('not a GUID: expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx');
  const [, a = '', b = '', c = '', d = '', e = ''] = match;
  const bytes = (hex: string, reverse: boolean): Buffer => {
    const out = Buffer.from(hex, 'hex');
    return reverse ? out.reverse() : out;
  };
  return Buffer.concat([bytes(a, true), bytes(b, true), bytes(c, true), bytes(d, false), bytes(e, false)]);
}

/** Formats a binary objectSid as `S-1-5-21-...`. */
export function formatObjectSid(buf: Buffer): string {
  if (buf.length < 8) throw new RangeError(`objectSid must be at least 8 bytes, got ${buf.length}`);
  const revision = buf.readUInt8(0);
  const subAuthorityCount = buf.readUInt8(1);
  if (buf.length !== 8 + 4 * subAuthorityCount) {
    throw new RangeError(`objectSid length ${buf.length} does not match ${subAuthorityCount} sub-authorities`);
  }
  const authority = buf.readUIntBE(2, 6);
  const parts = [`S-${revision}-${authority}`];
  for (let index = 0; index < subAuthorityCount; index += 1) {
    parts.push(String(buf.readUInt32LE(8 + 4 * index)));
  }
  return parts.join('-');
}
