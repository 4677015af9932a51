/** Names for the controls and extended operations administrators most often ask about. */

const NAMES: Readonly<Record<string, string>> = {
  '1.2.840.113556.1.4.319': 'Paged results (RFC 2696)',
  '1.2.840.113556.1.4.473': 'Server-side sort (RFC 2891)',
  '1.2.840.113556.1.4.841': 'AD DirSync',
  '1.2.840.113556.1.4.417': 'AD show deleted',
  '1.2.840.113556.1.4.1413': 'AD permissive modify',
  '1.2.840.113556.1.4.1339': 'AD domain scope',
  '1.2.840.113556.1.4.528': 'AD notification',
  '1.2.840.113556.1.4.801': 'AD security descriptor flags',
  '1.2.840.113556.1.4.1504': 'AD attribute scoped query',
  '1.2.840.113556.1.4.2064': 'AD show recycled',
  '1.3.6.1.4.1.4203.1.9.1.1': 'Content synchronization (syncrepl, RFC 4533)',
  '1.3.6.1.4.1.4203.1.10.1': 'Subentries (RFC 3672)',
  '1.3.6.1.4.1.4203.666.5.12': 'OpenLDAP relax rules',
  '1.3.6.1.4.1.42.2.27.8.5.1': 'Password policy (ppolicy)',
  '1.3.6.1.4.1.4203.1.11.1': 'Password modify (RFC 3062)',
  '1.3.6.1.4.1.4203.1.11.3': 'Who am I? (RFC 4532)',
  '1.3.6.1.4.1.1466.20037': 'StartTLS (RFC 4511)',
  '1.3.6.1.1.8': 'Cancel (RFC 3909)',
  '1.3.6.1.1.12': 'Assertion (RFC 4528)',
  '1.3.6.1.1.13.1': 'Pre-read (RFC 4527)',
  '1.3.6.1.1.13.2': 'Post-read (RFC 4527)',
  '1.3.6.1.1.22': "Don't use copy (RFC 6171)",
  '2.16.840.1.113730.3.4.2': 'ManageDsaIT (RFC 3296)',
  '2.16.840.1.113730.3.4.9': 'Virtual list view',
  '2.16.840.1.113730.3.4.18': 'Proxied authorization (RFC 4370)',
  '1.3.6.1.4.1.4203.1.9.1.3': 'Sync info message (RFC 4533)',
};

/** A readable name for a control or extension OID, or undefined for unknown ones. */
export function nameOfOid(oid: string): string | undefined {
  return NAMES[oid];
}
