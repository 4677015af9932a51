/**
 * The audit log: who or what did what to whom, and why.
 */
import type { JsonValue } from './json-value.ts';
import type { Timestamp } from './timestamp.ts';

/** One audit-log entry: who or what (`actor`) did what (`action`) to whom, and why. */
export interface AuditEntry {
  id: string;
  at: Timestamp;
  /** e.g. `sync`, `login`, `auto-logout`, `admin:alice`, `system`. */
  actor: string;
  /** e.g. `user.created`, `user.disabled`, `login.failed`, `session.revoked`. */
  action: string;
  userId: string | null;
  /** What the entry is about when it is not (or no longer) a user id, e.g. a typed username. */
  subject: string | null;
  reason: string | null;
  details: JsonValue | null;
}

/** An audit entry to append; `at` defaults to now. */
export interface NewAuditEntry {
  actor: string;
  action: string;
  userId?: string | null;
  subject?: string | null;
  reason?: string | null;
  details?: JsonValue | null;
  at?: Timestamp;
}
