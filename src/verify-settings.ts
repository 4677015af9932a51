/**
 * A verified settings save: before new connection settings (`directory.*`) go live on every
 * instance, they must connect and bind. The HTTP API (`PUT /api/v1/admin/settings?verify=connection`)
 * and the CLI (`settings import --verify`) both save through `saveSettings`.
 *
 * The check opens one connection with the new settings (failover, TLS or StartTLS, the service
 * account's bind, the RootDSE) and closes it; nothing else is read, and nothing is saved when it
 * fails. Mapping keys are not part of it: a role map naming a group that does not exist yet is
 * Test Connection's warning, never a reason to refuse a save.
 */
import type { App, SettingsState } from './app.ts';
import { type ConnectionSecurity, type DirectoryConnection, openDirectory } from './directory/index.ts';
import { type DirectoryObserver, timedOpener } from './directory/timed.ts';
import { isDirbridgeError } from './errors.ts';
import type { DirectorySettings, Settings } from './settings/schema.ts';
import { applySettingsEdit, directoryPaths } from './settings/stored-settings.ts';

/** Opens a connection bound as the service account with the given directory settings. */
export type DirectoryOpener = (directory: DirectorySettings) => Promise<DirectoryConnection>;

/** An opener whose connections are timed like every other directory operation (for the server's metrics). */
export function timedDirectoryOpener(observe: DirectoryObserver): DirectoryOpener {
  return (directory) => timedOpener(() => openDirectory(directory), observe)();
}

/** The outcome of connecting and binding with settings that are not (yet) in force. Never holds a secret. */
export type ConnectionCheck =
  | { status: 'passed'; url: string; security: ConnectionSecurity; serverType: string; bindDn: string | null }
  | { status: 'failed'; error: { code: string; message: string } };

/** What a verified save found: the check, or why none was needed; `paths` are the changed `directory.*` paths. */
export type Verification = (ConnectionCheck | { status: 'skipped'; reason: string }) & { paths: string[] };

/** The outcome of `saveSettings`. */
export type SaveOutcome =
  | { outcome: 'saved'; state: SettingsState; changed: string[]; verification?: Verification }
  | { outcome: 'refused'; state: SettingsState; changed: string[]; verification: Verification & { status: 'failed' } };

/** The error code of a refused verified save (HTTP 422, CLI exit 1). */
export const VERIFICATION_FAILED = 'settings.verification_failed';

/**
 * Connects and binds with `settings.directory` on a one-off connection, then closes it.
 * A `directory.*` failure is the result, not an exception; anything else throws.
 */
export async function checkConnection(
  settings: Pick<Settings, 'directory'>,
  open: DirectoryOpener = (directory) => openDirectory(directory),
): Promise<ConnectionCheck> {
  let connection: DirectoryConnection;
  try {
    connection = await open(settings.directory);
  } catch (error) {
    if (isDirbridgeError(error)) return { status: 'failed', error: { code: error.code, message: error.message } };
    throw error;
  }
  try {
    return {
      status: 'passed',
      url: connection.url,
      security: connection.security,
      serverType: connection.rootDse.serverType,
      bindDn: settings.directory.bindDn ?? null,
    };
  } finally {
    await connection.close();
  }
}

/** The refusal's message: what failed, and that nothing was saved. */
export function verificationMessage(verification: Verification & { status: 'failed' }): string {
  return `the new directory settings (${verification.paths.join(', ')}) could not connect and bind, so nothing was saved: ${verification.error.message} (${verification.error.code})`;
}

/**
 * Saves an edit as `app.updateSettings` does; with `verify`, first checks that changed
 * connection settings connect and bind, and refuses (saving nothing) when they do not. The
 * edit is validated and its version checked before any connection is opened, so an invalid
 * document or a stale version fails as without `verify`. With `isDryRun`, nothing is saved
 * either way, but the check still runs.
 */
export async function saveSettings(
  app: App,
  document: unknown,
  options: { expectedVersion: number; actor: string; isDryRun?: boolean; verify?: boolean; open?: DirectoryOpener },
): Promise<SaveOutcome> {
  const update = { expectedVersion: options.expectedVersion, actor: options.actor };
  if (options.verify !== true) {
    const result = await app.updateSettings(document, { ...update, isDryRun: options.isDryRun === true });
    return { outcome: 'saved', state: stateOf(result), changed: result.changed };
  }
  // Validates, and checks the version (reloading once), without saving.
  const preview = await app.updateSettings(document, { ...update, isDryRun: true });
  const paths = directoryPaths(preview.changed);
  let verification: Verification;
  if (paths.length === 0) {
    verification = { status: 'skipped', reason: 'the directory settings are unchanged', paths };
  } else {
    const candidate = applySettingsEdit(document, app.settings);
    verification = { ...(await checkConnection(candidate, options.open)), paths };
    if (verification.status === 'failed') return { outcome: 'refused', state: stateOf(preview), changed: preview.changed, verification };
  }
  if (options.isDryRun === true) return { outcome: 'saved', state: stateOf(preview), changed: preview.changed, verification };
  const result = await app.updateSettings(document, { ...update, isDryRun: false });
  return { outcome: 'saved', state: stateOf(result), changed: result.changed, verification };
}

function stateOf(state: SettingsState): SettingsState {
  return { settings: state.settings, version: state.version, updatedAt: state.updatedAt, updatedBy: state.updatedBy, problems: state.problems };
}
