import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { imageTypeOf, readAvatar } from './avatar.ts';

const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46]);
const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
const entry = (attributes: Record<string, Buffer[]>) => ({ dn: 'uid=a', attributes });

describe('avatars', () => {
  it('recognises images by their magic bytes', () => {
    assert.equal(imageTypeOf(jpeg), 'image/jpeg');
    assert.equal(imageTypeOf(png), 'image/png');
    assert.equal(imageTypeOf(Buffer.from('GIF89a....')), 'image/gif');
    assert.equal(imageTypeOf(Buffer.from('RIFF\0\0\0\0WEBPVP8 ')), 'image/webp');
    assert.equal(imageTypeOf(Buffer.from('<svg xmlns=...')), undefined);
    assert.equal(imageTypeOf(Buffer.alloc(0)), undefined);
  });

  it('takes the first configured attribute, hashes the bytes, and refuses oversized or non-image photos', () => {
    const reading = readAvatar(entry({ thumbnailphoto: [png], jpegphoto: [jpeg] }), ['thumbnailPhoto', 'jpegPhoto'], 1000);
    assert.ok('image' in reading);
    assert.equal(reading.image.mimeType, 'image/png');
    assert.match(reading.image.contentHash, /^[0-9a-f]{64}$/);
    assert.deepEqual(readAvatar(entry({ jpegphoto: [jpeg] }), ['jpegPhoto'], 5), { skipped: 'jpegPhoto is 10 bytes, over the 5-byte limit' });
    assert.deepEqual(readAvatar(entry({ jpegphoto: [Buffer.from('not an image')] }), ['jpegPhoto'], 1000), {
      skipped: 'jpegPhoto is not a JPEG, PNG, GIF or WebP image',
    });
    assert.deepEqual(readAvatar(entry({}), ['jpegPhoto'], 1000), { none: true });
  });
});
