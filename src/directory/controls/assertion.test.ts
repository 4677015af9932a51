import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerReader, BerWriter } from 'ldapts';
import { eq } from '../../ldap/filter.ts';
import { ASSERTION_OID, assertionControl } from './assertion.ts';
import { supportsControl } from './supported.ts';

describe('Assertion control (RFC 4528)', () => {
  it('is critical and carries the filter BER-encoded in its value, binary values as exact bytes', () => {
    const writer = new BerWriter();
    assertionControl(eq('objectGUID', Buffer.from([0xff, 0x00, 0x80]))).write(writer);
    const reader = new BerReader(writer.buffer);
    reader.readSequence();
    assert.equal(reader.readString(), ASSERTION_OID);
    assert.equal(reader.readBoolean(), true);
    const value = reader.readString(0x04, true);
    assert.ok(Buffer.isBuffer(value));
    const filter = new BerReader(value);
    assert.equal(filter.readSequence(), 0xa3, 'an equality match');
    assert.equal(filter.readString(), 'objectGUID');
    assert.deepEqual(filter.readString(0x04, true), Buffer.from([0xff, 0x00, 0x80]));
  });

  it('is supported only where the RootDSE lists it', () => {
    assert.equal(supportsControl({ supportedControls: [ASSERTION_OID] }, ASSERTION_OID), true);
    assert.equal(supportsControl({ supportedControls: [] }, ASSERTION_OID), false);
  });
});
