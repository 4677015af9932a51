/**
 * Group membership by the User Group Filter (Rocket.Chat's "Group membership validation
 * strategy"), evaluated in memory. Rocket.Chat runs the filter against the directory per user
 * per mapped group ("each") or once per user ("once"); at 100k users × 20 groups that is 2M
 * searches. A sync instead reads every entry the filter could match ONCE (`candidateReadFilter`
 * with `attributesFor`), indexes it (`indexGroupEntries`) and evaluates each filled-in filter
 * against the index with the server's matching rules (`matchesFilter`: caseIgnore strings, RFC
 * 4514 DN comparison). Filters only the server can evaluate (AD's in-chain rule, unknown
 * extensible rules, `:dn` matches) are reported by `isLocallyEvaluable`; for the usual in-chain
 * shape `inChainQuery` gives a per-group form (the caller asks the server once per mapped group),
 * and the caller falls back to per-user server queries for the rest. Pure, no I/O.
 */
import { DirbridgeError, isDirbridgeError } from '../errors.ts';
import { normalizeDn } from '../ldap/dn.ts';
import { type AttributeValue, type DirectoryEntry, firstString } from '../ldap/entry.ts';
import {
  type Filter,
  type FilterNode,
  type FilterTemplate,
  type FilterValue,
  fillFilterTemplate,
  foldCaseIgnore,
  isDnValuedAttribute,
  LDAP_MATCHING_RULE_BIT_AND,
  LDAP_MATCHING_RULE_BIT_OR,
  LDAP_MATCHING_RULE_IN_CHAIN,
  type MatchOptions,
  matchesFilter,
  needsServerEvaluation,
  parseFilterTemplate,
  type SubstringsNode,
  type TemplateValue,
} from '../ldap/filter.ts';
import { splitUniqueMember, uniqueMemberKey, uniqueMemberValue } from '../ldap/unique-member.ts';

/** Placeholders the User Group Filter may use. */
export const GROUP_FILTER_PLACEHOLDERS = ['username', 'groupName', 'userdn'] as const;

/** A parsed group-membership query: template + what it needs. */
export interface GroupQuery {
  template: FilterTemplate;
  strategy: 'each' | 'once';
}

// ---------------------------------------------------------------------------------------------
// Parsing and what to read

/**
 * Parses and validates a User Group Filter. Every problem is a `settings.invalid` error (the
 * filter error, if any, is its `cause`): bad syntax, a placeholder not in `allowed`, and
 * `#{groupName}` with the 'once' strategy (one search returns all of a user's groups, so there
 * is no group name to substitute).
 */
export function parseGroupQuery(text: string, strategy: 'each' | 'once', allowed: readonly string[] = GROUP_FILTER_PLACEHOLDERS): GroupQuery {
  let template: FilterTemplate;
  try {
    template = parseFilterTemplate(text, allowed);
  } catch (error) {
    if (!isDirbridgeError(error, 'directory.invalid_filter')) throw error;
    throw new DirbridgeError('settings.invalid', `the user group filter ${JSON.stringify(text)} is not valid: ${error.message}`, {
      cause: error,
      details: { filter: text, ...error.details },
    });
  }
  if (strategy === 'once' && template.placeholders.includes('groupName')) {
    throw new DirbridgeError(
      'settings.invalid',
      `the user group filter ${JSON.stringify(text)} uses #{groupName}, which cannot be used with the "once" strategy ` +
        "(apply filter once to get all memberships): one search returns all of a user's groups, so there is no group name to substitute; " +
        'remove #{groupName} from the filter or use the "each" strategy',
      { details: { filter: text, strategy, placeholder: 'groupName' } },
    );
  }
  return { template, strategy };
}

function hasPlaceholder(value: TemplateValue): boolean {
  return value.some((piece) => 'placeholder' in piece);
}

function subtreeHasPlaceholder(node: FilterNode<TemplateValue>): boolean {
  switch (node.type) {
    case 'and':
    case 'or':
      return node.filters.some(subtreeHasPlaceholder);
    case 'not':
      return subtreeHasPlaceholder(node.filter);
    case 'present':
      return false;
    case 'substrings':
      return (
        (node.initial !== undefined && hasPlaceholder(node.initial)) ||
        node.any.some(hasPlaceholder) ||
        (node.final !== undefined && hasPlaceholder(node.final))
      );
    default:
      return hasPlaceholder(node.value);
  }
}

