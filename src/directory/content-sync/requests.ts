/**
 * The requests a content synchronisation sends, encoded with ldapts's exported message classes
 * (they only write bytes here; the socket is ours): StartTLS, simple bind, the search with the
 * Sync Request control, abandon and unbind.
 */
import { AbandonRequest, BindRequest, type Control, ExtendedRequest, SearchRequest, UnbindRequest } from 'ldapts';
import type { Filter } from '../../ldap/filter.ts';
import { SyncRequestControl, type SyncRequestValue } from '../controls/sync-request.ts';
import { toLdaptsFilter } from '../ldapts-filter.ts';

/** OID of the StartTLS extended operation (RFC 4511 section 4.14). */
export const START_TLS_OID = '1.3.6.1.4.1.1466.20037';

/** The StartTLS extended request. */
export function startTlsRequest(messageId: number): Buffer {
  return new ExtendedRequest({ messageId, oid: START_TLS_OID }).write();
}

/** A simple bind request. */
export function simpleBindRequest(messageId: number, dn: string, password: string): Buffer {
  return new BindRequest({ messageId, dn, password }).write();
}

/** What the synchronisation search asks for. */
export interface SyncSearch {
  baseDn: string;
  scope: 'base' | 'one' | 'sub';
  /** Our filter AST (src/ldap/filter.ts); values are written as exact bytes. */
  filter: Filter;
  /** `[]` means all user attributes. */
  attributes: readonly string[];
  sync: SyncRequestValue;
}

/** A plain search (no limits, no controls): the RootDSE read. */
export function searchRequest(messageId: number, search: Omit<SyncSearch, 'sync'>): Buffer {
  return searchMessage(messageId, search, []).write();
}

/** The search request carrying the Sync Request control; no size or time limit is sent. */
export function syncSearchRequest(messageId: number, search: SyncSearch): Buffer {
  return searchMessage(messageId, search, [new SyncRequestControl(search.sync)]).write();
}

function searchMessage(messageId: number, search: Omit<SyncSearch, 'sync'>, controls: Control[]): SearchRequest {
  return new SearchRequest({
    messageId,
    baseDN: search.baseDn,
    scope: search.scope,
    filter: toLdaptsFilter(search.filter),
    attributes: [...search.attributes],
    sizeLimit: 0,
    timeLimit: 0,
    controls,
  });
}

/** The abandon request for the operation `abandonId`. */
export function abandonRequest(messageId: number, abandonId: number): Buffer {
  return new AbandonRequest({ messageId, abandonId }).write();
}

/** The unbind request. */
export function unbindRequest(messageId: number): Buffer {
  return new UnbindRequest({ messageId }).write();
}
