/**
 * The ordered list of store migrations, compiled into the program (never read from disk).
 * Add a migration by adding a module and one entry here; names sort in apply order.
 */
import type { Migration, MigrationProvider } from 'kysely';
import type { StoreDialect } from '../store.ts';
import { createInitialMigration } from './0001-initial.ts';
import { createSessionsAuditThrottleMigration } from './0002-sessions-audit-throttle.ts';
import { createMappingMigration } from './0003-mapping.ts';
import { createSettingsMigration } from './0004-settings.ts';
import { createRunProgressMigration } from './0005-run-progress.ts';
import { createDisabledUsersByNameMigration } from './0006-disabled-users-by-name.ts';
import { createLoginAttemptsMigration } from './0007-login-attempts.ts';
import { createRunLeaseMigration } from './0008-run-lease.ts';
import { createPasswordChangedAtMigration } from './0009-password-changed-at.ts';
import { createUsersFillfactorMigration } from './0010-users-fillfactor.ts';
import { createWriteBackMigration } from './0011-writeback.ts';
import { createOidcMigration } from './0012-oidc.ts';
import { createIncrementalSyncMigration } from './0013-incremental-sync.ts';

/** All migrations for a dialect, keyed by their sortable name. */
export function createMigrations(dialect: StoreDialect): Record<string, Migration> {
  return {
    '0001-initial': createInitialMigration(dialect),
    '0002-sessions-audit-throttle': createSessionsAuditThrottleMigration(dialect),
    '0003-mapping': createMappingMigration(dialect),
    '0004-settings': createSettingsMigration(dialect),
    '0005-run-progress': createRunProgressMigration(dialect),
    '0006-disabled-users-by-name': createDisabledUsersByNameMigration(dialect),
    '0007-login-attempts': createLoginAttemptsMigration(dialect),
    '0008-run-lease': createRunLeaseMigration(dialect),
    '0009-password-changed-at': createPasswordChangedAtMigration(dialect),
    '0010-users-fillfactor': createUsersFillfactorMigration(dialect),
    '0011-writeback': createWriteBackMigration(dialect),
    '0012-oidc': createOidcMigration(dialect),
    '0013-incremental-sync': createIncrementalSyncMigration(dialect),
  };
}

/** A Kysely `MigrationProvider` over `createMigrations`. */
export function createMigrationProvider(dialect: StoreDialect): MigrationProvider {
  return { getMigrations: async () => createMigrations(dialect) };
}
