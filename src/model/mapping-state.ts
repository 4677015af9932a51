/**
 * What the mapping planner diffs against: roles, channels, teams, custom fields, ABAC
 * attributes and avatars.
 */
import type { ChannelRecord } from './channel.ts';
import type { TeamRecord } from './team.ts';

/** Everything the mapping planner diffs against, loaded in a handful of queries. */
export interface MappingState {
  roles: Array<{ userId: string; role: string }>;
  channels: ChannelRecord[];
  channelMembers: Array<{ channelId: string; userId: string }>;
  teams: TeamRecord[];
  teamMembers: Array<{ teamId: string; userId: string }>;
  /** Only users that have any. */
  customFields: Array<{ userId: string; fields: Record<string, string> }>;
  /** Only users that have any. */
  abacAttributes: Array<{ userId: string; attributes: Record<string, string[]> }>;
  /** Only users that have one. */
  avatarHashes: Array<{ userId: string; contentHash: string }>;
}
