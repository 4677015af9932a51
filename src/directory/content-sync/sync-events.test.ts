import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DirbridgeError } from '../../errors.ts';
import type { LdapResponse } from './ldap-message.ts';
import { createSyncTranslator } from './sync-events.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const A = '0123456789abcdef0011223344556677';
const B = 'ffeeddccbbaa99887766554433221100';
const context = { operation: 'search' as const, url: 'ldap://x', baseDn: 'o=x' };
const state = (code: number, uuid: string, cookie?: string): LdapResponse['controls'][number] => ({
  oid: '1.3.6.1.4.1.4203.1.9.1.2',
  critical: false,
  value:
    cookie === undefined
      ? hex(`30 15 0a 01 0${code} 04 10 ${uuid}`)
      : hex(`30 ${(0x15 + 2 + cookie.length).toString(16)} 0a 01 0${code} 04 10 ${uuid} 04 0${cookie.length} ${Buffer.from(cookie).toString('hex')}`),
});
const info = (value: string): LdapResponse => ({
  messageId: 2,
  op: { kind: 'intermediate', responseName: '1.3.6.1.4.1.4203.1.9.1.4', responseValue: hex(value) },
  controls: [],
});
const done = (value: string | undefined, resultCode = 0): LdapResponse => ({
  messageId: 2,
  op: { kind: 'searchDone', result: { resultCode, matchedDn: '', diagnosticMessage: '' } },
  controls: value === undefined ? [] : [{ oid: '1.3.6.1.4.1.4203.1.9.1.3', critical: false, value: hex(value) }],
});

