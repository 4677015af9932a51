/**
 * Translates whatever ldapts or Node's net/tls layer throws into a DirbridgeError with a stable
 * code, keeping the original as `cause`. Callers branch on the code, never on message text; this
 * module is the one place that does read ldapts message text, because ldapts reports timeouts and
 * closed sockets as plain Errors.
 */
import { ResultCodeError } from 'ldapts';
import { DirbridgeError, type ErrorCode } from '../errors.ts';

/** What was being done when the error happened, for the message and details. */
export interface ErrorContext {
  operation: 'connect' | 'starttls' | 'bind' | 'search' | 'rootdse' | 'exop' | 'add' | 'modify' | 'modify_dn' | 'delete';
  url: string;
  baseDn?: string;
  bindDn?: string;
  /** The entry a write is about. */
  dn?: string;
}

/** AD bind sub-codes ("data 52e" in the diagnostic message) and what they mean. */
export const AD_BIND_CODES: Readonly<Record<string, string>> = {
  '525': 'user not found',
  '52e': 'invalid credentials',
  '530': 'not permitted to log on at this time',
  '531': 'not permitted to log on at this workstation',
  '532': 'password expired',
  '533': 'account disabled',
  '701': 'account expired',
  '773': 'user must reset password',
  '775': 'account locked out',
};

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ETIMEDOUT',
  'EPIPE',
  'EADDRNOTAVAIL',
]);

const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_|^ERR_TLS|^ERR_SSL|^EPROTO$|HOSTNAME|ALTNAME/;

function errnoCode(error: Error): string | undefined {
  const code: unknown = Reflect.get(error, 'code');
  return typeof code === 'string' ? code : undefined;
}

/** True for an error raised by certificate verification or the TLS handshake. */
export function isTlsError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = errnoCode(error);
  if (code !== undefined && TLS_CODE.test(code)) return true;
  return Reflect.get(error, 'library') === 'SSL routines';
}

/** The AD diagnostic sub-code (`52e`, `533`, ...) in a bind error message, if any. */
export function adDiagnosticCode(message: string): string | undefined {
  return /\bdata ([0-9a-f]{3,8})\b/i.exec(message)?.[1]?.toLowerCase();
}

const OPERATION_PHRASES: Record<ErrorContext['operation'], string> = {
  connect: 'connecting to',
  starttls: 'starting TLS with',
  bind: 'binding to',
  search: 'searching',
  rootdse: 'reading the RootDSE of',
  exop: 'sending an extended operation to',
  add: 'adding an entry on',
  modify: 'modifying an entry on',
  modify_dn: 'renaming or moving an entry on',
  delete: 'deleting an entry on',
};

/** Codes whose operation may succeed if simply tried again later (the server was down, slow or busy). */
const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set(['directory.unavailable', 'directory.timeout', 'directory.busy', 'directory.time_limit']);

/**
 * True when a failed directory operation is worth retrying unchanged (server down, busy, timed
 * out); false for permanent refusals (access, schema, constraints, policy), which need a person.
 */
export function isRetryableDirectoryError(error: unknown): boolean {
  return error instanceof DirbridgeError && RETRYABLE_CODES.has(error.code);
}

/** The AD/Samba Win32 error code that starts a diagnostic message (`0000052D: Constraint violation ...`), if any. */
export function adErrorCode(diagnostic: string): string | undefined {
  return /^([0-9A-F]{8}):/i.exec(diagnostic)?.[1]?.toUpperCase();
}

function where(context: ErrorContext): string {
  return `${OPERATION_PHRASES[context.operation]} ${context.url}${context.dn === undefined ? '' : `, entry ${context.dn}`}`;
}

