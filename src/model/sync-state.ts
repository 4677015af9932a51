/**
 * What the sync planner diffs the directory against.
 */
import type { GroupRecord } from './group.ts';
import type { MembershipPair } from './membership.ts';
import type { UserRecord } from './user.ts';

/** Everything the sync planner diffs against. */
export interface SyncState {
  users: UserRecord[];
  groups: GroupRecord[];
  memberships: MembershipPair[];
}
