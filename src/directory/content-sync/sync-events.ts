/**
 * Turns the messages of a content synchronisation search (RFC 4533) into events for the sync
 * pipeline: entries with their Sync State, deletes and "still present" ids (from Sync State or
 * syncIdSet), cookies, and the end of the refresh stage. Pure: no socket, so it is tested with
 * decoded messages.
 */
import type { Entry } from 'ldapts';
import { DirbridgeError } from '../../errors.ts';
import type { DirectoryEntry } from '../../ldap/entry.ts';
import { decodeSyncDone, SYNC_DONE_OID } from '../controls/sync-done.ts';
import { decodeSyncInfo, SYNC_INFO_OID } from '../controls/sync-info.ts';
import type { SyncMode } from '../controls/sync-request.ts';
import { decodeSyncState, SYNC_STATE_OID } from '../controls/sync-state.ts';
import { normalizeEntry } from '../normalize-entry.ts';
import type { ServerType } from '../root-dse.ts';
import type { ErrorContext } from '../translate-error.ts';
import type { LdapResponse, ReceivedAttribute } from './ldap-message.ts';
import { resultError } from './result-error.ts';
import { formatSyncUuid } from './sync-uuid.ts';

/** What a content synchronisation reports, in the order the server sent it. */
export type ContentSyncEvent =
  /** An entry with its attributes: sent in a refresh (add, or present with attributes) or changed (add, modify). */
  | { type: 'entry'; state: 'present' | 'add' | 'modify'; uniqueId: string; entry: DirectoryEntry }
  /** The entry with this id is gone (or left the search scope). */
  | { type: 'delete'; uniqueId: string }
  /** syncIdSet with refreshDeletes=false, or present-state entries without attributes: these ids are still there, unchanged. */
  | { type: 'present'; uniqueIds: string[] }
  /** Everything before this event is covered by `cookie`: store it to continue from here. */
  | { type: 'cookie'; cookie: Buffer }
  /**
   * A present phase ended inside the refresh (refreshPresent with refreshDone=false; a delete phase
   * follows): every id neither sent nor listed present since the refresh began is gone.
   */
  | { type: 'presentPhaseDone'; cookie: Buffer | undefined }
  /**
   * End of the refresh stage. refreshDeletes=false after a present phase means: every id neither
   * sent nor listed present is gone. refreshDeletes=true: deletes were sent explicitly. A refresh
   * without a cookie is a complete listing whatever refreshDeletes says (slapd says true). `cookie`
   * undefined (none, or an empty one): nothing to continue from, the next run starts without one.
   */
  | { type: 'refreshDone'; cookie: Buffer | undefined; refreshDeletes: boolean };

/** What one message means. */
export interface Translation {
  events: ContentSyncEvent[];
  /** True when the search is over (SearchResultDone). */
  finished: boolean;
  /** Thrown once `events` are delivered (the server ended a persistent search). */
  error?: DirbridgeError;
}

/** Options of {@link createSyncTranslator}. */
export interface TranslatorOptions {
  mode: SyncMode;
  uniqueIdAttribute: string;
  /** How errors name the server and base DN. */
  context: ErrorContext;
  /** Extra attributes to return as Buffers (normalize-entry.ts). */
  binaryAttributes?: readonly string[];
  /** The server (from its RootDSE): 389-DS needs its refreshDeletes corrected. */
  serverType?: ServerType;
  /** Whether the request carried a cookie. */
  cookieSent?: boolean;
}

function toEntry(dn: string, attributes: readonly ReceivedAttribute[], binaryAttributes: readonly string[]): DirectoryEntry {
  const values = new Map<string, Buffer[]>();
  for (const attribute of attributes) values.set(attribute.type, [...(values.get(attribute.type) ?? []), ...attribute.values]);
  const raw: Entry = { dn };
  for (const [type, list] of values) raw[type] = list;
  return normalizeEntry(raw, binaryAttributes);
}

