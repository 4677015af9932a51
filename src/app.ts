/**
 * The composition root's services: one store, directory connections on demand, sync and login,
 * and the settings they run on. The settings live in the store (versioned, secrets sealed); a
 * file or the environment seeds an empty store. An update is validated, saved and applied
 * without a restart: services that hold directory connections are rebuilt, and listeners (the
 * scheduler) are told.
 */
import { type AccountAdmin, createAccountAdmin } from './auth/account-admin.ts';
import { createLockoutPolicies } from './auth/lockout-policies.ts';
import { createLoginService, type LoginService } from './auth/login.ts';
import { createLookupConnection } from './auth/lookup-connection.ts';
import { createSessionService, type SessionService } from './auth/sessions.ts';
import { createLoginThrottle, inFlightBoundMs, type LoginThrottle } from './auth/throttle.ts';
import {
  type BindPool,
  createBindPool,
  type DirectoryConnection,
  openDirectory,
  openWritableDirectory,
  type WritableDirectoryConnection,
} from './directory/index.ts';
import { type DirectoryObserver, timedOpener, timedWritableConnection, timeOperation } from './directory/timed.ts';
import { DirbridgeError } from './errors.ts';
import { readStoredSettings } from './settings/read-stored.ts';
import type { Settings, StoreSettings } from './settings/schema.ts';
import { loadSecretBox, type SecretBox } from './settings/secret-box.ts';
import { applySettingsEdit, changedSettingPaths, toStoredDocument } from './settings/stored-settings.ts';
import { openStore } from './store/open-store.ts';
import type { Store } from './store/store.ts';
import { createInstanceId, type RunLeaseTiming, runLeaseTimingFromEnv } from './sync/run-lease.ts';
import { createSyncService, type SyncResult, type SyncService } from './sync/run-sync.ts';
import { createWriteBackDelivery, deliveryLockFor, type WriteBackDelivery } from './writeback/delivery.ts';
import { createWriteBackService, type WriteBackService } from './writeback/service.ts';

/** Which settings version is in force, and who saved it. */
export interface SettingsState {
  settings: Settings;
  version: number;
  updatedAt: string | null;
  updatedBy: string | null;
  /**
   * What the current rules refuse in the stored version (one `path: message` each) and what is in
   * force instead (`settings/read-stored.ts`); empty once a valid version is saved.
   */
  problems: string[];
}

/** What the server's metrics (or anything else) can follow; each callback must not throw. */
export interface AppObserver {
  /** Every directory operation: sync reads, logins' binds, Test Connection, ... */
  directory?: DirectoryObserver;
  /** Every finished sync run, whatever started it (schedule, start-up, API, CLI, login). */
  syncFinished?: (result: SyncResult) => void;
}