/** Always true on every entry (`matchesFilter` and servers treat objectClass presence so). */
const ANY_ENTRY: FilterNode<TemplateValue> = { type: 'present', attribute: 'objectClass' };

/**
 * The filter used to READ candidate entries once: each assertion holding a placeholder becomes a
 * presence assertion `(attr=*)` (implied by any filled value), and a `(!...)` or `:dn`/attribute-less
 * extensible match holding one becomes `(objectClass=*)`, so the result is a superset of every
 * filled filter. Literal parts are kept.
 */
export function candidateReadFilter(query: GroupQuery): Filter {
  const widen = (node: FilterNode<TemplateValue>): FilterNode<TemplateValue> => {
    switch (node.type) {
      case 'and':
        return { type: 'and', filters: node.filters.map(widen) };
      case 'or':
        return { type: 'or', filters: node.filters.map(widen) };
      case 'not':
        // Negating a superset is a subset: a negation that holds a placeholder is widened to "any entry".
        return subtreeHasPlaceholder(node) ? ANY_ENTRY : node;
      case 'extensible':
        if (!subtreeHasPlaceholder(node)) return node;
        return node.dnAttributes || node.attribute === undefined ? ANY_ENTRY : { type: 'present', attribute: node.attribute };
      default:
        return subtreeHasPlaceholder(node) ? { type: 'present', attribute: node.attribute } : node;
    }
  };
  return fillFilterTemplate({ text: query.template.text, placeholders: [], root: widen(query.template.root) }, {});
}

function namedAttributes(node: FilterNode<TemplateValue>, out: string[]): void {
  switch (node.type) {
    case 'and':
    case 'or':
      for (const child of node.filters) namedAttributes(child, out);
      return;
    case 'not':
      namedAttributes(node.filter, out);
      return;
    default:
      if (node.attribute !== undefined) out.push(node.attribute);
  }
}

/** Attributes the in-memory evaluation needs (every attribute named in the template) plus `extra`; deduplicated case-insensitively, first spelling kept. */
export function attributesFor(query: GroupQuery, extra: readonly string[]): string[] {
  const names: string[] = [];
  namedAttributes(query.template.root, names);
  const seen = new Set<string>();
  const result: string[] = [];
  for (const name of [...names, ...extra]) {
    const key = name.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    result.push(name);
  }
  return result;
}

const BITWISE_RULES = new Set([LDAP_MATCHING_RULE_BIT_AND, LDAP_MATCHING_RULE_BIT_OR]);

