/**
 * The store's public surface: the contract types and `openStore` (the records it keeps are in `src/model/`).
 */
export type * from './store.ts';
export { openStore, type OpenStoreOptions } from './open-store.ts';
export { createStore, type StoreOptions } from './create-store.ts';
