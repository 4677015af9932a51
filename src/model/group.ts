/**
 * Groups: the record callers see, what to insert or patch, and the case-insensitive name key.
 */
import type { RecordSource } from './record-source.ts';
import type { Timestamp } from './timestamp.ts';

/** A group as callers see it. */
export interface GroupRecord {
  id: string;
  externalId: string | null;
  dn: string | null;
  name: string;
  source: RecordSource;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

/** A group to insert. */
export interface NewGroup {
  name: string;
  source: RecordSource;
  externalId?: string | null;
  dn?: string | null;
}

/** A partial update of a group; `updatedAt` is set by the store. */
export type GroupPatch = Partial<NewGroup>;

/** A group with its number of members, as listed by `groups.list`. */
export type GroupWithMemberCount = GroupRecord & { memberCount: number };

/** The case-insensitive key under which group names are searched and ordered. */
export function groupNameKey(name: string): string {
  return name.toLowerCase();
}
