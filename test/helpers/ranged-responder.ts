/**
 * An in-process LDAP server that behaves like an Active Directory domain controller in the two
 * limits Samba does not enforce: MaxValRange and MaxPageSize. Tests only. It is a real LDAP peer
 * over TCP (BER on a `net` socket, read and written with the BerReader/BerWriter that ldapts
 * exports), serving a fixed tree from memory; it knows nothing of dirbridge's code.
 *
 * What it does, as a DC does:
 * - RootDSE (anonymous): AD's capability OID, the paged results control, defaultNamingContext.
 * - Simple bind with a real password check (wrong password or unknown DN: 49; empty password:
 *   anonymous). Every search but the RootDSE read needs a successful bind (else operationsError).
 * - Search with base/one/sub scope; filters and/or/not/equality/presence/substrings/>=/<=/≈ and
 *   the AD bit rules 1.2.840.113556.1.4.803/804, compared case-insensitively (binary values
 *   bytewise); `objectCategory=person` matches the schema DN's first RDN as AD does.
 * - Paged results (1.2.840.113556.1.4.319): pages of min(requested, MaxPageSize); an unpaged
 *   search that matches more than MaxPageSize entries sends MaxPageSize and ends with
 *   sizeLimitExceeded (4). A cookie belongs to its connection; size 0 with a cookie ends the paging.
 * - MaxValRange (MS-ADTS 3.1.1.3.1.3.3): an attribute with more than MaxValRange values, asked for
 *   without a range, comes back as `attr;range=0-(MaxValRange-1)`; `attr;range=low-high` and
 *   `attr;range=low-*` return at most MaxValRange values from `low`, named `attr;range=low-*` when
 *   the slice holds the last value and `attr;range=low-last` otherwise. A range that starts past
 *   the last value returns no attribute (not checked against a real DC).
 * - Unbind closes the connection; abandon drops the paged searches of its connection; other operations get
 *   unwillingToPerform; an unknown critical control gets unavailableCriticalExtension (12).
 *
 * A fault hook can break the range sequence (a missing range, a gap, a short range) so tests can
 * prove the client refuses instead of keeping the first slice.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { BerReader, BerWriter } from 'ldapts';

/** An entry of the tree: attribute names in the server's casing, values as strings or bytes. */
export interface ResponderEntry {
  dn: string;
  attributes: Record<string, Array<string | Buffer>>;
}

/** A range about to be sent (asked for, or the first slice of a cut attribute), as the fault hook sees it. */
export interface RangeRequest {
  dn: string;
  /** The attribute's base name, as stored. */
  attribute: string;
  start: number;
}

/**
 * How to break one range answer: `missing` leaves the attribute out, `gap` answers from one value
 * later than asked (and says so in its name), `short` names the full slice but drops its last value.
 */
export type RangeFault = 'missing' | 'gap' | 'short';

/** Options of {@link startRangedResponder}. */
export interface RangedResponderOptions {
  /** The naming context, e.g. `DC=corp,DC=example`. */
  baseDn: string;
  entries: ResponderEntry[];
  /** Simple-bind accounts: DN and password. */
  accounts: Array<{ dn: string; password: string }>;
  /** Default 1500, as on every AD DC. */
  maxValRange?: number;
  /** Default 1000, as on every AD DC. */
  maxPageSize?: number;
}

/** What the responder counted, for tests to assert on. */
export interface ResponderStats {
  binds: number;
  searches: number;
  /** Searches that asked for an attribute with a `range=` option. */
  rangeRequests: number;
  /** Paged result pages sent. */
  pages: number;
}

/** A running responder. */
export interface RangedResponder {
  url: string;
  port: number;
  readonly stats: ResponderStats;
  /** Sets (or with undefined clears) the hook consulted on every requested range, and on the first slice of an attribute cut without one (start 0). */
  setRangeFault(hook: ((request: RangeRequest) => RangeFault | undefined) | undefined): void;
  /** Closes every connection and stops listening. */
  stop(): Promise<void>;
}

const PAGED_RESULTS_OID = '1.2.840.113556.1.4.319';
const AD_CAPABILITY_OID = '1.2.840.113556.1.4.800';
const MATCHING_RULE_BIT_AND = '1.2.840.113556.1.4.803';
const MATCHING_RULE_BIT_OR = '1.2.840.113556.1.4.804';