function hasBitwisePlaceholder(node: FilterNode<TemplateValue>): boolean {
  switch (node.type) {
    case 'and':
    case 'or':
      return node.filters.some(hasBitwisePlaceholder);
    case 'not':
      return hasBitwisePlaceholder(node.filter);
    case 'extensible':
      return node.matchingRule !== undefined && BITWISE_RULES.has(node.matchingRule) && hasPlaceholder(node.value);
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Groups as members (nesting) and unique identifiers

/**
 * True when the filter uses AD's in-chain rule anywhere: it then follows nested groups itself,
 * so groups.nestedGroups adds no memberships to what it finds (see `memberGroupQuery`).
 */
export function resolvesNesting(query: GroupQuery): boolean {
  const visit = (node: FilterNode<TemplateValue>): boolean => {
    switch (node.type) {
      case 'and':
      case 'or':
        return node.filters.some(visit);
      case 'not':
        return visit(node.filter);
      case 'extensible':
        return node.matchingRule === LDAP_MATCHING_RULE_IN_CHAIN;
      default:
        return false;
    }
  };
  return visit(query.template.root);
}

/**
 * The User Group Filter asked about a GROUP as the member, for nested groups: `#{userdn}` is the
 * group's DN, and every assertion on `#{username}` is false (memberUid lists users, never groups),
 * folded away: `(&(cn=#{groupName})(|(member=#{userdn})(memberUid=#{username})))` becomes
 * `(&(cn=#{groupName})(member=#{userdn}))`. Undefined when nothing is left (the filter can admit
 * no group, e.g. `(&(cn=#{groupName})(memberUid=#{username}))`). It matches a subset of what
 * `candidateReadFilter` of the original reads, so one read answers both.
 */
export function memberGroupQuery(query: GroupQuery): GroupQuery | undefined {
  const fold = (node: FilterNode<TemplateValue>): FilterNode<TemplateValue> | boolean => {
    switch (node.type) {
      case 'and': {
        const kept: FilterNode<TemplateValue>[] = [];
        for (const child of node.filters) {
          const folded = fold(child);
          if (folded === false) return false;
          if (folded !== true) kept.push(folded);
        }
        return kept.length === 0 ? true : kept.length === 1 ? (kept[0] ?? true) : { type: 'and', filters: kept };
      }
      case 'or': {
        const kept: FilterNode<TemplateValue>[] = [];
        for (const child of node.filters) {
          const folded = fold(child);
          if (folded === true) return true;
          if (folded !== false) kept.push(folded);
        }
        return kept.length === 0 ? false : kept.length === 1 ? (kept[0] ?? false) : { type: 'or', filters: kept };
      }
      case 'not': {
        const folded = fold(node.filter);
        return typeof folded === 'boolean' ? !folded : { type: 'not', filter: folded };
      }
      default: {
        const used = new Set<string>();
        placeholdersIn(node, used);
        return used.has('username') ? false : node;
      }
    }
  };
  const folded = fold(query.template.root);
  if (folded === false) return undefined;
  const root = folded === true ? ANY_ENTRY : folded;
  const placeholders = query.template.placeholders.filter((name) => name !== 'username');
  return { template: { text: query.template.text, placeholders, root }, strategy: query.strategy };
}

/**
 * `filter` with every `(uniqueMember=<dn>)` that names the member by its DN widened to
 * `(|(uniqueMember=<dn>)(uniqueMember=<dn>#'<uid>'B)…)` for each of its unique identifiers:
 * `#{userdn}` names the member as a `uniqueMember` value can (RFC 4517), as group memberships
 * count it. Unchanged (the same object) when there are none.
 */
export function withMemberUniqueIdentifiers(filter: Filter, dn: string, uniqueIdentifiers: readonly string[] | undefined): Filter {
  if (uniqueIdentifiers === undefined || uniqueIdentifiers.length === 0) return filter;
  const widen = (node: Filter): Filter => {
    switch (node.type) {
      case 'and':
      case 'or':
        return { type: node.type, filters: node.filters.map(widen) };
      case 'not':
        return { type: 'not', filter: widen(node.filter) };
      case 'equality':
        if (node.value !== dn || node.attribute.toLowerCase().split(';')[0] !== 'uniquemember') return node;
        return {
          type: 'or',
          filters: [node, ...uniqueIdentifiers.map((uid): Filter => ({ type: 'equality', attribute: node.attribute, value: uniqueMemberValue(dn, uid) }))],
        };
      default:
        return node;
    }
  };
  return widen(filter);
}

// ---------------------------------------------------------------------------------------------
// AD's in-chain rule, asked per group instead of per user

/**
 * A User Group Filter of the shape `(&G... (member:1.2.840.113556.1.4.1941:=#{userdn}))`, split
 * into its group-side conditions `G` and the in-chain membership test. Then "the groups the
 * filter finds for a user" equals "the entries matching `G` (found once, or once per group name)
 * whose transitive members include the user", and AD answers the latter per group with
 * `(memberOf:1.2.840.113556.1.4.1941:=<group DN>)` under the users' base: O(mapped groups)
 * searches instead of O(users).
 */
export interface InChainQuery {
  /** The conditions on the group entry (every conjunct but the in-chain one); may use `#{groupName}` only. `(objectClass=*)` when there are none. */
  groupSide: FilterTemplate;
  /** True when `groupSide` uses `#{groupName}` (then it is asked once per mapped group name). */
  usesGroupName: boolean;
}

function conjuncts(node: FilterNode<TemplateValue>): FilterNode<TemplateValue>[] {
  return node.type === 'and' ? node.filters.flatMap(conjuncts) : [node];
}

function placeholdersIn(node: FilterNode<TemplateValue>, out: Set<string>): void {
  const fromValue = (value: TemplateValue | undefined) => {
    for (const piece of value ?? []) if ('placeholder' in piece) out.add(piece.placeholder);
  };
  switch (node.type) {
    case 'and':
    case 'or':
      for (const child of node.filters) placeholdersIn(child, out);
      return;
    case 'not':
      placeholdersIn(node.filter, out);
      return;
    case 'present':
      return;
    case 'substrings':
      fromValue(node.initial);
      node.any.forEach(fromValue);
      fromValue(node.final);
      return;
    default:
      fromValue(node.value);
  }
}

/** `(member:1.2.840.113556.1.4.1941:=#{userdn})` exactly: no `:dn`, the whole value is the user's DN. */
function isInChainMemberOfUser(node: FilterNode<TemplateValue>): boolean {
  if (node.type !== 'extensible' || node.dnAttributes || node.matchingRule !== LDAP_MATCHING_RULE_IN_CHAIN) return false;
  if (node.attribute?.toLowerCase() !== 'member') return false;
  const [only, ...rest] = node.value;
  return only !== undefined && rest.length === 0 && 'placeholder' in only && only.placeholder === 'userdn';
}

/**
 * The per-group form of the query (see `InChainQuery`), decided on the parsed filter: the root, or
 * a conjunct of its top-level AND (nested ANDs flattened), is exactly the in-chain test on
 * `member` with the value `#{userdn}`, and no other conjunct mentions the user (`#{username}`,
 * `#{userdn}`). Undefined for anything else (under OR or NOT, on another attribute, a value with
 * more than the DN, two user conditions): those keep the per-user server queries.
 */
export function inChainQuery(query: GroupQuery): InChainQuery | undefined {
  const parts = conjuncts(query.template.root);
  const chain = parts.filter(isInChainMemberOfUser);
  if (chain.length !== 1) return undefined;
  const rest = parts.filter((part) => !isInChainMemberOfUser(part));
  const used = new Set<string>();
  for (const part of rest) placeholdersIn(part, used);
  if (used.has('username') || used.has('userdn')) return undefined;
  // An entry the user is an in-chain member of has `member` values, so `(member=*)` narrows the
  // group side without changing the answer — and keeps a filter with no other group condition
  // from taking every entry under the base for a group (one memberOf search each).
  const withMembers: FilterNode<TemplateValue> = { type: 'present', attribute: 'member' };
  const root: FilterNode<TemplateValue> = rest.length === 0 ? withMembers : { type: 'and', filters: [...rest, withMembers] };
  const usesGroupName = used.has('groupName');
  return { groupSide: { text: query.template.text, placeholders: usesGroupName ? ['groupName'] : [], root }, usesGroupName };
}

/**
 * True when the template can be evaluated in memory: no AD in-chain rule, no unknown extensible
 * rule, no `:dn` match (see `needsServerEvaluation`), and no bitwise rule whose mask is a
 * placeholder (a non-numeric user value would make it undecidable).
 */
export function isLocallyEvaluable(query: GroupQuery): boolean {
  let known = evaluable.get(query.template);
  if (known === undefined) {
    const blank = Object.fromEntries(query.template.placeholders.map((name) => [name, '']));
    known = !needsServerEvaluation(fillFilterTemplate(query.template, blank)) && !hasBitwisePlaceholder(query.template.root);
    evaluable.set(query.template, known);
  }
  return known;
}

const evaluable = new WeakMap<FilterTemplate, boolean>();

// ---------------------------------------------------------------------------------------------
// The index

/** One attribute's index: value key → ascending entry positions. Keys: `s:` caseIgnore fold, `x:` hex of binary values, `d:` normalised DN, `f:` fold of a value that is not a valid DN. */
interface AttributeIndex {
  /** True when `matchesFilter` compares this attribute's values as DNs. */
  readonly isDn: boolean;
  /** True for `uniqueMember`: keys carry the optional UID (`uniqueMemberIndexKey`). */
  readonly isUniqueMember: boolean;
  readonly keys: Map<string, number[]>;
  /** True when some value was indexed under an `x:` key (binary value of a caseIgnore attribute). */
  hasBinary: boolean;
  /** True when some value was indexed under an `f:` key (a DN-valued attribute holding something that is not a DN). */
  hasInvalidDn: boolean;
  /** DN-valued attributes only, built on first need: fold of every value (for an asserted value that is not a valid DN). */
  foldAll?: Map<string, number[]>;
}

/**
 * An index over the group entries read once: per attribute, lower-cased value (DN-normalised for
 * DN-valued attributes) → entry positions. An attribute is indexed on first use, so only the
 * attributes the evaluated filters compare by equality are indexed.
 */
export interface GroupEntryIndex {
  readonly entries: readonly DirectoryEntry[];
  /** Passed to `matchesFilter`: attributes compared as DNs beyond `DN_VALUED_ATTRIBUTES`. */
  readonly options: MatchOptions;
  /** Per lower-cased attribute description; filled lazily, internal to this module. */
  readonly byAttribute: Map<string, AttributeIndex>;
  /** Asserted value → index key, bounded; internal to this module. */
  readonly keyCache: { readonly fold: Map<string, string>; readonly dn: Map<string, string>; readonly uniqueMember: Map<string, string> };
}

/** Indexes `entries` (attributes are indexed lazily, on first equality lookup). */
export function indexGroupEntries(entries: readonly DirectoryEntry[], options: { dnAttributes?: readonly string[] } = {}): GroupEntryIndex {
  return {
    entries,
    options: options.dnAttributes === undefined ? {} : { dnAttributes: [...options.dnAttributes] },
    byAttribute: new Map(),
    keyCache: { fold: new Map(), dn: new Map(), uniqueMember: new Map() },
  };
}

function asText(value: AttributeValue): string {
  return typeof value === 'string' ? value : value.toString('utf8');
}

/** The values `matchesFilter` sees for `name` (lower-cased): DN fallback for distinguishedName/entryDN included. */
function entryValues(entry: DirectoryEntry, name: string): readonly AttributeValue[] {
  const values = entry.attributes[name];
  if (values !== undefined && values.length > 0) return values;
  if (name === 'distinguishedname' || name === 'entrydn') return [entry.dn];
  return [];
}

function dnKey(text: string): string {
  try {
    return `d:${normalizeDn(text)}`;
  } catch {
    return `f:${foldCaseIgnore(text)}`;
  }
}

/** The fold of a `uniqueMember` value whose DN part is not a DN: the folded DN part and the UID, as `matchesFilter` compares them. */
function foldUniqueMember(text: string): string {
  const { dn, uid } = splitUniqueMember(text);
  return uid === undefined ? foldCaseIgnore(dn) : `${foldCaseIgnore(dn)}\u0000${uid}`;
}

/** `dnKey` for `uniqueMember` (RFC 4517 uniqueMemberMatch): the canonical DN plus the optional UID. */
function uniqueMemberIndexKey(text: string): string {
  try {
    return `d:${uniqueMemberKey(text)}`;
  } catch {
    return `f:${foldUniqueMember(text)}`;
  }
}

const isUniqueMember = (attribute: string): boolean => attribute.toLowerCase().split(';')[0] === 'uniquemember';

const KEY_CACHE_LIMIT = 20_000;

function cached(cache: Map<string, string>, text: string, compute: (text: string) => string): string {
  let key = cache.get(text);
  if (key === undefined) {
    key = compute(text);
    if (cache.size >= KEY_CACHE_LIMIT) cache.clear();
    cache.set(text, key);
  }
  return key;
}

const foldKey = (text: string): string => `s:${foldCaseIgnore(text)}`;

function add(map: Map<string, number[]>, key: string, position: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [position]);
  else if (list[list.length - 1] !== position) list.push(position);
}

function attributeIndex(index: GroupEntryIndex, attribute: string): AttributeIndex {
  const existing = index.byAttribute.get(attribute);
  if (existing !== undefined) return existing;
  const name = attribute.toLowerCase();
  const same = index.byAttribute.get(name);
  if (same !== undefined) {
    index.byAttribute.set(attribute, same);
    return same;
  }
  const built: AttributeIndex = {
    isDn: isDnValuedAttribute(name, index.options),
    isUniqueMember: isUniqueMember(name),
    keys: new Map(),
    hasBinary: false,
    hasInvalidDn: false,
  };
  index.entries.forEach((entry, position) => {
    for (const value of entryValues(entry, name)) {
      if (built.isDn) {
        const key = built.isUniqueMember ? uniqueMemberIndexKey(asText(value)) : dnKey(asText(value));
        if (key.startsWith('f:')) built.hasInvalidDn = true;
        add(built.keys, key, position);
      } else if (typeof value === 'string') {
        add(built.keys, foldKey(value), position);
      } else {
        built.hasBinary = true;
        add(built.keys, `x:${value.toString('hex')}`, position);
      }
    }
  });
  index.byAttribute.set(name, built);
  index.byAttribute.set(attribute, built);
  return built;
}

function foldAllIndex(index: GroupEntryIndex, attribute: string, attr: AttributeIndex): Map<string, number[]> {
  if (attr.foldAll !== undefined) return attr.foldAll;
  const name = attribute.toLowerCase();
  const map = new Map<string, number[]>();
  index.entries.forEach((entry, position) => {
    for (const value of entryValues(entry, name)) add(map, attr.isUniqueMember ? foldUniqueMember(asText(value)) : foldCaseIgnore(asText(value)), position);
  });
  attr.foldAll = map;
  return map;
}

const NONE: readonly number[] = [];

/** Union of two ascending position lists. */
function union(a: readonly number[], b: readonly number[]): readonly number[] {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    const next = y === undefined || (x !== undefined && x <= y) ? x : y;
    if (next === undefined) break;
    if (x === next) i += 1;
    if (y === next) j += 1;
    out.push(next);
  }
  return out;
}

