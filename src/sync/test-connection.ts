/**
 * Test Connection (the seeds' button): connect with failover, bind as the service account, read
 * the RootDSE, read the users and groups once to warn about settings that do not fit the data
 * (`check-data-fit.ts`), and warn about mapping keys that name no group and about a login throttle
 * that the directory's lockout policy leaves no room for. A base DN that does not exist fails the
 * test, naming the setting and the server's naming contexts. When asked (`writeAccess`), it also
 * probes, without changing anything, whether the bind account may write to the write-back's
 * `usersDn` and `groupsDn` (src/directory/write-probe.ts; `writeAccessProbeFor` says when to ask),
 * and warns, naming the setting and the DN, where it may not or where no entry has that DN. The
 * CLI and the HTTP API both build their report here.
 */

import { throttleWarnings } from '../auth/lockout-policies.ts';
import type { DirectoryConnection, WritableDirectoryConnection } from '../directory/index.ts';
import { probeWriteAccess, type WriteAccess } from '../directory/write-probe.ts';
import { DirbridgeError, isDirbridgeError } from '../errors.ts';
import { nameOfOid } from '../ldap/known-oids.ts';
import { resolveUniqueIdAttribute } from '../mapping/unique-id.ts';
import type { Settings } from '../settings/schema.ts';
import { checkDataFit } from './check-data-fit.ts';
import { checkMappingKeys } from './check-mapping-keys.ts';
import { isMissingBase, nameBaseDnSetting } from './missing-base.ts';

/** What Test Connection reports. Never holds the bind password. */
export interface TestConnectionReport {
  status: 'ok';
  url: string;
  security: DirectoryConnection['security'];
  serverType: string;
  vendor: string | null;
  /** The attribute users are keyed by: users.uniqueIdAttribute, with `auto` resolved for this server (nsUniqueId on 389-DS). */
  uniqueIdAttribute: string;
  bind: { dn: string | null; result: 'success' };
  namingContexts: string[];
  supportsPaging: boolean;
  supportedControls: Array<{ oid: string; name: string }>;
  supportedExtensions: Array<{ oid: string; name: string }>;
  /** Present when asked for: whether the bind account may write to each DN probed. */
  writeAccess?: { usersDn?: WriteAccess; groupsDn?: WriteAccess };
  warnings: string[];
}

/** What to probe for write access, and how to open a connection that may write. */
export interface WriteAccessProbe {
  usersDn?: string;
  groupsDn?: string;
  openWritable: () => Promise<WritableDirectoryConnection>;
}

async function probeAll(probe: WriteAccessProbe): Promise<{ writeAccess: NonNullable<TestConnectionReport['writeAccess']>; warnings: string[] }> {
  const writeAccess: NonNullable<TestConnectionReport['writeAccess']> = {};
  const warnings: string[] = [];
  const targets = (['usersDn', 'groupsDn'] as const).filter((key) => probe[key] !== undefined);
  if (targets.length === 0) return { writeAccess, warnings };
  await using connection = await probe.openWritable();
  for (const key of targets) {
    const dn = probe[key] ?? '';
    const found = await probeOne(connection, dn);
    writeAccess[key] = found;
    if (found.writable !== true) warnings.push(`writeBack.${key}: ${found.detail} (${dn})`);
  }
  return { writeAccess, warnings };
}

/** The probe's answer, with a DN that names no entry reported (the write-back cannot create anything there) rather than thrown. */
async function probeOne(connection: WritableDirectoryConnection, dn: string): Promise<WriteAccess> {
  try {
    return await probeWriteAccess(connection, dn);
  } catch (error) {
    if (isDirbridgeError(error, 'directory.no_such_object'))
      return { dn, writable: undefined, detail: 'no entry has this DN, so nothing can be written under it' };
    throw error;
  }
}

/**
 * The write-access probe Test Connection runs when the write-back writes to the directory
 * (`writeBack.enabled` and mode `writable`): `writeBack.usersDn` and `writeBack.groupsDn`, those
 * that are set, on a connection from `openWritable`. Undefined otherwise: nothing is probed.
 */
export function writeAccessProbeFor(
  settings: Pick<Settings, 'writeBack'>,
  openWritable: () => Promise<WritableDirectoryConnection>,
): WriteAccessProbe | undefined {
  const { enabled, mode, usersDn, groupsDn } = settings.writeBack;
  if (!enabled || mode !== 'writable') return undefined;
  return { ...(usersDn === undefined ? {} : { usersDn }), ...(groupsDn === undefined ? {} : { groupsDn }), openWritable };
}

/** Opens a connection, builds the report and closes it; connection, bind and missing-base failures throw their `directory.*` errors. */
export async function testConnection(deps: {
  openDirectory: () => Promise<DirectoryConnection>;
  settings: Pick<Settings, 'directory' | 'mapping' | 'users' | 'groups' | 'login'>;
  writeAccess?: WriteAccessProbe;
}): Promise<TestConnectionReport> {
  const directory = await deps.openDirectory();
  try {
    const root = directory.rootDse;
    let warnings: string[];
    try {
      warnings = [...(await checkDataFit(directory, deps.settings)), ...(await checkMappingKeys(directory, deps.settings))];
    } catch (error) {
      throw withNamingContexts(nameBaseDnSetting(error, deps.settings), root.namingContexts);
    }
    const probed = deps.writeAccess === undefined ? undefined : await probeAll(deps.writeAccess);
    return {
      status: 'ok',
      url: directory.url,
      security: directory.security,
      serverType: root.serverType,
      uniqueIdAttribute: resolveUniqueIdAttribute(deps.settings.users.uniqueIdAttribute, root.serverType),
      vendor: [root.vendorName, root.vendorVersion].filter((part) => part !== undefined).join(' ') || null,
      bind: { dn: deps.settings.directory.bindDn ?? null, result: 'success' },
      namingContexts: root.namingContexts,
      supportsPaging: root.supportsPaging,
      supportedControls: root.supportedControls.map((oid) => ({ oid, name: nameOfOid(oid) ?? '' })),
      supportedExtensions: root.supportedExtensions.map((oid) => ({ oid, name: nameOfOid(oid) ?? '' })),
      ...(probed === undefined ? {} : { writeAccess: probed.writeAccess }),
      warnings: [...warnings, ...(await throttleWarnings(directory, deps.settings)), ...(probed?.warnings ?? [])],
    };
  } finally {
    await directory.close();
  }
}

/** A missing base's error, with the naming contexts the server offers instead; other errors as they are. */
function withNamingContexts(error: unknown, namingContexts: readonly string[]): unknown {
  if (!isMissingBase(error) || namingContexts.length === 0) return error;
  return new DirbridgeError(error.code, `${error.message}; the server's naming contexts are ${namingContexts.join('; ')}`, {
    cause: error,
    details: { ...error.details, namingContexts: [...namingContexts] },
  });
}
