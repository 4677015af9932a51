/**
 * The provider in force on this instance. It is rebuilt when the published signing keys change
 * (`dirbridge oidc keys rotate` on any instance, or a retired key's publication ending), checked
 * at most every `keysCheckMs`; requests in flight finish on the provider they started with, and
 * nothing is lost in between because all of its state is in the store.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import { createOidcProvider, type OidcProviderDeps, RETIRED_KEY_PUBLISHED_MS } from './provider.ts';
import { ensureSigningKey } from './signing-keys.ts';

/** A built provider with its Node request handler. */
export interface BuiltProvider {
  provider: Provider;
  handle: (request: IncomingMessage, response: ServerResponse) => void;
  issuer: string;
  keyIds: string[];
}

/** What the holder needs: the provider's dependencies, the issuer when first asked, and the seal to make the first key with. */
export interface OidcProviderHolderDeps extends Omit<OidcProviderDeps, 'issuer' | 'secretBox'> {
  secretBox: OidcProviderDeps['secretBox'] & { seal: (plaintext: string, path: string) => string };
  issuer: () => string;
  /** How often the keys are compared with the store (default 5000 ms). */
  keysCheckMs?: number;
}

/** Creates the holder; `get()` builds the provider on first use (making the first signing key if none exists). */
export function createOidcProviderHolder(deps: OidcProviderHolderDeps) {
  const keysCheckMs = deps.keysCheckMs ?? 5_000;
  let current: (BuiltProvider & { fingerprint: string; checkedAt: number }) | undefined;
  let building: Promise<BuiltProvider> | undefined;

  const refresh = async (): Promise<BuiltProvider> => {
    await ensureSigningKey(deps.store.oidc, deps.secretBox, deps.now);
    const now = deps.now().getTime();
    const published = (await deps.store.oidc.listOidcSigningKeys()).filter(
      (key) => key.retiredAt === null || Date.parse(key.retiredAt) + RETIRED_KEY_PUBLISHED_MS > now,
    );
    const issuer = deps.issuer();
    const fingerprint = `${issuer} ${published.map((key) => `${key.kid}:${key.retiredAt ?? ''}`).join(',')}`;
    if (current !== undefined && current.fingerprint === fingerprint) {
      current.checkedAt = Date.now();
      return current;
    }
    const { provider, keyIds } = await createOidcProvider({ ...deps, issuer });
    current = { provider, handle: provider.callback(), issuer, keyIds, fingerprint, checkedAt: Date.now() };
    return current;
  };

  return {
    /** The provider in force (re-checked against the store's keys at most every `keysCheckMs`). */
    get(): Promise<BuiltProvider> {
      if (current !== undefined && Date.now() - current.checkedAt < keysCheckMs && current.issuer === deps.issuer()) return Promise.resolve(current);
      building ??= refresh().finally(() => {
        building = undefined;
      });
      return building;
    },
  };
}

/** The holder's public shape. */
export type OidcProviderHolder = ReturnType<typeof createOidcProviderHolder>;
