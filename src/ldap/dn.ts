/**
 * RFC 4514 distinguished names: parsing, escaping, normalising and comparing. Pure, no I/O.
 *
 * Parsing is strict where it matters for safety (unescaped `"`, `<`, `>`, NUL and bad escapes are
 * rejected) and lenient where real configurations differ (spaces around `,` `+` `=`, `;` as an RDN
 * separator, RFC 2253 quoted values, an `OID.` prefix on numeric types).
 */
import { DirbridgeError } from '../errors.ts';

/** One attribute type and value; `isBer` marks a `#hex` value kept as hex because it is not a BER string. */
export interface Ava {
  type: string;
  value: string;
  isBer?: boolean;
}

/** A relative distinguished name: one or more AVAs joined with `+`. */
export type Rdn = Ava[];

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const HEX = /^[0-9a-fA-F]{2}$/;
const TYPE = /^(?:[oO][iI][dD]\.)?(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)/;
const ESCAPABLE = new Set(['\\', '"', '+', ',', ';', '<', '>', '=', ' ', '#']);
/** BER tags whose contents are character strings we can decode (OCTET STRING, UTF8String, Printable, T61, IA5, Visible). */
const BER_STRING_TAGS = new Set([0x04, 0x0c, 0x13, 0x14, 0x16, 0x1a]);

function invalidDn(message: string, text: string, position?: number): DirbridgeError {
  const where = position === undefined ? '' : ` at position ${position}`;
  return new DirbridgeError('directory.invalid_dn', `invalid DN${where}: ${message}`, {
    details: { dn: text, ...(position === undefined ? {} : { position }) },
  });
}

/** Decodes a BER-encoded string value (`#04024869` → `Hi`); undefined when it is not a simple string. */
function decodeBerString(bytes: Buffer): string | undefined {
  const tag = bytes[0];
  const first = bytes[1];
  if (tag === undefined || first === undefined || !BER_STRING_TAGS.has(tag)) return undefined;
  let length = first;
  let offset = 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4 || bytes.length < 2 + count) return undefined;
    length = bytes.readUIntBE(2, count);
    offset = 2 + count;
  }
  if (offset + length !== bytes.length) return undefined;
  try {
    return utf8.decode(bytes.subarray(offset));
  } catch {
    return undefined;
  }
}

