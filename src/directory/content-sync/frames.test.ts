import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DirbridgeError } from '../../errors.ts';
import { FrameSplitter, messageLength } from './frames.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

describe('FrameSplitter', () => {
  it('reads short and long BER lengths', () => {
    assert.equal(messageLength(hex('30 03 02 01 01')), 5);
    assert.equal(messageLength(hex('30 82 01 00')), 4 + 256);
    assert.equal(messageLength(hex('30 82 01')), undefined);
    assert.equal(messageLength(hex('30')), undefined);
  });

  it('splits a chunk holding two messages and a partial third, then completes the third', () => {
    const splitter = new FrameSplitter();
    const unbind = hex('30 05 02 01 02 42 00');
    const frames = splitter.push(Buffer.concat([hex('30 03 02 01 01'), unbind, hex('30 05 02')]));
    assert.deepEqual(frames, [hex('30 03 02 01 01'), unbind]);
    assert.equal(splitter.pendingBytes, 3);
    assert.deepEqual(splitter.push(hex('01 03')), []);
    assert.deepEqual(splitter.push(hex('42 00 30')), [hex('30 05 02 01 03 42 00')]);
    assert.equal(splitter.pendingBytes, 1);
  });

  it('feeds a long-form message one byte at a time', () => {
    const body = Buffer.alloc(300, 0x41);
    const message = Buffer.concat([hex('30 82 01 30 04 82 01 2c'), body]);
    const splitter = new FrameSplitter();
    const out: Buffer[] = [];
    for (const byte of message) out.push(...splitter.push(Buffer.from([byte])));
    assert.deepEqual(out, [message]);
  });

  it('refuses a stream that is not LDAP', () => {
    assert.throws(
      () => new FrameSplitter().push(Buffer.from('HTTP/1.1 400')),
      (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.protocol',
    );
  });
});
