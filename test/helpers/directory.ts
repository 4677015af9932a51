/** Directory settings for tests against the slapd fixture: the reader account, short timeouts. */
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { directorySettingsSchema, type DirectorySettings } from '../../src/settings/schema.ts';
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
export async function writeSlapdConfig(file: string, slapd: Slapd, overrides: Record<string, unknown> = {}): Promise<{ DIRBRIDGE_DIRECTORY_BIND_PASSWORD: string }> {
  const base = {
    directory: { urls: [slapd.url], bindDn: slapd.readerDn },
    users: { baseDn: slapd.baseDn },
    groups: { baseDn: `ou=groups,${slapd.baseDn}` },
  };
  await writeFile(file, stringify(merge(base, overrides)));
  return { DIRBRIDGE_DIRECTORY_BIND_PASSWORD: slapd.readerPassword };
}