/** Parses an RFC 4514 DN into RDNs (leftmost first); the empty string is the root DN `[]`. */
export function parseDn(text: string): Rdn[] {
  let i = 0;
  const skipSpaces = (): void => {
    while (text[i] === ' ') i += 1;
  };

  const parseValue = (): Pick<Ava, 'value' | 'isBer'> => {
    if (text[i] === '#') {
      const start = i;
      i += 1;
      let hex = '';
      while (HEX.test(text.slice(i, i + 2))) {
        hex += text.slice(i, i + 2);
        i += 2;
      }
      if (hex === '') throw invalidDn('expected hex pairs after #', text, start);
      const bytes = Buffer.from(hex, 'hex');
      const decoded = decodeBerString(bytes);
      return decoded === undefined ? { value: `#${hex.toLowerCase()}`, isBer: true } : { value: decoded };
    }
    const bytes: number[] = [];
    const pushText = (chars: string): void => {
      for (const byte of Buffer.from(chars, 'utf8')) bytes.push(byte);
    };
    if (text[i] === '"') {
      const start = i;
      i += 1;
      for (;;) {
        const ch = text[i];
        if (ch === undefined) throw invalidDn('unterminated quoted value', text, start);
        if (ch === '"') {
          i += 1;
          break;
        }
        if (ch === '\\') {
          const pair = text.slice(i + 1, i + 3);
          if (HEX.test(pair)) {
            bytes.push(Number.parseInt(pair, 16));
            i += 3;
            continue;
          }
          const next = text[i + 1];
          if (next === undefined) throw invalidDn('dangling escape', text, i);
          pushText(next);
          i += 2;
          continue;
        }
        const codePoint = text.codePointAt(i) ?? 0;
        const char = String.fromCodePoint(codePoint);
        pushText(char);
        i += char.length;
      }
      skipSpaces();
      return { value: decodeBytes(bytes, text, start) };
    }
    const start = i;
    let keep = 0; // byte length up to the last character that is not an unescaped trailing space
    for (;;) {
      const ch = text[i];
      if (ch === undefined || ch === ',' || ch === '+' || ch === ';') break;
      if (ch === '\\') {
        const pair = text.slice(i + 1, i + 3);
        if (HEX.test(pair)) {
          bytes.push(Number.parseInt(pair, 16));
          i += 3;
        } else {
          const next = text[i + 1];
          if (next === undefined || !ESCAPABLE.has(next)) {
            throw invalidDn(`invalid escape \\${next ?? ''}`, text, i);
          }
          pushText(next);
          i += 2;
        }
        keep = bytes.length;
        continue;
      }
      if (ch === '"' || ch === '<' || ch === '>' || ch === '\u0000') {
        throw invalidDn(`character ${JSON.stringify(ch)} must be escaped`, text, i);
      }
      const codePoint = text.codePointAt(i) ?? 0;
      const char = String.fromCodePoint(codePoint);
      pushText(char);
      i += char.length;
      if (ch !== ' ') keep = bytes.length;
    }
    return { value: decodeBytes(bytes.slice(0, keep), text, start) };
  };

  const parseAva = (): Ava => {
    const match = TYPE.exec(text.slice(i));
    if (!match) throw invalidDn('expected an attribute type', text, i);
    let type = match[0];
    if (/^oid\./i.test(type)) type = type.slice(4);
    i += match[0].length;
    skipSpaces();
    if (text[i] !== '=') throw invalidDn(`expected "=" after attribute type ${type}`, text, i);
    i += 1;
    skipSpaces();
    const { value, isBer } = parseValue();
    return isBer ? { type, value, isBer } : { type, value };
  };

  const rdns: Rdn[] = [];
  skipSpaces();
  if (i === text.length) return rdns;
  for (;;) {
    const rdn: Rdn = [];
    for (;;) {
      rdn.push(parseAva());
      skipSpaces();
      if (text[i] !== '+') break;
      i += 1;
      skipSpaces();
    }
    rdns.push(rdn);
    if (i === text.length) return rdns;
    const separator = text[i];
    if (separator !== ',' && separator !== ';') throw invalidDn(`unexpected character ${JSON.stringify(separator)}`, text, i);
    i += 1;
    skipSpaces();
    if (i === text.length) throw invalidDn('expected an RDN after the separator', text, i);
  }
}

function decodeBytes(bytes: number[], text: string, position: number): string {
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw invalidDn('value is not valid UTF-8', text, position);
  }
}

/** Escapes one attribute value for use in a DN string (RFC 4514 section 2.4). */
export function escapeDnValue(value: string): string {
  let out = '';
  const chars = [...value];
  chars.forEach((ch, index) => {
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) {
      out += `\\${code.toString(16).padStart(2, '0')}`;
    } else if (ch === '\\' || ch === '"' || ch === '+' || ch === ',' || ch === ';' || ch === '<' || ch === '>') {
      out += `\\${ch}`;
    } else if ((index === 0 && (ch === ' ' || ch === '#')) || (index === chars.length - 1 && ch === ' ')) {
      out += `\\${ch}`;
    } else {
      out += ch;
    }
  });
  return out;
}

function formatAva(ava: Ava): string {
  return `${ava.type}=${ava.isBer ? ava.value : escapeDnValue(ava.value)}`;
}

/** Formats RDNs as an RFC 4514 DN string, escaping every value. */
export function formatDn(rdns: readonly Rdn[]): string {
  return rdns.map((rdn) => rdn.map(formatAva).join('+')).join(',');
}

