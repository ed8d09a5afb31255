/**
 * The keys sealed with a passphrase, for keeping beside a database backup (only on request): scrypt derives the
 * key-encryption key, AES-256-GCM seals. The bundle is a small JSON file; a wrong passphrase fails the GCM tag.
 * Since the keyring (issue 9) a bundle holds the whole keyring (src/secrets/keyring.ts): every key stored secrets
 * and signed links may need. Bundles from before hold SECRET_KEY alone and still open.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { InputError } from '../lib/errors.js';
import { parseKeyring, serializeKeyring, type Keyring } from '../secrets/keyring.js';

type Format = 'retailcrm-agi secret key v1' | 'retailcrm-agi keyring bundle v1';

interface Bundle {
  readonly format: Format;
  readonly kdf: { readonly name: 'scrypt'; readonly N: number; readonly r: number; readonly p: number; readonly salt: string };
  readonly iv: string;
  readonly tag: string;
  readonly sealed: string;
}

const KEY_FORMAT: Format = 'retailcrm-agi secret key v1';
const KEYRING_FORMAT: Format = 'retailcrm-agi keyring bundle v1';
const N = 2 ** 15;

function kek(passphrase: string, salt: Buffer, n: number, r: number, p: number): Buffer {
  return scryptSync(passphrase.normalize('NFC'), salt, 32, { N: n, r, p, maxmem: 256 * n * r });
}

function seal(format: Format, text: string, passphrase: string): string {
  if (passphrase.length < 12) throw new InputError('the passphrase must be at least 12 characters', 'passphrase-file');
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek(passphrase, salt, N, 8, 1), iv);
  const sealed = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  const bundle: Bundle = {
    format,
    kdf: { name: 'scrypt', N, r: 8, p: 1, salt: salt.toString('base64') },
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    sealed: sealed.toString('base64'),
  };
  return `${JSON.stringify(bundle, null, 2)}\n`;
}

/** SECRET_KEY alone, as bundles were before the keyring (kept for tests of old bundles). */
export function sealSecretKey(secretKey: string, passphrase: string): string {
  return seal(KEY_FORMAT, secretKey, passphrase);
}

export function sealKeyring(ring: Keyring, passphrase: string): string {
  return seal(KEYRING_FORMAT, serializeKeyring(ring), passphrase);
}

export type OpenedBundle = { readonly kind: 'key'; readonly key: string } | { readonly kind: 'keyring'; readonly ring: Keyring };

export function openKeyBundle(bundleText: string, passphrase: string): OpenedBundle {
  let b: Bundle;
  try {
    b = JSON.parse(bundleText) as Bundle;
  } catch {
    throw new InputError('the secret key file is not a retailcrm-agi key bundle', 'secret-key-from');
  }
  if ((b.format !== KEY_FORMAT && b.format !== KEYRING_FORMAT) || b.kdf?.name !== 'scrypt') {
    throw new InputError('the secret key file is not a retailcrm-agi key bundle', 'secret-key-from');
  }
  let text: string;
  try {
    const key = kek(passphrase, Buffer.from(b.kdf.salt, 'base64'), b.kdf.N, b.kdf.r, b.kdf.p);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(b.iv, 'base64'));
    decipher.setAuthTag(Buffer.from(b.tag, 'base64'));
    text = Buffer.concat([decipher.update(Buffer.from(b.sealed, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new InputError('cannot open the secret key file: wrong passphrase, or the file was changed', 'passphrase-file');
  }
  return b.format === KEY_FORMAT ? { kind: 'key', key: text } : { kind: 'keyring', ring: parseKeyring(text, 'the keyring in the secret key file') };
}
