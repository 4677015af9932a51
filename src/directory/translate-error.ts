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
  operation: 'connect' | 'starttls' | 'bind' | 'search' | 'rootdse' | 'exop';
  url: string;
  baseDn?: string;
  bindDn?: string;
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
};

function where(context: ErrorContext): string {
  return `${OPERATION_PHRASES[context.operation]} ${context.url}`;
}

/** Translates an error thrown by ldapts (or the socket beneath it) into a DirbridgeError; DirbridgeErrors pass through. */
export function translateLdapError(error: unknown, context: ErrorContext): DirbridgeError {
  if (error instanceof DirbridgeError) return error;
  const details: Record<string, unknown> = { url: context.url, operation: context.operation };
  if (context.baseDn !== undefined) details['baseDn'] = context.baseDn;
  if (context.bindDn !== undefined) details['bindDn'] = context.bindDn;
  const make = (code: ErrorCode, message: string, extra: Record<string, unknown> = {}): DirbridgeError =>
    new DirbridgeError(code, message, { cause: error, details: { ...details, ...extra } });

  if (error instanceof ResultCodeError) {
    // ldapts appends " Code: 0x31" to the server's diagnostic message.
    const diagnostic = error.message.replace(/\s*Code: 0x[0-9a-f]+$/i, '').trim();
    const extra = { resultCode: error.code, diagnosticMessage: diagnostic };
    switch (error.code) {
      case 49: {
        const adCode = adDiagnosticCode(diagnostic);
        const meaning = adCode === undefined ? undefined : AD_BIND_CODES[adCode];
        return make(
          'directory.invalid_credentials',
          `invalid credentials (${where(context)})${meaning === undefined ? '' : `: ${meaning}`}`,
          adCode === undefined ? extra : { ...extra, adCode },
        );
      }
      case 19:
        // 389-DS answers a bind to an account its password policy locked with constraintViolation
        // ("Exceed password retry limit. Please try later."; with passwordLegacyPolicy off the locking
        // bind itself too, with no message). A refused bind, not a fault: the account is locked.
        if (context.operation === 'bind') {
          return make('directory.invalid_credentials', `the account is locked by the directory's password policy (${where(context)})${diagnostic === '' ? '' : `: ${diagnostic}`}`, {
            ...extra,
            accountLocked: true,
          });
        }
        return make('directory.protocol', `the server refused the operation as a constraint violation (${where(context)})${diagnostic === '' ? '' : `: ${diagnostic}`}`, extra);
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
        return make('directory.insufficient_access', `the server requires a secure connection or stronger authentication (${where(context)}); use ldaps:// or StartTLS`, extra);
      case 48:
      case 50:
        return make('directory.insufficient_access', `insufficient access rights (${where(context)})`, extra);
      case 51:
      case 52:
        return make('directory.unavailable', `the server is busy or unavailable (${where(context)})`, extra);
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
