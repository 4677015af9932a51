/**
 * The provider's signing keys: an RSA key (RS256, what every relying party accepts) generated on
 * first start, its private JWK sealed with the secret key exactly as the bind password is
 * (`settings/secret-box.ts`, bound to the path `oidc.signingKeys.<kid>`). A rotation adds a new
 * key that signs from then on; the previous one stays published in the JWKS until every token
 * signed with it has expired.
 */
import { generateKeyPairSync, type JsonWebKey, randomBytes } from 'node:crypto';
import { DirbridgeError } from '../errors.ts';
import type { NewAuditEntry } from '../model/index.ts';
import type { SecretBox } from '../settings/secret-box.ts';
import type { OidcSigningKeyRecord, OidcStore } from '../store/oidc-repository.ts';

/** A private signing JWK as oidc-provider's `jwks` option takes it. */
export type SigningJwk = JsonWebKey & { kid: string; alg: 'RS256'; use: 'sig' };

const sealPath = (kid: string) => `oidc.signingKeys.${kid}`;

function generateSigningKey(box: Pick<SecretBox, 'seal'>): { kid: string; sealedJwk: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(12).toString('base64url');
  const jwk: SigningJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  return { kid, sealedJwk: box.seal(JSON.stringify(jwk), sealPath(kid)) };
}

/** Makes the first key unless one exists (two instances starting at once make one); true when this call made it. */
export async function ensureSigningKey(store: OidcStore, box: Pick<SecretBox, 'seal'>, now: () => Date): Promise<boolean> {
  if ((await store.listOidcSigningKeys()).length > 0) return false;
  return store.addOidcSigningKey({ ...generateSigningKey(box), at: now().toISOString() }, { onlyIfNone: true });
}

/** Adds a new signing key and retires the current one (still published); returns the new key's id. */
export async function rotateSigningKey(store: OidcStore, box: Pick<SecretBox, 'seal'>, now: () => Date, audit: Omit<NewAuditEntry, 'action'>): Promise<string> {
  const key = generateSigningKey(box);
  await store.addOidcSigningKey({ ...key, at: now().toISOString() }, { onlyIfNone: false, audit: { ...audit, action: 'oidc.keys_rotated', subject: key.kid } });
  return key.kid;
}

/**
 * The keys to publish, the signing key first (oidc-provider signs with the first key of an
 * algorithm): the newest key not retired, then retired keys younger than `publishRetiredMs`.
 */
export function publishedKeys(keys: readonly OidcSigningKeyRecord[], box: Pick<SecretBox, 'open'>, now: Date, publishRetiredMs: number): SigningJwk[] {
  const active = keys.filter((key) => key.retiredAt === null);
  const retired = keys.filter((key) => key.retiredAt !== null && Date.parse(key.retiredAt) + publishRetiredMs > now.getTime());
  const ordered = [...active.reverse(), ...retired.reverse()];
  if (active.length === 0) throw new DirbridgeError('store.corrupt', 'there is no current OpenID Connect signing key; run `dirbridge oidc keys rotate`');
  return ordered.map((key) => {
    const value: unknown = JSON.parse(box.open(key.sealedJwk, sealPath(key.kid)));
    if (typeof value !== 'object' || value === null || (value as { kid?: unknown }).kid !== key.kid) {
      throw new DirbridgeError('store.corrupt', `the OpenID Connect signing key ${key.kid} does not hold its own key`);
    }
    return value as SigningJwk;
  });
}
