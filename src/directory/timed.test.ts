import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DirbridgeError } from '../errors.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import type { DirectoryConnection } from './connect.ts';
import { type DirectoryObserver, timedConnection, timeOperation } from './timed.ts';

function recorder(): { observe: DirectoryObserver; seen: string[] } {
  const seen: string[] = [];
  return { observe: (operation, outcome, seconds) => seen.push(`${operation}:${outcome}:${seconds >= 0}`), seen };
}

/** A connection whose searchPages yields `pages`, then fails with `failure` if given. */
function connectionOf(pages: DirectoryEntry[][], failure?: Error): DirectoryConnection & { closedSearches: number } {
  const state = { closedSearches: 0 };
  const connection = {
    url: 'ldap://test',
    security: 'none',
    rootDse: {},
    get closedSearches() {
      return state.closedSearches;
    },
    async *searchPages() {
      try {
        for (const page of pages) yield page;
        if (failure !== undefined) throw failure;
      } finally {
        state.closedSearches += 1;
      }
    },
    searchAll: async () => pages.flat(),
    bind: async (_dn: string, password: string) => {
      if (password !== 'right') throw new DirbridgeError('directory.invalid_credentials', 'invalid credentials');
    },
    close: async () => {},
    [Symbol.asyncDispose]: async () => {},
  };
  return connection as unknown as DirectoryConnection & { closedSearches: number };
}

const page = (count: number): DirectoryEntry[] => Array.from({ length: count }, (_, index) => ({ dn: `uid=u${index},dc=test`, attributes: {} }));
const request = { baseDn: 'dc=test', scope: 'sub' as const, filter: '(objectClass=*)', attributes: [] };

describe('timed directory operations', () => {
  it('reports each page of a paged search, and the end of the search', async () => {
    const { observe, seen } = recorder();
    const timed = timedConnection(connectionOf([page(2), page(1)]), observe);
    const sizes: number[] = [];
    for await (const entries of timed.searchPages(request)) sizes.push(entries.length);
    assert.deepEqual(sizes, [2, 1]);
    assert.deepEqual(seen, ['search_page:ok:true', 'search_page:ok:true', 'search_page:ok:true']);
  });

  it('reports a failing page as an error and passes the error on', async () => {
    const { observe, seen } = recorder();
    const timed = timedConnection(connectionOf([page(1)], new DirbridgeError('directory.unavailable', 'gone')), observe);
    await assert.rejects(async () => {
      for await (const _ of timed.searchPages(request)) void _;
    }, /gone/);
    assert.deepEqual(seen, ['search_page:ok:true', 'search_page:error:true']);
  });

  it('ends the underlying search when the caller stops early', async () => {
    const { observe } = recorder();
    const inner = connectionOf([page(1), page(1), page(1)]);
    for await (const _ of timedConnection(inner, observe).searchPages(request)) break;
    assert.equal(inner.closedSearches, 1);
  });

  it('tells a refused bind (rejected) from a fault (error)', async () => {
    const { observe, seen } = recorder();
    const timed = timedConnection(connectionOf([]), observe);
    await timed.bind('uid=a,dc=test', 'right');
    await assert.rejects(timed.bind('uid=a,dc=test', 'wrong'), /invalid credentials/);
    await assert.rejects(
      timeOperation(observe, 'connect', async () => Promise.reject(new Error('refused'))),
      /refused/,
    );
    assert.deepEqual(seen, ['bind:ok:true', 'bind:rejected:true', 'connect:error:true']);
  });
});
