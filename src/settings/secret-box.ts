/**
 * Encryption at rest for secret settings (the bind password): AES-256-GCM with a 32-byte key
 * from `DIRBRIDGE_SECRET_KEY`, a key file named by `DIRBRIDGE_SECRET_KEY_FILE`, or a key file
 * generated in the data directory on first use. A sealed value names its key by a short id, so
 * a wrong key is reported as such instead of as corrupt data, and it is bound to its setting
 * path (the path is the AEAD's additional data), so a sealed value cannot be moved to another
 * setting.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DirbridgeError } from '../errors.ts';

/** The prefix of a sealed value: `dirbridge:v1:<key id>:<base64 of iv ‖ tag ‖ ciphertext>`. */
const SEALED_PREFIX = 'dirbridge:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Seals and opens secret setting values with one key. */
export interface SecretBox {
  /** A short, non-secret fingerprint of the key, stored with each sealed value. */
  readonly keyId: string;
  /** Where the key came from, for the start-up log (never the key itself). */
  readonly keySource: string;
  seal(plaintext: string, settingPath: string): string;
  /** Throws `settings.secret_key_mismatch` or `settings.secret_unreadable`, naming the path. */
  open(sealed: string, settingPath: string): string;
  /** A 32-byte key for `purpose` derived from the secret key (HMAC-SHA-256): the same on every instance sharing the key. */
  deriveKey(purpose: string): Buffer;
}

/** Whether a stored value has the sealed form. */
export function isSealed(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(SEALED_PREFIX);
}

/** A box over a raw 32-byte key. */
export function createSecretBox(key: Buffer, keySource: string): SecretBox {
  if (key.length !== 32) throw new DirbridgeError('settings.secret_key_invalid', `the secret key from ${keySource} must be 32 bytes, not ${key.length}`);
  const keyId = createHash('sha256').update('dirbridge secret key id\0').update(key).digest('hex').slice(0, 16);
  return {
    keyId,
    keySource,
    seal(plaintext, settingPath) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(settingPath, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return `${SEALED_PREFIX}${keyId}:${Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64')}`;
    },
    deriveKey(purpose) {
      return createHmac('sha256', key).update('dirbridge derived key\0').update(purpose, 'utf8').digest();
    },
    open(sealed, settingPath) {
      const [sealedKeyId, payload] = sealed.slice(SEALED_PREFIX.length).split(':', 2);
      if (!isSealed(sealed) || sealedKeyId === undefined || payload === undefined) {
        throw new DirbridgeError('settings.secret_unreadable', `the stored value of ${settingPath} is not a sealed secret`);
      }
      if (sealedKeyId !== keyId) {
        throw new DirbridgeError(
          'settings.secret_key_mismatch',
          `${settingPath} was encrypted with secret key ${sealedKeyId}, but this instance has key ${keyId} (from ${keySource}); give every instance the same DIRBRIDGE_SECRET_KEY or DIRBRIDGE_SECRET_KEY_FILE`,
        );
      }
      const bytes = Buffer.from(payload, 'base64');
      if (bytes.length < IV_BYTES + TAG_BYTES) throw new DirbridgeError('settings.secret_unreadable', `the stored value of ${settingPath} is truncated`);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(settingPath, 'utf8'));
        decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
        return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch (error) {
        throw new DirbridgeError('settings.secret_unreadable', `the stored value of ${settingPath} failed its integrity check`, { cause: error });
      }
    },
  };
}

/** Parses a key given as 64 hex digits or as base64 of 32 bytes. */
export function parseSecretKey(text: string, source: string): Buffer {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) {
    const key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === 32) return key;
  }
  throw new DirbridgeError(
    'settings.secret_key_invalid',
    `${source} must hold a 32-byte key as 64 hex digits or base64 (generate one with \`openssl rand -hex 32\`)`,
  );
}

/** The file a key is generated in when none is configured. */
export function generatedKeyFile(dataDir: string): string {
  return path.join(dataDir, 'secret.key');
}

/**
 * Finds the key: `DIRBRIDGE_SECRET_KEY`, else the file `DIRBRIDGE_SECRET_KEY_FILE` names, else
 * `<dataDir>/secret.key`, created (mode 0600) when missing. Instances sharing one PostgreSQL
 * store must be given the same key; a generated key only suits one machine.
 */
export async function loadSecretBox(options: { env: NodeJS.ProcessEnv; dataDir: string }): Promise<SecretBox> {
  const fromEnv = options.env['DIRBRIDGE_SECRET_KEY'];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return createSecretBox(parseSecretKey(fromEnv, 'DIRBRIDGE_SECRET_KEY'), 'DIRBRIDGE_SECRET_KEY');
  const named = options.env['DIRBRIDGE_SECRET_KEY_FILE'];
  if (named !== undefined && named.trim() !== '') return createSecretBox(await readKeyFile(named, 'DIRBRIDGE_SECRET_KEY_FILE'), named);
  const file = generatedKeyFile(options.dataDir);
  try {
    return createSecretBox(await readKeyFile(file, file), file);
  } catch (error) {
    if (!(error instanceof DirbridgeError) || error.code !== 'settings.secret_key_missing') throw error;
  }
  await mkdir(options.dataDir, { recursive: true });
  try {
    await writeFile(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new DirbridgeError('settings.secret_key_missing', `cannot create the secret key file ${file}`, { cause: error });
    }
  }
  return createSecretBox(await readKeyFile(file, file), `${file} (generated)`);
}

async function readKeyFile(file: string, source: string): Promise<Buffer> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'settings.secret_key_missing' : 'settings.secret_key_invalid';
    throw new DirbridgeError(code, `cannot read the secret key file ${file}`, { cause: error });
  }
  return parseSecretKey(text, source);
}
