/** The log ring: bounded, newest first, filtered by level, long lines cut to a stub, a tee that loses nothing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { createLogBuffer, teeDestination } from './log-buffer.ts';

const line = (level: number, msg: string, fields: Record<string, unknown> = {}) =>
  `${JSON.stringify({ level, time: 1_700_000_000_000, pid: 1, hostname: 'h', msg, ...fields })}\n`;

describe('createLogBuffer', () => {
  it('keeps the last lines only, newest first, without pid and hostname', () => {
    const buffer = createLogBuffer(3);
    for (let i = 1; i <= 5; i += 1) buffer.write(line(30, `line ${i}`, { n: i }));
    const entries = buffer.entries({ limit: 10 });
    assert.deepEqual(
      entries.map((entry) => entry.msg),
      ['line 5', 'line 4', 'line 3'],
    );
    assert.deepEqual(entries[0], { time: '2023-11-14T22:13:20.000Z', level: 'info', msg: 'line 5', n: 5 });
    assert.equal(buffer.entries({ limit: 2 }).length, 2);
  });

  it('filters by the lowest level and splits chunks holding several lines', () => {
    const buffer = createLogBuffer(10);
    buffer.write(line(20, 'debug') + line(40, 'warn') + line(50, 'error'));
    buffer.write('not json\n');
    assert.deepEqual(
      buffer.entries({ limit: 10, minLevel: 'warn' }).map((entry) => `${entry.level}:${entry.msg}`),
      ['error:error', 'warn:warn'],
    );
    assert.equal(buffer.entries({ limit: 10 }).length, 3, 'a line that is not JSON is skipped when read');
  });

  it('keeps an over-long line as a stub with its time, level and message', () => {
    const buffer = createLogBuffer(2);
    buffer.write(line(50, 'big "quoted" body', { body: 'x'.repeat(100_000) }));
    const [entry] = buffer.entries({ limit: 1 });
    assert.deepEqual(entry, { time: '2023-11-14T22:13:20.000Z', level: 'error', msg: 'big "quoted" body', truncated: true });
  });

  it('tees a pino logger: the target and the buffer get the same redacted lines', () => {
    const buffer = createLogBuffer(10);
    const written: string[] = [];
    const logger = pino(
      { redact: { paths: ['password'], censor: '[redacted]' } },
      teeDestination({ write: (chunk: string) => void written.push(chunk) }, buffer),
    );
    logger.info({ password: 'hunter2', user: 'alice' }, 'signed in');
    assert.equal(written.length, 1);
    assert.equal(written.join('').includes('hunter2'), false);
    const [entry] = buffer.entries({ limit: 1 });
    assert.equal(entry?.msg, 'signed in');
    assert.equal(entry?.['password'], '[redacted]');
    assert.equal(entry?.['user'], 'alice');
  });
});
