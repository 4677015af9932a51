/** Directory settings for tests against the slapd fixture: the reader account, short timeouts. */
import { directorySettingsSchema, type DirectorySettings } from '../../src/settings/schema.ts';
import type { Slapd } from '../fixtures/slapd.ts';

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
