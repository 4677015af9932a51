/**
 * RFC 4515 search filters as a typed AST: builders that escape by construction, a parser, a
 * formatter, templates with `#{name}` placeholders (substituted into the AST, so a value can never
 * change the filter's structure), and in-memory evaluation. Pure, no I/O.
 *
 * Assertion values are decoded bytes: a value that is valid UTF-8 is a string, anything else (for
 * example an objectGUID written as `\a1\b2...`) is a Buffer.
 */
import { DirbridgeError } from '../errors.ts';
import { dnEquals } from './dn.ts';
import type { AttributeValue, DirectoryEntry } from './entry.ts';
import { splitUniqueMember } from './unique-member.ts';

/** An assertion value: text, or raw bytes when the value is not valid UTF-8. */
export type FilterValue = string | Buffer;

/** `(&...)` over filters whose assertion values have type `V`. */
export interface AndNode<V> {
  type: 'and';
  filters: FilterNode<V>[];
}
/** `(|...)`. */
export interface OrNode<V> {
  type: 'or';
  filters: FilterNode<V>[];
}
/** `(!...)`. */
export interface NotNode<V> {
  type: 'not';
  filter: FilterNode<V>;
}
/** `(attr=value)`, `(attr>=value)`, `(attr<=value)`, `(attr~=value)`. */
export interface ComparisonNode<V> {
  type: 'equality' | 'greaterOrEqual' | 'lessOrEqual' | 'approx';
  attribute: string;
  value: V;
}
/** `(attr=*)`. */
export interface PresentNode {
  type: 'present';
  attribute: string;
}
/** `(attr=initial*any*...*final)`; at least one piece is set. */
export interface SubstringsNode<V> {
  type: 'substrings';
  attribute: string;
  initial?: V;
  any: V[];
  final?: V;
}
/** `(attr:dn:rule:=value)`; at least one of `attribute` and `matchingRule` is set. */
export interface ExtensibleNode<V> {
  type: 'extensible';
  attribute?: string;
  matchingRule?: string;
  dnAttributes: boolean;
  value: V;
}

/** A filter tree generic over its assertion value type (concrete values, or template pieces). */
export type FilterNode<V> = AndNode<V> | OrNode<V> | NotNode<V> | ComparisonNode<V> | PresentNode | SubstringsNode<V> | ExtensibleNode<V>;

/** A concrete RFC 4515 filter. */
export type Filter = FilterNode<FilterValue>;

/** The AD "in chain" matching rule (nested group membership); evaluated only by the server. */
export const LDAP_MATCHING_RULE_IN_CHAIN = '1.2.840.113556.1.4.1941';
/** The AD bitwise-AND matching rule, e.g. `(userAccountControl:1.2.840.113556.1.4.803:=2)`. */
export const LDAP_MATCHING_RULE_BIT_AND = '1.2.840.113556.1.4.803';
/** The AD bitwise-OR matching rule. */
export const LDAP_MATCHING_RULE_BIT_OR = '1.2.840.113556.1.4.804';

const ATTRIBUTE = /^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*$/;
const MATCHING_RULE = /^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)$/;

function checkAttribute(attribute: string): string {
  if (!ATTRIBUTE.test(attribute)) {
    throw new DirbridgeError('directory.invalid_filter', `invalid attribute description ${JSON.stringify(attribute)}`, {
      details: { attribute },
    });
  }
  return attribute;
}

// ---------------------------------------------------------------------------------------------
// Builders

/** `(&f1 f2 ...)`; with no arguments it is the absolute-true filter `(&)` of RFC 4526. */
export function and(...filters: Filter[]): AndNode<FilterValue> {
  return { type: 'and', filters };
}

/** `(|f1 f2 ...)`; with no arguments it is the absolute-false filter `(|)`. */
export function or(...filters: Filter[]): OrNode<FilterValue> {
  return { type: 'or', filters };
}

/** `(!f)`. */
export function not(filter: Filter): NotNode<FilterValue> {
  return { type: 'not', filter };
}

/** `(attribute=value)` with `value` taken literally (no wildcards). */
export function eq(attribute: string, value: FilterValue): ComparisonNode<FilterValue> {
  return { type: 'equality', attribute: checkAttribute(attribute), value };
}

