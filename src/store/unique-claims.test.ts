import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDirbridgeError } from '../errors.ts';
import { planUniqueClaims, type UniqueClaim, type UniqueHolder } from './unique-claims.ts';

const claim = (id: string, value: string): UniqueClaim => ({ id, value, label: value.toUpperCase() });
const holder = (id: string, value: string): UniqueHolder => ({ id, value });

describe('planUniqueClaims', () => {
  const cases: Array<{ name: string; claims: UniqueClaim[]; holders: UniqueHolder[]; moving: string[]; park?: string[]; conflict?: string }> = [
    { name: 'free value', claims: [claim('a', 'x')], holders: [], moving: ['a'], park: [] },
    { name: 'keeps own value', claims: [claim('a', 'x')], holders: [holder('a', 'x')], moving: ['a'], park: [] },
    {
      name: 'swap parks both holders',
      claims: [claim('a', 'y'), claim('b', 'x')],
      holders: [holder('a', 'x'), holder('b', 'y')],
      moving: ['a', 'b'],
      park: ['a', 'b'],
    },
    { name: 'takes a value released in the batch', claims: [claim('b', 'x')], holders: [holder('a', 'x')], moving: ['a', 'b'], park: ['a'] },
    { name: 'holder outside the batch', claims: [claim('a', 'x')], holders: [holder('c', 'x')], moving: ['a'], conflict: 'X' },
    { name: 'two claims on one value', claims: [claim('a', 'x'), claim('b', 'x')], holders: [], moving: ['a', 'b'], conflict: 'X' },
    { name: 'insert against an existing row', claims: [claim('new', 'x')], holders: [holder('old', 'x')], moving: [], conflict: 'X' },
  ];
  for (const testCase of cases) {
    it(testCase.name, () => {
      const run = () => planUniqueClaims('username', testCase.claims, testCase.holders, new Set(testCase.moving));
      if (testCase.conflict === undefined) {
        assert.deepEqual(run(), testCase.park);
      } else {
        assert.throws(run, (error) => isDirbridgeError(error, 'store.conflict') && error.details.value === testCase.conflict);
      }
    });
  }
});
