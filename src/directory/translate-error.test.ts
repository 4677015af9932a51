import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AdminLimitExceededError,
  AlreadyExistsError,
  BusyError,
  ConfidentialityRequiredError,
  ConstraintViolationError,
  InsufficientAccessError,
  InvalidCredentialsError,
  NamingViolationError,
  NoSuchAttributeError,
  NoSuchObjectError,
  NotAllowedOnNonLeafError,
  ObjectClassViolationError,
  ProtocolError,
  SizeLimitExceededError,
  TimeLimitExceededError,
  TypeOrValueExistsError,
  UnavailableCriticalExtensionError,
  UnavailableError,
  UndefinedTypeError,
  UnknownStatusCodeError,
  UnwillingToPerformError,
} from 'ldapts';
import { DirbridgeError, type ErrorCode } from '../errors.ts';
import { adDiagnosticCode, adErrorCode, type ErrorContext, isRetryableDirectoryError, translateLdapError } from './translate-error.ts';

const context: ErrorContext = { operation: 'search', url: 'ldap://dc1:389', baseDn: 'dc=e' };
const write: ErrorContext = { operation: 'modify', url: 'ldap://dc1:389', dn: 'cn=x,dc=e' };

function errno(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('translateLdapError', () => {
  const cases: Array<[string, unknown, ErrorCode, ErrorContext?]> = [
    ['invalid credentials', new InvalidCredentialsError('bad'), 'directory.invalid_credentials'],
    ['size limit', new SizeLimitExceededError(), 'directory.size_limit'],
    ['admin limit', new AdminLimitExceededError(), 'directory.size_limit'],
    ['time limit', new TimeLimitExceededError(), 'directory.time_limit'],
    ['no such object', new NoSuchObjectError(), 'directory.no_such_object'],
    ['referral', new UnknownStatusCodeError(10, 'referral'), 'directory.no_such_object'],
    ['insufficient access', new InsufficientAccessError(), 'directory.insufficient_access'],
    ['confidentiality required', new ConfidentialityRequiredError(), 'directory.insufficient_access'],
    ['busy', new BusyError(), 'directory.busy'],
    ['unavailable', new UnavailableError(), 'directory.unavailable'],
    ['protocol', new ProtocolError('x'), 'directory.protocol'],
    ['constraint violation outside a bind', new ConstraintViolationError('password too short'), 'directory.constraint_violation', write],
    ['entry already exists', new AlreadyExistsError(), 'directory.already_exists', { ...write, operation: 'add' }],
    ['object class violation', new ObjectClassViolationError(), 'directory.object_class_violation', write],
    ['undefined attribute type', new UndefinedTypeError(), 'directory.schema_violation', write],
    ['naming violation', new NamingViolationError(), 'directory.schema_violation', write],
    ['not allowed on non-leaf', new NotAllowedOnNonLeafError(), 'directory.not_allowed_on_non_leaf', { ...write, operation: 'delete' }],
    ['assertion failed (122)', new UnknownStatusCodeError(122, ''), 'directory.assertion_failed', write],
    ['no such attribute (16)', new NoSuchAttributeError(), 'directory.no_such_value', write],
    ['type or value exists (20)', new TypeOrValueExistsError(), 'directory.value_exists', write],
    ['unwilling to perform outside a bind', new UnwillingToPerformError(), 'directory.unwilling_to_perform', write],
    ['unwilling to perform on a bind keeps its old meaning', new UnwillingToPerformError(), 'directory.protocol', { operation: 'bind', url: 'ldap://ds1:389' }],
    ['AD: adding a member that is there (68 on a modify)', new AlreadyExistsError('00000562: ...'), 'directory.value_exists', write],
    [
      'Samba: deleting a member that is not there (53)',
      new UnwillingToPerformError("Attribute member doesn't exist for target GUID 4a51"),
      'directory.no_such_value',
      write,
    ],
    [
      'Samba: deleting a member deleted before (53)',
      new UnwillingToPerformError('Attribute member already deleted for target GUID 1723'),
      'directory.no_such_value',
      write,
    ],
    [
      'Windows: deleting a member that is not there (53, 00000561)',
      new UnwillingToPerformError('00000561: SvcErr: DSID-031A1021, problem 5003 (WILL_NOT_PERFORM), data 0'),
      'directory.no_such_value',
      write,
    ],
    ['unavailable critical extension (12)', new UnavailableCriticalExtensionError(), 'directory.unsupported', write],
    [
      '389-DS locked account (bind answered 19)',
      new ConstraintViolationError('Exceed password retry limit. Please try later.'),
      'directory.invalid_credentials',
      { operation: 'bind', url: 'ldap://ds1:389' },
    ],
    ['StartTLS refused', new ProtocolError('unsupported extended operation'), 'directory.tls_failure', { operation: 'starttls', url: 'ldap://x' }],
    ['refused', errno('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'), 'directory.unavailable'],
    ['dns', errno('getaddrinfo ENOTFOUND x', 'ENOTFOUND'), 'directory.unavailable'],
    ['connect timeout', new Error('Connection timeout'), 'directory.timeout'],
    ['operation timeout', new Error('SearchRequest: Operation timed out'), 'directory.timeout'],
    ['closed', new Error('Connection closed before message response was received. Message type: SearchRequest (0x63)'), 'directory.unavailable'],
    ['socket error', new Error('Socket error. Message type: SearchRequest (0x63)\nread ECONNRESET'), 'directory.unavailable'],
    ['self-signed', errno('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'), 'directory.tls_failure'],
    ['unknown CA', errno('unable to verify the first certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'directory.tls_failure'],
    ['hostname', errno("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'), 'directory.tls_failure'],
    ['handshake reset', errno('Client network socket disconnected before secure TLS connection was established', 'ECONNRESET'), 'directory.tls_failure'],
    ['anything else', new Error('weird'), 'directory.protocol'],
    ['not an error', 'weird', 'directory.protocol'],
  ];
  for (const [name, error, code, ctx] of cases) {
    it(`${name} → ${code}`, () => {
      const translated = translateLdapError(error, ctx ?? context);
      assert.equal(translated.code, code);
      assert.equal(translated.cause, error, 'keeps the cause');
      assert.equal(translated.details['url'], (ctx ?? context).url);
    });
  }

  it('passes DirbridgeErrors through unchanged', () => {
    const error = new DirbridgeError('directory.size_limit', 'x');
    assert.equal(translateLdapError(error, context), error);
  });

  it('keeps the AD diagnostic sub-code and message', () => {
    const message = '80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data 775, v4563';
    const translated = translateLdapError(new InvalidCredentialsError(message), { operation: 'bind', url: 'ldaps://dc1', bindDn: 'cn=x' });
    assert.equal(translated.details['adCode'], '775');
    assert.equal(translated.details['diagnosticMessage'], message);
    assert.equal(translated.details['resultCode'], 49);
    assert.match(translated.message, /account locked out/);
  });

  it("marks 389-DS's answer to a bind of a locked account (19) as a locked account, with its message", () => {
    for (const message of ['Exceed password retry limit. Please try later.', '']) {
      const translated = translateLdapError(new ConstraintViolationError(message), { operation: 'bind', url: 'ldap://ds1', bindDn: 'uid=a,dc=e' });
      assert.equal(translated.code, 'directory.invalid_credentials');
      assert.equal(translated.details['accountLocked'], true);
      assert.equal(translated.details['resultCode'], 19);
      assert.match(
        translated.message,
        message === '' ? /locked by the directory's password policy \(binding to ldap:\/\/ds1\)$/ : /locked .*: Exceed password retry limit/,
      );
    }
    assert.equal(translateLdapError(new ConstraintViolationError('x'), context).details['accountLocked'], undefined, 'only a bind says so');
  });

  it('names the TLS reason', () => {
    const translated = translateLdapError(errno('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'), context);
    assert.equal(translated.details['reason'], 'SELF_SIGNED_CERT_IN_CHAIN');
    assert.match(translated.message, /self-signed/);
  });
});

describe('adDiagnosticCode', () => {
  const cases: Array<[string, string | undefined]> = [
    ['80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data 52e, v4563', '52e'],
    ['... data 533, v893', '533'],
    ['... data 701, v2580', '701'],
    ['... DATA 775, v4563', '775'],
    ['invalid credentials', undefined],
  ];
  for (const [message, code] of cases) it(`${message} → ${String(code)}`, () => assert.equal(adDiagnosticCode(message), code));
});

describe('write errors', () => {
  it('names the entry and keeps the AD error code of the diagnostic message', () => {
    const error = translateLdapError(
      new ConstraintViolationError('0000052D: Constraint violation - check_password_restrictions: the password is too short'),
      write,
    );
    assert.equal(error.details['dn'], 'cn=x,dc=e');
    assert.equal(error.details['adErrorCode'], '0000052D');
    assert.match(error.message, /entry cn=x,dc=e/);
    assert.equal(adErrorCode('00002071: UpdErr: DSID-030502F1, problem 6005 (ENTRY_EXISTS)'), '00002071');
    assert.equal(adErrorCode('Password fails quality checking policy'), undefined);
  });

  it('tells retryable failures (down, busy, slow) from permanent ones (access, schema, policy)', () => {
    for (const retryable of [
      new BusyError(),
      new UnavailableError(),
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      new Error('Operation timed out'),
    ]) {
      assert.equal(isRetryableDirectoryError(translateLdapError(retryable, write)), true, String(retryable));
    }
    for (const permanent of [
      new InsufficientAccessError(),
      new ObjectClassViolationError(),
      new ConstraintViolationError('x'),
      new AlreadyExistsError(),
      new UnknownStatusCodeError(122, ''),
    ]) {
      assert.equal(isRetryableDirectoryError(translateLdapError(permanent, write)), false, String(permanent));
    }
    assert.equal(isRetryableDirectoryError(new Error('not translated')), false);
  });
});
