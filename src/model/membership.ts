/**
 * Memberships: which user is in which group.
 */

/** A user-in-group pair. */
export interface MembershipPair {
  userId: string;
  groupId: string;
}