/** Everything a command or the server uses. Getters return what the current settings built. */
export interface App {
  /** The settings in force (a new object after each change). */
  readonly settings: Settings;
  readonly store: Store;
  /** Opens a directory connection bound as the service account; the caller closes it. */
  openDirectory(): Promise<DirectoryConnection>;
  /** Opens a connection bound as the service account that can also write (write-back); the caller closes it. */
  openWritableDirectory(): Promise<WritableDirectoryConnection>;
  readonly sync: SyncService;
  /** Delivers the write-back outbox to the directory (one delivery at a time, across instances too). */
  readonly writeBackDelivery: WriteBackDelivery;
  readonly login: LoginService;
  readonly sessions: SessionService;
  readonly accounts: AccountAdmin;
  /** Administrators' changes to users, groups, memberships and passwords, written back to the directory per `writeBack`. */
  readonly writeBack: WriteBackService;
  now: () => Date;
  /** The settings with their version, as the settings API shows them. */
  settingsState(): SettingsState;
  /**
   * Validates a whole settings document (without `store`; secrets: absent keeps, null clears),
   * saves it as the next version and applies it. Throws `settings.invalid` naming each path,
   * or `settings.conflict` when `expectedVersion` is not the newest. Saves nothing when nothing
   * changed or for a dry run (the result then shows the version in force and what would change).
   */
  updateSettings(document: unknown, options: { expectedVersion: number; actor: string; isDryRun?: boolean }): Promise<SettingsState & { changed: string[] }>;
  /** Applies a newer version saved by another instance or the CLI; true when one was applied. */
  reloadSettings(): Promise<boolean>;
  /** Checks for newer settings every `intervalMs`; returns the function that stops it. */
  watchSettings(options: { intervalMs: number; onError: (error: unknown) => void; onApplied?: (state: SettingsState) => void }): () => void;
  /** Called with the new settings after each change; returns the unsubscribe function. */
  onSettingsChange(listener: (settings: Settings) => void): () => void;
  /** Follows directory operations and sync runs; returns the unsubscribe function. */
  observe(observer: AppObserver): () => void;
  /** Paths where the seed (file and environment) differs from the stored settings in force. */
  readonly settingsDrift: readonly string[];
  /** Where the key that seals secrets came from (for the start-up log). */
  readonly secretKeySource: string;
  /** Seals and opens stored secrets (settings, OpenID Connect signing keys) with the secret key. */
  readonly secretBox: SecretBox;
  /** This process as the owner of sync run leases, and as the one that records others' runs as interrupted. */
  readonly instanceId: string;
  /** The sync runs' lease (`DIRBRIDGE_RUN_LEASE_SECONDS`, default 60 s). */
  readonly runLease: RunLeaseTiming;
  close(): Promise<void>;
}

/** Options of `openApp`. */
export interface OpenAppOptions {
  now?: () => Date;
  /** Where `DIRBRIDGE_SECRET_KEY` / `DIRBRIDGE_SECRET_KEY_FILE` are read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Who is recorded as saving the seed (default `seed`). */
  seedActor?: string;
  /**
   * A whole settings document put in force when the stored version cannot be loaded with the
   * current rules (`settings import FILE` passes FILE), so it can be saved over it.
   */
  replaceInvalidStored?: () => unknown;
}

/** The services that hold directory connections or depend on settings, rebuilt on each change. */
interface SettingsBound {
  settings: Settings;
  connect: () => Promise<DirectoryConnection>;
  connectWritable: () => Promise<WritableDirectoryConnection>;
  login: LoginService;
  sessions: SessionService;
  throttle: LoginThrottle;
  close: () => Promise<void>;
}

/**
 * Opens the store (running migrations) and the settings in it. `seed` is saved as version 1
 * when the store holds no settings yet; otherwise the stored settings are in force and
 * `settingsDrift` lists where the seed differs. Directory connections open lazily.
 */
export async function openApp(seed: Settings, options: OpenAppOptions = {}): Promise<App> {
  return openAppWith(seed.store, () => seed, options);
}

/**
 * Like `openApp`, but the seed is only needed (and only validated) when the store is empty or
 * `seed` returns one: the CLI passes a document from `--config` and the environment.
 */
