/**
 * The settings document as the store keeps it and as the API shows it. Pure functions:
 *
 * - stored form: everything but `store`, with each secret sealed (`toStoredDocument`,
 *   `fromStoredDocument`);
 * - shown form: everything but `store`, with secrets removed and reported only as set or not
 *   (`redactSettings`);
 * - an edit: a whole document where a secret that is absent keeps its value, a string sets it
 *   and null clears it (`resolveSecretEdits`);
 * - an edit checked as a save checks it, without saving: the settings it would put in force
 *   (`applySettingsEdit`), so unsaved values can be tested;
 * - what changed between two versions, by path, for the audit log and drift warnings
 *   (`changedSettingPaths`).
 */
import { DirbridgeError } from '../errors.ts';
import type { JsonValue } from '../model/index.ts';
import { isRecord, validateSettings } from './load.ts';
import { SECRET_SETTING_PATHS, type Settings, type StoreSettings } from './schema.ts';
import type { SecretBox } from './secret-box.ts';

/** The settings without the `store` section: what the store keeps and the API edits. */
export type EditableSettings = Omit<Settings, 'store'>;

/** The API's view: no secret values, only whether each is set. */
export interface RedactedSettings {
  settings: Record<string, unknown>;
  secrets: Record<string, { isSet: boolean }>;
}

/** Drops `store`; the store's own location comes from the file and environment only. */
export function editablePart(settings: Settings): EditableSettings {
  const { store: _store, ...rest } = settings;
  return rest;
}

/** The JSON the store keeps: `settings` without `store`, secrets sealed and bound to their paths. */
export function toStoredDocument(settings: Settings, box: SecretBox): JsonValue {
  const document = structuredClone(editablePart(settings)) as Record<string, unknown>;
  for (const path of SECRET_SETTING_PATHS) {
    const value = getPath(document, path);
    if (typeof value === 'string') setPath(document, path, box.seal(value, path));
  }
  return document as JsonValue;
}

/** Opens the sealed secrets of a stored document, adds the store section and validates. */
export function fromStoredDocument(document: JsonValue, store: StoreSettings, box: SecretBox, origin: string): Settings {
  return validateSettings({ ...openStoredSecrets(document, box), store }, origin);
}

/** A copy of a stored document with its sealed secrets opened (not validated). */
export function openStoredSecrets(document: JsonValue, box: SecretBox): Record<string, unknown> {
  const opened: Record<string, unknown> = isRecord(document) ? structuredClone(document) : {};
  for (const path of SECRET_SETTING_PATHS) {
    const value = getPath(opened, path);
    if (value !== undefined) setPath(opened, path, box.open(String(value), path));
  }
  return opened;
}

/** The settings as administrators see them: secrets removed, each reported as set or not. */
export function redactSettings(settings: Settings): RedactedSettings {
  const shown = structuredClone(editablePart(settings)) as Record<string, unknown>;
  const secrets: RedactedSettings['secrets'] = {};
  for (const path of SECRET_SETTING_PATHS) {
    const value = getPath(shown, path);
    secrets[path] = { isSet: typeof value === 'string' && value !== '' };
    deletePath(shown, path);
  }
  return { settings: shown, secrets };
}

/**
 * Applies an edit's secret rules to a submitted document (not yet validated): a secret that is
 * absent keeps the current value, a string replaces it, null removes it.
 */
export function resolveSecretEdits(submitted: unknown, current: Settings | Record<string, unknown>): unknown {
  if (!isRecord(submitted)) return submitted;
  const document = structuredClone(submitted);
  const currentDocument: Record<string, unknown> = { ...current };
  for (const path of SECRET_SETTING_PATHS) {
    const value = getPath(document, path);
    if (value === undefined) {
      const kept = getPath(currentDocument, path);
      if (kept !== undefined) setPath(document, path, kept);
    } else if (value === null) {
      deletePath(document, path);
    }
  }
  return document;
}

/**
 * Checks an edit exactly as saving it does and returns the settings it would put in force,
 * saving nothing: `store` is refused (it comes from the file and environment), the secret rules
 * of `resolveSecretEdits` apply against `current`, and the result is validated with `current`'s
 * store section. Throws `settings.invalid` naming every bad path.
 */
