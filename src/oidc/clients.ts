/**
 * OpenID Connect clients (relying parties): registered by an administrator, each with exact
 * redirect URIs, an optional list of groups whose members may use it, and for a confidential
 * client a random secret that is shown once and stored only as its SHA-256 (a 256-bit random
 * secret needs no slow hash). Every change is audited in the same transaction.
 */
import { randomBytes } from 'node:crypto';
import { hashToken, newSessionToken } from '../auth/tokens.ts';
import { DirbridgeError } from '../errors.ts';
import type { OidcClientRecord, OidcStore } from '../store/oidc-repository.ts';

/** What an administrator registers. */
export interface ClientRegistration {
  name: string;
  redirectUris: readonly string[];
  isPublic?: boolean;
  /** First-party clients skip consent (default: false). */
  isFirstParty?: boolean;
  postLogoutRedirectUris?: readonly string[];
  backchannelLogoutUri?: string | undefined;
  allowedGroups?: readonly string[];
}

/** A registered client with its secret, which is never shown again (absent for public clients). */
export interface RegisteredClient {
  client: OidcClientRecord;
  clientSecret?: string;
}

/** Checks one redirect-like URI: absolute, http(s), no fragment; plain http only for loopback hosts unless `allowHttp`. */
export function checkClientUri(value: string, option: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new DirbridgeError('usage.invalid', `${option}: ${JSON.stringify(value)} is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new DirbridgeError('usage.invalid', `${option}: ${JSON.stringify(value)} must be an http or https URL`);
  if (url.hash !== '' || value.includes('#')) throw new DirbridgeError('usage.invalid', `${option}: ${JSON.stringify(value)} must not have a fragment`);
  if (url.username !== '' || url.password !== '') throw new DirbridgeError('usage.invalid', `${option}: ${JSON.stringify(value)} must not carry credentials`);
  return value;
}

/** Creates the client administration service. */
export function createOidcClientService(deps: { store: OidcStore }) {
  const { store } = deps;
  return {
    /** Registers a client; the secret (confidential clients) is returned once. */
    async add(registration: ClientRegistration, actor: string): Promise<RegisteredClient> {
      const name = registration.name.trim();
      if (name === '') throw new DirbridgeError('usage.invalid', '--name: a client needs a name');
      if (registration.redirectUris.length === 0) throw new DirbridgeError('usage.invalid', '--redirect-uri: a client needs at least one redirect URI');
      const redirectUris = [...new Set(registration.redirectUris.map((uri) => checkClientUri(uri, '--redirect-uri')))];
      const postLogoutRedirectUris = [...new Set((registration.postLogoutRedirectUris ?? []).map((uri) => checkClientUri(uri, '--post-logout-redirect-uri')))];
      const backchannelLogoutUri =
        registration.backchannelLogoutUri === undefined ? null : checkClientUri(registration.backchannelLogoutUri, '--backchannel-logout-uri');
      const allowedGroups = [...new Set((registration.allowedGroups ?? []).map((group) => group.trim()))];
      if (allowedGroups.includes('')) throw new DirbridgeError('usage.invalid', '--allowed-group: a group name must not be empty');
      const isPublic = registration.isPublic === true;
      const clientSecret = isPublic ? undefined : newSessionToken();
      const id = randomBytes(16).toString('hex');
      const client = await store.insertOidcClient(
        {
          id,
          name,
          isPublic,
          isFirstParty: registration.isFirstParty === true,
          redirectUris,
          postLogoutRedirectUris,
          backchannelLogoutUri,
          allowedGroups,
          secretHash: clientSecret === undefined ? null : hashToken(clientSecret),
        },
        { actor, action: 'oidc.client_added', subject: id, details: { name, isPublic, redirectUris, allowedGroups } },
      );
      return clientSecret === undefined ? { client } : { client, clientSecret };
    },

    list: () => store.listOidcClients(),

    get: (id: string) => store.getOidcClient(id),

    /** Removes a client and what was issued to it; throws `store.not_found` when there is none. */
    async remove(id: string, actor: string): Promise<void> {
      const removed = await store.removeOidcClient(id, { actor, action: 'oidc.client_removed', subject: id });
      if (!removed) throw new DirbridgeError('store.not_found', `no OpenID Connect client ${JSON.stringify(id)}`);
    },

    /** Replaces a confidential client's secret; the new one is returned once. */
    async rotateSecret(id: string, actor: string): Promise<string> {
      const clientSecret = newSessionToken();
      await store.setOidcClientSecretHash(id, hashToken(clientSecret), { actor, action: 'oidc.client_secret_rotated', subject: id });
      return clientSecret;
    },
  };
}

/** The client service's public shape. */
export type OidcClientService = ReturnType<typeof createOidcClientService>;
