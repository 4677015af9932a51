import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDirbridgeError } from '../errors.ts';
import { childDn, dnEquals, escapeDnValue, formatDn, isDescendantOf, normalizeDn, parentDn, parseDn, rdnValue } from './dn.ts';

describe('parseDn', () => {
  const cases: Array<[string, unknown]> = [
    ['', []],
    ['  ', []],
    ['dc=example,dc=com', [[{ type: 'dc', value: 'example' }], [{ type: 'dc', value: 'com' }]]],
    ['cn=Smith\\, John,ou=People', [[{ type: 'cn', value: 'Smith, John' }], [{ type: 'ou', value: 'People' }]]],
    [
      'cn=a\\+b+uid=x,dc=e',
      [
        [
          { type: 'cn', value: 'a+b' },
          { type: 'uid', value: 'x' },
        ],
        [{ type: 'dc', value: 'e' }],
      ],
    ],
    ['cn=\\"quoted\\" \\\\ \\<x\\> \\; \\=,dc=e', [[{ type: 'cn', value: '"quoted" \\ <x> ; =' }], [{ type: 'dc', value: 'e' }]]],
    ['cn=Ren\\c3\\a9', [[{ type: 'cn', value: 'René' }]]],
    ['cn=René', [[{ type: 'cn', value: 'René' }]]],
    ['cn=\\ lead,dc=e', [[{ type: 'cn', value: ' lead' }], [{ type: 'dc', value: 'e' }]]],
    ['cn=trail\\ ,dc=e', [[{ type: 'cn', value: 'trail ' }], [{ type: 'dc', value: 'e' }]]],
    ['cn=trail  ,  dc=e  ', [[{ type: 'cn', value: 'trail' }], [{ type: 'dc', value: 'e' }]]],
    ['cn = spaced , dc = e', [[{ type: 'cn', value: 'spaced' }], [{ type: 'dc', value: 'e' }]]],
    ['cn=\\#hash', [[{ type: 'cn', value: '#hash' }]]],
    ['cn=#04024869', [[{ type: 'cn', value: 'Hi' }]]],
    ['1.3.6.1.4.1.1466.0=#04024869,O=Test', [[{ type: '1.3.6.1.4.1.1466.0', value: 'Hi' }], [{ type: 'O', value: 'Test' }]]],
    ['cn=#0201ff', [[{ type: 'cn', value: '#0201ff', isBer: true }]]],
    ['OID.2.5.4.3=x', [[{ type: '2.5.4.3', value: 'x' }]]],
    ['cn="a,b",dc=e', [[{ type: 'cn', value: 'a,b' }], [{ type: 'dc', value: 'e' }]]],
    ['cn=a;dc=e', [[{ type: 'cn', value: 'a' }], [{ type: 'dc', value: 'e' }]]],
    ['cn=', [[{ type: 'cn', value: '' }]]],
    ['cn=a=b', [[{ type: 'cn', value: 'a=b' }]]],
  ];
  for (const [text, expected] of cases) {
    it(`parses ${JSON.stringify(text)}`, () => assert.deepEqual(parseDn(text), expected));
  }

  const invalid = ['cn', '=x', 'cn=a,', 'cn=a,,dc=b', 'cn=a\\', 'cn=a\\zz', 'cn=a"b', 'cn=<x>', 'cn=\\ff\\fe', '1cn=x', 'cn=#', 'cn=#zz', 'cn="open'];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text)} with directory.invalid_dn`, () => {
      assert.throws(
        () => parseDn(text),
        (error) => isDirbridgeError(error, 'directory.invalid_dn'),
      );
    });
  }

  it('names the position of the error', () => {
    assert.throws(() => parseDn('cn=ok,dc=a"b'), /position 10/);
  });
});

describe('formatDn and escapeDnValue', () => {
  const cases: Array<[string, string]> = [
    ['plain', 'plain'],
    ['Smith, John', 'Smith\\, John'],
    ['a+b', 'a\\+b'],
    ['"q"', '\\"q\\"'],
    ['back\\slash', 'back\\\\slash'],
    ['<a>;', '\\<a\\>\\;'],
    [' lead', '\\ lead'],
    ['trail ', 'trail\\ '],
    ['#hash', '\\#hash'],
    ['mid#dle', 'mid#dle'],
    ['nul\u0000', 'nul\\00'],
    ['René', 'René'],
    ['*)(uid=*', '*)(uid=*'],
  ];
  for (const [value, expected] of cases) {
    it(`escapes ${JSON.stringify(value)}`, () => {
      assert.equal(escapeDnValue(value), expected);
      // round trip: what we format parses back to the same value
      assert.deepEqual(parseDn(`cn=${expected}`), [[{ type: 'cn', value }]]);
    });
  }
  it('formats multi-valued RDNs', () => {
    assert.equal(
      formatDn([
        [
          { type: 'cn', value: 'a' },
          { type: 'uid', value: 'b,c' },
        ],
        [{ type: 'dc', value: 'e' }],
      ]),
      'cn=a+uid=b\\,c,dc=e',
    );
  });
});

describe('normalizeDn / dnEquals', () => {
  const equal: Array<[string, string]> = [
    ['CN=John Smith,OU=People,DC=Example,DC=com', 'cn=john smith,ou=people,dc=example,dc=com'],
    ['cn=John  Smith , dc=e', 'cn=john smith,dc=e'],
    ['cn=Ren\\c3\\a9,dc=e', 'CN=RENÉ,DC=E'],
    ['uid=b+cn=a,dc=e', 'cn=a+uid=b,dc=e'],
    ['cn=Smith\\, John,dc=e', 'cn=smith\\2c john,dc=e'],
    ['cn=#04024869', 'cn=hi'],
  ];
  for (const [a, b] of equal) it(`${a} equals ${b}`, () => assert.ok(dnEquals(a, b)));
  const different: Array<[string, string]> = [
    ['cn=a,dc=e', 'cn=b,dc=e'],
    ['cn=a\\,b,dc=e', 'cn=a,b=,dc=e'],
    ['cn=a+uid=b', 'cn=a,uid=b'],
  ];
  for (const [a, b] of different) it(`${a} differs from ${b}`, () => assert.equal(dnEquals(a, b), false));
  it('produces a canonical text', () => assert.equal(normalizeDn(' UID=B + CN=A , DC=Ex '), 'cn=a+uid=b,dc=ex'));
  it('gives the same text on the fast path for plain DNs as on the full RFC 4514 path', () => {
    // Each pair names the same entry; the escaped spelling forces the full parser.
    const pairs: Array<[string, string]> = [
      ['uid=Jo.Smith,ou=People,dc=Example,dc=org', 'uid=Jo\\2eSmith,ou=People,dc=Example,dc=org'],
      [" CN = Mary  Ann O'Neil , OU=Staff,DC=example,DC=test", 'CN=Mary Ann O\\27Neil,OU=Staff,DC=example,DC=test'],
      ['cn=svc-dirbridge,cn=Users,dc=example,dc=test', 'cn=svc\\2ddirbridge,cn=Users,dc=example,dc=test'],
      ['mail=a_b@example.org,dc=x', 'mail=a\\5fb@example.org,dc=x'],
    ];
    for (const [plain, escaped] of pairs) assert.equal(normalizeDn(plain), normalizeDn(escaped), plain);
    assert.equal(normalizeDn('uid=Jo.Smith,ou=People,dc=Example,dc=org'), 'uid=jo.smith,ou=people,dc=example,dc=org');
  });
  it('still rejects malformed DNs that look plain', () => {
    for (const bad of ['uid', 'uid=a,,dc=x', '1uid=a', 'uid=a,dc']) assert.throws(() => normalizeDn(bad), /./, bad);
  });
});

describe('parentDn, isDescendantOf, rdnValue, childDn', () => {
  it('parentDn', () => {
    assert.equal(parentDn('cn=a\\,b,ou=x,dc=e'), 'ou=x,dc=e');
    assert.equal(parentDn('dc=e'), '');
    assert.equal(parentDn(''), undefined);
  });
  it('isDescendantOf', () => {
    assert.ok(isDescendantOf('uid=a,ou=People,dc=E', 'ou=people,dc=e'));
    assert.ok(isDescendantOf('uid=a,ou=x,ou=People,dc=e', 'dc=e'));
    assert.equal(isDescendantOf('ou=people,dc=e', 'ou=people,dc=e'), false);
    assert.ok(isDescendantOf('ou=people,dc=e', 'OU=People,DC=e', { includeSelf: true }));
    assert.equal(isDescendantOf('uid=a,ou=peoplex,dc=e', 'ou=people,dc=e'), false);
    assert.equal(isDescendantOf('cn=x\\,ou=people,dc=e', 'ou=people,dc=e'), false);
    assert.ok(isDescendantOf('dc=e', ''));
  });
  it('rdnValue', () => {
    assert.equal(rdnValue('cn=Smith\\, John,dc=e'), 'Smith, John');
    assert.equal(rdnValue('cn=a+uid=b,dc=e', 'UID'), 'b');
    assert.equal(rdnValue('cn=a,dc=e', 'ou'), undefined);
    assert.equal(rdnValue(''), undefined);
  });
  it('childDn escapes the value and never lets input change the structure', () => {
    assert.equal(childDn('ou=People,dc=e', 'uid', 'a,ou=admins'), 'uid=a\\,ou=admins,ou=People,dc=e');
    assert.equal(childDn('ou=People,dc=e', 'cn', 'x+uid=root'), 'cn=x\\+uid=root,ou=People,dc=e');
    assert.equal(childDn('', 'dc', 'com'), 'dc=com');
    assert.deepEqual(parseDn(childDn('dc=e', 'cn', ' #a\\b" ')), [[{ type: 'cn', value: ' #a\\b" ' }], [{ type: 'dc', value: 'e' }]]);
    assert.throws(
      () => childDn('dc=e', 'cn=x,uid', 'v'),
      (error) => isDirbridgeError(error, 'directory.invalid_dn'),
    );
    assert.throws(
      () => childDn('not a dn', 'cn', 'v'),
      (error) => isDirbridgeError(error, 'directory.invalid_dn'),
    );
  });
});
