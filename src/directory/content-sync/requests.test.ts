import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFilter } from '../../ldap/filter.ts';
import { abandonRequest, simpleBindRequest, startTlsRequest, syncSearchRequest, unbindRequest } from './requests.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const ascii = (text: string): string => Buffer.from(text, 'latin1').toString('hex');

describe('content sync requests', () => {
  it('encodes a simple bind: version 3, DN, [0] password', () => {
    // 60 0c: 02 01 03 | 04 03 "a=b" | 80 02 "pw"
    assert.deepEqual(simpleBindRequest(1, 'a=b', 'pw'), hex(`30 11 02 01 01 60 0c 02 01 03 04 03 ${ascii('a=b')} 80 02 ${ascii('pw')}`));
  });

  it('encodes StartTLS as an extended request naming its OID in [0]', () => {
    const oid = '1.3.6.1.4.1.1466.20037';
    assert.deepEqual(startTlsRequest(1), hex(`30 1d 02 01 01 77 18 80 16 ${ascii(oid)}`));
  });

  it('encodes abandon as [APPLICATION 16] INTEGER and unbind as [APPLICATION 2] NULL', () => {
    assert.deepEqual(abandonRequest(3, 2), hex('30 06 02 01 03 50 01 02'));
    assert.deepEqual(abandonRequest(4, 300), hex('30 07 02 01 04 50 02 01 2c'));
    assert.deepEqual(unbindRequest(5), hex('30 05 02 01 05 42 00'));
  });

  it('encodes the search with no limits, the filter as exact bytes and the critical Sync Request control', () => {
    const bytes = syncSearchRequest(2, {
      baseDn: 'o=x',
      scope: 'sub',
      filter: parseFilter('(cn=\\e9)'),
      attributes: ['cn'],
      sync: { mode: 'refreshOnly', cookie: Buffer.from('c') },
    });
    const search = `04 03 ${ascii('o=x')} 0a 01 02 0a 01 00 02 01 00 02 01 00 01 01 00 a3 07 04 02 ${ascii('cn')} 04 01 e9 30 04 04 02 ${ascii('cn')}`;
    const control = `30 27 04 18 ${ascii('1.3.6.1.4.1.4203.1.9.1.1')} 01 01 ff 04 08 30 06 0a 01 01 04 01 63`;
    assert.deepEqual(bytes, hex(`30 53 02 01 02 63 23 ${search} a0 29 ${control}`));
  });
});
