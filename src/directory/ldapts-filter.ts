/**
 * Converts our filter AST into ldapts Filter objects. We never hand ldapts a filter string: its
 * string parser re-encodes `\XX` escapes as UTF-8, so binary values (objectGUID) would silently
 * match nothing. Every assertion value here is written to the wire as exact bytes.
 */
import {
  AndFilter,
  ApproximateFilter,
  Ber,
  type BerWriter,
  EqualityFilter,
  ExtensibleFilter,
  GreaterThanEqualsFilter,
  type Filter as LdaptsFilter,
  LessThanEqualsFilter,
  NotFilter,
  OrFilter,
  PresenceFilter,
  SubstringFilter,
} from 'ldapts';
import type { Filter, FilterValue } from '../ldap/filter.ts';
import { formatFilter } from '../ldap/filter.ts';

function bytes(value: FilterValue): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

/** A substrings filter whose pieces are written as raw octets (ldapts's own writes strings only). */
class OctetSubstringFilter extends SubstringFilter {
  constructor(
    attribute: string,
    private readonly pieces: { initial?: Buffer; any: Buffer[]; final?: Buffer },
    private readonly text: string,
  ) {
    super({ attribute });
  }

  override writeFilter(writer: BerWriter): void {
    writer.writeString(this.attribute);
    writer.startSequence();
    if (this.pieces.initial !== undefined) writer.writeBuffer(this.pieces.initial, 0x80);
    for (const piece of this.pieces.any) writer.writeBuffer(piece, 0x81);
    if (this.pieces.final !== undefined) writer.writeBuffer(this.pieces.final, 0x82);
    writer.endSequence();
  }

  override toString(): string {
    return this.text;
  }
}

/** An ordering or approximate filter whose value is written as raw octets. */
function octetComparison<T extends GreaterThanEqualsFilter | LessThanEqualsFilter | ApproximateFilter>(
  Base: new (options: { attribute: string; value: string }) => T,
  attribute: string,
  value: Buffer,
  text: string,
): T {
  const filter = new Base({ attribute, value: value.toString('utf8') });
  filter.writeFilter = (writer: BerWriter): void => {
    writer.writeString(attribute);
    writer.writeBuffer(value, Ber.OctetString);
  };
  filter.toString = (): string => text;
  return filter;
}

/** An extensible-match filter whose assertion value is written as raw octets. */
class OctetExtensibleFilter extends ExtensibleFilter {
  constructor(
    private readonly octets: Buffer,
    options: { rule?: string; matchType?: string; dnAttributes: boolean },
    private readonly text: string,
  ) {
    super({ ...options, value: octets.toString('utf8') });
  }

  override writeFilter(writer: BerWriter): void {
    if (this.rule) writer.writeString(this.rule, 0x81);
    if (this.matchType) writer.writeString(this.matchType, 0x82);
    writer.writeBuffer(this.octets, 0x83);
    if (this.dnAttributes) writer.writeBoolean(true, 0x84);
  }

  override toString(): string {
    return this.text;
  }
}

/** Converts a filter AST into the equivalent ldapts Filter, byte-exact for every assertion value. */
export function toLdaptsFilter(filter: Filter): LdaptsFilter {
  switch (filter.type) {
    case 'and':
      return new AndFilter({ filters: filter.filters.map(toLdaptsFilter) });
    case 'or':
      return new OrFilter({ filters: filter.filters.map(toLdaptsFilter) });
    case 'not':
      return new NotFilter({ filter: toLdaptsFilter(filter.filter) });
    case 'present':
      return new PresenceFilter({ attribute: filter.attribute });
    case 'equality':
      return new EqualityFilter({ attribute: filter.attribute, value: bytes(filter.value) });
    case 'greaterOrEqual':
      return octetComparison(GreaterThanEqualsFilter, filter.attribute, bytes(filter.value), formatFilter(filter));
    case 'lessOrEqual':
      return octetComparison(LessThanEqualsFilter, filter.attribute, bytes(filter.value), formatFilter(filter));
    case 'approx':
      return octetComparison(ApproximateFilter, filter.attribute, bytes(filter.value), formatFilter(filter));
    case 'substrings': {
      const pieces: { initial?: Buffer; any: Buffer[]; final?: Buffer } = { any: filter.any.map(bytes) };
      if (filter.initial !== undefined) pieces.initial = bytes(filter.initial);
      if (filter.final !== undefined) pieces.final = bytes(filter.final);
      return new OctetSubstringFilter(filter.attribute, pieces, formatFilter(filter));
    }
    case 'extensible': {
      const options: { rule?: string; matchType?: string; dnAttributes: boolean } = { dnAttributes: filter.dnAttributes };
      if (filter.matchingRule !== undefined) options.rule = filter.matchingRule;
      if (filter.attribute !== undefined) options.matchType = filter.attribute;
      return new OctetExtensibleFilter(bytes(filter.value), options, formatFilter(filter));
    }
  }
}