describe('createSyncTranslator', () => {
  it('turns an added entry into a normalised entry event named by its syncUUID, then its cookie', () => {
    const translate = createSyncTranslator({ mode: 'refreshOnly', uniqueIdAttribute: 'entryUUID', context });
    const message: LdapResponse = {
      messageId: 2,
      op: {
        kind: 'searchEntry',
        dn: 'uid=a,o=x',
        attributes: [
          { type: 'CN', values: [Buffer.from('A')] },
          { type: 'jpegPhoto', values: [Buffer.from('ok')] },
          { type: 'cn', values: [Buffer.from('B')] },
        ],
      },
      controls: [state(1, A, 'c1')],
    };
    assert.deepEqual(translate(message), {
      events: [
        {
          type: 'entry',
          state: 'add',
          uniqueId: '01234567-89ab-cdef-0011-223344556677',
          entry: { dn: 'uid=a,o=x', attributes: { cn: ['A', 'B'], jpegphoto: [Buffer.from('ok')] } },
        },
        { type: 'cookie', cookie: Buffer.from('c1') },
      ],
      finished: false,
    });
  });

  it('reports delete-state entries as deletes and attribute-less present-state entries as present ids', () => {
    const translate = createSyncTranslator({ mode: 'refreshOnly', uniqueIdAttribute: 'nsUniqueId', context });
    const entry = (code: number): LdapResponse => ({ messageId: 2, op: { kind: 'searchEntry', dn: 'uid=a,o=x', attributes: [] }, controls: [state(code, A)] });
    assert.deepEqual(translate(entry(3)).events, [{ type: 'delete', uniqueId: '01234567-89abcdef-00112233-44556677' }]);
    assert.deepEqual(translate(entry(0)).events, [{ type: 'present', uniqueIds: ['01234567-89abcdef-00112233-44556677'] }]);
  });

  it('turns syncIdSet into deletes (refreshDeletes) or present ids, each followed by its cookie', () => {
    const translate = createSyncTranslator({ mode: 'refreshOnly', uniqueIdAttribute: 'entryUUID', context });
    assert.deepEqual(translate(info(`a3 2e 04 03 616263 01 01 ff 31 24 04 10 ${A} 04 10 ${B}`)).events, [
      { type: 'delete', uniqueId: '01234567-89ab-cdef-0011-223344556677' },
      { type: 'delete', uniqueId: 'ffeeddcc-bbaa-9988-7766-554433221100' },
      { type: 'cookie', cookie: Buffer.from('abc') },
    ]);
    assert.deepEqual(translate(info(`a3 14 31 12 04 10 ${A}`)).events, [{ type: 'present', uniqueIds: ['01234567-89ab-cdef-0011-223344556677'] }]);
  });

  it('ends a refreshOnly search at SearchResultDone with the Sync Done cookie', () => {
    const translate = createSyncTranslator({ mode: 'refreshOnly', uniqueIdAttribute: 'entryUUID', context });
    assert.deepEqual(translate(info('80 02 6e 63')).events, [{ type: 'cookie', cookie: Buffer.from('nc') }]);
    assert.deepEqual(translate(done('30 08 04 03 616263 01 01 ff')), {
      events: [{ type: 'refreshDone', cookie: Buffer.from('abc'), refreshDeletes: true }],
      finished: true,
    });
  });

  it('reports the end of the refresh stage of refreshAndPersist once, from refreshPresent or refreshDelete', () => {
    const translate = createSyncTranslator({ mode: 'refreshAndPersist', uniqueIdAttribute: 'entryUUID', context });
    assert.deepEqual(translate(info('a2 08 04 03 616263 01 01 00')).events, [{ type: 'presentPhaseDone', cookie: Buffer.from('abc') }]);
    assert.deepEqual(translate(info('a1 00')).events, [{ type: 'refreshDone', cookie: undefined, refreshDeletes: true }]);
    assert.deepEqual(translate(info('a2 05 04 03 646566')).events, [{ type: 'cookie', cookie: Buffer.from('def') }]);
    const ended = translate(done(undefined));
    assert.equal(ended.finished, true);
    assert.equal(ended.error?.code, 'directory.unavailable');
  });

  it('types e-syncRefreshRequired (4096) and other result codes', () => {
    const translate = createSyncTranslator({ mode: 'refreshOnly', uniqueIdAttribute: 'entryUUID', context });
    assert.throws(
      () => translate(done(undefined, 4096)),
      (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.sync_refresh_required',
    );
    assert.throws(
      () => translate(done(undefined, 32)),
      (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.no_such_object',
    );
    assert.throws(
      () => translate(done(undefined, 50)),
      (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.insufficient_access',
    );
  });

  it('refuses an entry without a Sync State control and ignores references and other intermediate responses', () => {
    const translate = createSyncTranslator({ mode: 'refreshOnly', uniqueIdAttribute: 'entryUUID', context });
    assert.throws(
      () => translate({ messageId: 2, op: { kind: 'searchEntry', dn: 'o=x', attributes: [] }, controls: [] }),
      (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.protocol',
    );
    assert.deepEqual(translate({ messageId: 2, op: { kind: 'searchReference', uris: ['ldap://y'] }, controls: [] }).events, []);
    assert.deepEqual(translate({ messageId: 2, op: { kind: 'intermediate', responseName: '1.2.3' }, controls: [] }).events, []);
  });

  it('corrects 389-DS: a refresh from a cookie it accepted sent its deletes explicitly, whatever Sync Done says', () => {
    const withCookie = createSyncTranslator({ mode: 'refreshOnly', uniqueIdAttribute: 'nsUniqueId', context, serverType: '389-ds', cookieSent: true });
    assert.deepEqual(withCookie(done('30 05 04 03 616263')).events, [{ type: 'refreshDone', cookie: Buffer.from('abc'), refreshDeletes: true }]);
    const initial = createSyncTranslator({ mode: 'refreshOnly', uniqueIdAttribute: 'nsUniqueId', context, serverType: '389-ds', cookieSent: false });
    assert.deepEqual(initial(done('30 05 04 03 616263')).events, [{ type: 'refreshDone', cookie: Buffer.from('abc'), refreshDeletes: false }]);
    const openldap = createSyncTranslator({ mode: 'refreshOnly', uniqueIdAttribute: 'entryUUID', context, serverType: 'openldap', cookieSent: true });
    assert.deepEqual(openldap(done('30 05 04 03 616263')).events, [{ type: 'refreshDone', cookie: Buffer.from('abc'), refreshDeletes: false }]);
  });

  it('reports an empty cookie (slapd answers an unreadable one so) as no cookie', () => {
    const translate = createSyncTranslator({ mode: 'refreshOnly', uniqueIdAttribute: 'entryUUID', context });
    assert.deepEqual(translate(done('30 05 04 00 01 01 ff')).events, [{ type: 'refreshDone', cookie: undefined, refreshDeletes: true }]);
  });
});
