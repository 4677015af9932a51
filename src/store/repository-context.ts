/**
 * What every repository shares besides the executor it runs on (the database, or one transaction).
 */
import type { Timestamp } from '../model/index.ts';
import type { StoreDialect } from './store.ts';

/** The dialect and the clock every repository is built with. */
export interface RepositoryContext {
  dialect: StoreDialect;
  /** Now, as the store writes timestamps. */
  now: () => Timestamp;
}