/** LDAP result codes the responder sends. */
export const ResultCode = {
  success: 0,
  operationsError: 1,
  protocolError: 2,
  sizeLimitExceeded: 4,
  unavailableCriticalExtension: 12,
  noSuchObject: 32,
  invalidCredentials: 49,
  unwillingToPerform: 53,
} as const;

// ---------------------------------------------------------------------------------------------
// BER framing

/**
 * Splits complete LDAPMessages off the front of `buffer`: returns them and what is left (a
 * message still arriving). Throws on anything that is not a definite-length SEQUENCE.
 */
export function splitMessages(buffer: Buffer): { messages: Buffer[]; rest: Buffer } {
  const messages: Buffer[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    const reader = new BerReader(buffer.subarray(offset));
    const tag = reader.readSequence();
    if (tag === null) break;
    if (tag !== 0x30) throw new Error(`LDAPMessage must be a SEQUENCE, got tag 0x${tag.toString(16)}`);
    const total = reader.offset + reader.length;
    if (total > buffer.length - offset) break;
    messages.push(buffer.subarray(offset, offset + total));
    offset += total;
  }
  return { messages, rest: buffer.subarray(offset) };
}

/** A request control. */
export interface RequestControl {
  oid: string;
  critical: boolean;
  value?: Buffer;
}

/** One decoded request: its id, operation tag, the operation's reader (positioned at its content) and its controls. */
export interface DecodedMessage {
  messageId: number;
  tag: number;
  /** Reader over the whole message, positioned at the operation's content. */
  reader: BerReader;
  /** Offset just past the operation. */
  end: number;
  controls: RequestControl[];
}

/** Decodes one LDAPMessage envelope (as split by {@link splitMessages}). */
export function decodeMessage(message: Buffer): DecodedMessage {
  const reader = new BerReader(message);
  reader.readSequence(0x30);
  const messageId = need(reader.readInt(), 'messageID');
  const tag = need(reader.peek(), 'protocolOp');
  const start = reader.offset;
  reader.readSequence(tag);
  const end = reader.offset + reader.length;
  const controls: RequestControl[] = [];
  if (end < message.length && message[end] === 0xa0) {
    const controlReader = new BerReader(message);
    controlReader.offset = end;
    controlReader.readSequence(0xa0);
    const controlsEnd = controlReader.offset + controlReader.length;
    while (controlReader.offset < controlsEnd) {
      controlReader.readSequence(0x30);
      const controlEnd = controlReader.offset + controlReader.length;
      const oid = need(controlReader.readString(), 'controlType');
      let critical = false;
      let value: Buffer | undefined;
      if (controlReader.offset < controlEnd && controlReader.peek() === 0x01) critical = need(controlReader.readBoolean(), 'criticality');
      if (controlReader.offset < controlEnd && controlReader.peek() === 0x04) value = need(controlReader.readString(0x04, true), 'controlValue');
      controlReader.offset = controlEnd;
      controls.push({ oid, critical, ...(value === undefined ? {} : { value }) });
    }
  }
  const operation = new BerReader(message);
  operation.offset = start;
  operation.readSequence(tag);
  return { messageId, tag, reader: operation, end, controls };
}

function need<T>(value: T | null, what: string): T {
  if (value === null) throw new Error(`truncated BER: ${what}`);
  return value;
}

/** Encodes an LDAPMessage: `writeOperation` writes the protocolOp; controls as [oid, value] pairs. */
export function encodeMessage(messageId: number, writeOperation: (writer: BerWriter) => void, controls: Array<{ oid: string; value: Buffer }> = []): Buffer {
  const writer = new BerWriter();
  writer.startSequence(0x30);
  writer.writeInt(messageId);
  writeOperation(writer);
  if (controls.length > 0) {
    writer.startSequence(0xa0);
    for (const control of controls) {
      writer.startSequence(0x30);
      writer.writeString(control.oid);
      writer.writeBuffer(control.value, 0x04);
      writer.endSequence();
    }
    writer.endSequence();
  }
  writer.endSequence();
  return writer.buffer;
}

