/** Directory settings for tests against the slapd fixture: the reader account, short timeouts. */
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { openDirectory } from '../../src/directory/index.ts';
import { isDirbridgeError } from '../../src/errors.ts';
import { type DirectorySettings, directorySettingsSchema } from '../../src/settings/schema.ts';
import type { Slapd } from '../fixtures/slapd.ts';
import { merge } from './harness.ts';

/** Validated directory settings for `slapd`, with overrides. */
export function slapdDirectorySettings(slapd: Slapd, overrides: Record<string, unknown> = {}): DirectorySettings {
  return directorySettingsSchema.parse({
    urls: [slapd.url],
    bindDn: slapd.readerDn,
    bindPassword: slapd.readerPassword,
    connectTimeoutMs: 2_000,
    operationTimeoutMs: 5_000,
    ...overrides,
  });
}

/**
 * Writes a dirbridge config file for the slapd fixture — the reader account, its people and
 * `ou=groups`, merged with `overrides` — and returns the environment that supplies the bind
 * password (config files in tests never hold it).
 */
export async function writeSlapdConfig(
  file: string,
  slapd: Slapd,
  overrides: Record<string, unknown> = {},
): Promise<{ DIRBRIDGE_DIRECTORY_BIND_PASSWORD: string }> {
  const base = {
    directory: { urls: [slapd.url], bindDn: slapd.readerDn },
    users: { baseDn: slapd.baseDn },
    groups: { baseDn: `ou=groups,${slapd.baseDn}` },
  };
  await writeFile(file, stringify(merge(base, overrides)));
  return { DIRBRIDGE_DIRECTORY_BIND_PASSWORD: slapd.readerPassword };
}

/** An attribute's values as slapd's rootdn reads them; undefined when the entry does not exist. */
export async function readAttribute(slapd: Slapd, dn: string, attribute: string): Promise<string[] | undefined> {
  await using directory = await openDirectory(slapdDirectorySettings(slapd, { bindDn: slapd.adminDn, bindPassword: slapd.adminPassword }));
  try {
    const [entry] = await directory.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes: [attribute], maxEntries: 1 });
    return (entry?.attributes[attribute.toLowerCase()] ?? []).map(String);
  } catch (error) {
    if (isDirbridgeError(error, 'directory.no_such_object')) return undefined;
    throw error;
  }
}

/** True when `dn` binds to slapd with `password`. */
export async function bindsToSlapd(slapd: Slapd, dn: string, password: string): Promise<boolean> {
  try {
    await (await openDirectory(slapdDirectorySettings(slapd, { bindDn: dn, bindPassword: password }))).close();
    return true;
  } catch {
    return false;
  }
}
