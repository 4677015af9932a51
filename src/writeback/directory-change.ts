/**
 * A change to one directory entry, as a write plan states it: data only, so a dry run can print it
 * and the outbox can keep it. The directory layer turns it into LDAP operations.
 */
import { parentDn } from '../ldap/dn.ts';

/**
 * One attribute's change. `set` replaces the values the plan read (`from`) with `to`, and must
 * fail if the entry no longer holds `from` (a compare-and-swap: the assertion control where the
 * server has it, else delete-`from`/add-`to` in one modify). `addValues` and `deleteValues` touch
 * only the values named, so other members of a group are never rewritten.
 */
export type AttributeChange =
  | { kind: 'set'; attribute: string; from: string[]; to: string[] }
  | { kind: 'addValues'; attribute: string; values: string[] }
  | { kind: 'deleteValues'; attribute: string; values: string[] };

/** One LDAP write. */
export type DirectoryChange =
  | { kind: 'add'; dn: string; attributes: Record<string, string[]> }
  | { kind: 'modify'; dn: string; changes: AttributeChange[] }
  /** A rename (new RDN) and/or a move (new parent); the old RDN value is removed. */
  | { kind: 'modifyDn'; dn: string; newRdn: string; newParent?: string }
  | { kind: 'delete'; dn: string };

/** The DN a change leaves the entry at; undefined once deleted. */
export function dnAfter(change: DirectoryChange): string | undefined {
  switch (change.kind) {
    case 'delete':
      return undefined;
    case 'modifyDn': {
      const parent = change.newParent ?? parentDn(change.dn) ?? '';
      return parent === '' ? change.newRdn : `${change.newRdn},${parent}`;
    }
    default:
      return change.dn;
  }
}
