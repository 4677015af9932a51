import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { DirbridgeError } from '../errors.ts';
import { installLastResortHandlers } from './last-resort.ts';

/** A stand-in for the process: its events, and the exit code asked for. */
function fakeProcess() {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  const target = Object.assign(emitter, { exit: (code?: number) => void exits.push(code ?? 0) }) as unknown as Pick<NodeJS.Process, 'on' | 'exit'> &
    EventEmitter;
  return { target, exits };
}

describe('installLastResortHandlers', () => {
  it('reports an unhandled rejection in one line with its code and goes on', () => {
    const { target, exits } = fakeProcess();
    const lines: string[] = [];
    installLastResortHandlers(target, { stderr: (text) => void lines.push(text) });
    target.emit('unhandledRejection', new DirbridgeError('store.unavailable', 'database unavailable while trying to read a session'));
    assert.deepEqual(lines, [
      'error [store.unavailable]: database unavailable while trying to read a session (a failure no caller handled; dirbridge goes on)\n',
    ]);
    assert.deepEqual(exits, []);
  });

  it('reports an uncaught exception in one line, without its stack, and exits 1', () => {
    const { target, exits } = fakeProcess();
    const lines: string[] = [];
    installLastResortHandlers(target, { stderr: (text) => void lines.push(text) });
    target.emit('uncaughtException', new Error('Connection terminated unexpectedly'));
    assert.deepEqual(lines, ['error [internal]: Connection terminated unexpectedly (an unhandled failure; dirbridge stops)\n']);
    assert.deepEqual(exits, [1]);
  });
});
