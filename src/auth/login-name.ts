/**
 * What a person types as their login name, read the way Active Directory users expect:
 * `sAMAccountName`, `user@upn.suffix` or `DOMAIN\name`. Pure.
 */

/** The attribute/value pairs a login name may match, most specific first. */
export interface LoginNameMatch {
  /** The configured username attributes match this value. */
  username: string;
  /** On AD, `userPrincipalName` may match this value too. */
  userPrincipalName?: string;
}

/** Reads a typed login name; `isActiveDirectory` enables the UPN and down-level forms. */
export function readLoginName(typed: string, isActiveDirectory: boolean): LoginNameMatch {
  const name = typed.trim();
  if (!isActiveDirectory) return { username: name };
  const backslash = name.indexOf('\\');
  if (backslash > 0 && backslash < name.length - 1 && name.indexOf('\\', backslash + 1) === -1) {
    return { username: name.slice(backslash + 1) };
  }
  const at = name.lastIndexOf('@');
  if (at > 0 && at < name.length - 1) return { username: name, userPrincipalName: name };
  return { username: name };
}
