/**
 * Live mode's watcher: one long-lived connection that says when the directory changed, so a run
 * reads the change within seconds. On servers with RFC 4533 content sync it is a refreshAndPersist
 * search (the server pushes each change); on Active Directory, DirSync asked every `pollMs` on the
 * same connection. The watcher reads no data for the store: each change only triggers an
 * incremental run, which reads it from the stored position like any other run.
 */
import { type DirectoryConnection, defaultUniqueIdAttribute, readContentSync, readDirSync, supportsContentSync } from '../../directory/index.ts';
import { DirbridgeError } from '../../errors.ts';
import { formatDn, parseDn, type Rdn } from '../../ldap/dn.ts';
import { or, parseFilter } from '../../ldap/filter.ts';
import { dirSyncCookieNow } from './dirsync-feed.ts';
import { feedQueries } from './read-delta.ts';
import type { ModeSettings } from './sync-mode.ts';

/** What the watcher needs. */
export interface WatchDeps {
  settings: ModeSettings;
  openDirectory: () => Promise<DirectoryConnection>;
}

/** The deepest DN both are at or under ('' when they share none). */
export function commonAncestorDn(a: string, b: string): string {
  const left = parseDn(a).reverse();
  const right = parseDn(b).reverse();
  const shared: Rdn[] = [];
  for (let index = 0; index < Math.min(left.length, right.length); index += 1) {
    const [x, y] = [left[index], right[index]];
    if (x === undefined || y === undefined || formatDn([x]).toLowerCase() !== formatDn([y]).toLowerCase()) break;
    shared.push(x);
  }
  return formatDn(shared.reverse());
}

/** Waits until `ms` pass or `stop` aborts. */
function pause(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      stop.removeEventListener('abort', done);
      resolve();
    }
    stop.addEventListener('abort', done, { once: true });
  });
}

/**
 * Calls `onChange` after each change the directory reports, until `stop` aborts (then resolves).
 * Throws a typed error when the connection fails, or `directory.unsupported` when the server has
 * neither feed; the caller (a scheduler job) starts it again on its next tick.
 */
export async function watchDirectoryChanges(deps: WatchDeps, options: { onChange: () => void; stop: AbortSignal; pollMs: number }): Promise<void> {
  const { settings } = deps;
  const groups = settings.groups?.enabled === true ? settings.groups : undefined;
  const baseDn = groups === undefined ? settings.users.baseDn : commonAncestorDn(settings.users.baseDn, groups.baseDn);
  const filter = groups === undefined ? parseFilter(settings.users.filter) : or(parseFilter(settings.users.filter), parseFilter(groups.filter));
  const directory = await deps.openDirectory();
  try {
    const { rootDse } = directory;
    if (rootDse.serverType !== 'active-directory' && supportsContentSync(rootDse)) {
      await directory.close();
      let isLive = false;
      for await (const event of readContentSync(settings.directory, {
        baseDn,
        scope: 'sub',
        filter,
        attributes: ['1.1'],
        uniqueIdAttribute: defaultUniqueIdAttribute(rootDse.serverType),
        mode: 'refreshAndPersist',
        signal: options.stop,
      })) {
        if (event.type === 'refreshDone') isLive = true;
        else if (isLive && (event.type === 'entry' || event.type === 'delete' || event.type === 'present')) options.onChange();
      }
      return;
    }
    const namingContext = rootDse.defaultNamingContext;
    if (rootDse.serverType !== 'active-directory' || namingContext === undefined) {
      throw new DirbridgeError(
        'directory.unsupported',
        'live sync needs RFC 4533 content sync (OpenLDAP syncprov, the 389-DS plugin) or DirSync (Active Directory)',
      );
    }
    // DirSync reports an object only when an attribute it was asked for changed: ask for every
    // attribute the users' and groups' reads map (member included).
    const queries = feedQueries(settings, 'active-directory');
    const attributes = [...new Set([...queries.users.attributes, ...(queries.groups?.attributes ?? [])])];
    let cookie = await dirSyncCookieNow(directory, namingContext);
    while (!options.stop.aborted) {
      await pause(options.pollMs, options.stop);
      if (options.stop.aborted) break;
      let changed = false;
      for await (const event of readDirSync(directory, {
        namingContext,
        baseDn,
        // Broad, as tombstones lose most attributes (a narrow filter would hide deletions).
        filter: '(|(objectClass=user)(objectClass=group))',
        attributes,
        cookie,
        incrementalValues: true,
        uniqueIdAttribute: 'objectGUID',
      })) {
        if (event.type === 'cookie') cookie = event.cookie;
        else changed = true;
      }
      if (changed) options.onChange();
    }
  } finally {
    await directory.close();
  }
}
