/**
 * The Password Policy control (draft-behera-ldap-password-policy, OID 1.3.6.1.4.1.42.2.27.8.5.1).
 * The request has no value; the response tells why a bind or a password change was refused
 * (`passwordTooShort`, `passwordInHistory`, `accountLocked`, ...) or warns of expiry. OpenLDAP's
 * ppolicy overlay answers it on binds and password changes. 389-DS 2.3 lists it but answered no
 * password change with it, and Active Directory does not know it; their reasons are in the
 * diagnostic message (../password-rejections.ts).
 */
import { type BerReader, Control } from 'ldapts';

/** OID of the Password Policy request and response control. */
export const PASSWORD_POLICY_OID = '1.3.6.1.4.1.42.2.27.8.5.1';

const PPOLICY_ERRORS = [
  'passwordExpired',
  'accountLocked',
  'changeAfterReset',
  'passwordModNotAllowed',
  'mustSupplyOldPassword',
  'insufficientPasswordQuality',
  'passwordTooShort',
  'passwordTooYoung',
  'passwordInHistory',
] as const;

/** The `error` values of a Password Policy response. */
export type PasswordPolicyError = (typeof PPOLICY_ERRORS)[number];

/** What each Password Policy error means, for messages. */
export const PASSWORD_POLICY_REASONS: Readonly<Record<PasswordPolicyError, string>> = {
  passwordExpired: 'the password has expired',
  accountLocked: 'the account is locked',
  changeAfterReset: 'the password was reset and must be changed first',
  passwordModNotAllowed: 'the user may not change the password',
  mustSupplyOldPassword: 'the old password must be supplied',
  insufficientPasswordQuality: 'the password does not meet the quality rules',
  passwordTooShort: 'the password is too short',
  passwordTooYoung: 'the password was changed too recently to change again',
  passwordInHistory: 'the password was used before (it is in the password history)',
};

/** A decoded Password Policy response control. */
export interface PasswordPolicyResponse {
  error?: PasswordPolicyError;
  timeBeforeExpiration?: number;
  graceAuthNsRemaining?: number;
}

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function readTlv(buf: Buffer, offset: number, limit: number): Tlv | undefined {
  const tag = buf[offset];
  let lengthByte = buf[offset + 1];
  if (tag === undefined || lengthByte === undefined) return undefined;
  let start = offset + 2;
  let length = lengthByte;
  if (lengthByte & 0x80) {
    const count = lengthByte & 0x7f;
    if (count === 0 || count > 3) return undefined;
    length = 0;
    for (let i = 0; i < count; i += 1) {
      lengthByte = buf[start + i];
      if (lengthByte === undefined) return undefined;
      length = length * 256 + lengthByte;
    }
    start += count;
  }
  const end = start + length;
  return end > limit ? undefined : { tag, start, end };
}

function readUnsigned(buf: Buffer, tlv: Tlv): number | undefined {
  const length = tlv.end - tlv.start;
  if (length < 1 || length > 6) return undefined;
  let value = 0;
  for (let i = tlv.start; i < tlv.end; i += 1) value = value * 256 + (buf[i] ?? 0);
  return value;
}

/**
 * Decodes the value of a Password Policy response control:
 * `SEQUENCE { warning [0] CHOICE { timeBeforeExpiration [0] INTEGER, graceAuthNsRemaining [1] INTEGER } OPTIONAL, error [1] ENUMERATED OPTIONAL }`.
 * Returns undefined for anything malformed (never throws: it runs inside ldapts's message parser).
 */
export function decodePasswordPolicyResponse(value: Buffer): PasswordPolicyResponse | undefined {
  if (value.length === 0) return {};
  const sequence = readTlv(value, 0, value.length);
  if (sequence === undefined || sequence.tag !== 0x30) return undefined;
  const response: PasswordPolicyResponse = {};
  let offset = sequence.start;
  while (offset < sequence.end) {
    const element = readTlv(value, offset, sequence.end);
    if (element === undefined) return undefined;
    if (element.tag === 0xa0) {
      const warning = readTlv(value, element.start, element.end);
      if (warning === undefined) return undefined;
      const number = readUnsigned(value, warning);
      if (number === undefined) return undefined;
      if (warning.tag === 0x80) response.timeBeforeExpiration = number;
      else if (warning.tag === 0x81) response.graceAuthNsRemaining = number;
      else return undefined;
    } else if (element.tag === 0x81) {
      const number = readUnsigned(value, element);
      const name = number === undefined ? undefined : PPOLICY_ERRORS[number];
      if (name === undefined) return undefined;
      response.error = name;
    } else {
      return undefined;
    }
    offset = element.end;
  }
  return response;
}

/**
 * The request control (no value). ldapts decodes a response control only into a request control
 * object of the same OID, in place, so each bind needs a fresh instance; `response` is set when the
 * server answered with the control.
 */
export class PasswordPolicyControl extends Control {
  response: PasswordPolicyResponse | undefined;

  constructor() {
    super(PASSWORD_POLICY_OID, { critical: false });
  }

  protected override parseControl(reader: BerReader): void {
    this.response = decodePasswordPolicyResponse(reader.buffer);
  }
}
