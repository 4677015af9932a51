/**
 * Time-ordered UUIDs (RFC 9562 version 7) for logs listed in insertion order. Within one
 * process every id sorts after the previous one, even in the same millisecond or when the
 * clock steps back: the 12-bit `rand_a` field is a counter (RFC 9562 §6.2, method 1).
 */
import { randomBytes } from 'node:crypto';

let lastMs = 0;
let counter = 0;

/** Returns a UUIDv7 greater (as text and as bytes) than every id this process returned before. */
export function orderedUuid(nowMs: number = Date.now()): string {
  if (nowMs > lastMs) {
    lastMs = nowMs;
    counter = 0;
  } else if (counter < 0xfff) {
    counter += 1;
  } else {
    // 4096 ids in one millisecond: borrow the next millisecond.
    lastMs += 1;
    counter = 0;
  }
  const time = lastMs.toString(16).padStart(12, '0');
  const random = randomBytes(8);
  random[0] = ((random[0] ?? 0) & 0x3f) | 0x80; // variant 10
  const tail = random.toString('hex');
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${counter.toString(16).padStart(3, '0')}-${tail.slice(0, 4)}-${tail.slice(4, 16)}`;
}
