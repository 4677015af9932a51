/**
 * dirbridge's OpenID Connect provider: oidc-provider (OpenID Certified) configured with our
 * adapter (state in the store), our keys (sealed in the store), our clients (from the store,
 * secrets compared by hash), our accounts (dirbridge users, `account.ts`) and our interactions
 * (the server-rendered pages in `http/routes/oidc.ts`). None of its development defaults is
 * used: its dev interactions are off and every source it would render is ours.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Provider, { type Adapter, type AdapterPayload, type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { SecretBox } from '../settings/secret-box.ts';
import type { Store } from '../store/store.ts';
import { checkAccess, claimsOf, OIDC_CLAIMS_BY_SCOPE } from './account.ts';
import { createOidcAdapter } from './adapter.ts';
import { escapeHtml, pageCsp, renderPage } from './pages.ts';
import { publishedKeys, type SigningJwk } from './signing-keys.ts';

/** Where the provider's endpoints live (discovery stays at `/.well-known/openid-configuration`). */
export const OIDC_PREFIX = '/oidc';

/** Token lifetimes, in seconds. */
export const OIDC_TTL = {
  AccessToken: 3_600,
  AuthorizationCode: 60,
  IdToken: 3_600,
  Interaction: 3_600,
  Grant: 14 * 24 * 3_600,
  RefreshToken: 14 * 24 * 3_600,
  Session: 14 * 24 * 3_600,
} as const;

/** How long a retired signing key stays published: the longest lifetime of a token signed with it, and a margin for clock skew. */
export const RETIRED_KEY_PUBLISHED_MS = (Math.max(OIDC_TTL.IdToken, OIDC_TTL.AccessToken) + 300) * 1_000;

/** What the provider is built from. */
export interface OidcProviderDeps {
  store: Store;
  secretBox: Pick<SecretBox, 'open' | 'deriveKey'>;
  now: () => Date;
  /** The issuer URL (no trailing slash). */
  issuer: string;
  /** Whether X-Forwarded-Proto/Host are believed (`serve --trust-proxy`). */
  trustProxy: boolean;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** A client's metadata as oidc-provider validates it, from the store; undefined for unknown ids. */
async function clientMetadataOf(store: Store, clientId: string): Promise<ClientMetadata | undefined> {
  const client = await store.oidc.getOidcClient(clientId);
  if (client === undefined) return undefined;
  const secretHash = client.isPublic ? undefined : await store.oidc.getOidcClientSecretHash(clientId);
  return {
    client_id: client.id,
    client_name: client.name,
    // oidc-provider holds the hash where it would hold the secret; `compareClientSecret` hashes what a client presents.
    ...(secretHash === undefined ? {} : { client_secret: secretHash }),
    token_endpoint_auth_method: client.isPublic ? 'none' : 'client_secret_basic',
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    ...(client.backchannelLogoutUri === null ? {} : { backchannel_logout_uri: client.backchannelLogoutUri, backchannel_logout_session_required: true }),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    id_token_signed_response_alg: 'RS256',
  };
}

/** The adapter class: clients come from `oidc_clients`, everything else from `oidc_payloads`. */
function adapterClass(store: Store, now: () => Date): new (model: string) => Adapter {
  return class StoreAdapter {
    constructor(model: string) {
      const adapter = createOidcAdapter(store.oidc, model, now);
      // biome-ignore lint/correctness/noConstructorReturn: oidc-provider instantiates the adapter class with `new`
      if (model !== 'Client') return adapter;
      // Clients are registered by administrators only (no dynamic registration): reads come from their table.
      // biome-ignore lint/correctness/noConstructorReturn: as above
      return { ...adapter, find: async (id: string) => (await clientMetadataOf(store, id)) as AdapterPayload | undefined };
    }
  } as unknown as new (
    model: string,
  ) => Adapter;
}

/** Builds the provider over the signing keys in the store (the caller ensured one exists). */
export async function createOidcProvider(deps: OidcProviderDeps): Promise<{ provider: Provider; keyIds: string[] }> {
  const { store, issuer } = deps;
  const keys: SigningJwk[] = publishedKeys(await store.oidc.listOidcSigningKeys(), deps.secretBox, deps.now(), RETIRED_KEY_PUBLISHED_MS);
  const cookieKey = deps.secretBox.deriveKey('oidc-provider cookies').toString('base64url');
  const cookie = { httpOnly: true, sameSite: 'strict' as const, path: '/' };

  const configuration: Configuration = {
    adapter: adapterClass(store, deps.now),
    jwks: { keys },
    cookies: {
      keys: [cookieKey],
      long: { ...cookie },
      short: { ...cookie },
      names: { session: 'dirbridge_oidc_session', interaction: 'dirbridge_oidc_interaction', resume: 'dirbridge_oidc_resume' },
    },
    routes: {
      authorization: `${OIDC_PREFIX}/auth`,
      end_session: `${OIDC_PREFIX}/session/end`,
      jwks: `${OIDC_PREFIX}/jwks`,
      revocation: `${OIDC_PREFIX}/token/revocation`,
      introspection: `${OIDC_PREFIX}/token/introspection`,
      token: `${OIDC_PREFIX}/token`,
      userinfo: `${OIDC_PREFIX}/me`,
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups', 'roles'],
    claims: Object.fromEntries(Object.entries(OIDC_CLAIMS_BY_SCOPE).map(([scope, claims]) => [scope, [...claims]])),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    responseTypes: ['code'],
    enabledJWA: { idTokenSigningAlgValues: ['RS256'], userinfoSigningAlgValues: ['RS256'] },
    ttl: { ...OIDC_TTL },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.type = 'html';
          ctx.set('content-security-policy', pageCsp(ctx.oidc.client?.postLogoutRedirectUris ?? []));
          ctx.body = renderPage({
            title: 'Sign out',
            body: `${form}<p>Sign out of dirbridge${ctx.oidc.client?.clientName === undefined ? '' : ' and the application'}?</p><p><button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button></p>`,
          });
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.set('content-security-policy', pageCsp([]));
          ctx.body = renderPage({ title: 'Signed out', body: '<p>You are signed out.</p>' });
        },
      },
      backchannelLogout: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `${OIDC_PREFIX}/interaction/${interaction.uid}` },
    // Every code flow client gets refresh tokens (its registration allows the grant type).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // The ID token carries the granted profile, email, groups and roles claims too: many applications read only it.
    conformIdTokenClaims: false,
    findAccount: async (ctx: KoaContextWithOIDC, sub: string) => {
      const { user, groups, refusal } = await checkAccess(store, sub, ctx.oidc.client?.clientId);
      if (refusal !== undefined || user === undefined) return undefined;
      return { accountId: user.id, claims: async () => ({ sub: user.id, ...(await claimsOf(store, user, groups, issuer)) }) };
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.set('content-security-policy', pageCsp([]));
      ctx.body = renderPage({
        title: 'Sign-in failed',
        body: `<p>${escapeHtml(String(out['error_description'] ?? out['error'] ?? 'the request could not be completed'))}</p>`,
      });
    },
  };

  const provider = new Provider(issuer, configuration);
  provider.proxy = deps.trustProxy;
  // Secrets are stored hashed: compare the hash of what the client presents, in constant time.
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string): boolean {
    const expected = Buffer.from(this.clientSecret ?? '', 'hex');
    const presented = sha256(actual);
    return expected.length === presented.length && timingSafeEqual(expected, presented);
  } as never;
  return { provider, keyIds: keys.map((key) => key.kid) };
}
