/**
 * Cuts a TCP byte stream into whole LDAPMessages (one BER SEQUENCE each). Chunks arrive in any
 * size; a message may span many chunks and a chunk may hold many messages.
 */
import { malformed } from './ber.ts';

/** Refuse messages larger than this rather than buffer without bound (a photo-laden entry is far smaller). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Total length (header and contents) of the message starting at `data[0]`, or undefined if the header is not complete yet. */
export function messageLength(data: Buffer): number | undefined {
  if (data.length < 2) return undefined;
  if (data[0] !== 0x30) throw malformed('LDAP message', new Error(`expected a SEQUENCE, got tag 0x${(data[0] ?? 0).toString(16)}`));
  const first = data[1] ?? 0;
  if ((first & 0x80) === 0) return 2 + first;
  const count = first & 0x7f;
  if (count === 0 || count > 4) throw malformed('LDAP message', new Error('unsupported length encoding'));
  if (data.length < 2 + count) return undefined;
  let length = 0;
  for (let index = 0; index < count; index++) length = length * 256 + (data[2 + index] ?? 0);
  if (length > MAX_MESSAGE_BYTES) throw malformed('LDAP message', new Error(`a message of ${length} bytes exceeds the limit of ${MAX_MESSAGE_BYTES}`));
  return 2 + count + length;
}

/** Accumulates chunks and hands back complete messages. */
export class FrameSplitter {
  private pending: Buffer = Buffer.alloc(0);

  /** Bytes held that do not form a whole message yet. */
  get pendingBytes(): number {
    return this.pending.length;
  }

  /** Adds a chunk; returns the messages it completed, in order. */
  push(chunk: Buffer): Buffer[] {
    let data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: Buffer[] = [];
    for (;;) {
      const length = messageLength(data);
      if (length === undefined || data.length < length) break;
      frames.push(data.subarray(0, length));
      data = data.subarray(length);
    }
    // Copy the remainder so that a small tail does not keep a large chunk alive.
    this.pending = data.length === 0 ? Buffer.alloc(0) : Buffer.from(data);
    return frames;
  }
}
