/**
 * The store's public surface: the contract types and `openStore`.
 */
export type * from './store.ts';
export { emailKey, groupNameKey, usernameKey } from './store.ts';
export { openStore, type OpenStoreOptions } from './open-store.ts';
export { createKyselyStore, type KyselyStoreOptions } from './kysely-store.ts';
