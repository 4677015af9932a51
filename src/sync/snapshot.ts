/** The directory's side of a sync: every user and group read in one pass, already mapped. */
import type { ResolvedGroup } from '../mapping/memberships.ts';
import type { SkippedEntry } from '../mapping/user.ts';
import type { MappedUserWithInput } from './plan-mapping.ts';

/** Why a read is not complete; the guard refuses to act on an incomplete read. */
export interface ReadFailure {
  code: string;
  message: string;
  /** What had been read when it failed. */
  phase: 'users' | 'groups' | 'mapping';
  entriesRead: number;
}

/** Everything one read of the directory produced. */
export interface DirectorySnapshot {
  /** Users, each with its mapping input when mapping is configured. */
  users: MappedUserWithInput[];
  groups: ResolvedGroup[];
  skippedUsers: SkippedEntry[];
  skippedGroups: SkippedEntry[];
  warnings: string[];
  /** The warnings (also in `warnings`) about settings that do not fit the data (`data-fit.ts`), which Test Connection and Test LDAP Search show. */
  dataFitWarnings?: string[];
  /** Set when the read did not finish; the snapshot must then never be acted on. */
  failure?: ReadFailure;
  serverType: string;
  uniqueIdAttribute: string;
}