function normalizeValue(value: string): string {
  return value.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

/** The canonical form of a DN for comparison: lower-case types and case-folded, space-trimmed values, sorted AVAs. */
export function normalizeDn(text: string): string {
  return normalizeSimpleDn(text) ?? normalizeAnyDn(text);
}

/** DNs made only of these characters need no unescaping, re-escaping or AVA sorting. */
const SIMPLE_DN = /^[A-Za-z0-9 ._@',=-]*$/;
const SIMPLE_TYPE = /^[A-Za-z][A-Za-z0-9-]*$/;

/**
 * The fast path of `normalizeDn` for the common DN (`uid=jo.smith,ou=people,dc=example,dc=org`):
 * a sync normalises every `member` value, half a million of them at 100k users. Returns
 * undefined whenever the DN needs the full RFC 4514 treatment, which gives the same result.
 */
function normalizeSimpleDn(text: string): string | undefined {
  if (!SIMPLE_DN.test(text) || text.trim() === '') return undefined;
  const parts = text.split(',');
  const normalized: string[] = [];
  for (const part of parts) {
    const equals = part.indexOf('=');
    if (equals <= 0 || part.indexOf('=', equals + 1) !== -1) return undefined;
    const type = part.slice(0, equals).trim();
    const value = part
      .slice(equals + 1)
      .trim()
      .replace(/\s+/g, ' ')
      .toLowerCase();
    if (!SIMPLE_TYPE.test(type) || value === '') return undefined;
    normalized.push(`${type.toLowerCase()}=${value}`);
  }
  return normalized.join(',');
}

function normalizeAnyDn(text: string): string {
  return formatDn(
    parseDn(text).map((rdn) =>
      rdn
        .map((ava): Ava => ({ ...ava, type: ava.type.toLowerCase(), value: ava.isBer ? ava.value.toLowerCase() : normalizeValue(ava.value) }))
        .sort((a, b) => (formatAva(a) < formatAva(b) ? -1 : formatAva(a) > formatAva(b) ? 1 : 0)),
    ),
  );
}

/** A DN's comparison key: its normalised form, or its lower-cased text when it does not parse. */
export function dnKeyOf(dn: string): string {
  try {
    return normalizeDn(dn);
  } catch {
    return dn.toLowerCase();
  }
}

/** True when two DNs name the same entry (compared in normalised form). */
export function dnEquals(a: string, b: string): boolean {
  return normalizeDn(a) === normalizeDn(b);
}

/** The parent of `dn`, or undefined for the root DN; the result is re-formatted from the parsed RDNs. */
export function parentDn(dn: string): string | undefined {
  const rdns = parseDn(dn);
  return rdns.length === 0 ? undefined : formatDn(rdns.slice(1));
}

/** True when `dn` lies strictly below `base` (or equals it, with `includeSelf`). */
export function isDescendantOf(dn: string, base: string, options: { includeSelf?: boolean } = {}): boolean {
  const child = parseDn(normalizeDn(dn));
  const parent = parseDn(normalizeDn(base));
  if (child.length < parent.length || (child.length === parent.length && !options.includeSelf)) return false;
  const tail = child.slice(child.length - parent.length);
  return formatDn(tail) === formatDn(parent);
}

/** The value of the leftmost RDN (its first AVA, or the AVA of `type`), or undefined when absent. */
export function rdnValue(dn: string, type?: string): string | undefined {
  const first = parseDn(dn)[0];
  if (first === undefined) return undefined;
  if (type === undefined) return first[0]?.value;
  return first.find((ava) => ava.type.toLowerCase() === type.toLowerCase())?.value;
}

/** Builds `type=value,parent` with `value` escaped; `parent` is validated and kept as written. */
export function childDn(parent: string, type: string, value: string): string {
  const match = TYPE.exec(type);
  if (!match || match[0] !== type) throw invalidDn(`not an attribute type: ${JSON.stringify(type)}`, type);
  const rdns = parseDn(parent);
  const rdn = formatAva({ type, value });
  return rdns.length === 0 ? rdn : `${rdn},${parent.trim()}`;
}
