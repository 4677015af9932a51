import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DirbridgeError } from '../../errors.ts';
import { decodeLdapMessage } from './ldap-message.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const ascii = (text: string): string => Buffer.from(text, 'latin1').toString('hex');
const STATE_OID = ascii('1.3.6.1.4.1.4203.1.9.1.2');
const UUID = '0123456789abcdef0011223344556677';

describe('decodeLdapMessage', () => {
  it('decodes a bind response', () => {
    assert.deepEqual(decodeLdapMessage(hex('30 0c 02 01 01 61 07 0a 01 31 04 00 04 00')), {
      messageId: 1,
      op: { kind: 'bindResponse', result: { resultCode: 49, matchedDn: '', diagnosticMessage: '' } },
      controls: [],
    });
  });

  it('decodes a search entry with its attributes as bytes and a Sync State control', () => {
    // entry: 04 03 "o=x" | 30 0c [ 30 0a 04 02 "cn" 31 04 04 02 "ab" ]
    const entry = `64 13 04 03 ${ascii('o=x')} 30 0c 30 0a 04 02 ${ascii('cn')} 31 04 04 02 ${ascii('ab')}`;
    const state = `30 15 0a 01 01 04 10 ${UUID}`;
    const control = `30 33 04 18 ${STATE_OID} 04 17 ${state}`;
    const message = decodeLdapMessage(hex(`30 4f 02 01 02 ${entry} a0 35 ${control}`));
    assert.deepEqual(message, {
      messageId: 2,
      op: { kind: 'searchEntry', dn: 'o=x', attributes: [{ type: 'cn', values: [Buffer.from('ab')] }] },
      controls: [{ oid: '1.3.6.1.4.1.4203.1.9.1.2', critical: false, value: hex(state) }],
    });
  });

  it('decodes an intermediate response (0x79, which ldapts cannot parse)', () => {
    const name = ascii('1.3.6.1.4.1.4203.1.9.1.4');
    assert.deepEqual(decodeLdapMessage(hex(`30 22 02 01 02 79 1d 80 18 ${name} 81 01 00`)).op, {
      kind: 'intermediate',
      responseName: '1.3.6.1.4.1.4203.1.9.1.4',
      responseValue: hex('00'),
    });
  });

  it('decodes a search result done with a two-byte result code and a referral, and a critical control without a value', () => {
    const message = decodeLdapMessage(hex(`30 18 02 01 02 65 0d 0a 02 10 00 04 00 04 01 ${ascii('x')} a3 02 04 00 a0 05 30 03 04 01 ${ascii('1')}`));
    assert.deepEqual(message.op, { kind: 'searchDone', result: { resultCode: 4096, matchedDn: '', diagnosticMessage: 'x' } });
    assert.deepEqual(message.controls, [{ oid: '1', critical: false }]);
  });

  it('decodes extended responses (a notice of disconnection has message id 0) and references', () => {
    const oid = ascii('1.3.6.1.4.1.1466.20036');
    assert.deepEqual(decodeLdapMessage(hex(`30 21 02 01 00 78 1c 0a 01 34 04 00 04 00 8a 16 ${oid}`)), {
      messageId: 0,
      op: { kind: 'extendedResponse', result: { resultCode: 52, matchedDn: '', diagnosticMessage: '' }, responseName: '1.3.6.1.4.1.1466.20036' },
      controls: [],
    });
    assert.deepEqual(decodeLdapMessage(hex(`30 0a 02 01 02 73 05 04 03 ${ascii('l:x')}`)).op, { kind: 'searchReference', uris: ['l:x'] });
  });

  it('refuses a truncated message as directory.protocol', () => {
    assert.throws(
      () => decodeLdapMessage(hex('30 0c 02 01 01 61 07 0a 01')),
      (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.protocol',
    );
  });
});
