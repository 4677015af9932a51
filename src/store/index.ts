/**
 * The store's public surface: the contract types and `openStore` (the records it keeps are in `src/model/`).
 */
export type * from './store.ts';
export { openStore, type OpenStoreOptions } from './open-store.ts';
export { createKyselyStore, type KyselyStoreOptions } from './kysely-store.ts';
