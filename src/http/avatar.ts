/**
 * Serving the avatars Avatar Background Sync stored: the image bytes with a Content-Type read
 * from their magic bytes (never the stored type, never anything but a raster image: no SVG, no
 * HTML), a strong ETag from the stored SHA-256, 304 on a matching If-None-Match (answered from
 * the hash alone, without reading the bytes), and headers that keep a browser from treating the
 * bytes as anything else (`nosniff`, a CSP that allows nothing, a sandbox).
 *
 * Caching: a URL carrying the current hash (`?v=<hash>`, as the session response and the console
 * build it) never changes content, so it may be kept a year (`immutable`); any other URL must be
 * revalidated (`no-cache`, then 304). Both are `private`: avatars are served to authenticated
 * callers only. `server.ts` marks every `/api/` response `no-store`; the route-level `onSend`
 * hook here runs after it and sets the avatar's own policy on 200 and 304.
 */
import type { FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify';
import { z } from 'zod';
import { imageTypeOf } from '../mapping/avatar.ts';
import type { AvatarInfo } from '../model/index.ts';
import type { Store } from '../store/store.ts';
import { HttpError } from './errors.ts';

/** The image types an avatar is ever served as (what `imageTypeOf` recognises; SVG never). */
const SERVED_IMAGE_TYPES: ReadonlyMap<string, string> = new Map([
  ['image/jpeg', 'jpg'],
  ['image/png', 'png'],
  ['image/gif', 'gif'],
  ['image/webp', 'webp'],
]);

/** The CSP of an image response: nothing may load, run or frame it if it is opened as a page. */
export const IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox";

/** A year: how long a URL with the current hash may be cached. */
const IMMUTABLE_CACHE = 'private, max-age=31536000, immutable';
/** Any other avatar URL: kept, but revalidated each time (a 304 costs one hash lookup). */
const REVALIDATE_CACHE = 'private, no-cache';

/** The `v` query parameter of the avatar routes: the hash the caller expects. */
export const avatarQuerySchema = z.object({
  v: z.string().max(128).optional().describe('the avatar hash from the user record; with the current hash the response may be cached for a year'),
});

/** What an image route declares for its 200: the bytes, as one of the served types (the OpenAPI document lists them). */
export const imageResponseSchema = {
  description: 'the image bytes; the type is read from them',
  content: Object.fromEntries([...SERVED_IMAGE_TYPES.keys()].map((type) => [type, { schema: z.string().meta({ format: 'binary' }) }])),
};

/** The strong ETag of an avatar: its SHA-256, quoted. */
export function avatarEtag(contentHash: string): string {
  return `"${contentHash}"`;
}

/**
 * Whether an If-None-Match header matches the ETag. The comparison is weak (RFC 9110 13.1.2):
 * `W/"x"` matches `"x"`, and `*` matches anything.
 */
export function ifNoneMatchHits(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value.trim() === '*') return true;
  return value.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}

/** Everything needed to describe an avatar to a client: its hash and where to fetch it. */
export function avatarRef(info: Pick<AvatarInfo, 'userId' | 'contentHash'>, urlBase: string): { hash: string; url: string } {
  return { hash: info.contentHash, url: `${urlBase}/users/${encodeURIComponent(info.userId)}/avatar?v=${info.contentHash}` };
}

/** The avatar hashes of some users (one query), by user id. */
export async function avatarHashes(store: Store, userIds: readonly string[]): Promise<Map<string, string>> {
  if (userIds.length === 0) return new Map();
  return new Map((await store.mapping.listAvatarInfo(userIds)).map((info) => [info.userId, info.contentHash]));
}

/** Route-level `onSend`: the avatar's cache policy replaces the API's `no-store` on 200 and 304. */
export const avatarCacheHook: onSendHookHandler = async (request, reply, payload) => {
  if (reply.statusCode !== 200 && reply.statusCode !== 304) return payload;
  const etag = reply.getHeader('etag');
  const wanted = (request.query as { v?: unknown } | undefined)?.v;
  const isVersioned = typeof wanted === 'string' && typeof etag === 'string' && etag === avatarEtag(wanted);
  reply.header('cache-control', isVersioned ? IMMUTABLE_CACHE : REVALIDATE_CACHE);
  return payload;
};

/**
 * Answers with the avatar of a user the caller may see (the route has checked the user exists):
 * 304 when If-None-Match holds its hash, the bytes otherwise, 404 `avatars.not_found` when it has
 * none, 404 `avatars.unsupported_image` when the stored bytes are not an image we serve.
 */
export async function sendAvatar(store: Store, request: FastifyRequest, reply: FastifyReply, userId: string): Promise<FastifyReply> {
  const info = (await store.mapping.listAvatarInfo([userId]))[0];
  if (info === undefined) throw new HttpError(404, 'avatars.not_found', 'this user has no avatar');
  if (ifNoneMatchHits(request.headers['if-none-match'], avatarEtag(info.contentHash))) {
    return reply.code(304).header('etag', avatarEtag(info.contentHash)).send();
  }
  // The bytes are read only now; the avatar may have changed or gone since the hash was read.
  const avatar = await store.mapping.getAvatar(userId);
  if (avatar === undefined) throw new HttpError(404, 'avatars.not_found', 'this user has no avatar');
  const type = imageTypeOf(avatar.data);
  const extension = type === undefined ? undefined : SERVED_IMAGE_TYPES.get(type);
  if (type === undefined || extension === undefined) {
    request.log.warn({ userId, storedType: avatar.mimeType }, 'stored avatar is not a served image type');
    throw new HttpError(404, 'avatars.unsupported_image', 'the stored avatar is not a JPEG, PNG, GIF or WebP image, so it is not served');
  }
  return reply
    .code(200)
    .header('content-type', type)
    .header('content-length', String(avatar.data.length))
    .header('etag', avatarEtag(avatar.contentHash))
    .header('last-modified', new Date(avatar.updatedAt).toUTCString())
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', IMAGE_CSP)
    .header('content-disposition', `inline; filename="avatar.${extension}"`)
    .send(avatar.data);
}
