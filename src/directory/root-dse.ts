/**
 * The RootDSE, read once when a connection opens: which server this is and what it supports.
 */
import { allStrings, type DirectoryEntry, firstString } from '../ldap/entry.ts';

/** The kinds of server dirbridge tells apart. */
export type ServerType = 'openldap' | 'active-directory' | '389-ds' | 'unknown';

/** What the RootDSE says about the server. */
export interface RootDse {
  serverType: ServerType;
  vendorName?: string;
  vendorVersion?: string;
  supportedControls: string[];
  supportedExtensions: string[];
  supportedSaslMechanisms: string[];
  namingContexts: string[];
  defaultNamingContext?: string;
  supportsPaging: boolean;
}

/** The RootDSE attributes requested on open. */
export const ROOT_DSE_ATTRIBUTES: readonly string[] = [
  'namingContexts',
  'supportedControl',
  'supportedExtension',
  'supportedSASLMechanisms',
  'vendorName',
  'vendorVersion',
  'defaultNamingContext',
  'isGlobalCatalogReady',
  'supportedCapabilities',
  'objectClass',
  'structuralObjectClass',
];

/** OID of the RFC 2696 simple paged results control. */
export const PAGED_RESULTS_OID = '1.2.840.113556.1.4.319';
/** OID of the AD capability "this is an Active Directory server" (LDAP_CAP_ACTIVE_DIRECTORY_OID). */
export const AD_CAPABILITY_OID = '1.2.840.113556.1.4.800';

/** Classifies a server from its RootDSE entry. */
export function detectServerType(entry: DirectoryEntry): ServerType {
  const classes = [...allStrings(entry, 'objectClass'), ...allStrings(entry, 'structuralObjectClass')].map((name) => name.toLowerCase());
  const vendor = (firstString(entry, 'vendorName') ?? '').toLowerCase();
  if (
    allStrings(entry, 'supportedCapabilities').includes(AD_CAPABILITY_OID) ||
    (firstString(entry, 'defaultNamingContext') !== undefined && firstString(entry, 'isGlobalCatalogReady') !== undefined)
  ) {
    return 'active-directory';
  }
  if (classes.includes('openldaprootdse') || vendor.includes('openldap')) return 'openldap';
  if (vendor.includes('389 project') || vendor.includes('netscape') || vendor.includes('fedora project')) return '389-ds';
  return 'unknown';
}

/** Builds the RootDse summary from the RootDSE entry (an empty entry gives an 'unknown' server that is assumed to page). */
export function rootDseFromEntry(entry: DirectoryEntry | undefined): RootDse {
  if (entry === undefined) {
    return {
      serverType: 'unknown',
      supportedControls: [],
      supportedExtensions: [],
      supportedSaslMechanisms: [],
      namingContexts: [],
      supportsPaging: true,
    };
  }
  const supportedControls = allStrings(entry, 'supportedControl');
  const rootDse: RootDse = {
    serverType: detectServerType(entry),
    supportedControls,
    supportedExtensions: allStrings(entry, 'supportedExtension'),
    supportedSaslMechanisms: allStrings(entry, 'supportedSASLMechanisms'),
    namingContexts: allStrings(entry, 'namingContexts'),
    // An unreadable control list (restricted RootDSE) is no evidence against paging; the control is sent non-critical.
    supportsPaging: supportedControls.length === 0 || supportedControls.includes(PAGED_RESULTS_OID),
  };
  const vendorName = firstString(entry, 'vendorName');
  const vendorVersion = firstString(entry, 'vendorVersion');
  const defaultNamingContext = firstString(entry, 'defaultNamingContext');
  if (vendorName !== undefined) rootDse.vendorName = vendorName;
  if (vendorVersion !== undefined) rootDse.vendorVersion = vendorVersion;
  if (defaultNamingContext !== undefined) rootDse.defaultNamingContext = defaultNamingContext;
  return rootDse;
}

/** The attribute that identifies entries stably across renames on each server type. */
export function defaultUniqueIdAttribute(serverType: ServerType): 'entryUUID' | 'objectGUID' | 'nsUniqueId' {
  switch (serverType) {
    case 'active-directory':
      return 'objectGUID';
    case '389-ds':
      return 'nsUniqueId';
    default:
      return 'entryUUID';
  }
}
