/**
 * A syncUUID (16 bytes) written the way the server writes the entry's unique id attribute, so
 * that an id in a sync event equals `uniqueIdOf(entry, uniqueIdAttribute)` of the stored entry,
 * deletes (which carry only the bytes) included:
 * - OpenLDAP's syncUUID is the entryUUID: RFC 4122 text, `8-4-4-4-12` lower-case hex;
 * - 389-DS's syncUUID is the nsUniqueId's 32 hex digits as bytes, and nsUniqueId reads `8-8-8-8`.
 */

/** Formats `uuid` as the text of `uniqueIdAttribute` (`nsUniqueId`: 8-8-8-8, anything else: RFC 4122 8-4-4-4-12). */
export function formatSyncUuid(uuid: Buffer, uniqueIdAttribute: string): string {
  if (uuid.length !== 16) throw new RangeError(`a syncUUID has 16 bytes, not ${uuid.length}`);
  const hex = uuid.toString('hex');
  const groups = uniqueIdAttribute.toLowerCase() === 'nsuniqueid' ? [8, 8, 8, 8] : [8, 4, 4, 4, 12];
  const parts: string[] = [];
  let start = 0;
  for (const size of groups) {
    parts.push(hex.slice(start, start + size));
    start += size;
  }
  return parts.join('-');
}
