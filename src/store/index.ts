/**
 * The store's public surface: the contract types and `openStore` (the records it keeps are in `src/model/`).
 */

export { createStore, type StoreOptions } from './create-store.ts';
export { type OpenStoreOptions, openStore } from './open-store.ts';
export type * from './store.ts';