/** Translates an error thrown by ldapts (or the socket beneath it) into a DirbridgeError; DirbridgeErrors pass through. */
export function translateLdapError(error: unknown, context: ErrorContext): DirbridgeError {
  if (error instanceof DirbridgeError) return error;
  const details: Record<string, unknown> = { url: context.url, operation: context.operation };
  if (context.baseDn !== undefined) details['baseDn'] = context.baseDn;
  if (context.bindDn !== undefined) details['bindDn'] = context.bindDn;
  if (context.dn !== undefined) details['dn'] = context.dn;
  const make = (code: ErrorCode, message: string, extra: Record<string, unknown> = {}): DirbridgeError =>
    new DirbridgeError(code, message, { cause: error, details: { ...details, ...extra } });

  if (error instanceof ResultCodeError) {
    // ldapts appends " Code: 0x31" to the server's diagnostic message.
    const diagnostic = error.message.replace(/\s*Code: 0x[0-9a-f]+$/i, '').trim();
    const adCode = adErrorCode(diagnostic);
    const extra: Record<string, unknown> =
      adCode === undefined
        ? { resultCode: error.code, diagnosticMessage: diagnostic }
        : { resultCode: error.code, diagnosticMessage: diagnostic, adErrorCode: adCode };
    const said = diagnostic === '' ? '' : `: ${diagnostic}`;
    switch (error.code) {
      case 49: {
        const bindCode = adDiagnosticCode(diagnostic);
        const meaning = bindCode === undefined ? undefined : AD_BIND_CODES[bindCode];
        return make(
          'directory.invalid_credentials',
          `invalid credentials (${where(context)})${meaning === undefined ? '' : `: ${meaning}`}`,
          bindCode === undefined ? extra : { ...extra, adCode: bindCode },
        );
      }
      case 19:
        // 389-DS answers a bind to an account its password policy locked with constraintViolation
        // ("Exceed password retry limit. Please try later."; with passwordLegacyPolicy off the locking
        // bind itself too, with no message). A refused bind, not a fault: the account is locked.
        if (context.operation === 'bind') {
          return make(
            'directory.invalid_credentials',
            `the account is locked by the directory's password policy (${where(context)})${diagnostic === '' ? '' : `: ${diagnostic}`}`,
            {
              ...extra,
              accountLocked: true,
            },
          );
        }
        return make('directory.constraint_violation', `the server refused the change as a constraint violation (${where(context)})${said}`, extra);
      case 3:
        return make('directory.time_limit', `the server's time limit was exceeded (${where(context)})`, extra);
      case 4:
      case 11:
        return make('directory.size_limit', `the server's size limit was exceeded (${where(context)}); use paging or a narrower filter`, extra);
      case 10:
      case 32:
        return make('directory.no_such_object', `no such object${context.baseDn === undefined ? '' : `: ${context.baseDn}`} (${where(context)})`, extra);
      case 34:
        return make('directory.invalid_dn', `the server rejected a DN as invalid (${where(context)})`, extra);
      case 8:
      case 13:
        return make(
          'directory.insufficient_access',
          `the server requires a secure connection or stronger authentication (${where(context)}); use ldaps:// or StartTLS`,
          extra,
        );
      case 48:
      case 50:
        return make(
          'directory.insufficient_access',
          `insufficient access rights (${where(context)})${context.operation === 'bind' || context.operation === 'search' ? '' : said}`,
          extra,
        );
      case 51:
        return make('directory.busy', `the server is busy (${where(context)}); try again later`, extra);
      case 52:
        return make('directory.unavailable', `the server is unavailable (${where(context)})`, extra);
      case 12:
        return make('directory.unsupported', `the server does not support a critical control of the request (${where(context)})${said}`, extra);
      case 16:
        return make('directory.no_such_value', `the entry has no such attribute or value (${where(context)})${said}`, extra);
      case 20:
        return make('directory.value_exists', `the entry already has that value (${where(context)})${said}`, extra);
      case 17:
      case 18:
      case 21:
      case 64:
      case 67:
      case 69:
        return make('directory.schema_violation', `the server's schema refused the change (${where(context)})${said}`, extra);
      case 65:
        return make('directory.object_class_violation', `the entry would violate its object classes (${where(context)})${said}`, extra);
      case 66:
        return make('directory.not_allowed_on_non_leaf', `the entry has entries below it (${where(context)})${said}`, extra);
      case 68:
        // AD answers a modify adding a linked value (member) that is already there with 68.
        if (context.operation === 'modify') return make('directory.value_exists', `the entry already has that value (${where(context)})${said}`, extra);
        return make('directory.already_exists', `an entry with that name already exists (${where(context)})${said}`, extra);
      case 53:
        // A bind answered 53 (389-DS: "Account inactivated") keeps its old meaning below.
        if (context.operation === 'bind') return make('directory.protocol', `the server returned result code 53 (${where(context)})`, extra);
        // AD refuses to delete a linked value (member) that is not there with 53: Windows says
        // 00000561 (ERROR_MEMBER_NOT_IN_GROUP), Samba "Attribute member doesn't exist (or: already deleted) for target GUID".
        if (context.operation === 'modify' && (adCode === '00000561' || /(doesn't exist|already deleted) for target GUID/i.test(diagnostic))) {
          return make('directory.no_such_value', `the entry has no such attribute or value (${where(context)})${said}`, extra);
        }
        return make('directory.unwilling_to_perform', `the server is unwilling to perform the operation (${where(context)})${said}`, extra);
      case 122:
        return make('directory.assertion_failed', `the entry no longer matches what was expected (assertion failed, ${where(context)})`, extra);
      default:
        if (context.operation === 'starttls') {
          return make('directory.tls_failure', `the server refused StartTLS (${where(context)})`, extra);
        }
        return make('directory.protocol', `the server returned result code ${error.code} (${where(context)})`, extra);
    }
  }

  if (!(error instanceof Error)) return make('directory.protocol', `unexpected error (${where(context)}): ${String(error)}`);

  const code = errnoCode(error);
  if (code === 'ECONNRESET' && /before secure TLS connection was established/i.test(error.message)) {
    return make('directory.tls_failure', `TLS handshake failed (${where(context)}): the server closed the connection; is this a TLS port?`, {
      reason: 'handshake_reset',
    });
  }
  if (isTlsError(error)) {
    return make('directory.tls_failure', `TLS failure (${where(context)}): ${error.message}`, { reason: code ?? error.message });
  }
  if (/Operation timed out/i.test(error.message)) {
    return make('directory.timeout', `the server did not answer in time (${where(context)})`);
  }
  if (/Connection timeout/i.test(error.message)) {
    return make('directory.timeout', `could not connect in time (${where(context)})`);
  }
  if (code !== undefined && NETWORK_CODES.has(code)) {
    return make('directory.unavailable', `cannot reach the server (${where(context)}): ${code}`, { reason: code });
  }
  if (/Connection closed|Socket error|Socket connection not established|socket hang up/i.test(error.message)) {
    return make('directory.unavailable', `the connection was lost (${where(context)})`, { reason: error.message.split('\n')[0] });
  }
  return make('directory.protocol', `unexpected error (${where(context)}): ${error.message}`);
}