/** An LDAPResult-shaped response (bind, search done, modify...) with the given application tag. */
export function encodeResult(messageId: number, tag: number, code: number, diagnostic = '', controls: Array<{ oid: string; value: Buffer }> = []): Buffer {
  return encodeMessage(
    messageId,
    (writer) => {
      writer.startSequence(tag);
      writer.writeEnumeration(code);
      writer.writeString('');
      writer.writeString(diagnostic);
      writer.endSequence();
    },
    controls,
  );
}

/** A SearchResultEntry. */
export function encodeEntry(messageId: number, dn: string, attributes: Array<{ name: string; values: Array<string | Buffer> }>): Buffer {
  return encodeMessage(messageId, (writer) => {
    writer.startSequence(0x64);
    writer.writeString(dn);
    writer.startSequence(0x30);
    for (const attribute of attributes) {
      writer.startSequence(0x30);
      writer.writeString(attribute.name);
      writer.startSequence(0x31);
      for (const value of attribute.values) {
        if (typeof value === 'string') writer.writeString(value);
        else writer.writeBuffer(value, 0x04);
      }
      writer.endSequence();
      writer.endSequence();
    }
    writer.endSequence();
    writer.endSequence();
  });
}

// ---------------------------------------------------------------------------------------------
// Filters

/** A decoded search filter. */
export type ResponderFilter =
  | { type: 'and' | 'or'; filters: ResponderFilter[] }
  | { type: 'not'; filter: ResponderFilter }
  | { type: 'equal' | 'ge' | 'le' | 'approx'; attribute: string; value: Buffer }
  | { type: 'present'; attribute: string }
  | { type: 'substrings'; attribute: string; initial?: string; any: string[]; final?: string }
  | { type: 'extensible'; rule?: string; attribute?: string; value: Buffer };

/** Reads one filter at the reader's position (RFC 4511 4.5.1.7). */
export function readFilter(reader: BerReader): ResponderFilter {
  const tag = need(reader.peek(), 'filter');
  switch (tag) {
    case 0xa0:
    case 0xa1: {
      reader.readSequence(tag);
      const end = reader.offset + reader.length;
      const filters: ResponderFilter[] = [];
      while (reader.offset < end) filters.push(readFilter(reader));
      return { type: tag === 0xa0 ? 'and' : 'or', filters };
    }
    case 0xa2:
      reader.readSequence(tag);
      return { type: 'not', filter: readFilter(reader) };
    case 0xa3:
    case 0xa5:
    case 0xa6:
    case 0xa8: {
      reader.readSequence(tag);
      const attribute = need(reader.readString(), 'attributeDesc');
      const value = need(reader.readString(0x04, true), 'assertionValue');
      const type = tag === 0xa3 ? 'equal' : tag === 0xa5 ? 'ge' : tag === 0xa6 ? 'le' : 'approx';
      return { type, attribute, value };
    }
    case 0x87:
      return { type: 'present', attribute: need(reader.readString(0x87), 'present') };
    case 0xa4: {
      reader.readSequence(tag);
      const attribute = need(reader.readString(), 'type');
      reader.readSequence(0x30);
      const end = reader.offset + reader.length;
      const filter: { type: 'substrings'; attribute: string; initial?: string; any: string[]; final?: string } = { type: 'substrings', attribute, any: [] };
      while (reader.offset < end) {
        const part = need(reader.peek(), 'substring');
        const text = need(reader.readString(part), 'substring');
        if (part === 0x80) filter.initial = text;
        else if (part === 0x81) filter.any.push(text);
        else filter.final = text;
      }
      return filter;
    }
    case 0xa9: {
      reader.readSequence(tag);
      const end = reader.offset + reader.length;
      const filter: { type: 'extensible'; rule?: string; attribute?: string; value: Buffer } = { type: 'extensible', value: Buffer.alloc(0) };
      while (reader.offset < end) {
        const part = need(reader.peek(), 'extensible');
        if (part === 0x84) {
          reader.readString(0x84, true);
          continue;
        }
        const bytes = need(reader.readString(part, true), 'extensible');
        if (part === 0x81) filter.rule = bytes.toString('utf8');
        else if (part === 0x82) filter.attribute = bytes.toString('utf8');
        else filter.value = bytes;
      }
      return filter;
    }
    default:
      throw new Error(`unsupported filter tag 0x${tag.toString(16)}`);
  }
}