/** `(attribute>=value)`. */
export function gte(attribute: string, value: FilterValue): ComparisonNode<FilterValue> {
  return { type: 'greaterOrEqual', attribute: checkAttribute(attribute), value };
}

/** `(attribute<=value)`. */
export function lte(attribute: string, value: FilterValue): ComparisonNode<FilterValue> {
  return { type: 'lessOrEqual', attribute: checkAttribute(attribute), value };
}

/** `(attribute=*)`. */
export function present(attribute: string): PresentNode {
  return { type: 'present', attribute: checkAttribute(attribute) };
}

/** `(attribute=prefix*)` with `prefix` taken literally; an empty prefix gives `(attribute=*)`. */
export function startsWith(attribute: string, prefix: string): SubstringsNode<FilterValue> | PresentNode {
  if (prefix === '') return present(attribute);
  return { type: 'substrings', attribute: checkAttribute(attribute), initial: prefix, any: [] };
}

/** `(attribute=*suffix)` with `suffix` taken literally. */
export function endsWith(attribute: string, suffix: string): SubstringsNode<FilterValue> | PresentNode {
  if (suffix === '') return present(attribute);
  return { type: 'substrings', attribute: checkAttribute(attribute), any: [], final: suffix };
}

/** `(attribute=*part*)` with `part` taken literally. */
export function contains(attribute: string, part: string): SubstringsNode<FilterValue> | PresentNode {
  if (part === '') return present(attribute);
  return { type: 'substrings', attribute: checkAttribute(attribute), any: [part] };
}

/** `(attribute:dn:matchingRule:=value)`; e.g. `extensible({ attribute: 'memberOf', matchingRule: LDAP_MATCHING_RULE_IN_CHAIN, value: groupDn })`. */
export function extensible(options: { attribute?: string; matchingRule?: string; dnAttributes?: boolean; value: FilterValue }): ExtensibleNode<FilterValue> {
  if (options.attribute === undefined && options.matchingRule === undefined) {
    throw new DirbridgeError('directory.invalid_filter', 'an extensible match needs an attribute or a matching rule');
  }
  if (options.matchingRule !== undefined && !MATCHING_RULE.test(options.matchingRule)) {
    throw new DirbridgeError('directory.invalid_filter', `invalid matching rule ${JSON.stringify(options.matchingRule)}`);
  }
  const node: ExtensibleNode<FilterValue> = { type: 'extensible', dnAttributes: options.dnAttributes ?? false, value: options.value };
  if (options.attribute !== undefined) node.attribute = checkAttribute(options.attribute);
  if (options.matchingRule !== undefined) node.matchingRule = options.matchingRule;
  return node;
}

// ---------------------------------------------------------------------------------------------
// Formatting

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function bytesToValue(bytes: Uint8Array): FilterValue {
  try {
    return utf8.decode(bytes);
  } catch {
    return Buffer.from(bytes);
  }
}

