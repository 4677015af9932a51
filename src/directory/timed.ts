/**
 * Timing of directory operations, for metrics: a wrapper around connections that reports how long
 * each operation took and whether it failed. Paged searches report each page separately (from
 * asking for it to receiving it), so a 100k-user read shows as many small observations, never as
 * one long one that includes the caller's work between pages.
 */
import { isDirbridgeError } from '../errors.ts';
import type { DirectoryConnection, WritableDirectoryConnection } from './connect.ts';

/** The operations reported. `verify` is a login's bind on a pooled connection. */
export type DirectoryOperation = 'connect' | 'search' | 'search_page' | 'bind' | 'verify' | 'add' | 'modify' | 'modify_dn' | 'delete' | 'exop';

/** How an operation ended: `rejected` is a refused bind (a wrong password), `error` a fault or any other failure. */
export type DirectoryOutcome = 'ok' | 'rejected' | 'error';

/** Told of every finished operation. Must not throw. */
export type DirectoryObserver = (operation: DirectoryOperation, outcome: DirectoryOutcome, seconds: number) => void;

/** Runs `work`, reporting its duration and outcome as `operation`. */
export async function timeOperation<T>(observe: DirectoryObserver, operation: DirectoryOperation, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const result = await work();
    observe(operation, 'ok', (performance.now() - started) / 1000);
    return result;
  } catch (error) {
    observe(operation, isDirbridgeError(error, 'directory.invalid_credentials') ? 'rejected' : 'error', (performance.now() - started) / 1000);
    throw error;
  }
}

/** Wraps an opener so that opening and every operation on the connections it opens are reported. */
export function timedOpener(open: () => Promise<DirectoryConnection>, observe: DirectoryObserver): () => Promise<DirectoryConnection> {
  return async () => timedConnection(await timeOperation(observe, 'connect', open), observe);
}

/** A connection whose searches and binds are reported; closing is not. */
export function timedConnection(connection: DirectoryConnection, observe: DirectoryObserver): DirectoryConnection {
  return {
    get url() {
      return connection.url;
    },
    get security() {
      return connection.security;
    },
    get rootDse() {
      return connection.rootDse;
    },
    searchPages: (request) => timedPages(connection.searchPages(request), observe),
    searchAll: (request) => timeOperation(observe, 'search', () => connection.searchAll(request)),
    searchWithControls: (request, controls) => timeOperation(observe, 'search', () => connection.searchWithControls(request, controls)),
    bind: (dn, password) => timeOperation(observe, 'bind', () => connection.bind(dn, password)),
    close: () => connection.close(),
    [Symbol.asyncDispose]: () => connection.close(),
  };
}

/** A writable connection whose reads and writes are reported; closing is not. */
export function timedWritableConnection(connection: WritableDirectoryConnection, observe: DirectoryObserver): WritableDirectoryConnection {
  return {
    ...timedConnection(connection, observe),
    add: (dn, attributes, options) => timeOperation(observe, 'add', () => connection.add(dn, attributes, options)),
    modify: (dn, changes, options) => timeOperation(observe, 'modify', () => connection.modify(dn, changes, options)),
    modifyDn: (dn, to, options) => timeOperation(observe, 'modify_dn', () => connection.modifyDn(dn, to, options)),
    delete: (dn, options) => timeOperation(observe, 'delete', () => connection.delete(dn, options)),
    extendedOperation: (oid, value, options) => timeOperation(observe, 'exop', () => connection.extendedOperation(oid, value, options)),
  };
}

async function* timedPages<T>(pages: AsyncIterable<T>, observe: DirectoryObserver): AsyncGenerator<T, void, undefined> {
  const iterator = pages[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      const next = await timeOperation(observe, 'search_page', () => iterator.next());
      if (next.done === true) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    // A caller that stops early (or throws between pages) ends the underlying search too.
    if (!finished) await iterator.return?.();
  }
}