function valuesOf(entry: ResponderEntry, attribute: string): Array<string | Buffer> {
  const wanted = attribute.toLowerCase();
  for (const [name, values] of Object.entries(entry.attributes)) if (name.toLowerCase() === wanted) return values;
  return [];
}

function sameValue(stored: string | Buffer, asserted: Buffer): boolean {
  if (Buffer.isBuffer(stored)) return stored.equals(asserted);
  return stored.toLowerCase() === asserted.toString('utf8').toLowerCase();
}

function compareValues(stored: string | Buffer, asserted: Buffer): number {
  const left = Buffer.isBuffer(stored) ? stored.toString('utf8') : stored;
  const right = asserted.toString('utf8');
  if (/^-?\d+$/.test(left) && /^-?\d+$/.test(right)) return Math.sign(Number(left) - Number(right));
  return left.toLowerCase() < right.toLowerCase() ? -1 : left.toLowerCase() > right.toLowerCase() ? 1 : 0;
}

/** Evaluates a filter against an entry (values compared case-insensitively; `lowerSets` caches large attributes). */
export function matches(entry: ResponderEntry, filter: ResponderFilter, lowerSets: (entry: ResponderEntry, attribute: string) => Set<string>): boolean {
  switch (filter.type) {
    case 'and':
      return filter.filters.every((inner) => matches(entry, inner, lowerSets));
    case 'or':
      return filter.filters.some((inner) => matches(entry, inner, lowerSets));
    case 'not':
      return !matches(entry, filter.filter, lowerSets);
    case 'present':
      return filter.attribute.toLowerCase() === 'objectclass' || valuesOf(entry, filter.attribute).length > 0;
    case 'equal':
    case 'approx': {
      const values = valuesOf(entry, filter.attribute);
      if (filter.attribute.toLowerCase() === 'objectcategory' && !filter.value.includes('='.charCodeAt(0))) {
        // AD resolves `objectCategory=person` to the class's defaultObjectCategory DN.
        const wanted = filter.value.toString('utf8').toLowerCase();
        return values.some((value) => typeof value === 'string' && /^cn=([^,]*)/i.exec(value)?.[1]?.toLowerCase() === wanted);
      }
      if (values.length > 64 && values.every((value) => typeof value === 'string'))
        return lowerSets(entry, filter.attribute).has(filter.value.toString('utf8').toLowerCase());
      return values.some((value) => sameValue(value, filter.value));
    }
    case 'ge':
      return valuesOf(entry, filter.attribute).some((value) => compareValues(value, filter.value) >= 0);
    case 'le':
      return valuesOf(entry, filter.attribute).some((value) => compareValues(value, filter.value) <= 0);
    case 'substrings':
      return valuesOf(entry, filter.attribute).some((value) => {
        const text = (Buffer.isBuffer(value) ? value.toString('utf8') : value).toLowerCase();
        let position = 0;
        if (filter.initial !== undefined) {
          if (!text.startsWith(filter.initial.toLowerCase())) return false;
          position = filter.initial.length;
        }
        for (const part of filter.any) {
          const found = text.indexOf(part.toLowerCase(), position);
          if (found < 0) return false;
          position = found + part.length;
        }
        return filter.final === undefined || (text.length - filter.final.length >= position && text.endsWith(filter.final.toLowerCase()));
      });
    case 'extensible': {
      if (filter.attribute === undefined) return false;
      const asserted = Number(filter.value.toString('utf8'));
      const values = valuesOf(entry, filter.attribute).map((value) => Number(Buffer.isBuffer(value) ? value.toString('utf8') : value));
      if (filter.rule === MATCHING_RULE_BIT_AND) return values.some((value) => (value & asserted) === asserted);
      if (filter.rule === MATCHING_RULE_BIT_OR) return values.some((value) => (value & asserted) !== 0);
      if (filter.rule === undefined) return valuesOf(entry, filter.attribute).some((value) => sameValue(value, filter.value));
      return false;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Ranged values (MS-ADTS 3.1.1.3.1.3.3)

/** A requested attribute: its base name, and its range when it carries a `range=` option. */
export interface RequestedAttribute {
  name: string;
  range?: { start: number; end: number | null };
}

/** Parses a requested attribute description such as `member;range=1500-*`. */
export function parseRequestedAttribute(description: string): RequestedAttribute {
  const [name = '', ...options] = description.split(';');
  for (const option of options) {
    const match = /^range=(\d+)-(\d+|\*)$/i.exec(option);
    if (match !== null) return { name, range: { start: Number(match[1]), end: match[2] === '*' ? null : Number(match[2]) } };
  }
  return { name };
}

/**
 * The values a DC returns of an attribute for one request: the whole list when it fits and no
 * range was asked, else one slice of at most `maxValRange` values and its name.
 */
export function rangeSlice(
  name: string,
  values: Array<string | Buffer>,
  range: { start: number; end: number | null } | undefined,
  maxValRange: number,
): { name: string; values: Array<string | Buffer> } | undefined {
  if (range === undefined && values.length <= maxValRange) return { name, values };
  const start = range?.start ?? 0;
  if (start >= values.length) return undefined;
  const askedLast = range?.end ?? Number.POSITIVE_INFINITY;
  const last = Math.min(askedLast, start + maxValRange - 1, values.length - 1);
  const slice = values.slice(start, last + 1);
  return { name: `${name};range=${start}-${last === values.length - 1 ? '*' : last}`, values: slice };
}

// ---------------------------------------------------------------------------------------------
// The server

function normalizeDn(dn: string): string {
  return dn
    .split(/(?<!\\),/)
    .map((part) => part.trim().toLowerCase())
    .join(',');
}

function parentOf(normalized: string): string | undefined {
  const match = /(?<!\\),/.exec(normalized);
  return match === null ? undefined : normalized.slice(match.index + 1);
}

function inScope(normalized: string, base: string, scope: number): boolean {
  if (scope === 0) return normalized === base;
  if (scope === 1) return parentOf(normalized) === base;
  return normalized === base || (normalized.endsWith(`,${base}`) && normalized[normalized.length - base.length - 2] !== '\\');
}

/** A deterministic objectGUID for a DN (16 bytes), so ids stay the same from run to run. */
export function guidFor(dn: string): Buffer {
  return createHash('md5').update(normalizeDn(dn)).digest();
}

interface PagedCursor {
  matched: ResponderEntry[];
  offset: number;
}

/** Starts the responder on 127.0.0.1 (a free port). */
export async function startRangedResponder(options: RangedResponderOptions): Promise<RangedResponder> {
  const maxValRange = options.maxValRange ?? 1500;
  const maxPageSize = options.maxPageSize ?? 1000;
  const byDn = new Map<string, ResponderEntry>();
  for (const entry of options.entries) byDn.set(normalizeDn(entry.dn), entry);
  const ordered = [...byDn.entries()];
  const passwords = new Map(options.accounts.map((account) => [normalizeDn(account.dn), account.password]));
  const stats: ResponderStats = { binds: 0, searches: 0, rangeRequests: 0, pages: 0 };
  let rangeFault: ((request: RangeRequest) => RangeFault | undefined) | undefined;
  const setCache = new WeakMap<ResponderEntry, Map<string, Set<string>>>();
  const lowerSets = (entry: ResponderEntry, attribute: string): Set<string> => {
    let byAttribute = setCache.get(entry);
    if (byAttribute === undefined) setCache.set(entry, (byAttribute = new Map()));
    const key = attribute.toLowerCase();
    let set = byAttribute.get(key);
    if (set === undefined) {
      set = new Set(valuesOf(entry, attribute).map((value) => (typeof value === 'string' ? value.toLowerCase() : value.toString('utf8'))));
      byAttribute.set(key, set);
    }
    return set;
  };

  const rootDse: ResponderEntry = {
    dn: '',
    attributes: {
      defaultNamingContext: [options.baseDn],
      namingContexts: [options.baseDn],
      rootDomainNamingContext: [options.baseDn],
      // Only what it serves (DirSync, 1.2.840.113556.1.4.841, is not).
      supportedControl: [PAGED_RESULTS_OID, '1.2.840.113556.1.4.417', '1.2.840.113556.1.4.529'],
      supportedCapabilities: [AD_CAPABILITY_OID, '1.2.840.113556.1.4.1670', '1.2.840.113556.1.4.1791'],
      supportedLDAPVersion: ['3'],
      supportedSASLMechanisms: ['GSSAPI', 'GSS-SPNEGO'],
      isGlobalCatalogReady: ['TRUE'],
      dnsHostName: ['dc1.ranged.test'],
    },
  };

  /** The attributes of `entry` a search returns for `requested` (RFC 4511 4.5.1.8, AD's ranges). */
  const project = (entry: ResponderEntry, requested: string[], typesOnly: boolean): Array<{ name: string; values: Array<string | Buffer> }> => {
    const all = requested.length === 0 || requested.includes('*');
    const asked = requested.filter((description) => description !== '*' && description !== '1.1').map(parseRequestedAttribute);
    const out: Array<{ name: string; values: Array<string | Buffer> }> = [];
    for (const [name, values] of Object.entries(entry.attributes)) {
      if (values.length === 0) continue;
      const mentions = asked.filter((attribute) => attribute.name.toLowerCase() === name.toLowerCase());
      const ranged = mentions.find((attribute) => attribute.range !== undefined);
      if (!all && mentions.length === 0) continue;
      let slice = rangeSlice(name, values, ranged?.range, maxValRange);
      if (ranged?.range !== undefined) stats.rangeRequests += 1;
      if (ranged?.range !== undefined || values.length > maxValRange) {
        const range = ranged?.range ?? { start: 0, end: null };
        const fault = rangeFault?.({ dn: entry.dn, attribute: name, start: range.start });
        if (fault === 'missing') slice = undefined;
        else if (fault === 'gap') slice = rangeSlice(name, values, { start: range.start + 1, end: range.end }, maxValRange);
        else if (fault === 'short' && slice !== undefined) slice = { name: slice.name, values: slice.values.slice(0, -1) };
      }
      if (slice !== undefined) out.push(typesOnly ? { name: slice.name, values: [] } : slice);
    }
    return out;
  };

  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending: Buffer = Buffer.alloc(0);
    let boundDn: string | undefined;
    const cursors = new Map<string, PagedCursor>();
    let nextCookie = 1;

    const send = (buffer: Buffer): void => {
      if (!socket.destroyed) socket.write(buffer);
    };

    const search = (message: DecodedMessage): undefined => {
      const { reader, messageId } = message;
      const baseDn = need(reader.readString(), 'baseObject');
      const scope = need(reader.readEnumeration(), 'scope');
      reader.readEnumeration(); // derefAliases
      reader.readInt(); // sizeLimit (AD's own limits apply; dirbridge sends 0)
      reader.readInt(); // timeLimit
      const typesOnly = need(reader.readBoolean(), 'typesOnly');
      const filter = readFilter(reader);
      reader.readSequence(0x30);
      const attributesEnd = reader.offset + reader.length;
      const requested: string[] = [];
      while (reader.offset < attributesEnd) requested.push(need(reader.readString(), 'attribute'));
      stats.searches += 1;

      const done = (code: number, diagnostic = '', controls: Array<{ oid: string; value: Buffer }> = []): undefined => {
        send(encodeResult(messageId, 0x65, code, diagnostic, controls));
      };
      if (baseDn === '' && scope === 0) {
        if (matches(rootDse, filter, lowerSets)) send(encodeEntry(messageId, '', project(rootDse, requested, typesOnly)));
        return done(ResultCode.success);
      }
      if (boundDn === undefined)
        return done(
          ResultCode.operationsError,
          '000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563',
        );
      const base = normalizeDn(baseDn);
      if (!byDn.has(base))
        return done(ResultCode.noSuchObject, `0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT), data 0, best match of:\n\t'${options.baseDn}'`);

      const paged = message.controls.find((control) => control.oid === PAGED_RESULTS_OID);
      const unknownCritical = message.controls.find((control) => control.critical && control.oid !== PAGED_RESULTS_OID);
      if (unknownCritical !== undefined) return done(ResultCode.unavailableCriticalExtension, `unsupported critical control ${unknownCritical.oid}`);

      const emit = (entries: ResponderEntry[]) => {
        for (const entry of entries) send(encodeEntry(messageId, entry.dn, project(entry, requested, typesOnly)));
      };
      const matchAll = () => ordered.filter(([key, entry]) => inScope(key, base, scope) && matches(entry, filter, lowerSets)).map(([, entry]) => entry);

      if (paged === undefined || paged.value === undefined) {
        const matched = matchAll();
        emit(matched.slice(0, maxPageSize));
        if (matched.length > maxPageSize)
          return done(ResultCode.sizeLimitExceeded, '00000005: LdapErr: DSID-0C0910BA, comment: Error processing control, data 0, v4563');
        return done(ResultCode.success);
      }
      const value = new BerReader(paged.value);
      value.readSequence(0x30);
      const size = need(value.readInt(), 'paged size');
      const cookie = need(value.readString(0x04, true), 'paged cookie').toString('latin1');
      let cursor: PagedCursor | undefined;
      if (cookie === '') cursor = { matched: matchAll(), offset: 0 };
      else {
        cursor = cursors.get(cookie);
        cursors.delete(cookie);
        if (cursor === undefined)
          return done(ResultCode.unwillingToPerform, '00002024: LdapErr: DSID-0C090E09, comment: Error processing control, data 0, v4563');
      }
      const pageControl = (next: string) => {
        const writer = new BerWriter();
        writer.startSequence(0x30);
        writer.writeInt(0);
        writer.writeBuffer(Buffer.from(next, 'latin1'), 0x04);
        writer.endSequence();
        return [{ oid: PAGED_RESULTS_OID, value: writer.buffer }];
      };
      if (size === 0) return done(ResultCode.success, '', pageControl(''));
      const take = Math.min(size, maxPageSize);
      emit(cursor.matched.slice(cursor.offset, cursor.offset + take));
      cursor.offset += take;
      stats.pages += 1;
      let next = '';
      if (cursor.offset < cursor.matched.length) {
        next = `page-${nextCookie++}`;
        cursors.set(next, cursor);
      }
      return done(ResultCode.success, '', pageControl(next));
    };

    const handle = (raw: Buffer): void => {
      const message = decodeMessage(raw);
      const { tag, messageId, reader } = message;
      switch (tag) {
        case 0x60: {
          reader.readInt(); // version
          const name = need(reader.readString(), 'bind name');
          const authentication = need(reader.peek(), 'authentication');
          if (authentication !== 0x80) {
            send(encodeResult(messageId, 0x61, ResultCode.unwillingToPerform, 'only simple bind'));
            return;
          }
          const password = need(reader.readString(0x80), 'password');
          stats.binds += 1;
          boundDn = undefined;
          if (password === '') {
            send(encodeResult(messageId, 0x61, ResultCode.success));
            return;
          }
          if (passwords.get(normalizeDn(name)) !== password) {
            send(
              encodeResult(
                messageId,
                0x61,
                ResultCode.invalidCredentials,
                '80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563',
              ),
            );
            return;
          }
          boundDn = normalizeDn(name);
          send(encodeResult(messageId, 0x61, ResultCode.success));
          return;
        }
        case 0x63:
          search(message);
          return;
        case 0x42:
          socket.end();
          return;
        case 0x50:
          // Abandon: drop any paging state (no response, RFC 4511 4.11).
          cursors.clear();
          return;
        case 0x77:
          send(
            encodeMessage(messageId, (writer) => {
              writer.startSequence(0x78);
              writer.writeEnumeration(ResultCode.protocolError);
              writer.writeString('');
              writer.writeString('unsupported extended operation');
              writer.endSequence();
            }),
          );
          return;
        default:
          // modify 0x66, add 0x68, delete 0x4a, modDN 0x6c, compare 0x6e: the response tag is one more.
          send(encodeResult(messageId, (tag & 0x1f) + 1 + 0x60, ResultCode.unwillingToPerform, 'read-only responder'));
      }
    };

    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      try {
        const { messages, rest } = splitMessages(pending);
        pending = rest;
        for (const message of messages) handle(message);
      } catch {
        // A malformed PDU ends the connection, as a DC does (a notice of disconnection is not sent).
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('responder has no TCP address');
  return {
    url: `ldap://127.0.0.1:${address.port}`,
    port: address.port,
    stats,
    setRangeFault(hook) {
      rangeFault = hook;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