/** A stateful translator for one search (it remembers whether the refresh stage has ended). */
export function createSyncTranslator(options: TranslatorOptions): (message: LdapResponse) => Translation {
  const binary = options.binaryAttributes ?? [];
  const idOf = (uuid: Buffer): string => formatSyncUuid(uuid, options.uniqueIdAttribute);
  let refreshEnded = false;
  // 389-DS ends every refresh with refreshDeletes=FALSE. Without a cookie that is right (its initial
  // content is a complete listing), but with a cookie it accepted (a bad one is answered 4096), it
  // replays its retro changelog: deletes are sent explicitly and nothing else is implied, which is
  // what refreshDeletes=TRUE means. Taken literally, an empty delta would say "everything is gone".
  const deletesAreExplicit = options.serverType === '389-ds' && options.cookieSent === true;
  const refreshDone = (received: Buffer | undefined, said: boolean): ContentSyncEvent[] => {
    const refreshDeletes = said || deletesAreExplicit;
    // slapd answers a cookie it cannot read with an empty one: there is no cookie to store.
    const cookie = received === undefined || received.length === 0 ? undefined : received;
    if (refreshEnded) return cookie === undefined ? [] : [{ type: 'cookie', cookie }];
    refreshEnded = true;
    return [{ type: 'refreshDone', cookie, refreshDeletes }];
  };

  return (message) => {
    const { op } = message;
    switch (op.kind) {
      case 'searchEntry': {
        const control = message.controls.find((candidate) => candidate.oid === SYNC_STATE_OID);
        if (control?.value === undefined) {
          throw new DirbridgeError(
            'directory.protocol',
            `the server sent an entry without a Sync State control during content synchronisation (${options.context.url})`,
            {
              details: { url: options.context.url, dn: op.dn },
            },
          );
        }
        const state = decodeSyncState(control.value);
        const uniqueId = idOf(state.entryUuid);
        const events: ContentSyncEvent[] = [];
        if (state.state === 'delete') events.push({ type: 'delete', uniqueId });
        else if (state.state === 'present' && op.attributes.length === 0) events.push({ type: 'present', uniqueIds: [uniqueId] });
        else events.push({ type: 'entry', state: state.state, uniqueId, entry: toEntry(op.dn, op.attributes, binary) });
        if (state.cookie !== undefined) events.push({ type: 'cookie', cookie: state.cookie });
        return { events, finished: false };
      }
      case 'intermediate': {
        if (op.responseName !== SYNC_INFO_OID || op.responseValue === undefined) return { events: [], finished: false };
        const info = decodeSyncInfo(op.responseValue);
        switch (info.kind) {
          case 'newCookie':
            return { events: [{ type: 'cookie', cookie: info.cookie }], finished: false };
          case 'syncIdSet': {
            const ids = info.uuids.map(idOf);
            const events: ContentSyncEvent[] = info.refreshDeletes
              ? ids.map((uniqueId) => ({ type: 'delete', uniqueId }))
              : ids.length === 0
                ? []
                : [{ type: 'present', uniqueIds: ids }];
            if (info.cookie !== undefined) events.push({ type: 'cookie', cookie: info.cookie });
            return { events, finished: false };
          }
          case 'refreshDelete':
          case 'refreshPresent': {
            if (info.refreshDone) return { events: refreshDone(info.cookie, info.kind === 'refreshDelete'), finished: false };
            if (info.kind === 'refreshPresent') return { events: [{ type: 'presentPhaseDone', cookie: info.cookie }], finished: false };
            return { events: info.cookie === undefined ? [] : [{ type: 'cookie', cookie: info.cookie }], finished: false };
          }
        }
        return { events: [], finished: false };
      }
      case 'searchDone': {
        if (op.result.resultCode !== 0) throw resultError(op.result, options.context);
        const done = decodeSyncDone(message.controls.find((candidate) => candidate.oid === SYNC_DONE_OID)?.value);
        const events = refreshDone(done.cookie, done.refreshDeletes);
        if (options.mode === 'refreshOnly') return { events, finished: true };
        const error = new DirbridgeError('directory.unavailable', `the server ended the persistent content synchronisation (${options.context.url})`, {
          details: { url: options.context.url },
        });
        return { events, finished: true, error };
      }
      default:
        // searchReference (continuation references are not followed) and anything unexpected.
        return { events: [], finished: false };
    }
  };
}
