/**
 * When the directory last changed an account's password, as one comparable timestamp:
 *
 * - `pwdChangedTime` (OpenLDAP's ppolicy overlay; the password policy draft) and `pwdUpdateTime`
 *   (389-DS, only with `passwordTrackUpdateTime: on` in cn=config; measured on 2.3, which keeps no
 *   `pwdChangedTime`): GeneralizedTime, e.g. `20240501120000Z`, whole seconds. Both are
 *   operational attributes, returned only when asked for by name. The later one wins.
 * - `pwdLastSet` (Active Directory): a Windows FILETIME, 100-nanosecond intervals since
 *   1601-01-01 UTC. `0` means "must change the password at next logon" — an administrator's reset
 *   with that box ticked, or the box alone — and maps to `MUST_CHANGE_PASSWORD`
 *   (1601-01-01T00:00:00.000Z, what FILETIME 0 is). The planner counts a move to it as a change:
 *   the credentials the sessions were made with are no longer trusted by the directory, which
 *   refuses new logons with them.
 *
 * No value (or one that does not parse) is null: it never counts as a change, so a missing or
 * unreadable attribute can never revoke anything. Pure.
 */
import type { DirectoryEntry } from '../ldap/entry.ts';

/** The attributes read; operational ones must be requested by name. */
export const PASSWORD_CHANGE_ATTRIBUTES: readonly string[] = ['pwdChangedTime', 'pwdUpdateTime', 'pwdLastSet'];

/** AD's `pwdLastSet: 0` ("must change at next logon"): FILETIME 0, as a timestamp. */
export const MUST_CHANGE_PASSWORD = '1601-01-01T00:00:00.000Z';

/**
 * Stored for an account the directory keeps no change time for (OpenLDAP before its first
 * password change under ppolicy, e.g. loaded with slapadd): earlier than any real change, so the
 * first change the directory records counts as moving forward.
 */
export const PASSWORD_NEVER_CHANGED = '0001-01-01T00:00:00.000Z';

/** The last millisecond of the year 9999: later timestamps' ISO form ("+010000-…") does not sort as text. */
const LATEST_MS = BigInt(Date.UTC(9999, 11, 31, 23, 59, 59, 999));

/** Milliseconds between 1601-01-01 and 1970-01-01 (the FILETIME and Unix epochs). */
const FILETIME_EPOCH_OFFSET_MS = 11_644_473_600_000n;

/** The time the directory last changed the entry's password (ISO-8601), or null when it keeps none. */
export function readPasswordChangedAt(entry: DirectoryEntry): string | null {
  const lastSet = textOf(entry, 'pwdlastset');
  if (lastSet !== undefined) return fromFileTime(lastSet);
  const times = [textOf(entry, 'pwdchangedtime'), textOf(entry, 'pwdupdatetime')]
    .map((value) => (value === undefined ? null : fromGeneralizedTime(value)))
    .filter((value): value is string => value !== null)
    .sort();
  return times.at(-1) ?? null;
}

/**
 * An RFC 4517 GeneralizedTime (`YYYYMMDDHH[MM[SS]][.fraction]` then `Z` or `±HHMM`) as an ISO-8601
 * UTC timestamp with milliseconds, or null when it does not parse.
 */
export function fromGeneralizedTime(text: string): string | null {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{2}(?:\d{2})?)$/.exec(text.trim());
  if (match === null) return null;
  const [, year = '', month = '', day = '', hour = '', minute, second, fraction, zone = 'Z'] = match;
  const fields = { month: Number(month), day: Number(day), hour: Number(hour), minute: Number(minute ?? '0'), second: Number(second ?? '0') };
  if (fields.month < 1 || fields.month > 12 || fields.day < 1 || fields.day > 31 || fields.hour > 23 || fields.minute > 59 || fields.second > 60) return null;
  // A fraction belongs to the last unit given: seconds, else minutes, else hours.
  const unitMs = second !== undefined ? 1_000 : minute !== undefined ? 60_000 : 3_600_000;
  const fractionMs = fraction === undefined ? 0 : Math.floor(Number(`0.${fraction}`) * unitMs);
  const offsetMinutes = zone === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5) || '0'));
  const date = new Date(Date.UTC(2000, fields.month - 1, fields.day, fields.hour, fields.minute, fields.second));
  date.setUTCFullYear(Number(year)); // Date.UTC reads years below 100 as 19xx.
  const time = date.getTime() + fractionMs - offsetMinutes * 60_000;
  // Only times after FILETIME 0 (AD's "must change" mark) and within the year 9999 are change times.
  return Number.isFinite(time) && time > Date.parse(MUST_CHANGE_PASSWORD) && time <= Number(LATEST_MS) ? new Date(time).toISOString() : null;
}

/** A FILETIME (decimal text) as an ISO-8601 UTC timestamp; 0 is `MUST_CHANGE_PASSWORD`; null when it does not parse. */
export function fromFileTime(text: string): string | null {
  const trimmed = text.trim();
  if (!/^\d{1,20}$/.test(trimmed)) return null;
  const ticks = BigInt(trimmed);
  if (ticks === 0n) return MUST_CHANGE_PASSWORD;
  const unixMs = ticks / 10_000n - FILETIME_EPOCH_OFFSET_MS;
  // After the year 9999 (e.g. 0x7FFFFFFFFFFFFFFF, AD's "never") is no change time, and its ISO form would not sort.
  if (unixMs > LATEST_MS) return null;
  return new Date(Number(unixMs)).toISOString();
}

function textOf(entry: DirectoryEntry, attribute: string): string | undefined {
  const value = entry.attributes[attribute]?.[0];
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}
