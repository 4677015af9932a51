/**
 * Incremental sync's bookkeeping (issue #11): where a change feed was last read, and the group
 * entries as the directory last showed them.
 */
import type { Timestamp } from './timestamp.ts';

/** What an incremental run reads: one cursor each. */
export type CursorScope = 'users' | 'groups';

/** The change feeds dirbridge reads: RFC 4533 content sync, AD DirSync, AD uSNChanged polling, modification-time polling. */
export const CHANGE_SOURCES = ['contentSync', 'dirSync', 'usnChanged', 'modifyTimestamp'] as const;

/** One of `CHANGE_SOURCES`. */
export type ChangeSource = (typeof CHANGE_SOURCES)[number];

/** Where one change feed was last read, valid only on `serverIdentity` with settings of `settingsFingerprint`. */
export interface SyncCursor {
  directoryId: string;
  scope: CursorScope;
  source: ChangeSource;
  /** A cookie (base64), a USN or a timestamp; null when the feed has no position yet (read everything next time). */
  position: string | null;
  serverIdentity: string | null;
  settingsFingerprint: string;
  updatedAt: Timestamp;
}

/** A group entry as last read: its JSON (the sync layer's mapped group) and a hash of it. */
export interface StoredDirectoryGroup {
  externalId: string;
  content: string;
  contentHash: string;
}
