/**
 * Active Directory's reasons for refusing a password, read from the diagnostic message of the
 * refused modify of `unicodePwd` (AD has no ppolicy response control). The message starts with a
 * Win32 error code: 0000052D (ERROR_PASSWORD_RESTRICTION) is the domain's password policy, and
 * Samba adds which rule failed ("check_password_restrictions: the password is too short ...");
 * Windows does not, so there the reason stays the generic `passwordPolicy`.
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

/** The reason and a clear message for an AD password refusal, or undefined when the message is no such refusal. */
export function adPasswordRejection(adErrorCode: string | undefined, diagnostic: string): { reason: PasswordRejectionReason; message: string } | undefined {
  if (adErrorCode === '00000056') return { reason: 'wrongOldPassword', message: 'the old password is wrong' };
  if (adErrorCode !== '0000052D') return undefined;
  for (const [pattern, reason, message] of SAMBA_RULES) {
    if (pattern.test(diagnostic)) return { reason, message };
  }
  return { reason: 'passwordPolicy', message: "the password does not meet the domain's password policy (length, complexity, history or minimum age)" };
}