export function applySettingsEdit(document: unknown, current: Settings, origin = 'the submitted settings'): Settings {
  return applySettingsEditTo(document, { ...current }, current.store, origin);
}

/**
 * `applySettingsEdit` against any current document (such as a stored version the current rules
 * refuse, whose secrets an import keeps): the secret rules apply against `current`, `store` is
 * the store section the result gets.
 */
export function applySettingsEditTo(document: unknown, current: Record<string, unknown>, store: StoreSettings, origin: string): Settings {
  if (isRecord(document) && 'store' in document) {
    const problem = 'store: the store section cannot be changed at runtime (it comes from --config and the environment)';
    throw new DirbridgeError('settings.invalid', `invalid settings: ${problem}`, { details: { problems: [problem] } });
  }
  const withSecrets = resolveSecretEdits(document, current);
  const next = validateSettings(isRecord(withSecrets) ? { ...withSecrets, store } : withSecrets, origin);
  assertSecretStaysWithItsServers(document, current, next);
  return next;
}

/** The settings that say where the bind password goes: a kept password must not follow a change of them. */
const BIND_TARGET_PATHS = ['directory.urls', 'directory.bindDn', 'directory.startTls', 'directory.tls'] as const;

/**
 * A stored bind password is only ever sent to the servers, as the account, over the TLS it was
 * saved with. An edit that changes any of those and leaves the password out ("keep it") would
 * hand the stored password to a server the editor names — without anyone seeing it, in a test of
 * unsaved settings — so it is refused: the password must be entered again.
 */
function assertSecretStaysWithItsServers(document: unknown, current: Record<string, unknown>, next: Settings): void {
  const keptPassword =
    isRecord(document) && getPath(document, 'directory.bindPassword') === undefined && getPath(current, 'directory.bindPassword') !== undefined;
  if (!keptPassword) return;
  const moved = BIND_TARGET_PATHS.filter((path) => JSON.stringify(getPath(current, path)) !== JSON.stringify(getPath({ ...next }, path)));
  if (moved.length === 0) return;
  const problem = `directory.bindPassword: enter the bind password again; the stored one is only sent to the servers and account it was saved for, and ${moved.join(', ')} changed`;
  throw new DirbridgeError('settings.invalid', `invalid settings: ${problem}`, { details: { problems: [problem] } });
}

/** The paths among `changed` that belong to the connection (`directory.*`): those a verified save tests first. */
export function directoryPaths(changed: readonly string[]): string[] {
  return changed.filter((path) => path === 'directory' || path.startsWith('directory.'));
}

/** The leaf paths whose values differ (secrets included, by path only), sorted; `store` is never compared. */
export function changedSettingPaths(
  before: EditableSettings | Settings | Record<string, unknown>,
  after: EditableSettings | Settings | Record<string, unknown>,
): string[] {
  const changed = new Set<string>();
  const walk = (a: unknown, b: unknown, prefix: string) => {
    if (isRecord(a) && isRecord(b)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[key], b[key], prefix === '' ? key : `${prefix}.${key}`);
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) changed.add(prefix === '' ? '(document)' : prefix);
  };
  const withoutStore = (document: object) => Object.fromEntries(Object.entries(document).filter(([key]) => key !== 'store'));
  walk(withoutStore(before), withoutStore(after), '');
  return [...changed].sort();
}

function getPath(document: Record<string, unknown>, path: string): unknown {
  let current: unknown = document;
  for (const part of path.split('.')) {
    if (!isRecord(current)) return undefined;
    current = current[part];
  }
  return current;
}

function setPath(document: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let current = document;
  for (const part of parts.slice(0, -1)) {
    const next = current[part];
    if (!isRecord(next)) current[part] = {};
    current = current[part] as Record<string, unknown>;
  }
  current[parts[parts.length - 1] ?? ''] = value;
}

function deletePath(document: Record<string, unknown>, path: string): void {
  const parts = path.split('.');
  let current: unknown = document;
  for (const part of parts.slice(0, -1)) {
    if (!isRecord(current)) return;
    current = current[part];
  }
  if (isRecord(current)) delete current[parts[parts.length - 1] ?? ''];
}
