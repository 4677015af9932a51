import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressKey, isIpAddress } from './client-address.ts';

describe('addressKey', () => {
  const cases: Array<[string, string | undefined]> = [
    ['192.0.2.1', '192.0.2.1'],
    [' 192.0.2.1 ', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:c000:0201', '192.0.2.1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002::9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['cli', undefined],
    ['', undefined],
    ['192.0.2.1, 198.51.100.2', undefined],
    ['192.0.2.1:8080', undefined],
    ['999.1.1.1', undefined],
  ];
  for (const [input, expected] of cases) it(JSON.stringify(input), () => assert.equal(addressKey(input), expected));

  it('puts every address of one /64 under one key, and different /64s apart', () => {
    assert.equal(addressKey('2001:db8:aa:bb:1::1'), addressKey('2001:db8:aa:bb:ffff:ffff:ffff:ffff'));
    assert.notEqual(addressKey('2001:db8:aa:bb::1'), addressKey('2001:db8:aa:bc::1'));
  });
});

describe('isIpAddress', () => {
  it('accepts one address and nothing else', () => {
    assert.equal(isIpAddress('203.0.113.5'), true);
    assert.equal(isIpAddress('2001:db8::5'), true);
    assert.equal(isIpAddress('203.0.113.5,203.0.113.6'), false);
    assert.equal(isIpAddress(' 203.0.113.5'), false);
    assert.equal(isIpAddress('example.org'), false);
    assert.equal(isIpAddress(''), false);
  });
});
