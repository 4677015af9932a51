/**
 * The DirbridgeError for a failed LDAPResult of the content synchronisation: e-syncRefreshRequired
 * (4096, RFC 4533 section 2.6) becomes `directory.sync_refresh_required`; every other code is
 * translated exactly as for ldapts operations (translate-error.ts).
 */
import { ResultCodeError } from 'ldapts';
import { DirbridgeError } from '../../errors.ts';
import { type ErrorContext, translateLdapError } from '../translate-error.ts';
import type { LdapResult } from './ldap-message.ts';

/** RFC 4533 e-syncRefreshRequired: the cookie is too old (or unknown); start over with a full refresh. */
export const SYNC_REFRESH_REQUIRED = 4096;

/** A result code received on our own connection, shaped like ldapts's errors so translateLdapError reads it. */
class ReceivedResultError extends ResultCodeError {
  constructor(code: number, message: string) {
    super(code, message);
  }
}

/** Translates a non-success LDAPResult into a typed error. */
export function resultError(result: LdapResult, context: ErrorContext): DirbridgeError {
  if (result.resultCode === SYNC_REFRESH_REQUIRED) {
    return new DirbridgeError(
      'directory.sync_refresh_required',
      `the server cannot continue from this cookie and requires a full refresh (searching ${context.url})`,
      {
        details: { url: context.url, resultCode: result.resultCode, diagnosticMessage: result.diagnosticMessage },
      },
    );
  }
  return translateLdapError(new ReceivedResultError(result.resultCode, result.diagnosticMessage), context);
}
