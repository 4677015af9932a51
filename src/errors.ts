/**
 * Errors that cross module boundaries carry a stable, dotted code (`directory.unavailable`,
 * `settings.invalid`, ...) and keep the original error as `cause`. Callers branch on `code`,
 * never on message text.
 */

/** Stable error codes, grouped by the layer that raises them. */
export type ErrorCode =
  | 'settings.invalid'
  | 'settings.unreadable'
  | 'settings.conflict'
  | 'settings.missing'
  | 'settings.secret_key_invalid'
  | 'settings.secret_key_missing'
  | 'settings.secret_key_mismatch'
  | 'settings.secret_unreadable'
  | 'directory.unavailable'
  | 'directory.tls_failure'
  | 'directory.invalid_credentials'
  | 'directory.timeout'
  | 'directory.size_limit'
  | 'directory.time_limit'
  | 'directory.no_such_object'
  | 'directory.insufficient_access'
  | 'directory.protocol'
  | 'directory.invalid_filter'
  | 'directory.invalid_dn'
  | 'directory.ambiguous'
  | 'directory.already_exists'
  | 'directory.object_class_violation'
  | 'directory.schema_violation'
  | 'directory.constraint_violation'
  | 'directory.not_allowed_on_non_leaf'
  | 'directory.assertion_failed'
  | 'directory.value_exists'
  | 'directory.no_such_value'
  | 'directory.unwilling_to_perform'
  | 'directory.unsupported'
  | 'directory.busy'
  | 'directory.password_policy'
  | 'directory.insecure_connection'
  | 'directory.sync_not_permitted'
  | 'directory.sync_cookie_invalid'
  /** RFC 4533 e-syncRefreshRequired (4096): the sync cookie cannot be continued; run a full refresh. */
  | 'directory.sync_refresh_required'
  | 'store.unavailable'
  | 'store.disk_full'
  | 'store.timeout'
  | 'store.conflict'
  | 'store.not_found'
  | 'store.ambiguous'
  | 'store.corrupt'
  | 'store.migration_failed'
  | 'sync.already_running'
  | 'sync.interrupted'
  | 'sync.incomplete_read'
  | 'sync.cursor_invalid'
  | 'usage.invalid'
  | 'auth.invalid_credentials'
  | 'auth.directory_unavailable'
  | 'auth.throttled'
  | 'users.directory_managed'
  | 'users.not_found'
  | 'writeback.invalid'
  | 'writeback.refused'
  | 'writeback.passwords_off'
  | 'writeback.entry_missing'
  | 'writeback.not_supported'
  | 'writeback.out_of_scope';

/** An error with a stable code, safe to show to an administrator (never holds secrets). */
export class DirbridgeError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DirbridgeError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** True when `error` is a DirbridgeError, optionally with one of the given codes. */
export function isDirbridgeError(error: unknown, ...codes: ErrorCode[]): error is DirbridgeError {
  return error instanceof DirbridgeError && (codes.length === 0 || codes.includes(error.code));
}
