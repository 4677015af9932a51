import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerReader } from 'ldapts';
import { adPasswordRejection, dirsrvPasswordRejection } from './password-rejections.ts';
import { passwordModifyRequestValue, unicodePwdValue } from './passwords.ts';

describe('Password Modify request value (RFC 3062)', () => {
  it('encodes userIdentity [0], oldPasswd [1] and newPasswd [2] in a sequence', () => {
    const value = passwordModifyRequestValue({ dn: 'uid=ann,dc=e', oldPassword: 'old-ü', newPassword: 'new' });
    const reader = new BerReader(value);
    assert.equal(reader.readSequence(), 0x30);
    assert.equal(reader.readString(0x80), 'uid=ann,dc=e');
    assert.equal(reader.readString(0x81), 'old-ü');
    assert.equal(reader.readString(0x82), 'new');
    assert.equal(reader.remain, 0);
  });

  it('leaves oldPasswd out of a reset', () => {
    const reader = new BerReader(passwordModifyRequestValue({ dn: 'uid=ann,dc=e', newPassword: 'new' }));
    reader.readSequence();
    assert.equal(reader.readString(0x80), 'uid=ann,dc=e');
    assert.equal(reader.peek(), 0x82);
  });
});

describe('AD passwords', () => {
  it('writes unicodePwd as the quoted password in UTF-16LE', () => {
    assert.deepEqual(unicodePwdValue('Pä1'), Buffer.from([0x22, 0, 0x50, 0, 0xe4, 0, 0x31, 0, 0x22, 0]));
  });

  it("reads the rule from Samba's 0000052D messages, and falls back to the policy in general for Windows'", () => {
    const samba = (rule: string) => `0000052D: Constraint violation - check_password_restrictions: ${rule}`;
    assert.equal(
      adPasswordRejection('0000052D', samba('the password is too short. It should be equal or longer than 7 characters!'))?.reason,
      'passwordTooShort',
    );
    assert.equal(adPasswordRejection('0000052D', samba('the password was already used (in history)!'))?.reason, 'passwordInHistory');
    assert.equal(adPasswordRejection('0000052D', samba('the password does not meet the complexity criteria!'))?.reason, 'insufficientPasswordQuality');
    assert.equal(
      adPasswordRejection(
        '0000052D',
        '0000052D: AtrErr: DSID-03191083, #1: 0: 0000052D: DSID-03191083, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)',
      )?.reason,
      'passwordPolicy',
    );
    assert.equal(adPasswordRejection('00000056', '00000056: Constraint violation')?.reason, 'wrongOldPassword');
    assert.equal(adPasswordRejection('00000005', '00000005: SecErr'), undefined);
    assert.equal(adPasswordRejection(undefined, 'anything'), undefined);
  });
});

describe('389-DS password refusals', () => {
  it('reads the rule from the diagnostic message, keeping the message', () => {
    const short = dirsrvPasswordRejection('invalid password syntax - password must be at least 8 characters long');
    assert.equal(short?.reason, 'passwordTooShort');
    assert.match(short?.message ?? '', /at least 8 characters/);
    assert.equal(dirsrvPasswordRejection('password in history')?.reason, 'passwordInHistory');
    assert.equal(dirsrvPasswordRejection('invalid password syntax - password based off of user entry')?.reason, 'insufficientPasswordQuality');
    assert.equal(dirsrvPasswordRejection('Failed to update password'), undefined);
  });
});
