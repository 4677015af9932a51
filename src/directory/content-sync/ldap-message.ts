/**
 * Decodes the LDAPMessages (RFC 4511 section 4) a content synchronisation receives: bind and
 * extended responses, search entries, references and results, and intermediate responses (the
 * one kind ldapts 8 cannot parse). Anything else is returned as `other` with its tag.
 */
import type { BerReader } from 'ldapts';
import { decoding, enter, need, nextIs, readBytes, readerOf, TAG } from './ber.ts';

/** A control as received: its OID, criticality and raw value. */
export interface ReceivedControl {
  oid: string;
  critical: boolean;
  value?: Buffer;
}

/** The LDAPResult fields of a response. */
export interface LdapResult {
  resultCode: number;
  matchedDn: string;
  diagnosticMessage: string;
}

/** One attribute of a SearchResultEntry, values as bytes. */
export interface ReceivedAttribute {
  type: string;
  values: Buffer[];
}

/** The protocol operation of a response. */
export type ResponseOperation =
  | { kind: 'bindResponse'; result: LdapResult }
  | { kind: 'searchDone'; result: LdapResult }
  | { kind: 'extendedResponse'; result: LdapResult; responseName?: string; responseValue?: Buffer }
  | { kind: 'searchEntry'; dn: string; attributes: ReceivedAttribute[] }
  | { kind: 'searchReference'; uris: string[] }
  | { kind: 'intermediate'; responseName?: string; responseValue?: Buffer }
  | { kind: 'other'; tag: number };

/** A decoded response message. */
export interface LdapResponse {
  messageId: number;
  op: ResponseOperation;
  controls: ReceivedControl[];
}

const OP = {
  bindResponse: 0x61,
  searchEntry: 0x64,
  searchDone: 0x65,
  searchReference: 0x73,
  extendedResponse: 0x78,
  intermediate: 0x79,
} as const;
const CONTROLS = 0xa0;
const REFERRAL = 0xa3;

function readText(reader: BerReader, what: string, tag: number = TAG.octetString): string {
  return readBytes(reader, what, tag).toString('utf8');
}

function readResult(reader: BerReader, end: number, what: string): LdapResult {
  const resultCode = need(reader.readEnumeration(), what);
  const matchedDn = readText(reader, what);
  const diagnosticMessage = readText(reader, what);
  if (nextIs(reader, end, REFERRAL)) reader.offset = enter(reader, REFERRAL, what);
  return { resultCode, matchedDn, diagnosticMessage };
}

function readAttributes(reader: BerReader, what: string): ReceivedAttribute[] {
  const end = enter(reader, TAG.sequence, what);
  const attributes: ReceivedAttribute[] = [];
  while (reader.offset < end) {
    const attributeEnd = enter(reader, TAG.sequence, what);
    const type = readText(reader, what);
    const valuesEnd = enter(reader, TAG.set, what);
    const values: Buffer[] = [];
    while (reader.offset < valuesEnd) values.push(readBytes(reader, what));
    reader.offset = attributeEnd;
    attributes.push({ type, values });
  }
  return attributes;
}

function readControls(reader: BerReader, end: number, what: string): ReceivedControl[] {
  if (!nextIs(reader, end, CONTROLS)) return [];
  const controlsEnd = enter(reader, CONTROLS, what);
  const controls: ReceivedControl[] = [];
  while (reader.offset < controlsEnd) {
    const controlEnd = enter(reader, TAG.sequence, what);
    const oid = readText(reader, what);
    const critical = nextIs(reader, controlEnd, TAG.boolean) ? need(reader.readBoolean(), what) : false;
    const value = nextIs(reader, controlEnd, TAG.octetString) ? readBytes(reader, what) : undefined;
    reader.offset = controlEnd;
    controls.push(value === undefined ? { oid, critical } : { oid, critical, value });
  }
  return controls;
}

/** Decodes one whole LDAPMessage (as cut by FrameSplitter); throws `directory.protocol` when malformed. */
export function decodeLdapMessage(frame: Buffer): LdapResponse {
  const what = 'LDAP message';
  return decoding(what, () => {
    const reader = readerOf(frame);
    const end = enter(reader, TAG.sequence, what);
    const messageId = need(reader.readInt(), what);
    const tag = need(reader.peek(), what);
    const opEnd = enter(reader, tag, what);
    const op = ((): ResponseOperation => {
      switch (tag) {
        case OP.bindResponse:
          return { kind: 'bindResponse', result: readResult(reader, opEnd, what) };
        case OP.searchDone:
          return { kind: 'searchDone', result: readResult(reader, opEnd, what) };
        case OP.extendedResponse: {
          const result = readResult(reader, opEnd, what);
          const responseName = nextIs(reader, opEnd, 0x8a) ? readText(reader, what, 0x8a) : undefined;
          const responseValue = nextIs(reader, opEnd, 0x8b) ? readBytes(reader, what, 0x8b) : undefined;
          return {
            kind: 'extendedResponse',
            result,
            ...(responseName === undefined ? {} : { responseName }),
            ...(responseValue === undefined ? {} : { responseValue }),
          };
        }
        case OP.searchEntry:
          return { kind: 'searchEntry', dn: readText(reader, what), attributes: readAttributes(reader, what) };
        case OP.searchReference: {
          const uris: string[] = [];
          while (reader.offset < opEnd) uris.push(readText(reader, what));
          return { kind: 'searchReference', uris };
        }
        case OP.intermediate: {
          const responseName = nextIs(reader, opEnd, 0x80) ? readText(reader, what, 0x80) : undefined;
          const responseValue = nextIs(reader, opEnd, 0x81) ? readBytes(reader, what, 0x81) : undefined;
          return { kind: 'intermediate', ...(responseName === undefined ? {} : { responseName }), ...(responseValue === undefined ? {} : { responseValue }) };
        }
        default:
          return { kind: 'other', tag };
      }
    })();
    reader.offset = opEnd;
    const controls = readControls(reader, end, what);
    return { messageId, op, controls };
  });
}
