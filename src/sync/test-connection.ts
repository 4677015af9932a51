/**
 * Test Connection (the seeds' button): connect with failover, bind as the service account, read
 * the RootDSE, and warn about mapping keys that name no group and about a login throttle that the
 * directory's lockout policy leaves no room for. The CLI and the HTTP API both build their report here.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { nameOfOid } from '../ldap/known-oids.ts';
import type { Settings } from '../settings/schema.ts';
import { throttleWarnings } from '../auth/lockout-policies.ts';
import { checkMappingKeys } from './check-mapping-keys.ts';

/** What Test Connection reports. Never holds the bind password. */
export interface TestConnectionReport {
  status: 'ok';
  url: string;
  security: DirectoryConnection['security'];
  serverType: string;
  vendor: string | null;
  bind: { dn: string | null; result: 'success' };
  namingContexts: string[];
  supportsPaging: boolean;
  supportedControls: Array<{ oid: string; name: string }>;
  supportedExtensions: Array<{ oid: string; name: string }>;
  warnings: string[];
}

/** Opens a connection, builds the report and closes it; connection and bind failures throw their `directory.*` errors. */
export async function testConnection(deps: {
  openDirectory: () => Promise<DirectoryConnection>;
  settings: Pick<Settings, 'directory' | 'mapping' | 'users' | 'groups' | 'login'>;
}): Promise<TestConnectionReport> {
  const directory = await deps.openDirectory();
  try {
    const root = directory.rootDse;
    return {
      status: 'ok',
      url: directory.url,
      security: directory.security,
      serverType: root.serverType,
      vendor: [root.vendorName, root.vendorVersion].filter((part) => part !== undefined).join(' ') || null,
      bind: { dn: deps.settings.directory.bindDn ?? null, result: 'success' },
      namingContexts: root.namingContexts,
      supportsPaging: root.supportsPaging,
      supportedControls: root.supportedControls.map((oid) => ({ oid, name: nameOfOid(oid) ?? '' })),
      supportedExtensions: root.supportedExtensions.map((oid) => ({ oid, name: nameOfOid(oid) ?? '' })),
      warnings: [...(await checkMappingKeys(directory, deps.settings)), ...(await throttleWarnings(directory, deps.settings))],
    };
  } finally {
    await directory.close();
  }
}
