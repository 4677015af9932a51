/**
 * Why a server refused a password, where it says so in the diagnostic message rather than in a
 * Password Policy response control:
 *
 * - Active Directory (refused modify of `unicodePwd`; AD has no ppolicy control): the message
 *   starts with a Win32 error code, 0000052D (ERROR_PASSWORD_RESTRICTION) being the domain's
 *   password policy. Samba adds which rule failed ("check_password_restrictions: the password is
 *   too short ..."); Windows does not, so there the reason stays the generic `passwordPolicy`.
 * - 389-DS 2.3 (refused modify of `userPassword`, constraintViolation): "invalid password syntax -
 *   password must be at least 8 characters long", "password in history", ... It sends no ppolicy
 *   response control for these, and its Password Modify extended operation says only "Failed to
 *   update password" (measured), which is why passwords.ts writes `userPassword` there.
 */
import type { PasswordPolicyError } from './controls/password-policy.ts';

/** Why a password was refused: a ppolicy error name, or `passwordPolicy` when the server does not say which rule. */
export type PasswordRejectionReason = PasswordPolicyError | 'passwordPolicy' | 'wrongOldPassword';

/** Win32 error codes AD puts in front of write diagnostics, with what they mean. */
export const AD_WRITE_CODES: Readonly<Record<string, string>> = {
  '00000005': 'access denied',
  '0000001F': 'the server refused the operation (unicodePwd needs an encrypted connection)',
  '00000056': 'the old password is wrong',
  '0000052D': 'the password does not meet the password policy',
  '00000524': 'an account with that name already exists',
  '00002071': 'an object with that name already exists',
  '000020B1': 'the parent object does not exist',
};

const SAMBA_RULES: ReadonlyArray<[RegExp, PasswordPolicyError, string]> = [
  [/too short/i, 'passwordTooShort', 'the password is too short'],
  [/history/i, 'passwordInHistory', 'the password was used before (it is in the password history)'],
  [/complexity/i, 'insufficientPasswordQuality', 'the password does not meet the complexity rules'],
  [/too young/i, 'passwordTooYoung', 'the password was changed too recently to change again'],
];

const DIRSRV_RULES: ReadonlyArray<[RegExp, PasswordPolicyError, string]> = [
  [/at least \d+ characters/i, 'passwordTooShort', 'the password is too short'],
  [/in history/i, 'passwordInHistory', 'the password was used before (it is in the password history)'],
  [/minimum age|too young|within password minimum age/i, 'passwordTooYoung', 'the password was changed too recently to change again'],
  [/invalid password syntax/i, 'insufficientPasswordQuality', 'the password does not meet the quality rules'],
];

/** The reason and a clear message for a 389-DS password refusal (its diagnostic message), or undefined. */
export function dirsrvPasswordRejection(diagnostic: string): { reason: PasswordRejectionReason; message: string } | undefined {
  for (const [pattern, reason, message] of DIRSRV_RULES) {
    if (pattern.test(diagnostic)) return { reason, message: `${message} (${diagnostic})` };
  }
  return undefined;
}

/** The reason and a clear message for an AD password refusal, or undefined when the message is no such refusal. */
export function adPasswordRejection(adErrorCode: string | undefined, diagnostic: string): { reason: PasswordRejectionReason; message: string } | undefined {
  if (adErrorCode === '00000056') return { reason: 'wrongOldPassword', message: 'the old password is wrong' };
  if (adErrorCode !== '0000052D') return undefined;
  for (const [pattern, reason, message] of SAMBA_RULES) {
    if (pattern.test(diagnostic)) return { reason, message };
  }
  return { reason: 'passwordPolicy', message: "the password does not meet the domain's password policy (length, complexity, history or minimum age)" };
}
