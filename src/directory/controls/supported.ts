/**
 * Whether the server supports a control, from the RootDSE's `supportedControl` (read when the
 * connection opened). A server whose RootDSE hides the list is treated as not supporting it:
 * callers then take their fallback path instead of sending a critical control blind.
 */
import type { RootDse } from '../root-dse.ts';

/** True when the RootDSE lists `oid` among its supported controls. */
export function supportsControl(rootDse: Pick<RootDse, 'supportedControls'>, oid: string): boolean {
  return rootDse.supportedControls.includes(oid);
}

/** True when the RootDSE lists `oid` among its supported extended operations. */
export function supportsExtension(rootDse: Pick<RootDse, 'supportedExtensions'>, oid: string): boolean {
  return rootDse.supportedExtensions.includes(oid);
}
