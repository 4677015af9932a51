/**
 * The one store implementation, on Kysely, for SQLite and PostgreSQL alike: the repositories
 * (`*-repository.ts`) composed over the database, and over each transaction. Dialect
 * differences are confined to value encoding (`rows.ts`), parameter limits (`batch.ts`)
 * and the migration's column types.
 */
import type { Kysely } from 'kysely';
import { createAuditReader, createAuditWriter } from './audit-repository.ts';
import { withDbErrors } from './db-errors.ts';
import { createDirectoryStateReader, createDirectoryStateWriter } from './directory-state-repository.ts';
import { createGroupReader, createGroupWriter } from './groups-repository.ts';
import { createLoginAttemptStore } from './login-attempts-repository.ts';
import { createMappingReader, createMappingWriter } from './mapping-repository.ts';
import { createOidcRepository } from './oidc-repository.ts';
import { inReadSnapshot } from './read-snapshot.ts';
import type { RepositoryContext } from './repository-context.ts';
import { createRunLog, createRunWriter } from './runs-repository.ts';
import type { Database } from './schema.ts';
import { createSessionReader, createSessionWriter } from './sessions-repository.ts';
import { createSettingsRepository } from './settings-repository.ts';
import type { Store, StoreDialect, StoreWriter } from './store.ts';
import { createUserReader, createUserWriter } from './users-repository.ts';
import { createWriteBackReader, createWriteBackWriter } from './writeback-repository.ts';

/** Options for `createStore`. */
export interface StoreOptions {
  /** The clock for timestamps; tests pass a fixed one. */
  now?: () => Date;
}

/** Every repository over one transaction. */
function createWriter(trx: Kysely<Database>, ctx: RepositoryContext): StoreWriter {
  return {
    users: createUserWriter(trx, ctx),
    groups: createGroupWriter(trx, ctx),
    mapping: createMappingWriter(trx, ctx),
    sessions: createSessionWriter(trx, ctx),
    audit: createAuditWriter(trx, ctx),
    runs: createRunWriter(trx, ctx),
    writeBack: createWriteBackWriter(trx, ctx),
    directoryState: createDirectoryStateWriter(trx, ctx),
  };
}

/** Creates the store over an open, migrated Kysely instance; `close()` destroys that instance. */
export function createStore(db: Kysely<Database>, dialect: StoreDialect, options: StoreOptions = {}): Store {
  const clock = options.now ?? (() => new Date());
  const ctx: RepositoryContext = { dialect, now: () => clock().toISOString() };

  return {
    dialect,
    users: createUserReader(db, ctx),
    groups: createGroupReader(db),
    mapping: {
      ...createMappingReader(db, ctx),
      // Eight queries, one snapshot: members never name a channel or team missing from the lists.
      loadState: (options) =>
        withDbErrors('load the mapping state', () => inReadSnapshot(db, dialect, (trx) => createMappingReader(trx, ctx).loadState(options))),
    },
    sessions: createSessionReader(db, ctx),
    audit: createAuditReader(db),
    runs: createRunLog(db, ctx),
    writeBack: createWriteBackReader(db, ctx),
    directoryState: createDirectoryStateReader(db),
    settings: createSettingsRepository(db, ctx),
    loginAttempts: createLoginAttemptStore(db, dialect, (trx, entries) => createAuditWriter(trx, ctx).append(entries)),
    oidc: createOidcRepository(db, dialect, (trx, entries) => createAuditWriter(trx, ctx).append(entries), clock),

    transaction: (work) => withDbErrors('run a transaction', () => db.transaction().execute((trx) => work(createWriter(trx, ctx)))),

    close: () => db.destroy(),
  };
}
