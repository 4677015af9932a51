/**
 * Group entries as an incremental run keeps them between runs (`directory_groups`): the mapped
 * group with its direct member values, as JSON with a content hash, so a run writes only the
 * groups whose entries changed.
 */
import { createHash } from 'node:crypto';
import type { MappedGroup } from '../../mapping/group.ts';
import type { StoredDirectoryGroup } from '../../model/index.ts';

/** The stored form of a mapped group (resolved members, if any, are not kept: they are derived). */
export function storedGroupOf(group: MappedGroup): StoredDirectoryGroup {
  const kept: MappedGroup = {
    externalId: group.externalId,
    dn: group.dn,
    dnKey: group.dnKey,
    name: group.name,
    memberDnKeys: group.memberDnKeys,
    memberUids: group.memberUids,
    ...(group.uniqueIdentifiers === undefined ? {} : { uniqueIdentifiers: group.uniqueIdentifiers }),
  };
  const content = JSON.stringify(kept);
  return { externalId: group.externalId, content, contentHash: createHash('sha256').update(content).digest('base64url') };
}

/** Reads a stored group back; throws when the row is not one this version wrote. */
export function mappedGroupOf(stored: StoredDirectoryGroup): MappedGroup {
  const value: unknown = JSON.parse(stored.content);
  if (!isMappedGroup(value) || value.externalId !== stored.externalId) throw new Error(`stored group ${stored.externalId} is not a mapped group`);
  return value;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isMappedGroup(value: unknown): value is MappedGroup {
  if (typeof value !== 'object' || value === null) return false;
  const group = value as Record<string, unknown>;
  return (
    typeof group.externalId === 'string' &&
    typeof group.dn === 'string' &&
    typeof group.dnKey === 'string' &&
    typeof group.name === 'string' &&
    isStringArray(group.memberDnKeys) &&
    isStringArray(group.memberUids) &&
    (group.uniqueIdentifiers === undefined || isStringArray(group.uniqueIdentifiers))
  );
}

/** What to write so the stored groups become `after`, given the hashes stored now. */
export function storedGroupChanges(
  storedHashes: ReadonlyMap<string, string>,
  after: Iterable<MappedGroup>,
): { upserted: StoredDirectoryGroup[]; removed: string[] } {
  const upserted: StoredDirectoryGroup[] = [];
  const present = new Set<string>();
  for (const group of after) {
    present.add(group.externalId);
    const stored = storedGroupOf(group);
    if (storedHashes.get(group.externalId) !== stored.contentHash) upserted.push(stored);
  }
  const removed = [...storedHashes.keys()].filter((externalId) => !present.has(externalId));
  return { upserted, removed };
}
