/**
 * Translates better-sqlite3 and pg errors into DirbridgeErrors at the store boundary.
 * Errors that are not recognised (SQL defects, programming errors) pass through unchanged.
 */
import { DirbridgeError } from '../errors.ts';

/** The driver's error code (`SQLITE_CONSTRAINT_UNIQUE`, `23505`, `ECONNREFUSED`, ...), if any. */
function driverCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  return undefined;
}

/**
 * What pg and Kysely say, without a code, when the connection a query needed is gone: the server
 * ended the session (a restart), the socket closed, a connection could not be made in time, the
 * client was already broken by an earlier error, or the store was closed.
 */
const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|Client was closed and is not queryable|Cannot use a pool after calling end|driver has already been destroyed/i;

const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE', 'EACCES', 'EROFS', 'ENOENT']);

/** Returns the DirbridgeError that `error` means, or `error` itself when it is not a recognised database error. */
export function translateDbError(error: unknown, action: string): unknown {
  if (error instanceof DirbridgeError) return error;
  const code = driverCode(error);
  if (code === undefined) {
    if (error instanceof Error && UNAVAILABLE_MESSAGES.test(error.message)) {
      return new DirbridgeError('store.unavailable', `database unavailable while trying to ${action}`, { cause: error });
    }
    return error;
  }
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505') {
    return new DirbridgeError('store.conflict', `conflicting record while trying to ${action}`, { cause: error });
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503') {
    return new DirbridgeError('store.not_found', `referenced record not found while trying to ${action}`, { cause: error });
  }
  // SQLite's full disk (or quota), PostgreSQL's disk_full (53100): a write failed, reads still work.
  if (code === 'SQLITE_FULL' || code === '53100' || code === 'ENOSPC') {
    return new DirbridgeError('store.disk_full', `the disk holding the database is full while trying to ${action}`, {
      cause: error,
      details: { driverCode: code },
    });
  }
  if (
    code === 'SQLITE_BUSY' ||
    code.startsWith('SQLITE_BUSY_') ||
    code.startsWith('SQLITE_CANTOPEN') ||
    code === 'SQLITE_READONLY' ||
    code === 'SQLITE_IOERR' ||
    code.startsWith('SQLITE_IOERR_') ||
    UNAVAILABLE_NODE_CODES.has(code) ||
    code.startsWith('08') || // connection exception
    code.startsWith('28') || // invalid authorization
    code.startsWith('57P') || // operator intervention (shutdown)
    code === '53300' || // too many connections
    code === '3D000' // database does not exist
  ) {
    return new DirbridgeError('store.unavailable', `database unavailable while trying to ${action}`, { cause: error, details: { driverCode: code } });
  }
  return error;
}

/** Runs `work`, translating database errors raised by it. */
export async function withDbErrors<T>(action: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw translateDbError(error, action);
  }
}
