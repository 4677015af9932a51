/** RFC 4533 content synchronisation (OpenLDAP syncprov, 389-DS Content Synchronization): the reader and its events. */
export { readContentSync, supportsContentSync, type ContentSyncRequest } from './read-content-sync.ts';
export type { ContentSyncEvent } from './sync-events.ts';
