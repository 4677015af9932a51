import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerReader, BerWriter, FilterParser, type Filter as LdaptsFilter } from 'ldapts';
import { parseFilter } from '../ldap/filter.ts';
import { toLdaptsFilter } from './ldapts-filter.ts';

function ber(filter: LdaptsFilter): Buffer {
  const writer = new BerWriter();
  filter.write(writer);
  return writer.buffer;
}

describe('toLdaptsFilter', () => {
  // For text values our encoding must be byte-identical to ldapts's own (which the servers accept).
  const textFilters = [
    '(&(objectClass=person)(|(uid=jdoe)(mail=j*@example.com))(!(cn=x)))',
    '(cn=*)',
    '(cn=a*b*c)',
    '(cn=*b*)',
    '(uidNumber>=1000)',
    '(uidNumber<=1000)',
    '(cn~=jon)',
    '(memberOf:1.2.840.113556.1.4.1941:=cn=g,dc=e)',
    '(cn:dn:2.5.13.2:=x)',
    '(uid=\\2a\\29\\28)',
  ];
  for (const text of textFilters) {
    it(`encodes ${text} like ldapts`, () => {
      assert.deepEqual(ber(toLdaptsFilter(parseFilter(text))), ber(FilterParser.parseString(text)));
    });
  }

  it('decodes UTF-8 hex escapes to the right bytes (ldapts double-encodes them)', () => {
    const text = '(cn=Ren\\c3\\a9e)';
    assert.deepEqual(ber(toLdaptsFilter(parseFilter(text))), ber(toLdaptsFilter(parseFilter('(cn=Renée)'))));
    assert.ok(ber(toLdaptsFilter(parseFilter(text))).includes(Buffer.from('Renée')));
    assert.equal(ber(FilterParser.parseString(text)).includes(Buffer.from('Renée')), false);
  });

  it('writes binary equality values as exact octets', () => {
    const guid = Buffer.from([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
    const encoded = ber(toLdaptsFilter(parseFilter('(objectGUID=\\10\\32\\54\\76\\98\\ba\\dc\\fe\\01\\23\\45\\67\\89\\ab\\cd\\ef)')));
    assert.ok(encoded.includes(Buffer.concat([Buffer.from([0x04, 16]), guid])), 'the 16 raw bytes follow an OCTET STRING header');
    // ldapts's own string parser re-encodes the bytes as UTF-8 (0xba -> c2 ba): the reason we never pass it strings.
    assert.equal(ber(FilterParser.parseString('(objectGUID=\\10\\32\\54\\76\\98\\ba\\dc\\fe\\01\\23\\45\\67\\89\\ab\\cd\\ef)')).includes(guid), false);
  });

  for (const text of ['(photo=\\ff\\d8*\\00*\\fe)', '(x>=\\ff)', '(x<=\\ff)', '(x~=\\ff)', '(x:1.2.3:=\\ff\\fe)']) {
    it(`writes non-UTF-8 bytes exactly in ${text}`, () => {
      const encoded = ber(toLdaptsFilter(parseFilter(text)));
      assert.equal(encoded.includes(Buffer.from([0xef, 0xbf, 0xbd])), false, 'no U+FFFD replacement bytes');
      assert.ok(encoded.includes(Buffer.from([0xff])));
      const parsed = FilterParser.parse(new BerReader(encoded));
      assert.ok(parsed, 'ldapts can decode what we wrote');
    });
  }

  it('keeps a readable toString for diagnostics', () => {
    assert.equal(toLdaptsFilter(parseFilter('(cn=a*\\2a*b)')).toString(), '(cn=a*\\2a*b)');
  });
});
