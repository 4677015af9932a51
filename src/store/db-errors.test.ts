import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDirbridgeError } from '../errors.ts';
import { translateDbError } from './db-errors.ts';

/** An error as the drivers make them: a message and a code. */
function driverError(message: string, code?: string): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

describe('translateDbError', () => {
  it('says a full disk is a full disk, on both backends, and keeps the cause', () => {
    for (const error of [
      driverError('database or disk is full', 'SQLITE_FULL'),
      driverError('could not extend file "base/16384/16390": No space left on device', '53100'),
      driverError('ENOSPC: no space left on device', 'ENOSPC'),
    ]) {
      const translated = translateDbError(error, 'run a transaction');
      assert.ok(isDirbridgeError(translated, 'store.disk_full'), String(translated));
      assert.equal(translated.message, 'the disk holding the database is full while trying to run a transaction');
      assert.equal(translated.cause, error);
    }
  });

  it("takes pg's messages about a lost or closed connection for an unavailable store", () => {
    for (const message of [
      'Connection terminated unexpectedly',
      'Connection terminated due to connection timeout',
      'timeout exceeded when trying to connect',
      'Client has encountered a connection error and is not queryable',
      'Client was closed and is not queryable',
      'Cannot use a pool after calling end on the pool',
      'driver has already been destroyed',
    ]) {
      assert.ok(isDirbridgeError(translateDbError(driverError(message), 'read'), 'store.unavailable'), message);
    }
    for (const code of ['ECONNREFUSED', '57P01', '08006', 'SQLITE_BUSY', 'SQLITE_IOERR_WRITE']) {
      assert.ok(isDirbridgeError(translateDbError(driverError('x', code), 'read'), 'store.unavailable'), code);
    }
  });

  it('leaves what it does not recognise alone', () => {
    const defect = driverError('syntax error at or near "selec"', '42601');
    assert.equal(translateDbError(defect, 'read'), defect);
    const plain = new Error('cannot rollback - no transaction is active');
    assert.equal(translateDbError(plain, 'read'), plain, 'a rollback error is not an outage: the rollback must not hide the real one');
  });
});
