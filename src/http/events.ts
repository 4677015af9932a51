/**
 * The change feed for applications: user, membership and lifecycle entries of the audit log,
 * oldest first, with an opaque-enough cursor (the id of the last audit entry covered).
 *
 * The store lists the audit log newest first with offsets, so the feed scans back from the
 * newest entry to the cursor; a follower that polls regularly scans a few pages. A cursor that
 * is unknown (or further back than `MAX_SCAN` entries) is refused with 410 so the follower
 * restarts from the beginning instead of silently skipping changes.
 */
import type { AuditEntry, Store } from '../store/store.ts';
import { HttpError } from './errors.ts';

/** Audit actions that are events (login attempts and avatar chores are not). */
export function isEventAction(action: string): boolean {
  return action.startsWith('user.') || action.startsWith('membership.') || action === 'session.revoked';
}

const PAGE = 500;
const MAX_SCAN = 50_000;

/** A page of events and the cursor to continue from (null when the log is empty). */
export interface EventPage {
  events: AuditEntry[];
  next: string | null;
}

/** Reads up to `limit` events after the audit entry `after` (from the oldest when absent). */
export async function readEvents(store: Store, query: { after?: string; limit: number }): Promise<EventPage> {
  return query.after === undefined ? readFromStart(store, query.limit) : readAfter(store, query.after, query.limit);
}

function take(entriesOldestFirst: readonly AuditEntry[], limit: number, fallbackCursor: string | null): EventPage {
  const events: AuditEntry[] = [];
  for (const entry of entriesOldestFirst) {
    if (!isEventAction(entry.action)) continue;
    events.push(entry);
    if (events.length === limit) return { events, next: entry.id };
  }
  return { events, next: entriesOldestFirst.at(-1)?.id ?? fallbackCursor };
}

async function readAfter(store: Store, after: string, limit: number): Promise<EventPage> {
  const newer: AuditEntry[] = [];
  const seen = new Set<string>();
  for (let offset = 0; offset < MAX_SCAN; offset += PAGE) {
    const page = await store.listAudit({ limit: PAGE, offset });
    for (const entry of page.entries) {
      if (entry.id === after) return take(newer.reverse(), limit, after);
      // Entries appended while scanning shift the pages; skip the ones seen twice.
      if (seen.has(entry.id)) continue;
      seen.add(entry.id);
      newer.push(entry);
    }
    if (page.entries.length < PAGE) break;
  }
  throw new HttpError(410, 'events.cursor_unknown', 'the cursor names no recent audit entry; start again without "after"');
}

async function readFromStart(store: Store, limit: number): Promise<EventPage> {
  const { total } = await store.listAudit({ limit: 1, offset: 0 });
  const scanned: AuditEntry[] = [];
  const seen = new Set<string>();
  let events = 0;
  for (let end = total; end > 0 && total - end < MAX_SCAN && events < limit; end -= PAGE) {
    const offset = Math.max(0, end - PAGE);
    const page = await store.listAudit({ limit: end - offset, offset });
    for (const entry of [...page.entries].reverse()) {
      if (seen.has(entry.id)) continue;
      seen.add(entry.id);
      scanned.push(entry);
      if (isEventAction(entry.action)) events += 1;
    }
  }
  return take(scanned, limit, null);
}
