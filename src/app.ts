/** The composition root's services: one store, directory connections on demand, sync and login. */
import { createAccountAdmin, type AccountAdmin } from './auth/account-admin.ts';
import { createLoginService, type LoginService } from './auth/login.ts';
import { createLookupConnection } from './auth/lookup-connection.ts';
import { createSessionService, type SessionService } from './auth/sessions.ts';
import { createLoginThrottle } from './auth/throttle.ts';
import { createBindPool, openDirectory, type BindPool, type DirectoryConnection } from './directory/index.ts';
import type { Settings } from './settings/schema.ts';
import { openStore } from './store/open-store.ts';
import type { Store } from './store/store.ts';
import { createSyncService, type SyncService } from './sync/run-sync.ts';

/** Everything a command or the server uses, built once from the settings. */
export interface App {
  settings: Settings;
  store: Store;
  /** Opens a directory connection bound as the service account; the caller closes it. */
  openDirectory: () => Promise<DirectoryConnection>;
  sync: SyncService;
  login: LoginService;
  sessions: SessionService;
  accounts: AccountAdmin;
  now: () => Date;
  close: () => Promise<void>;
}

/** Opens the store (running migrations) and wires the services. Directory connections open lazily. */
export async function openApp(settings: Settings, options: { now?: () => Date } = {}): Promise<App> {
  const now = options.now ?? (() => new Date());
  const store = await openStore(settings.store);
  const connect = () => openDirectory(settings.directory);
  let bindPool: BindPool | undefined;
  const pool = (): BindPool => (bindPool ??= createBindPool(settings.directory, { size: settings.login.bindPoolSize }));
  const lookup = createLookupConnection(connect);
  const sessions = createSessionService({ store, settings: settings.login, now });
  const login = createLoginService({
    store,
    settings,
    lookup,
    bindPool: { verify: (dn, password) => pool().verify(dn, password) },
    sessions,
    throttle: createLoginThrottle({ store, settings: settings.login.throttle, now }),
  });
  return {
    settings,
    store,
    openDirectory: connect,
    sync: createSyncService({ store, openDirectory: connect, settings }),
    login,
    sessions,
    accounts: createAccountAdmin({ store, now }),
    now,
    close: async () => {
      await lookup.close();
      await bindPool?.close();
      await store.close();
    },
  };
}
