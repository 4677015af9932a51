/**
 * Avatars from directory photos (jpegPhoto, thumbnailPhoto): the first configured attribute
 * with a value, accepted only when it is a real image within the size limit, and identified
 * by its SHA-256 so an unchanged photo is never rewritten. Pure.
 */
import { createHash } from 'node:crypto';
import type { DirectoryEntry } from '../ldap/entry.ts';

/** A photo worth storing. */
export interface AvatarImage {
  contentHash: string;
  mimeType: string;
  data: Buffer;
}

/** What the directory offers for one user: a usable image, nothing, or a photo that was refused and why. */
export type AvatarReading = { image: AvatarImage } | { none: true } | { skipped: string };

const SIGNATURES: ReadonlyArray<{ mimeType: string; matches: (data: Buffer) => boolean }> = [
  { mimeType: 'image/jpeg', matches: (data) => data.length > 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff },
  { mimeType: 'image/png', matches: (data) => data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) },
  { mimeType: 'image/gif', matches: (data) => ['GIF87a', 'GIF89a'].includes(data.subarray(0, 6).toString('latin1')) },
  { mimeType: 'image/webp', matches: (data) => data.subarray(0, 4).toString('latin1') === 'RIFF' && data.subarray(8, 12).toString('latin1') === 'WEBP' },
];

/** The image type of `data` by its magic bytes, or undefined when it is not an image we accept. */
export function imageTypeOf(data: Buffer): string | undefined {
  return SIGNATURES.find((signature) => signature.matches(data))?.mimeType;
}

/** Reads the entry's photo from the first attribute that has one. */
export function readAvatar(entry: DirectoryEntry, attributes: readonly string[], maxBytes: number): AvatarReading {
  for (const attribute of attributes) {
    const value = entry.attributes[attribute.toLowerCase()]?.[0];
    if (value === undefined) continue;
    const data = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
    if (data.length > maxBytes) return { skipped: `${attribute} is ${data.length} bytes, over the ${maxBytes}-byte limit` };
    const mimeType = imageTypeOf(data);
    if (mimeType === undefined) return { skipped: `${attribute} is not a JPEG, PNG, GIF or WebP image` };
    return { image: { contentHash: createHash('sha256').update(data).digest('hex'), mimeType, data } };
  }
  return { none: true };
}
