/**
 * Write operations through ldapts: add, modify, modify DN, delete and extended operations, each
 * validated before anything is sent and translated into a typed DirbridgeError when refused
 * (`directory.insufficient_access`, `directory.already_exists`, `directory.assertion_failed`, ...;
 * `isRetryableDirectoryError` tells the outbox which failures are worth retrying).
 *
 * DNs are parsed (and new ones formatted) by src/ldap/dn.ts, never concatenated. Every request is
 * preceded, synchronously, by the connection's liveness check: ldapts would otherwise re-open a
 * lost socket in plain text, unauthenticated. The client's operation timeout applies to writes too.
 * Values (passwords among them) never go into errors or details.
 */
import { Attribute, Change, type Client, type Control } from 'ldapts';
import { DirbridgeError } from '../errors.ts';
import { formatDn, parseDn, type Rdn } from '../ldap/dn.ts';
import type { Filter } from '../ldap/filter.ts';
import { assertionControl } from './controls/assertion.ts';
import { type AttributeValue, checkAttributeName, type Modification } from './modifications.ts';
import { type ErrorContext, translateLdapError } from './translate-error.ts';

/** What a write needs from its connection. */
export interface WriteContext {
  client: Client;
  url: string;
  /** Throws when the connection must not be used (closed or lost); called right before each request. */
  assertUsable: () => void;
}

/** Options of every write. */
export interface WriteOptions {
  /**
   * Apply the write only if the entry matches this filter (LDAP Assertion control, RFC 4528);
   * otherwise it fails with `directory.assertion_failed` and nothing changes. Sent critical: a
   * server without the control refuses (`directory.unsupported`) rather than write unchecked.
   */
  assertion?: Filter;
  /** Further request controls; response controls of the same OID are decoded into them in place. */
  controls?: readonly Control[];
}

/** Attributes of a new entry: one value or several. */
export type NewEntryAttributes = Readonly<Record<string, AttributeValue | readonly AttributeValue[]>>;

/** Where modify DN takes an entry: a new RDN, a new parent, or both. */
export interface NewName {
  /** The new RDN (default: the current one); multi-valued RDNs are given as their AVAs. */
  rdn?: { attribute: string; value: string } | Rdn;
  /** The new parent DN (default: the current one). */
  parent?: string;
}

function controlsFor(options: WriteOptions): Control[] {
  return [...(options.assertion === undefined ? [] : [assertionControl(options.assertion)]), ...(options.controls ?? [])];
}

/** Parses `dn` (throws `directory.invalid_dn`) and refuses the root DSE as a write target. */
function targetDn(dn: string): Rdn[] {
  const rdns = parseDn(dn);
  if (rdns.length === 0) throw new DirbridgeError('usage.invalid', 'refusing to write to the root DSE (empty DN)');
  return rdns;
}

function toAttribute(attribute: string, values: readonly AttributeValue[]): Attribute {
  return new Attribute({ type: checkAttributeName(attribute), values: [...values] as string[] | Buffer[] });
}

async function send<T>(context: WriteContext, where: ErrorContext, request: () => Promise<T>): Promise<T> {
  try {
    context.assertUsable();
    return await request();
  } catch (error) {
    throw translateLdapError(error, where);
  }
}

/** Adds an entry. Every attribute needs at least one value; `objectClass` is required. */
export async function addEntry(context: WriteContext, dn: string, attributes: NewEntryAttributes, options: WriteOptions = {}): Promise<void> {
  targetDn(dn);
  const list = Object.entries(attributes).map(([name, value]) => {
    const values: readonly AttributeValue[] = Array.isArray(value) ? (value as readonly AttributeValue[]) : [value as AttributeValue];
    if (values.length === 0) throw new DirbridgeError('usage.invalid', `attribute ${name} of a new entry has no values`, { details: { dn, attribute: name } });
    return toAttribute(name, values);
  });
  if (!list.some((attribute) => attribute.type.toLowerCase() === 'objectclass')) {
    throw new DirbridgeError('usage.invalid', `a new entry needs an objectClass (${dn})`, { details: { dn } });
  }
  await send(context, { operation: 'add', url: context.url, dn }, () => context.client.add(dn, list, controlsFor(options)));
}