export async function openAppWith(storeSettings: StoreSettings, seed: () => Settings | undefined, options: OpenAppOptions = {}): Promise<App> {
  const now = options.now ?? (() => new Date());
  const env = options.env ?? process.env;
  const runLease = runLeaseTimingFromEnv(env);
  const store = await openStore(storeSettings);
  try {
    const box = await loadSecretBox({ env, dataDir: storeSettings.dataDir });
    const initial = await loadOrSeed(store, storeSettings, box, seed, options.seedActor ?? 'seed', options.replaceInvalidStored);
    return assemble(store, storeSettings, box, initial, now, runLease);
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** The state in force, with the stored document it was read from (what the next save is compared with). */
type LoadedState = SettingsState & { baseline: Record<string, unknown> };

async function loadOrSeed(
  store: Store,
  storeSettings: StoreSettings,
  box: SecretBox,
  seed: () => Settings | undefined,
  actor: string,
  replacement: (() => unknown) | undefined,
): Promise<LoadedState & { drift: string[] }> {
  const stored = await store.settings.get();
  if (stored === undefined) {
    const settings = seed();
    if (settings === undefined) {
      throw new DirbridgeError('settings.missing', 'the store holds no settings yet: start with --config FILE, or run `dirbridge settings import FILE`');
    }
    const saved = await store.settings
      .save({ expectedVersion: 0, document: toStoredDocument(settings, box), actor, audit: { actor, action: 'settings.seeded', details: { version: 1 } } })
      .catch(async (error: unknown) => {
        // Another instance seeded first: theirs is in force.
        if (error instanceof DirbridgeError && error.code === 'settings.conflict') return undefined;
        throw error;
      });
    if (saved !== undefined) {
      const inForce = { ...settings, store: storeSettings };
      return {
        settings: inForce,
        version: saved.version,
        updatedAt: saved.createdAt,
        updatedBy: saved.createdBy,
        problems: [],
        baseline: { ...inForce },
        drift: [],
      };
    }
    return loadOrSeed(store, storeSettings, box, seed, actor, replacement);
  }
  const read = readStoredSettings(
    stored.document,
    storeSettings,
    box,
    `the stored settings (version ${stored.version})`,
    replacement === undefined ? {} : { replacement },
  );
  const seeded = read.problems.length > 0 && replacement !== undefined ? undefined : seed();
  return {
    settings: read.settings,
    version: stored.version,
    updatedAt: stored.createdAt,
    updatedBy: stored.createdBy,
    problems: read.problems,
    baseline: read.baseline,
    drift: seeded === undefined ? [] : changedSettingPaths(read.settings, seeded),
  };
}

function assemble(
  store: Store,
  storeSettings: StoreSettings,
  box: SecretBox,
  initial: LoadedState & { drift: string[] },
  now: () => Date,
  runLease: RunLeaseTiming,
): App {
  const instanceId = createInstanceId();
  let state: SettingsState = {
    settings: initial.settings,
    version: initial.version,
    updatedAt: initial.updatedAt,
    updatedBy: initial.updatedBy,
    problems: initial.problems,
  };
  let baseline = initial.baseline;
  const observers = new Set<AppObserver>();
  const notify = (call: (observer: AppObserver) => void) => {
    for (const observer of observers) {
      try {
        call(observer);
      } catch {
        // An observer's failure must not fail a login or a sync.
      }
    }
  };
  const observeDirectory: DirectoryObserver = (operation, outcome, seconds) => notify((observer) => observer.directory?.(operation, outcome, seconds));
  let bound = bind(state.settings, store, now, observeDirectory);
  const listeners = new Set<(settings: Settings) => void>();
  const accounts = createAccountAdmin({ store, now, mapping: () => state.settings.mapping, throttle: () => bound.throttle });
  // One sync service for the app's life, so "one run at a time" survives settings changes;
  // each run reads the settings in force when it starts.
  const sync = createSyncService({
    store,
    get settings() {
      return state.settings;
    },
    openDirectory: () => bound.connect(),
    onFinished: (result) => notify((observer) => observer.syncFinished?.(result)),
    owner: instanceId,
    leaseTiming: runLease,
  });

  const deliveryLock = deliveryLockFor(storeSettings);
  const writeBackDelivery = createWriteBackDelivery({
    store,
    settings: () => state.settings,
    openWritable: () => bound.connectWritable(),
    now,
    lock: deliveryLock,
  });
  const writeBack = createWriteBackService({
    store,
    settings: () => state.settings,
    openWritable: () => bound.connectWritable(),
    deliverNow: () => writeBackDelivery.runNow(),
    now,
  });

  const apply = async (next: SettingsState, nextBaseline: Record<string, unknown>) => {
    const previous = bound;
    state = next;
    baseline = nextBaseline;
    bound = bind(next.settings, store, now, observeDirectory);
    await previous.close();
    for (const listener of listeners) listener(next.settings);
  };

  let reloading: Promise<boolean> | undefined;
  const reloadSettings = (): Promise<boolean> =>
    (reloading ??= (async () => {
      try {
        const version = await store.settings.getVersion();
        if (version <= state.version) return false;
        const stored = await store.settings.get();
        if (stored === undefined || stored.version <= state.version) return false;
        const read = readStoredSettings(stored.document, storeSettings, box, `the stored settings (version ${stored.version})`);
        await apply(
          { settings: read.settings, version: stored.version, updatedAt: stored.createdAt, updatedBy: stored.createdBy, problems: read.problems },
          read.baseline,
        );
        return true;
      } finally {
        reloading = undefined;
      }
    })());

  return {
    get settings() {
      return state.settings;
    },
    store,
    openDirectory: () => bound.connect(),
    openWritableDirectory: () => bound.connectWritable(),
    sync,
    writeBackDelivery,
    get login() {
      return bound.login;
    },
    get sessions() {
      return bound.sessions;
    },
    accounts,
    writeBack,
    now,
    settingsState: () => state,
    settingsDrift: initial.drift,
    secretKeySource: box.keySource,
    secretBox: box,
    instanceId,
    runLease,

    async updateSettings(document, options) {
      // The same check Test Connection and Test LDAP Search apply to unsaved settings.
      const settings = applySettingsEdit(document, state.settings);
      // Against the stored document: a value the current rules set aside counts as changed, so saving fixes it.
      const changed = changedSettingPaths(baseline, settings);
      if (changed.length === 0 || options.isDryRun === true) {
        if (options.expectedVersion !== state.version) await reloadSettings();
        if (options.expectedVersion !== state.version) {
          throw new DirbridgeError(
            'settings.conflict',
            `the settings changed meanwhile (version ${state.version}, expected ${options.expectedVersion}); reload them and apply your change again`,
          );
        }
        return { ...state, changed };
      }
      const saved = await store.settings.save({
        expectedVersion: options.expectedVersion,
        document: toStoredDocument(settings, box),
        actor: options.actor,
        audit: { actor: options.actor, action: 'settings.updated', details: { version: options.expectedVersion + 1, changed } },
      });
      const next = { settings, version: saved.version, updatedAt: saved.createdAt, updatedBy: saved.createdBy, problems: [] };
      await apply(next, { ...settings });
      return { ...next, changed };
    },

    reloadSettings,

    watchSettings({ intervalMs, onError, onApplied }) {
      const timer = setInterval(() => {
        reloadSettings().then((applied) => {
          if (applied) onApplied?.(state);
        }, onError);
      }, intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },

    onSettingsChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    observe(observer) {
      observers.add(observer);
      return () => observers.delete(observer);
    },

    async close() {
      await writeBackDelivery.idle();
      await bound.close();
      await deliveryLock.close();
      await store.close();
    },
  };
}

/** Builds the services that depend on the settings. */
function bind(settings: Settings, store: Store, now: () => Date, observe: DirectoryObserver): SettingsBound {
  const connect = timedOpener(() => openDirectory(settings.directory), observe);
  const connectWritable = async () =>
    timedWritableConnection(await timeOperation(observe, 'connect', () => openWritableDirectory(settings.directory)), observe);
  let bindPool: BindPool | undefined;
  const pool = (): BindPool => (bindPool ??= createBindPool(settings.directory, { size: settings.login.bindPoolSize }));
  const lookup = createLookupConnection(connect);
  const sessions = createSessionService({ store, settings: settings.login, now });
  // The directory's lockout policy is read once per settings version, with the lookup connection.
  const policies = createLockoutPolicies({ read: (work) => lookup.use(work), settings, now });
  const throttle = createLoginThrottle({ store, settings: settings.login.throttle, policies, now, inFlightMs: inFlightBoundMs(settings.directory) });
  const login = createLoginService({
    store,
    settings,
    lookup,
    bindPool: { verify: (dn, password) => timeOperation(observe, 'verify', () => pool().verify(dn, password)) },
    sessions,
    throttle,
    now,
  });
  return {
    settings,
    connect,
    connectWritable,
    login,
    sessions,
    throttle,
    close: async () => {
      await lookup.close();
      await bindPool?.close();
    },
  };
}
