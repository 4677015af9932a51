/**
 * The User Group Filter evaluated in memory, as a background sync does it: the group entries read
 * once are indexed, then the filled-in filter is decided for every user and mapped group name.
 *
 * Floor, measured in the same run on the same data: for every user and mapped group name, one
 * lookup in a prebuilt map from (group, member) to membership — the least an evaluator that was
 * handed the answer could spend. The ratio is what parsing, filling and evaluating the filter
 * adds. Run: `node --import tsx bench/group-filter.ts [--users 100000] [--groups 5000] [--names 20]`.
 */
import { parseArgs } from 'node:util';
import { normalizeDn } from '../src/ldap/dn.ts';
import type { DirectoryEntry } from '../src/ldap/entry.ts';
import { indexGroupEntries, parseGroupQuery, userGroupNames } from '../src/mapping/group-filter.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '100000' },
    groups: { type: 'string', default: '5000' },
    names: { type: 'string', default: '20' },
  },
});
const userCount = Number(values.users);
const groupCount = Number(values.groups);
const nameCount = Number(values.names);

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Five groups per user, a third of them listed by memberUid (in another case), the rest by a DN
// spelled differently from the user's own; everyone is in group0, so one group is huge.
const next = random(42);
const users = Array.from({ length: userCount }, (_, i) => ({ username: `user${i}`, dn: `uid=user${i},ou=People,dc=example,dc=org` }));
const members = Array.from({ length: groupCount }, () => ({ member: [] as string[], memberUid: [] as string[] }));
for (const [i, user] of users.entries()) {
  for (let k = 0; k < 5; k += 1) {
    const group = members[Math.floor(next() * groupCount)];
    if (group === undefined) continue;
    if (i % 3 === 0) group.memberUid.push(user.username.toUpperCase());
    else group.member.push(`UID=${user.username},OU=people,DC=Example,DC=Org`);
  }
}
members[0]?.member.push(...users.map((user) => user.dn));
const entries: DirectoryEntry[] = members.map((m, g) => ({
  dn: `cn=group${g},ou=groups,dc=example,dc=org`,
  attributes: { objectclass: ['top', 'groupOfNames'], cn: [`Group${g}`], member: m.member, memberuid: m.memberUid },
}));
const step = Math.max(1, Math.floor(groupCount / nameCount));
const groupNames = Array.from({ length: nameCount }, (_, k) => `group${k * step}`);

const ms = (start: number) => performance.now() - start;

// Floor: the answer precomputed into a map, then one lookup per user and name.
const floorStart = performance.now();
const answer = new Map<string, Set<string>>();
for (const [g, m] of members.entries()) {
  const keys = new Set<string>([...m.member.map((dn) => normalizeDn(dn)), ...m.memberUid.map((uid) => `uid:${uid.toLowerCase()}`)]);
  answer.set(`group${g}`, keys);
}
let floorHits = 0;
for (const user of users) {
  const dnKey = normalizeDn(user.dn);
  for (const name of groupNames) {
    const keys = answer.get(name);
    if (keys !== undefined && (keys.has(dnKey) || keys.has(`uid:${user.username}`))) floorHits += 1;
  }
}
const floorMs = ms(floorStart);

console.log(
  `${userCount} users × ${nameCount} mapped names × ${groupCount} group entries (${entries.reduce((n, e) => n + (e.attributes['member']?.length ?? 0) + (e.attributes['memberuid']?.length ?? 0), 0)} member values)`,
);
console.log(
  `| phase | time | ratio to floor |\n|---|---|---|\n| floor: precomputed membership lookups (${floorHits} hits) | ${floorMs.toFixed(0)} ms | 1.00 |`,
);
for (const { label, text, strategy } of [
  {
    label: 'each (default filter)',
    text: '(&(cn=#{groupName})(|(member=#{userdn})(uniqueMember=#{userdn})(memberUid=#{username})))',
    strategy: 'each' as const,
  },
  { label: 'once', text: '(&(objectClass=groupOfNames)(|(member=#{userdn})(memberUid=#{username})))', strategy: 'once' as const },
]) {
  const start = performance.now();
  const index = indexGroupEntries(entries);
  const indexed = ms(start);
  const query = parseGroupQuery(text, strategy);
  let hits = 0;
  for (const user of users) hits += userGroupNames(index, query, user, groupNames, ['cn'])?.length ?? 0;
  const total = ms(start);
  if (hits !== floorHits) throw new Error(`${label}: ${hits} memberships found, the floor found ${floorHits}`);
  console.log(`| ${label}: index ${indexed.toFixed(0)} ms + evaluate | ${total.toFixed(0)} ms | ${(total / floorMs).toFixed(2)} |`);
}
