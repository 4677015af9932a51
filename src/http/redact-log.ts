/**
 * Secrets are censored in log lines at any depth, by key name: pino's path-based `redact` only
 * reaches the paths it is told (`*.password` is one level), so a secret nested deeper by a future
 * log call would slip through. This walks the plain objects and arrays of each log call (never
 * class instances such as requests or sockets, whose serializers and header paths are handled by
 * `redact`), and copies only what it changes. It sees the fields of each log call, not a child
 * logger's bindings: bind only identifiers (job, run id, actor) to child loggers.
 */

/** Keys whose values are never logged, compared lower-case with `-` and `_` removed. */
const SECRET_KEYS = new Set([
  'password',
  'bindpassword',
  'newpassword',
  'currentpassword',
  'oldpassword',
  'token',
  'accesstoken',
  'refreshtoken',
  'csrftoken',
  'apikey',
  'secret',
  'secretkey',
  'clientsecret',
  'authorization',
  'cookie',
  'setcookie',
]);

export const CENSOR = '[redacted]';
const MAX_DEPTH = 12;

/** True when a value under `key` must not be logged. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase().replace(/[-_]/g, ''));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Returns `value` with every secret-named key censored, the same object when there is none. */
export function redactSecrets<T>(value: T, depth = 0): T {
  // Too deep to look through: censor it rather than let a secret pass unseen.
  if (depth > MAX_DEPTH) return (typeof value === 'object' && value !== null ? CENSOR : value) as T;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item, index) => {
      const redacted = redactSecrets(item, depth + 1);
      if (redacted !== item) (copy ??= [...value])[index] = redacted;
    });
    return (copy ?? value) as T;
  }
  if (!isPlainObject(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value)) {
    const redacted = isSecretKey(key) && item !== undefined && item !== null ? CENSOR : redactSecrets(item, depth + 1);
    if (redacted !== item) (copy ??= { ...value })[key] = redacted;
  }
  return (copy ?? value) as T;
}
