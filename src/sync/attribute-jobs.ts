/**
 * The background attribute jobs from the seeds: Avatar Background Sync and ABAC Attributes
 * Background Sync. Each streams the user entries page by page with just the attributes it
 * needs, compares with the store, and writes only what changed, one transaction per page.
 * A fault stops the job where it is; nothing is removed for users it did not see.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { readAvatar } from '../mapping/avatar.ts';
import { mappedAttributes } from '../mapping/grants.ts';
import { resolveUniqueIdAttribute, uniqueIdOf } from '../mapping/unique-id.ts';
import type { Settings } from '../settings/schema.ts';
import type { Store, StoreWriter } from '../store/store.ts';

/** What an attribute job did. */
export interface AttributeJobResult {
  job: 'avatars' | 'abac';
  seen: number;
  updated: number;
  removed: number;
  skipped: number;
  warnings: string[];
  durationMs: number;
}

/** What the attribute jobs need. */
export interface AttributeJobDeps {
  store: Store;
  openDirectory: () => Promise<DirectoryConnection>;
  settings: Pick<Settings, 'users' | 'mapping' | 'directory'>;
  now?: () => Date;
}

/** Per page: the entries with their store user ids, and a writer for the page's changes. */
type PageHandler = (page: Array<{ entry: DirectoryEntry; userId: string; username: string }>, tx: StoreWriter, result: AttributeJobResult) => Promise<void>;

async function runUserPass(
  deps: AttributeJobDeps,
  job: AttributeJobResult['job'],
  attributes: readonly string[],
  handle: PageHandler,
): Promise<AttributeJobResult> {
  const started = Date.now();
  const result: AttributeJobResult = { job, seen: 0, updated: 0, removed: 0, skipped: 0, warnings: [], durationMs: 0 };
  const state = await deps.store.runs.loadSyncState();
  const byExternalId = new Map(
    state.users.flatMap((user) => (user.externalId === null || user.source !== 'directory' ? [] : [[user.externalId, user] as const])),
  );
  const directory = await deps.openDirectory();
  try {
    const idAttribute = resolveUniqueIdAttribute(deps.settings.users.uniqueIdAttribute, directory.rootDse.serverType);
    for await (const page of directory.searchPages({
      baseDn: deps.settings.users.baseDn,
      scope: deps.settings.users.scope,
      filter: deps.settings.users.filter,
      attributes: [idAttribute, ...attributes],
      pageSize: deps.settings.directory.pageSize,
      baseDnSetting: 'users.baseDn',
    })) {
      const known = page.flatMap((entry) => {
        const externalId = uniqueIdOf(entry, idAttribute);
        const user = externalId === undefined ? undefined : byExternalId.get(externalId);
        return user === undefined ? [] : [{ entry, userId: user.id, username: user.username }];
      });
      result.seen += known.length;
      if (known.length > 0) await deps.store.transaction((tx) => handle(known, tx, result));
    }
  } finally {
    await directory.close();
  }
  result.durationMs = Date.now() - started;
  return result;
}

/** Avatar Background Sync: stores new or changed photos, removes photos gone from the directory, skips bad ones with a recorded warning. */
export async function runAvatarSync(deps: AttributeJobDeps): Promise<AttributeJobResult> {
  const { avatars } = deps.settings.mapping;
  const hashes = new Map((await deps.store.mapping.loadState()).avatarHashes.map(({ userId, contentHash }) => [userId, contentHash]));
  const at = (deps.now ?? (() => new Date()))().toISOString();
  return runUserPass(deps, 'avatars', avatars.attributes, async (page, tx, result) => {
    const changed: Array<{ userId: string; username: string; contentHash: string; mimeType: string; data: Buffer }> = [];
    const gone: Array<{ userId: string; username: string }> = [];
    const skipped: Array<{ userId: string; username: string; reason: string }> = [];
    for (const { entry, userId, username } of page) {
      const reading = readAvatar(entry, avatars.attributes, avatars.maxBytes);
      if ('image' in reading) {
        if (hashes.get(userId) !== reading.image.contentHash) changed.push({ userId, username, ...reading.image });
      } else if ('none' in reading) {
        if (hashes.has(userId)) gone.push({ userId, username });
      } else {
        skipped.push({ userId, username, reason: reading.skipped });
      }
    }
    // Change-feed events first, in the same transaction: applications refetch the photo by its new hash.
    const events = [
      ...changed.map(({ userId, username, contentHash }) => ({
        actor: 'avatar-sync',
        action: 'user.avatar_changed',
        userId,
        subject: username,
        reason: 'new photo in the directory',
        details: { hash: contentHash },
        at,
      })),
      ...gone.map(({ userId, username }) => ({
        actor: 'avatar-sync',
        action: 'user.avatar_changed',
        userId,
        subject: username,
        reason: 'photo removed from the directory',
        details: { hash: null },
        at,
      })),
    ];
    if (events.length > 0) await tx.audit.append(events);
    if (changed.length > 0) await tx.mapping.setAvatars(changed.map(({ userId, contentHash, mimeType, data }) => ({ userId, contentHash, mimeType, data })));
    if (gone.length > 0) await tx.mapping.removeAvatars(gone.map(({ userId }) => userId));
    if (skipped.length > 0) {
      await tx.audit.append(
        skipped.map(({ userId, username, reason }) => ({ actor: 'avatar-sync', action: 'avatar.skipped', userId, subject: username, reason, at })),
      );
      for (const { username, reason } of skipped) result.warnings.push(`avatar of ${username} skipped: ${reason}`);
    }
    result.updated += changed.length;
    result.removed += gone.length;
    result.skipped += skipped.length;
  });
}

/** ABAC Attributes Background Sync: rewrites a user's ABAC attributes only when they changed. */
export async function runAbacSync(deps: AttributeJobDeps): Promise<AttributeJobResult> {
  const mapping = {
    ...deps.settings.mapping,
    abac: { ...deps.settings.mapping.abac, enabled: true },
    customFields: { ...deps.settings.mapping.customFields, enabled: false },
  };
  const canonical = (attributes: Record<string, string[]>) => JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const current = new Map((await deps.store.mapping.loadState()).abacAttributes.map(({ userId, attributes }) => [userId, canonical(attributes)]));
  return runUserPass(deps, 'abac', Object.keys(mapping.abac.map), async (page, tx, result) => {
    const changed = page.flatMap(({ entry, userId, username }) => {
      const { abacAttributes } = mappedAttributes(entry, mapping);
      return canonical(abacAttributes) === (current.get(userId) ?? canonical({})) ? [] : [{ userId, username, attributes: abacAttributes }];
    });
    if (changed.length > 0) {
      // As a full sync does: a `user.updated` change-feed event per user, before the change.
      const at = (deps.now ?? (() => new Date()))().toISOString();
      await tx.audit.append(
        changed.map(({ userId, username }) => ({
          actor: 'abac-sync',
          action: 'user.updated',
          userId,
          subject: username,
          reason: 'ABAC attributes changed',
          at,
        })),
      );
      await tx.mapping.setAbacAttributes(changed.map(({ userId, attributes }) => ({ userId, attributes })));
    }
    result.updated += changed.length;
  });
}