function contains(sorted: readonly number[], position: number): boolean {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const value = sorted[middle] ?? -1;
    if (value === position) return true;
    if (value < position) low = middle + 1;
    else high = middle - 1;
  }
  return false;
}

/** Lookups already answered for one user: per attribute index, asserted text → positions. */
type LookupCache = Map<AttributeIndex, Map<string, readonly number[]>>;

/**
 * Exactly the entries on which an equality (or approx) assertion holds under `matchesFilter`'s
 * rules, or undefined when the index cannot answer it (a binary asserted value: scan instead).
 */
function lookup(index: GroupEntryIndex, attribute: string, value: FilterValue, cache: LookupCache): readonly number[] | undefined {
  const attr = attributeIndex(index, attribute);
  if (!attr.isDn && typeof value !== 'string') return undefined;
  // matchesFilter compares DN-valued attributes as text (Buffers decoded), so the text is the cache key.
  const text = asText(value);
  let answers = cache.get(attr);
  if (answers === undefined) {
    answers = new Map();
    cache.set(attr, answers);
  }
  const known = answers.get(text);
  if (known !== undefined) return known;
  let found: readonly number[];
  if (attr.isDn) {
    // Normalised DNs are compared, or folded text when either side is not a valid DN.
    const key = attr.isUniqueMember ? cached(index.keyCache.uniqueMember, text, uniqueMemberIndexKey) : cached(index.keyCache.dn, text, dnKey);
    if (key.startsWith('f:')) found = foldAllIndex(index, attribute, attr).get(key.slice(2)) ?? NONE;
    else {
      found = attr.keys.get(key) ?? NONE;
      if (attr.hasInvalidDn) found = union(found, attr.keys.get(`f:${attr.isUniqueMember ? foldUniqueMember(text) : foldCaseIgnore(text)}`) ?? NONE);
    }
  } else {
    // caseIgnore: folded text against text values, octets against binary values.
    found = attr.keys.get(cached(index.keyCache.fold, text, foldKey)) ?? NONE;
    if (attr.hasBinary) found = union(found, attr.keys.get(`x:${Buffer.from(text, 'utf8').toString('hex')}`) ?? NONE);
  }
  answers.set(text, found);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** Evaluations for one user: the index plus the user's memoised equality lookups. */
class Evaluation {
  constructor(
    readonly index: GroupEntryIndex,
    private readonly cache: LookupCache,
  ) {}

  /** Exact positions for an equality/approx node, or undefined when it must be evaluated per entry. */
  positions(node: Filter): readonly number[] | undefined {
    if (node.type !== 'equality' && node.type !== 'approx') return undefined;
    // Approximate uniqueMember matching ignores a missing UID: not an exact key lookup.
    if (node.type === 'approx' && isUniqueMember(node.attribute)) return undefined;
    return lookup(this.index, node.attribute, node.value, this.cache);
  }

  /** A superset of the positions `node` matches, or undefined for "every entry". */
  candidates(node: Filter): readonly number[] | undefined {
    switch (node.type) {
      case 'equality':
      case 'approx':
        return this.positions(node);
      case 'and': {
        let best: readonly number[] | undefined;
        for (const child of node.filters) {
          const found = this.candidates(child);
          if (found !== undefined && (best === undefined || found.length < best.length)) best = found;
          if (best !== undefined && best.length === 0) break;
        }
        return best;
      }
      case 'or': {
        let all: readonly number[] = NONE;
        for (const child of node.filters) {
          const found = this.candidates(child);
          if (found === undefined) return undefined;
          all = union(all, found);
        }
        return all;
      }
      default:
        return undefined;
    }
  }

  /** `matchesFilter(entries[position], node)`, answering indexed equalities from the index. */
  matches(position: number, entry: DirectoryEntry, node: Filter): boolean | undefined {
    switch (node.type) {
      case 'and': {
        let result: boolean | undefined = true;
        for (const child of node.filters) {
          const value = this.matches(position, entry, child);
          if (value === false) return false;
          if (value === undefined) result = undefined;
        }
        return result;
      }
      case 'or': {
        let result: boolean | undefined = false;
        for (const child of node.filters) {
          const value = this.matches(position, entry, child);
          if (value === true) return true;
          if (value === undefined) result = undefined;
        }
        return result;
      }
      case 'not': {
        const value = this.matches(position, entry, node.filter);
        return value === undefined ? undefined : !value;
      }
      case 'equality':
      case 'approx': {
        const found = this.positions(node);
        return found === undefined ? matchesFilter(entry, node, this.index.options) : contains(found, position);
      }
      default:
        return matchesFilter(entry, node, this.index.options);
    }
  }

  /** The matching entries (only the first with `firstOnly`), or undefined when some candidate cannot be decided locally. */
  run(filter: Filter, firstOnly: boolean, checked = false): DirectoryEntry[] | undefined {
    if (!checked && needsServerEvaluation(filter)) return undefined;
    const { entries } = this.index;
    const matched: DirectoryEntry[] = [];
    const check = (position: number): boolean | undefined => {
      const entry = entries[position];
      if (entry === undefined) return false;
      const result = this.matches(position, entry, filter);
      if (result === true) matched.push(entry);
      return result;
    };
    const candidates = this.candidates(filter);
    if (candidates === undefined) {
      for (let position = 0; position < entries.length; position += 1) {
        const result = check(position);
        if (result === undefined) return undefined;
        if (result && firstOnly) break;
      }
    } else {
      for (const position of candidates) {
        const result = check(position);
        if (result === undefined) return undefined;
        if (result && firstOnly) break;
      }
    }
    return matched;
  }
}

/**
 * The entries that the filled filter matches (in index order), using equality components inside
 * top-level ANDs (and ORs of them) to pick candidates from the index before evaluating with
 * `matchesFilter`'s rules; undefined when it cannot be evaluated locally.
 */
export function matchingEntries(index: GroupEntryIndex, filter: Filter): DirectoryEntry[] | undefined {
  return new Evaluation(index, new Map()).run(filter, false);
}

// ---------------------------------------------------------------------------------------------
// Filling templates fast

type Values = Readonly<Record<string, string>>;
type Filler = (values: Values) => Filter;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeOrUndefined(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** What `fillFilterTemplate` makes of a substituted string: its UTF-8 round trip (lone surrogates become U+FFFD). */
function wellFormed(text: string): string {
  return /[\uD800-\uDFFF]/.test(text) ? Buffer.from(text, 'utf8').toString('utf8') : text;
}

function isEmpty(value: FilterValue): boolean {
  return value.length === 0;
}

/**
 * Compiles a template into a function equal to `fillFilterTemplate(template, values)` for
 * well-formed values, skipping the byte round trip in the usual case (literal pieces that are
 * valid UTF-8 on their own). Falls back to `fillFilterTemplate` for templates with other literals.
 */
function compileFiller(template: FilterTemplate): Filler {
  let fallback = false;
  const compileValue = (value: TemplateValue): ((values: Values) => FilterValue) => {
    if (!hasPlaceholder(value)) {
      const bytes = Buffer.concat(value.map((piece) => ('literal' in piece ? piece.literal : Buffer.alloc(0))));
      const constant: FilterValue = decodeOrUndefined(bytes) ?? bytes;
      return () => constant;
    }
    const parts: (string | { placeholder: string })[] = [];
    for (const piece of value) {
      if ('placeholder' in piece) {
        parts.push(piece);
        continue;
      }
      const text = decodeOrUndefined(piece.literal);
      if (text === undefined) fallback = true;
      parts.push(text ?? '');
    }
    return (values) => {
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') {
          out += part;
          continue;
        }
        const substitute = Object.hasOwn(values, part.placeholder) ? values[part.placeholder] : undefined;
        if (substitute === undefined) {
          throw new DirbridgeError('directory.invalid_filter', `no value for placeholder #{${part.placeholder}}`, {
            details: { filter: template.text, placeholder: part.placeholder },
          });
        }
        out += substitute;
      }
      return out;
    };
  };
  const compile = (node: FilterNode<TemplateValue>): Filler => {
    switch (node.type) {
      case 'and':
      case 'or': {
        const children = node.filters.map(compile);
        const type = node.type;
        return (values) => ({ type, filters: children.map((child) => child(values)) });
      }
      case 'not': {
        const child = compile(node.filter);
        return (values) => ({ type: 'not', filter: child(values) });
      }
      case 'present':
        return () => node;
      case 'equality':
      case 'greaterOrEqual':
      case 'lessOrEqual':
      case 'approx': {
        const value = compileValue(node.value);
        const { type, attribute } = node;
        return (values) => ({ type, attribute, value: value(values) });
      }
      case 'substrings': {
        const initial = node.initial === undefined ? undefined : compileValue(node.initial);
        const any = node.any.map(compileValue);
        const final = node.final === undefined ? undefined : compileValue(node.final);
        const { attribute } = node;
        return (values) => {
          const out: SubstringsNode<FilterValue> = { type: 'substrings', attribute, any: any.map((piece) => piece(values)).filter((piece) => !isEmpty(piece)) };
          const first = initial?.(values);
          const last = final?.(values);
          if (first !== undefined && !isEmpty(first)) out.initial = first;
          if (last !== undefined && !isEmpty(last)) out.final = last;
          if (out.initial === undefined && out.final === undefined && out.any.length === 0) return { type: 'present', attribute };
          return out;
        };
      }
      case 'extensible': {
        const value = compileValue(node.value);
        const { attribute, matchingRule, dnAttributes } = node;
        return (values) => {
          const out: Filter = { type: 'extensible', dnAttributes, value: value(values) };
          if (attribute !== undefined) out.attribute = attribute;
          if (matchingRule !== undefined) out.matchingRule = matchingRule;
          return out;
        };
      }
    }
  };
  const filler = compile(template.root);
  return fallback ? (values) => fillFilterTemplate(template, values) : filler;
}

