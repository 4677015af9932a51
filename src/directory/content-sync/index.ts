/** RFC 4533 content synchronisation (OpenLDAP syncprov, 389-DS Content Synchronization): the reader and its events. */
export { type ContentSyncRequest, readContentSync, supportsContentSync } from './read-content-sync.ts';
export type { ContentSyncEvent } from './sync-events.ts';