/** Applies `changes` to one entry, in order, atomically (all or nothing). */
export async function modifyEntry(context: WriteContext, dn: string, changes: readonly Modification[], options: WriteOptions = {}): Promise<void> {
  targetDn(dn);
  if (changes.length === 0) throw new DirbridgeError('usage.invalid', `a modify needs at least one change (${dn})`, { details: { dn } });
  const list = changes.map((change) => {
    if (change.operation === 'add' && change.values.length === 0) {
      throw new DirbridgeError('usage.invalid', `adding to ${change.attribute} needs at least one value (${dn})`, {
        details: { dn, attribute: change.attribute },
      });
    }
    return new Change({ operation: change.operation, modification: toAttribute(change.attribute, change.values) });
  });
  await send(context, { operation: 'modify', url: context.url, dn }, () => context.client.modify(dn, list, controlsFor(options)));
}

/**
 * ldapts takes a new DN as one string and splits it at the first comma not preceded by a
 * backslash. A value ending in an escaped backslash (`\\`) would be cut there, so that final
 * escape is written in its hex form (`\5c`), which means the same.
 */
export function rdnForLdapts(rdn: Rdn): string {
  const text = formatDn([rdn]);
  return text.endsWith('\\\\') ? `${text.slice(0, -2)}\\5c` : text;
}

/**
 * Renames and/or moves an entry (the old RDN value is removed). Returns the new DN, formatted
 * from parsed parts. Moving needs the server to support newSuperior (all three do).
 */
export async function modifyEntryDn(context: WriteContext, dn: string, to: NewName, options: WriteOptions = {}): Promise<string> {
  const [currentRdn, ...currentParent] = targetDn(dn);
  if (currentRdn === undefined) throw new DirbridgeError('usage.invalid', 'refusing to rename the root DSE');
  if (to.rdn === undefined && to.parent === undefined)
    throw new DirbridgeError('usage.invalid', `a modify DN needs a new RDN or a new parent (${dn})`, { details: { dn } });
  const rdn: Rdn =
    to.rdn === undefined ? currentRdn : Array.isArray(to.rdn) ? to.rdn : [{ type: checkAttributeName(to.rdn.attribute), value: to.rdn.value, isBer: false }];
  if (rdn.length === 0) throw new DirbridgeError('usage.invalid', `the new RDN is empty (${dn})`, { details: { dn } });
  const parent = to.parent === undefined ? currentParent : parseDn(to.parent);
  const rdnText = rdnForLdapts(rdn);
  const newDn = formatDn([rdn, ...parent]);
  // Only a move names the parent; a rename in place sends the RDN alone.
  const request = to.parent === undefined ? rdnText : `${rdnText},${formatDn(parent)}`;
  await send(context, { operation: 'modify_dn', url: context.url, dn }, () => context.client.modifyDN(dn, request, controlsFor(options)));
  return newDn;
}

/** Deletes a leaf entry (`directory.not_allowed_on_non_leaf` when it has children). */
export async function deleteEntry(context: WriteContext, dn: string, options: WriteOptions = {}): Promise<void> {
  targetDn(dn);
  await send(context, { operation: 'delete', url: context.url, dn }, () => context.client.del(dn, controlsFor(options)));
}

/** The answer to an extended operation; ldapts hands the value back as UTF-8 text. */
export interface ExtendedResult {
  oid?: string;
  value?: string;
}

/** Sends an extended operation with an optional BER-encoded value. */
export async function extendedOperation(
  context: WriteContext,
  oid: string,
  value?: Buffer,
  options: WriteOptions & { dn?: string } = {},
): Promise<ExtendedResult> {
  if (!/^[0-9]+(\.[0-9]+)+$/.test(oid)) throw new DirbridgeError('usage.invalid', `not an OID: ${JSON.stringify(oid)}`);
  const where: ErrorContext = options.dn === undefined ? { operation: 'exop', url: context.url } : { operation: 'exop', url: context.url, dn: options.dn };
  const result = await send(context, where, () => context.client.exop(oid, value, controlsFor(options)));
  const answer: ExtendedResult = {};
  if (result.oid !== undefined && result.oid !== '') answer.oid = result.oid;
  if (result.value !== undefined) answer.value = result.value;
  return answer;
}
