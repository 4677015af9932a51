/**
 * The change feed for applications: the user, membership and lifecycle entries of the audit log,
 * oldest first. The cursor is the id of the last entry returned. Ids are time-ordered UUIDv7, so a
 * page is one keyset query (`id > after order by id`), as cheap after a 100k-user first sync as on
 * an empty log.
 *
 * An entry becomes visible only once it is `settleMs` old. A transaction (a sync batch on one
 * instance, a login on another) may commit after a later-numbered entry was already read, and
 * clocks of instances differ a little; the delay lets both settle, so a follower never steps past
 * an entry that was still on its way.
 */
import type { AuditEntry } from '../model/index.ts';
import type { Store } from '../store/store.ts';
import { HttpError } from './errors.ts';

/** Audit action prefixes that are events: account changes, and group/role/channel/team membership (login attempts and avatar chores are not). */
const EVENT_PREFIXES = ['user.', 'membership.'] as const;
/** Whole audit actions that are events. */
const EVENT_ACTIONS = ['session.revoked'] as const;

/** The default delay before an entry is shown (see the module comment). */
export const DEFAULT_EVENTS_SETTLE_MS = 5_000;

/** Whether an audit action is part of the feed. */
export function isEventAction(action: string): boolean {
  return EVENT_PREFIXES.some((prefix) => action.startsWith(prefix)) || (EVENT_ACTIONS as readonly string[]).includes(action);
}

/** A page of events and the cursor to continue from (null while the log holds no event). */
export interface EventPage {
  events: AuditEntry[];
  next: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Reads up to `limit` events after the entry `after` (from the oldest when absent), made at or before `settledAt`. */
export async function readEvents(store: Store, query: { after?: string; limit: number; settledAt: Date }): Promise<EventPage> {
  if (query.after !== undefined && !UUID.test(query.after)) {
    throw new HttpError(400, 'events.cursor_invalid', 'after: expected the "next" value of an earlier page (a lower-case UUID)');
  }
  const events = await store.audit.listAfter({
    ...(query.after === undefined ? {} : { after: query.after }),
    before: lowestIdAt(new Date(query.settledAt.getTime() + 1)),
    limit: query.limit,
    actionPrefixes: EVENT_PREFIXES,
    actions: EVENT_ACTIONS,
  });
  return { events, next: events.at(-1)?.id ?? query.after ?? null };
}

/** The smallest UUIDv7 of a millisecond: every id made earlier sorts below it. */
export function lowestIdAt(time: Date): string {
  const hex = Math.max(0, time.getTime()).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}
