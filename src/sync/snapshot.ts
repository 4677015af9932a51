/** The directory's side of a sync: every user and group read in one pass, already mapped. */
import type { ResolvedGroup } from '../mapping/memberships.ts';
import type { MappedUser, SkippedEntry } from '../mapping/user.ts';

/** Why a read is not complete; the guard refuses to act on an incomplete read. */
export interface ReadFailure {
  code: string;
  message: string;
  /** What had been read when it failed. */
  phase: 'users' | 'groups';
  entriesRead: number;
}

/** Everything one read of the directory produced. */
export interface DirectorySnapshot {
  users: MappedUser[];
  groups: ResolvedGroup[];
  skippedUsers: SkippedEntry[];
  skippedGroups: SkippedEntry[];
  warnings: string[];
  /** Set when the read did not finish; the snapshot must then never be acted on. */
  failure?: ReadFailure;
  serverType: string;
  uniqueIdAttribute: string;
}
