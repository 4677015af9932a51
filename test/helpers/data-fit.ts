/**
 * Directory data that does not fit some settings, and the warnings dirbridge must give about it
 * (src/sync/data-fit.ts), with counts computed from the sample organisation that was loaded.
 */
import assert from 'node:assert/strict';
import { generateOrganisation, type Organisation, organisationLdifFor389 } from '../fixtures/sample-directory.ts';

/** Entries to load after the organisation: people without a uid, and a posix group naming people nobody is. */
export interface Misfits {
  ldif: string;
  /** DNs of the inetOrgPerson entries that have no uid. */
  withoutUid: string[];
  /** The cn of the posix group with memberUid values that match no user. */
  ghostGroup: string;
  /** Its memberUid values (none is a user's uid). */
  ghostUids: string[];
}

/** LDIF for entries that a configuration with usernameAttribute uid (the default was uid before it became uid,cn) skips or cannot match. */
export function misfitsLdif(baseDn: string): Misfits {
  const withoutUid = [`cn=No Uid One,ou=people,${baseDn}`, `cn=No Uid Two,ou=staff,${baseDn}`];
  const people = withoutUid.map((dn, index) => {
    const cn = index === 0 ? 'No Uid One' : 'No Uid Two';
    return `dn: ${dn}\nobjectClass: inetOrgPerson\ncn: ${cn}\nsn: Uid\nmail: no-uid-${index}@example.org\n`;
  });
  const ghostGroup = 'ghost-posix';
  const ghostUids = ['ghost.one', 'ghost.two', 'ghost.three'];
  const group = [
    `dn: cn=${ghostGroup},ou=groups,${baseDn}`,
    'objectClass: posixGroup',
    `cn: ${ghostGroup}`,
    'gidNumber: 29999',
    ...ghostUids.map((uid) => `memberUid: ${uid}`),
    '',
  ].join('\n');
  return { ldif: [...people, group].join('\n'), withoutUid, ghostGroup, ghostUids };
}

/** What the data-fit warnings must count for an organisation loaded together with its misfits. */
export interface ExpectedFit {
  /** groupOfUniqueNames groups with members, and their uniqueMember values. */
  uniqueMember: { groups: number; values: number };
  /** posixGroup groups with memberUid values (the ghost group included), and those values. */
  memberUid: { groups: number; values: number };
}

/** Counts the organisation's member values per attribute, as the warnings must count them. */
export function expectedFit(organisation: Organisation, misfits: Misfits): ExpectedFit {
  const unique = organisation.groups.filter((group) => group.kind === 'groupOfUniqueNames' && group.members.length > 0);
  const posix = organisation.groups.filter((group) => group.kind === 'posixGroup' && group.memberUids.length > 0);
  const expected = {
    uniqueMember: { groups: unique.length, values: unique.reduce((sum, group) => sum + group.members.length, 0) },
    memberUid: { groups: posix.length + 1, values: posix.reduce((sum, group) => sum + group.memberUids.length, 0) + misfits.ghostUids.length },
  };
  // The warnings below must count something, or the tests could not fail.
  assert.ok(expected.uniqueMember.groups > 1 && expected.memberUid.groups > 1, JSON.stringify(expected));
  return expected;
}

/**
 * The data-fit warnings among Test Connection's (they name a users.* or groups.* setting), without
 * its other warnings (mapping keys, the login throttle), which other tests cover.
 */
export function dataFitOnly(warnings: readonly string[]): string[] {
  return warnings.filter((warning) => /^(users|groups)\./.test(warning));
}

/** Asserts that `warnings` hold exactly one line matching `pattern`, and returns it. */
export function oneWarning(warnings: readonly string[], pattern: RegExp): string {
  const matching = warnings.filter((warning) => pattern.test(warning));
  assert.equal(matching.length, 1, `one warning matching ${pattern} in:\n${warnings.join('\n')}`);
  return matching[0] ?? '';
}

/** The warning about values in a member attribute that groups.memberAttribute leaves out. */
export function unlistedWarning(attribute: string, counts: { groups: number; values: number }, listed: string): string {
  return `groups.memberAttribute: ${counts.groups} groups hold ${counts.values} ${attribute} values that are ignored, because groups.memberAttribute lists only ${listed}; add ${attribute} to groups.memberAttribute to count them`;
}

/**
 * The 389-DS test directory: a sample organisation (40 people, 20 groups) and its misfits. Every
 * file that starts 389-DS uses this one dataset, so they share one cached template (building one
 * takes 14 to 20 s; see test/fixtures/README.md).
 */
export function dirsrvTestDirectory(): { organisation: Organisation; misfits: Misfits; ldif: string } {
  const organisation = generateOrganisation({ people: 40, groups: 20, seed: 9 });
  const misfits = misfitsLdif(organisation.baseDn);
  return { organisation, misfits, ldif: `${organisationLdifFor389(organisation)}\n${misfits.ldif}` };
}
