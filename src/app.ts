/** The composition root's services: one store, directory connections on demand, and sync. */
import { openDirectory, type DirectoryConnection } from './directory/index.ts';
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
  close: () => Promise<void>;
}

/** Opens the store (running migrations) and wires the services. */
export async function openApp(settings: Settings): Promise<App> {
  const store = await openStore(settings.store);
  const connect = () => openDirectory(settings.directory);
  return {
    settings,
    store,
    openDirectory: connect,
    sync: createSyncService({ store, openDirectory: connect, settings }),
    close: () => store.close(),
  };
}