const fillers = new WeakMap<FilterTemplate, Filler>();

/** The compiled filler of `template`; values must already be well-formed (see `wellFormed`). */
function fillerFor(template: FilterTemplate): Filler {
  let filler = fillers.get(template);
  if (filler === undefined) {
    filler = compileFiller(template);
    fillers.set(template, filler);
  }
  return filler;
}

/** `fillFilterTemplate(template, values)`, compiled once per template. Exported for tests. */
export function fastFill(template: FilterTemplate, values: Values): Filter {
  return fillerFor(template)(Object.fromEntries(Object.entries(values).map(([name, value]) => [name, wellFormed(value)])));
}

// ---------------------------------------------------------------------------------------------
// Per user

/**
 * For one user: the names of the mapped groups the user belongs to, in `groupNames` order.
 *  - 'each': for every name in `groupNames`, fill {username, userdn, groupName} and test whether any entry matches.
 *  - 'once': fill {username, userdn}, take every matching entry, read its names from `nameAttributes` (first value
 *    of each) and return those that are in `groupNames` (case-insensitively; the spelling used in `groupNames`).
 * Returns undefined when the query is not locally evaluable.
 */
export function userGroupNames(
  index: GroupEntryIndex,
  query: GroupQuery,
  user: { username: string; dn: string; uniqueIdentifiers?: readonly string[] | undefined },
  groupNames: readonly string[],
  nameAttributes: readonly string[],
): string[] | undefined {
  if (!isLocallyEvaluable(query)) return undefined;
  const evaluation = new Evaluation(index, new Map());
  const filler = fillerFor(query.template);
  const values: Record<string, string> = { username: wellFormed(user.username), userdn: wellFormed(user.dn) };
  const fill = (filled: Values): Filter => withMemberUniqueIdentifiers(filler(filled), values.userdn ?? '', user.uniqueIdentifiers);
  const found = new Set<string>();
  if (query.strategy === 'each') {
    // Without #{groupName} every group name gives the same filter: evaluate it once.
    const usesName = query.template.placeholders.includes('groupName');
    let shared: boolean | undefined;
    for (const groupName of groupNames) {
      if (found.has(groupName)) continue;
      let member = usesName ? undefined : shared;
      if (member === undefined) {
        values.groupName = wellFormed(groupName);
        const matched = evaluation.run(fill(values), true, true);
        if (matched === undefined) return undefined;
        member = matched.length > 0;
        if (!usesName) shared = member;
      }
      if (member) found.add(groupName);
    }
    return [...found];
  }
  const matched = evaluation.run(fill(values), false, true);
  if (matched === undefined) return undefined;
  const names = new Set<string>();
  for (const entry of matched) {
    for (const attribute of nameAttributes) {
      const name = firstString(entry, attribute);
      if (name !== undefined) names.add(name.toLowerCase());
    }
  }
  return groupNames.filter((name) => {
    if (found.has(name) || !names.has(name.toLowerCase())) return false;
    found.add(name);
    return true;
  });
}
