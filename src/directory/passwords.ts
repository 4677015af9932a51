/**
 * Setting directory passwords, so that the server hashes them and applies its own policy:
 *
 * - OpenLDAP (and any other server announcing it): the Password Modify extended operation
 *   (RFC 3062), with the Password Policy request control so that a refusal names the rule
 *   (`passwordTooShort`, `passwordInHistory`, ...).
 * - 389-DS: a modify replacing `userPassword` with the clear text, which 389-DS hashes with its
 *   storage scheme and checks against its policy. Its Password Modify operation does the same but
 *   answers every refusal with "Failed to update password" and no ppolicy control (measured on
 *   2.3), while the modify's message names the rule ("password must be at least 8 characters long").
 * - Active Directory: `unicodePwd` (the quoted password in UTF-16LE), only over LDAPS or StartTLS
 *   (refused here otherwise, before anything is sent). A user's own change is a delete of the old
 *   value and an add of the new one in one modify, which AD checks against the old password and
 *   the policy; an administrator's reset is a replace.
 *
 * A user's own change first binds the connection as that user with the old password (so it is
 * checked, and the server applies the rules for self-service changes); the connection keeps that
 * identity afterwards. A reset runs as whoever the connection is bound as (the writer account).
 * Refusals by policy are `directory.password_policy` with `details.reason`. Passwords are never
 * put into errors, details or logs.
 */
import { BerWriter } from 'ldapts';
import { DirbridgeError } from '../errors.ts';
import type { WritableDirectoryConnection } from './connect.ts';
import { PASSWORD_POLICY_REASONS, PasswordPolicyControl } from './controls/password-policy.ts';
import { supportsExtension } from './controls/supported.ts';
import { addValues, deleteValues, type Modification, replaceValues } from './modifications.ts';
import { adPasswordRejection, dirsrvPasswordRejection } from './password-rejections.ts';

/** OID of the Password Modify extended operation (RFC 3062). */
export const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';

/** A user's own password change. */
export interface OwnPasswordChange {
  dn: string;
  oldPassword: string;
  newPassword: string;
}

/** An administrator's reset. */
export interface PasswordReset {
  dn: string;
  newPassword: string;
}

/** The BER value of a Password Modify request: `SEQUENCE { userIdentity [0], oldPasswd [1], newPasswd [2] }` (each optional). */
export function passwordModifyRequestValue(request: { dn: string; oldPassword?: string; newPassword: string }): Buffer {
  const writer = new BerWriter();
  writer.startSequence();
  writer.writeString(request.dn, 0x80);
  if (request.oldPassword !== undefined) writer.writeString(request.oldPassword, 0x81);
  writer.writeString(request.newPassword, 0x82);
  writer.endSequence();
  return writer.buffer;
}

/** The `unicodePwd` value AD expects: the password in double quotes, UTF-16LE. */
export function unicodePwdValue(password: string): Buffer {
  return Buffer.from(`"${password}"`, 'utf16le');
}

function checkNewPassword(dn: string, password: string): void {
  if (password.trim() === '') throw new DirbridgeError('usage.invalid', `refusing to set an empty password (${dn})`, { details: { dn } });
}

function refuseInsecure(connection: WritableDirectoryConnection, dn: string): void {
  if (connection.security === 'plain') {
    throw new DirbridgeError(
      'directory.insecure_connection',
      `Active Directory only accepts passwords over an encrypted connection: use ldaps:// or StartTLS (${connection.url}, entry ${dn})`,
      { details: { url: connection.url, dn } },
    );
  }
}

function policyRefusal(error: DirbridgeError, reason: string, message: string): DirbridgeError {
  return new DirbridgeError('directory.password_policy', `the directory refused the password: ${message}`, {
    cause: error,
    details: { ...error.details, reason },
  });
}

/** Turns a refused password write into `directory.password_policy` where the server said which rule failed. */
function explain(error: unknown, control: PasswordPolicyControl | undefined): unknown {
  if (!(error instanceof DirbridgeError)) return error;
  const ppolicy = control?.response?.error;
  if (ppolicy !== undefined) return policyRefusal(error, ppolicy, PASSWORD_POLICY_REASONS[ppolicy]);
  const adCode = error.details['adErrorCode'];
  const diagnostic = String(error.details['diagnosticMessage'] ?? '');
  const rejection =
    adPasswordRejection(typeof adCode === 'string' ? adCode : undefined, diagnostic) ??
    (error.code === 'directory.constraint_violation' ? dirsrvPasswordRejection(diagnostic) : undefined);
  if (rejection === undefined) return error;
  if (rejection.reason === 'wrongOldPassword') {
    return new DirbridgeError('directory.invalid_credentials', `the directory refused the password change: ${rejection.message}`, {
      cause: error,
      details: { ...error.details, reason: rejection.reason },
    });
  }
  return policyRefusal(error, rejection.reason, rejection.message);
}

async function passwordModify(connection: WritableDirectoryConnection, request: { dn: string; oldPassword?: string; newPassword: string }): Promise<void> {
  if (!supportsExtension(connection.rootDse, PASSWORD_MODIFY_OID)) {
    throw new DirbridgeError('directory.unsupported', `the server does not announce the Password Modify extended operation (${connection.url})`, {
      details: { url: connection.url, dn: request.dn },
    });
  }
  const control = new PasswordPolicyControl();
  try {
    await connection.extendedOperation(PASSWORD_MODIFY_OID, passwordModifyRequestValue(request), { controls: [control], dn: request.dn });
  } catch (error) {
    throw explain(error, control);
  }
}

/** A modify that sets a password, with refusals explained. */
async function passwordWrite(connection: WritableDirectoryConnection, dn: string, changes: Modification[]): Promise<void> {
  const control = new PasswordPolicyControl();
  try {
    await connection.modify(dn, changes, { controls: [control] });
  } catch (error) {
    throw explain(error, control);
  }
}

/** Changes a user's own password: binds as the user with the old one, then sets the new one. */
export async function changeOwnPassword(connection: WritableDirectoryConnection, change: OwnPasswordChange): Promise<void> {
  checkNewPassword(change.dn, change.newPassword);
  const serverType = connection.rootDse.serverType;
  if (serverType === 'active-directory') refuseInsecure(connection, change.dn);
  await connection.bind(change.dn, change.oldPassword);
  switch (serverType) {
    case 'active-directory':
      // AD checks the deleted value against the current password, and applies the user-change policy.
      return passwordWrite(connection, change.dn, [
        deleteValues('unicodePwd', [unicodePwdValue(change.oldPassword)]),
        addValues('unicodePwd', [unicodePwdValue(change.newPassword)]),
      ]);
    case '389-ds':
      return passwordWrite(connection, change.dn, [replaceValues('userPassword', [change.newPassword])]);
    default:
      return passwordModify(connection, change);
  }
}

/** Sets a user's password as an administrator (the connection's identity needs the right to). */
export async function resetPassword(connection: WritableDirectoryConnection, reset: PasswordReset): Promise<void> {
  checkNewPassword(reset.dn, reset.newPassword);
  switch (connection.rootDse.serverType) {
    case 'active-directory':
      refuseInsecure(connection, reset.dn);
      return passwordWrite(connection, reset.dn, [replaceValues('unicodePwd', [unicodePwdValue(reset.newPassword)])]);
    case '389-ds':
      return passwordWrite(connection, reset.dn, [replaceValues('userPassword', [reset.newPassword])]);
    default:
      return passwordModify(connection, { dn: reset.dn, newPassword: reset.newPassword });
  }
}
