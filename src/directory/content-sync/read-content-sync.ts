/**
 * RFC 4533 content synchronisation ("syncrepl") as an async generator of events, for OpenLDAP's
 * syncprov overlay and 389-DS's Content Synchronization plugin.
 *
 * refreshOnly: the generator ends after the SearchResultDone (with a `refreshDone` event carrying
 * the cookie to store). refreshAndPersist: it yields `refreshDone` when the refresh stage ends and
 * then keeps yielding changes until `signal` aborts (it then abandons the search, unbinds, closes
 * the socket and returns normally) or the connection drops (it throws a typed error). Leaving the
 * loop early (`break`) closes the same way.
 *
 * The socket is paused while the consumer is slow (see message-channel.ts). During the refresh
 * stage a silence longer than `operationTimeoutMs` is `directory.timeout`; the persist stage may
 * be silent for any length of time (TCP keep-alive watches the connection).
 */

import { DirbridgeError } from '../../errors.ts';
import { type Filter, parseFilter } from '../../ldap/filter.ts';
import type { DirectorySettings } from '../../settings/schema.ts';
import { supportsControl } from '../controls/supported.ts';
import { SYNC_REQUEST_OID, type SyncMode } from '../controls/sync-request.ts';
import type { RootDse } from '../root-dse.ts';
import { type ErrorContext, translateLdapError } from '../translate-error.ts';
import { syncSearchRequest } from './requests.ts';
import { openSyncConnection } from './sync-connection.ts';
import { type ContentSyncEvent, createSyncTranslator } from './sync-events.ts';

export type { ContentSyncEvent } from './sync-events.ts';

/** One content synchronisation. */
export interface ContentSyncRequest {
  baseDn: string;
  scope: 'base' | 'one' | 'sub';
  /** RFC 4515 text or our filter AST (text is parsed before connecting: a bad filter costs no connection). */
  filter: Filter | string;
  /** Attributes to return; `[]` means all user attributes. */
  attributes: readonly string[];
  /**
   * dirbridge's unique id attribute on this server (entryUUID on OpenLDAP, nsUniqueId on 389-DS):
   * ids in events are formatted exactly as `uniqueIdOf(entry, uniqueIdAttribute)` gives them, so a
   * delete that carries only the 16-byte syncUUID still names the stored externalId.
   */
  uniqueIdAttribute: string;
  /** The cookie stored from the last synchronisation; absent for a full (initial) refresh. */
  cookie?: Buffer | undefined;
  mode: SyncMode;
  /** Extra attributes to return as Buffers (normalize-entry.ts). */
  binaryAttributes?: readonly string[];
  signal?: AbortSignal | undefined;
}

/** Whether the RootDSE lists the Sync Request control. */
export function supportsContentSync(rootDse: Pick<RootDse, 'supportedControls'>): boolean {
  return supportsControl(rootDse, SYNC_REQUEST_OID);
}

/** Runs the synchronisation search on a connection of its own (service bind); see the file comment. */
export async function* readContentSync(settings: DirectorySettings, request: ContentSyncRequest): AsyncGenerator<ContentSyncEvent> {
  const { signal } = request;
  if (signal?.aborted === true) return;
  const filter = typeof request.filter === 'string' ? parseFilter(request.filter) : request.filter;
  const connection = await openSyncConnection(settings);
  const context: ErrorContext = { operation: 'search', url: connection.url, baseDn: request.baseDn };
  const translate = createSyncTranslator({
    mode: request.mode,
    uniqueIdAttribute: request.uniqueIdAttribute,
    context,
    serverType: connection.serverType,
    cookieSent: request.cookie !== undefined,
    ...(request.binaryAttributes === undefined ? {} : { binaryAttributes: request.binaryAttributes }),
  });
  const searchId = connection.nextMessageId();
  let finished = false;
  try {
    connection.channel.send(
      syncSearchRequest(searchId, {
        baseDn: request.baseDn,
        scope: request.scope,
        filter,
        attributes: request.attributes,
        sync: { mode: request.mode, cookie: request.cookie },
      }),
    );
    let inRefresh = true;
    for (;;) {
      const message = await connection.channel.receive({ timeoutMs: inRefresh ? settings.operationTimeoutMs : undefined, signal }).catch((error: unknown) => {
        throw translateLdapError(error, context);
      });
      if (message === 'aborted') return;
      if (message.messageId === 0 && message.op.kind === 'extendedResponse') {
        // An unsolicited notification (RFC 4511 4.4.1, notice of disconnection): the server is closing the connection.
        finished = true;
        throw new DirbridgeError('directory.unavailable', `the server is closing the connection (${connection.url}): ${message.op.result.diagnosticMessage}`, {
          details: { url: connection.url, resultCode: message.op.result.resultCode, responseName: message.op.responseName },
        });
      }
      if (message.messageId !== searchId) continue;
      const translation = translate(message);
      finished = translation.finished;
      for (const event of translation.events) {
        if (event.type === 'refreshDone') inRefresh = false;
        yield event;
      }
      if (translation.error !== undefined) throw translation.error;
      if (translation.finished) return;
    }
  } finally {
    await connection.close(finished ? undefined : searchId);
  }
}
