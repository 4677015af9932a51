/**
 * The LDAP Assertion control (RFC 4528, OID 1.3.6.1.1.12): the server applies an update only if
 * the target entry matches the filter, and otherwise answers assertionFailed (122) and changes
 * nothing. This makes "check what we last saw, then write" one atomic step. The control value is
 * the filter's BER encoding. Sent critical: a server that does not know it must refuse the
 * operation rather than write unchecked.
 */
import { BerWriter, Control, type Filter as LdaptsFilter } from 'ldapts';
import type { Filter } from '../../ldap/filter.ts';
import { toLdaptsFilter } from '../ldapts-filter.ts';

/** OID of the LDAP Assertion control. */
export const ASSERTION_OID = '1.3.6.1.1.12';

/** The request control; build it with {@link assertionControl}. */
export class AssertionControl extends Control {
  constructor(readonly filter: LdaptsFilter) {
    super(ASSERTION_OID, { critical: true });
  }

  protected override writeControl(writer: BerWriter): void {
    const value = new BerWriter();
    this.filter.write(value);
    writer.writeBuffer(value.buffer, 0x04);
  }
}

/** An Assertion control for our filter AST (values are written as exact bytes). */
export function assertionControl(filter: Filter): AssertionControl {
  return new AssertionControl(toLdaptsFilter(filter));
}
