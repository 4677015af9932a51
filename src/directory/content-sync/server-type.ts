/**
 * Which server the synchronisation connection reached, from its RootDSE (read on that connection,
 * after the bind, exactly as connect.ts reads it), because servers differ in how they end a refresh
 * (see sync-events.ts).
 */
import type { Entry } from 'ldapts';
import { parseFilter } from '../../ldap/filter.ts';
import type { DirectorySettings } from '../../settings/schema.ts';
import { normalizeEntry } from '../normalize-entry.ts';
import { detectServerType, ROOT_DSE_ATTRIBUTES, type ServerType } from '../root-dse.ts';
import type { MessageChannel } from './message-channel.ts';
import { searchRequest } from './requests.ts';
import { resultError } from './result-error.ts';

const ANY_OBJECT = parseFilter('(objectClass=*)');

/** Reads the RootDSE and classifies the server; a RootDSE hidden from the bind identity gives 'unknown'. */
export async function readServerType(channel: MessageChannel, messageId: number, settings: DirectorySettings, url: string): Promise<ServerType> {
  channel.send(searchRequest(messageId, { baseDn: '', scope: 'base', filter: ANY_OBJECT, attributes: ROOT_DSE_ATTRIBUTES }));
  let serverType: ServerType = 'unknown';
  for (;;) {
    const message = await channel.receive({ timeoutMs: settings.operationTimeoutMs });
    if (message === 'aborted' || message.messageId !== messageId) continue;
    const { op } = message;
    if (op.kind === 'searchEntry') {
      const raw: Entry = { dn: op.dn };
      for (const attribute of op.attributes) raw[attribute.type] = attribute.values;
      serverType = detectServerType(normalizeEntry(raw));
    } else if (op.kind === 'searchDone') {
      // Some servers hide the RootDSE from some identities (insufficient access, no such object).
      if (op.result.resultCode === 0 || op.result.resultCode === 32 || op.result.resultCode === 50) return serverType;
      throw resultError(op.result, { operation: 'rootdse', url });
    }
  }
}