/** Escapes an assertion value per RFC 4515: `*`, `(`, `)`, `\`, NUL and other control characters as `\XX`; Buffers are hex-escaped byte by byte. */
export function escapeFilterValue(value: FilterValue): string {
  if (Buffer.isBuffer(value)) {
    return [...value].map((byte) => `\\${byte.toString(16).padStart(2, '0')}`).join('');
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this escapes (RFC 4515)
  return value.replace(/[*()\\\u0000-\u001f\u007f]/g, (ch) => `\\${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Formats a filter as RFC 4515 text with every value escaped. */
export function formatFilter(filter: Filter): string {
  switch (filter.type) {
    case 'and':
      return `(&${filter.filters.map(formatFilter).join('')})`;
    case 'or':
      return `(|${filter.filters.map(formatFilter).join('')})`;
    case 'not':
      return `(!${formatFilter(filter.filter)})`;
    case 'equality':
      return `(${filter.attribute}=${escapeFilterValue(filter.value)})`;
    case 'greaterOrEqual':
      return `(${filter.attribute}>=${escapeFilterValue(filter.value)})`;
    case 'lessOrEqual':
      return `(${filter.attribute}<=${escapeFilterValue(filter.value)})`;
    case 'approx':
      return `(${filter.attribute}~=${escapeFilterValue(filter.value)})`;
    case 'present':
      return `(${filter.attribute}=*)`;
    case 'substrings': {
      const parts = [
        filter.initial === undefined ? '' : escapeFilterValue(filter.initial),
        ...filter.any.map(escapeFilterValue),
        filter.final === undefined ? '' : escapeFilterValue(filter.final),
      ];
      return `(${filter.attribute}=${parts.join('*')})`;
    }
    case 'extensible':
      return `(${filter.attribute ?? ''}${filter.dnAttributes ? ':dn' : ''}${
        filter.matchingRule === undefined ? '' : `:${filter.matchingRule}`
      }:=${escapeFilterValue(filter.value)})`;
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** One piece of a template assertion value: literal bytes or a named placeholder. */
export type TemplatePiece = { literal: Buffer } | { placeholder: string };

/** A template assertion value: the concatenation of its pieces. */
export type TemplateValue = TemplatePiece[];

/** A parsed filter template; fill it with `fillFilterTemplate`. */
export interface FilterTemplate {
  /** The template text as configured. */
  readonly text: string;
  /** The placeholder names the template uses. */
  readonly placeholders: readonly string[];
  readonly root: FilterNode<TemplateValue>;
}

const PLACEHOLDER = /^#\{([A-Za-z_][A-Za-z0-9_.-]*)\}/;

function invalidFilter(text: string, position: number, message: string): DirbridgeError {
  return new DirbridgeError('directory.invalid_filter', `invalid filter at position ${position}: ${message}`, {
    details: { filter: text, position },
  });
}

/**
 * The shared RFC 4515 parser. With `placeholders` set, `#{name}` inside assertion values becomes a
 * placeholder piece (names must be in the set); without it, `#` is an ordinary character.
 */
function parse(text: string, placeholders: ReadonlySet<string> | undefined): { root: FilterNode<TemplateValue>; used: string[] } {
  let i = 0;
  let bare = false;
  const used: string[] = [];

  const skipSpaces = (): void => {
    while (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r') i += 1;
  };

  const expect = (ch: string): void => {
    if (text[i] !== ch) {
      throw invalidFilter(text, i, text[i] === undefined ? `expected "${ch}" but the filter ended` : `expected "${ch}" but found "${text[i]}"`);
    }
    i += 1;
  };

  /** Reads a value up to an unescaped `)` (or `*` when `stopAtStar`), as pieces. */
  const readValue = (stopAtStar: boolean): TemplateValue => {
    const pieces: TemplateValue = [];
    let bytes: number[] = [];
    const flush = (): void => {
      if (bytes.length > 0) pieces.push({ literal: Buffer.from(bytes) });
      bytes = [];
    };
    for (;;) {
      const ch = text[i];
      if (ch === undefined && bare) break;
      if (ch === undefined) throw invalidFilter(text, i, 'unterminated value: expected ")"');
      if (ch === ')' || (stopAtStar && ch === '*')) break;
      if (ch === '(') throw invalidFilter(text, i, 'unescaped "(" in value (write it as \\28)');
      if (ch === '\u0000') throw invalidFilter(text, i, 'NUL in value (write it as \\00)');
      if (ch === '\\') {
        const pair = text.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(pair)) throw invalidFilter(text, i, 'invalid escape: expected \\ followed by two hex digits');
        bytes.push(Number.parseInt(pair, 16));
        i += 3;
        continue;
      }
      if (ch === '#' && placeholders !== undefined) {
        const match = PLACEHOLDER.exec(text.slice(i));
        if (!match || match[1] === undefined) throw invalidFilter(text, i, 'invalid placeholder: expected #{name} (write a literal # as \\23)');
        const name = match[1];
        if (!placeholders.has(name)) {
          throw invalidFilter(text, i, `unknown placeholder #{${name}}; allowed: ${[...placeholders].map((p) => `#{${p}}`).join(', ') || 'none'}`);
        }
        flush();
        pieces.push({ placeholder: name });
        if (!used.includes(name)) used.push(name);
        i += match[0].length;
        continue;
      }
      const codePoint = text.codePointAt(i) ?? 0;
      const char = String.fromCodePoint(codePoint);
      for (const byte of Buffer.from(char, 'utf8')) bytes.push(byte);
      i += char.length;
    }
    flush();
    return pieces;
  };

  const readName = (what: string, pattern: RegExp): string => {
    const match = pattern.exec(text.slice(i));
    if (!match) {
      const placeholderHint = text[i] === '#' && placeholders !== undefined ? ' (placeholders may appear only in assertion values)' : '';
      throw invalidFilter(text, i, `expected ${what}${placeholderHint}`);
    }
    i += match[0].length;
    return match[0];
  };

  const ATTR_PREFIX = /^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*/;
  const RULE_PREFIX = /^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)/;

  const parseItem = (): FilterNode<TemplateValue> => {
    const start = i;
    let attribute: string | undefined;
    if (text[i] !== ':') attribute = readName('an attribute description', ATTR_PREFIX);
    if (text[i] === ':') {
      let dnAttributes = false;
      let matchingRule: string | undefined;
      while (text[i] === ':' && text[i + 1] !== '=') {
        i += 1;
        const name = readName('":dn", a matching rule or ":="', RULE_PREFIX);
        if (name.toLowerCase() === 'dn' && !dnAttributes && matchingRule === undefined) dnAttributes = true;
        else if (matchingRule === undefined) matchingRule = name;
        else throw invalidFilter(text, i - name.length, 'an extensible match takes at most one matching rule');
      }
      expect(':');
      expect('=');
      if (attribute === undefined && matchingRule === undefined) {
        throw invalidFilter(text, start, 'an extensible match needs an attribute or a matching rule');
      }
      const node: ExtensibleNode<TemplateValue> = { type: 'extensible', dnAttributes, value: readValue(false) };
      if (attribute !== undefined) node.attribute = attribute;
      if (matchingRule !== undefined) node.matchingRule = matchingRule;
      return node;
    }
    if (attribute === undefined) throw invalidFilter(text, i, 'expected an attribute description');
    const operator = text.slice(i, i + 2);
    if (operator === '>=' || operator === '<=' || operator === '~=') {
      i += 2;
      const type = operator === '>=' ? 'greaterOrEqual' : operator === '<=' ? 'lessOrEqual' : 'approx';
      return { type, attribute, value: readValue(false) };
    }
    if (text[i] !== '=') throw invalidFilter(text, i, 'expected "=", ">=", "<=", "~=" or ":="');
    i += 1;
    const parts: TemplateValue[] = [readValue(true)];
    while (text[i] === '*') {
      i += 1;
      parts.push(readValue(true));
    }
    if (parts.length === 1) return { type: 'equality', attribute, value: parts[0] ?? [] };
    if (parts.length === 2 && parts.every((part) => part.length === 0)) return { type: 'present', attribute };
    const initial = parts[0] ?? [];
    const final = parts[parts.length - 1] ?? [];
    const middle = parts.slice(1, -1);
    if (middle.some((part) => part.length === 0)) throw invalidFilter(text, i, 'empty substring between two "*"');
    const node: SubstringsNode<TemplateValue> = { type: 'substrings', attribute, any: middle };
    if (initial.length > 0) node.initial = initial;
    if (final.length > 0) node.final = final;
    return node;
  };

  const parseFilterAt = (): FilterNode<TemplateValue> => {
    skipSpaces();
    expect('(');
    let node: FilterNode<TemplateValue>;
    const op = text[i];
    if (op === '&' || op === '|') {
      i += 1;
      const filters: FilterNode<TemplateValue>[] = [];
      skipSpaces();
      while (text[i] === '(') {
        filters.push(parseFilterAt());
        skipSpaces();
      }
      node = op === '&' ? { type: 'and', filters } : { type: 'or', filters };
    } else if (op === '!') {
      i += 1;
      node = { type: 'not', filter: parseFilterAt() };
      skipSpaces();
    } else {
      node = parseItem();
    }
    expect(')');
    return node;
  };

  skipSpaces();
  if (i === text.length) throw invalidFilter(text, i, 'empty filter');
  let root: FilterNode<TemplateValue>;
  if (text[i] === '(') {
    root = parseFilterAt();
  } else {
    // Lenient: a bare item such as "uid=jdoe" is read as "(uid=jdoe)".
    bare = true;
    root = parseItem();
    if (text[i] === ')') throw invalidFilter(text, i, 'unbalanced ")"');
  }
  skipSpaces();
  if (i !== text.length) throw invalidFilter(text, i, `unexpected "${text[i] ?? ''}" after the end of the filter`);
  return { root, used };
}

function mapValues<A, B>(node: FilterNode<A>, convert: (value: A) => B): FilterNode<B> {
  switch (node.type) {
    case 'and':
      return { type: 'and', filters: node.filters.map((child) => mapValues(child, convert)) };
    case 'or':
      return { type: 'or', filters: node.filters.map((child) => mapValues(child, convert)) };
    case 'not':
      return { type: 'not', filter: mapValues(node.filter, convert) };
    case 'present':
      return node;
    case 'equality':
    case 'greaterOrEqual':
    case 'lessOrEqual':
    case 'approx':
      return { type: node.type, attribute: node.attribute, value: convert(node.value) };
    case 'substrings': {
      const out: SubstringsNode<B> = { type: 'substrings', attribute: node.attribute, any: node.any.map(convert) };
      if (node.initial !== undefined) out.initial = convert(node.initial);
      if (node.final !== undefined) out.final = convert(node.final);
      return out;
    }
    case 'extensible': {
      const out: ExtensibleNode<B> = { type: 'extensible', dnAttributes: node.dnAttributes, value: convert(node.value) };
      if (node.attribute !== undefined) out.attribute = node.attribute;
      if (node.matchingRule !== undefined) out.matchingRule = node.matchingRule;
      return out;
    }
  }
}

function literalBytes(value: TemplateValue): Buffer {
  return Buffer.concat(value.map((piece) => ('literal' in piece ? piece.literal : Buffer.alloc(0))));
}

/** Parses RFC 4515 filter text; `\XX` escapes are decoded, and values that are not UTF-8 become Buffers. */
export function parseFilter(text: string): Filter {
  return mapValues(parse(text, undefined).root, (value) => bytesToValue(literalBytes(value)));
}

/** Parses a filter template whose assertion values may hold `#{name}` placeholders from `allowedPlaceholders`. */
export function parseFilterTemplate(text: string, allowedPlaceholders: readonly string[]): FilterTemplate {
  const { root, used } = parse(text, new Set(allowedPlaceholders));
  return { text, placeholders: used, root };
}

/**
 * Substitutes `values` into a template's assertion values, so a value is always data, never syntax.
 * Substring pieces that become empty are dropped (a substring filter left with no piece becomes a presence filter).
 */
export function fillFilterTemplate(template: FilterTemplate, values: Readonly<Record<string, string>>): Filter {
  const fill = (value: TemplateValue): Buffer =>
    Buffer.concat(
      value.map((piece) => {
        if ('literal' in piece) return piece.literal;
        const substitute = Object.hasOwn(values, piece.placeholder) ? values[piece.placeholder] : undefined;
        if (substitute === undefined) {
          throw new DirbridgeError('directory.invalid_filter', `no value for placeholder #{${piece.placeholder}}`, {
            details: { filter: template.text, placeholder: piece.placeholder },
          });
        }
        return Buffer.from(substitute, 'utf8');
      }),
    );
  const collapse = (node: FilterNode<Buffer>): Filter => {
    switch (node.type) {
      case 'and':
        return { type: 'and', filters: node.filters.map(collapse) };
      case 'or':
        return { type: 'or', filters: node.filters.map(collapse) };
      case 'not':
        return { type: 'not', filter: collapse(node.filter) };
      case 'substrings': {
        const out: SubstringsNode<FilterValue> = {
          type: 'substrings',
          attribute: node.attribute,
          any: node.any.filter((piece) => piece.length > 0).map(bytesToValue),
        };
        if (node.initial !== undefined && node.initial.length > 0) out.initial = bytesToValue(node.initial);
        if (node.final !== undefined && node.final.length > 0) out.final = bytesToValue(node.final);
        if (out.initial === undefined && out.final === undefined && out.any.length === 0) return { type: 'present', attribute: node.attribute };
        return out;
      }
      default:
        return mapValues(node, bytesToValue);
    }
  };
  return collapse(mapValues(template.root, fill));
}

// ---------------------------------------------------------------------------------------------
// In-memory evaluation

/** Attributes whose values are DNs and are compared in normalised DN form (`uniqueMember` by RFC 4517 uniqueMemberMatch: DN and optional UID). */
export const DN_VALUED_ATTRIBUTES: readonly string[] = [
  'member',
  'uniquemember',
  'memberof',
  'manager',
  'owner',
  'seealso',
  'distinguishedname',
  'entrydn',
  'secretary',
  'roleoccupant',
];

/** Options for `matchesFilter`. */
export interface MatchOptions {
  /** More attributes whose values are DNs (compared with `dnEquals`), in addition to `DN_VALUED_ATTRIBUTES`. */
  dnAttributes?: readonly string[];
}

const RULES: Record<string, string> = {
  '2.5.13.1': 'dn',
  distinguishednamematch: 'dn',
  '2.5.13.2': 'caseIgnore',
  caseignorematch: 'caseIgnore',
  '1.3.6.1.4.1.1466.109.114.2': 'caseIgnore',
  caseignoreia5match: 'caseIgnore',
  '2.5.13.5': 'caseExact',
  caseexactmatch: 'caseExact',
  '1.3.6.1.4.1.1466.109.114.1': 'caseExact',
  caseexactia5match: 'caseExact',
  '2.5.13.23': 'uniqueMember',
  uniquemembermatch: 'uniqueMember',
  '2.5.13.17': 'octets',
  octetstringmatch: 'octets',
  '2.5.13.14': 'integer',
  integermatch: 'integer',
  [LDAP_MATCHING_RULE_BIT_AND]: 'bitAnd',
  [LDAP_MATCHING_RULE_BIT_OR]: 'bitOr',
};

function asText(value: AttributeValue): string {
  return typeof value === 'string' ? value : value.toString('utf8');
}

function foldCase(value: string): string {
  return value.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

function parseInteger(value: AttributeValue): bigint | undefined {
  const text = asText(value).trim();
  return /^-?[0-9]+$/.test(text) ? BigInt(text) : undefined;
}

function safeDnEquals(a: string, b: string): boolean {
  try {
    return dnEquals(a, b);
  } catch {
    return foldCase(a) === foldCase(b);
  }
}

function safeUniqueMemberEquals(a: string, b: string, isApprox: boolean): boolean {
  const left = splitUniqueMember(a);
  const right = splitUniqueMember(b);
  // Approximate matching (slapd, 389-DS): a UID missing on either side does not count.
  if (isApprox ? left.uid !== undefined && right.uid !== undefined && left.uid !== right.uid : left.uid !== right.uid) return false;
  return safeDnEquals(left.dn, right.dn);
}

function valuesFor(entry: DirectoryEntry, attribute: string): AttributeValue[] {
  const name = attribute.toLowerCase();
  const values = entry.attributes[name];
  if (values !== undefined && values.length > 0) return values;
  if (name === 'distinguishedname' || name === 'entrydn') return [entry.dn];
  return [];
}

function equalityMatch(rule: string, actual: AttributeValue, asserted: FilterValue, isApprox = false): boolean {
  switch (rule) {
    case 'dn':
      return safeDnEquals(asText(actual), asText(asserted));
    case 'uniqueMember':
      return safeUniqueMemberEquals(asText(actual), asText(asserted), isApprox);
    case 'caseExact':
      return asText(actual) === asText(asserted);
    case 'octets': {
      const a = typeof actual === 'string' ? Buffer.from(actual, 'utf8') : actual;
      const b = typeof asserted === 'string' ? Buffer.from(asserted, 'utf8') : asserted;
      return a.equals(b);
    }
    case 'integer': {
      const a = parseInteger(actual);
      const b = parseInteger(asserted);
      return a !== undefined && a === b;
    }
    default:
      if (Buffer.isBuffer(actual) || Buffer.isBuffer(asserted)) return equalityMatch('octets', actual, asserted);
      return foldCase(actual) === foldCase(asserted);
  }
}

function defaultRule(attribute: string, options: MatchOptions): string {
  const name = attribute.toLowerCase().split(';')[0] ?? '';
  if (name === 'uniquemember') return 'uniqueMember';
  if (DN_VALUED_ATTRIBUTES.includes(name) || (options.dnAttributes ?? []).some((a) => a.toLowerCase() === name)) return 'dn';
  return 'caseIgnore';
}

/** The case-folded form in which `matchesFilter` compares caseIgnore values (so an index can agree with it). */
export function foldCaseIgnore(value: string): string {
  return foldCase(value);
}

/** True when `matchesFilter` compares values of `attribute` as DNs by default (`DN_VALUED_ATTRIBUTES` plus `options.dnAttributes`). */
export function isDnValuedAttribute(attribute: string, options: MatchOptions = {}): boolean {
  const rule = defaultRule(attribute, options);
  return rule === 'dn' || rule === 'uniqueMember';
}

function substringMatch(actual: AttributeValue, node: SubstringsNode<FilterValue>): boolean {
  const value = foldCase(asText(actual));
  let position = 0;
  if (node.initial !== undefined) {
    const initial = foldCase(asText(node.initial));
    if (!value.startsWith(initial)) return false;
    position = initial.length;
  }
  for (const piece of node.any) {
    const found = value.indexOf(foldCase(asText(piece)), position);
    if (found < 0) return false;
    position = found + foldCase(asText(piece)).length;
  }
  if (node.final !== undefined) {
    const final = foldCase(asText(node.final));
    return value.length - final.length >= position && value.endsWith(final);
  }
  return true;
}

function orderingMatch(actual: AttributeValue, asserted: FilterValue, greater: boolean): boolean {
  const a = parseInteger(actual);
  const b = parseInteger(asserted);
  if (a !== undefined && b !== undefined) return greater ? a >= b : a <= b;
  const x = foldCase(asText(actual));
  const y = foldCase(asText(asserted));
  return greater ? x >= y : x <= y;
}

/**
 * Evaluates `filter` against an entry in memory. Returns `undefined` when the filter cannot be
 * evaluated locally (unknown extensible matching rules, the AD in-chain rule, `:dn` matches).
 * Attributes missing from the entry count as absent, so request every attribute the filter names.
 */
export function matchesFilter(entry: DirectoryEntry, filter: Filter, options: MatchOptions = {}): boolean | undefined {
  switch (filter.type) {
    case 'and': {
      let result: boolean | undefined = true;
      for (const child of filter.filters) {
        const value = matchesFilter(entry, child, options);
        if (value === false) return false;
        if (value === undefined) result = undefined;
      }
      return result;
    }
    case 'or': {
      let result: boolean | undefined = false;
      for (const child of filter.filters) {
        const value = matchesFilter(entry, child, options);
        if (value === true) return true;
        if (value === undefined) result = undefined;
      }
      return result;
    }
    case 'not': {
      const value = matchesFilter(entry, filter.filter, options);
      return value === undefined ? undefined : !value;
    }
    case 'present':
      return filter.attribute.toLowerCase() === 'objectclass' || valuesFor(entry, filter.attribute).length > 0;
    case 'equality':
    case 'approx': {
      const rule = defaultRule(filter.attribute, options);
      return valuesFor(entry, filter.attribute).some((value) => equalityMatch(rule, value, filter.value, filter.type === 'approx'));
    }
    case 'greaterOrEqual':
    case 'lessOrEqual':
      return valuesFor(entry, filter.attribute).some((value) => orderingMatch(value, filter.value, filter.type === 'greaterOrEqual'));
    case 'substrings':
      return valuesFor(entry, filter.attribute).some((value) => substringMatch(value, filter));
    case 'extensible': {
      if (filter.dnAttributes || filter.attribute === undefined) return undefined;
      const rule = filter.matchingRule === undefined ? defaultRule(filter.attribute, options) : RULES[filter.matchingRule.toLowerCase()];
      if (rule === undefined) return undefined;
      const values = valuesFor(entry, filter.attribute);
      if (rule === 'bitAnd' || rule === 'bitOr') {
        const mask = parseInteger(filter.value);
        if (mask === undefined) return undefined;
        return values.some((value) => {
          const bits = parseInteger(value);
          if (bits === undefined) return false;
          return rule === 'bitAnd' ? (bits & mask) === mask : (bits & mask) !== 0n;
        });
      }
      return values.some((value) => equalityMatch(rule, value, filter.value));
    }
  }
}

/** True when the filter (or any sub-filter) can only be evaluated by the server (see `matchesFilter`). */
export function needsServerEvaluation(filter: Filter): boolean {
  switch (filter.type) {
    case 'and':
    case 'or':
      return filter.filters.some(needsServerEvaluation);
    case 'not':
      return needsServerEvaluation(filter.filter);
    case 'extensible':
      return (
        filter.dnAttributes || filter.attribute === undefined || (filter.matchingRule !== undefined && RULES[filter.matchingRule.toLowerCase()] === undefined)
      );
    default:
      return false;
  }
}
