/**
 * A fingerprint of the settings that decide what a sync reads and how it maps it. A stored cursor
 * and the stored groups are only valid for the settings they were read with: when the
 * fingerprint differs, the next run reads everything.
 */
import { createHash } from 'node:crypto';
import type { Settings } from '../../settings/schema.ts';

/** The fingerprint of what a sync reads: the server URLs, users, groups, mapping, extra attributes and the feed. */
export function settingsFingerprint(settings: Pick<Settings, 'directory' | 'users' | 'groups' | 'mapping' | 'sync'>): string {
  const relevant = {
    urls: settings.directory.urls,
    attributesToQuery: settings.directory.attributesToQuery,
    users: settings.users,
    groups: settings.groups ?? null,
    mapping: settings.mapping,
    feed: settings.sync.incremental.feed,
  };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('base64url');
}
