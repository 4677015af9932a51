import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatSyncUuid } from './sync-uuid.ts';

const bytes = Buffer.from('0123456789ABCDEF0011223344556677', 'hex');

describe('formatSyncUuid', () => {
  it('writes entryUUID as RFC 4122 text in lower case', () => {
    assert.equal(formatSyncUuid(bytes, 'entryUUID'), '01234567-89ab-cdef-0011-223344556677');
  });

  it('writes nsUniqueId as four groups of eight', () => {
    assert.equal(formatSyncUuid(bytes, 'nsUniqueId'), '01234567-89abcdef-00112233-44556677');
  });

  it('refuses anything but 16 bytes', () => {
    assert.throws(() => formatSyncUuid(Buffer.alloc(15), 'entryUUID'), RangeError);
  });
});
