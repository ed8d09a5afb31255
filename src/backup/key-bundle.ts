/**
 * SECRET_KEY sealed with a passphrase, for keeping beside a database backup (only on request): scrypt derives the
 * key-encryption key, AES-256-GCM seals. The bundle is a small JSON file; a wrong passphrase fails the GCM tag.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { InputError } from '../errors.js';

interface Bundle {
  readonly format: 'retailcrm-agi secret key v1';
  readonly kdf: { readonly name: 'scrypt'; readonly N: number; readonly r: number; readonly p: number; readonly salt: string };
  readonly iv: string;
  readonly tag: string;
  readonly sealed: string;
}

const FORMAT = 'retailcrm-agi secret key v1';
const N = 2 ** 15;

function kek(passphrase: string, salt: Buffer, n: number, r: number, p: number): Buffer {
  return scryptSync(passphrase.normalize('NFC'), salt, 32, { N: n, r, p, maxmem: 256 * n * r });
}

export function sealSecretKey(secretKey: string, passphrase: string): string {
  if (passphrase.length < 12) throw new InputError('the passphrase must be at least 12 characters', 'passphrase-file');
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek(passphrase, salt, N, 8, 1), iv);
  const sealed = Buffer.concat([cipher.update(secretKey, 'utf8'), cipher.final()]);
  const bundle: Bundle = {
    format: FORMAT,
    kdf: { name: 'scrypt', N, r: 8, p: 1, salt: salt.toString('base64') },
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    sealed: sealed.toString('base64'),
  };
  return `${JSON.stringify(bundle, null, 2)}\n`;
}

export function openSecretKey(bundleText: string, passphrase: string): string {
  let b: Bundle;
  try {
    b = JSON.parse(bundleText) as Bundle;
  } catch {
    throw new InputError('the secret key file is not a retailcrm-agi key bundle', 'secret-key-from');
  }
  if (b.format !== FORMAT || b.kdf?.name !== 'scrypt') throw new InputError('the secret key file is not a retailcrm-agi key bundle', 'secret-key-from');
  try {
    const key = kek(passphrase, Buffer.from(b.kdf.salt, 'base64'), b.kdf.N, b.kdf.r, b.kdf.p);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(b.iv, 'base64'));
    decipher.setAuthTag(Buffer.from(b.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(b.sealed, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new InputError('cannot open the secret key file: wrong passphrase, or the file was changed', 'passphrase-file');
  }
}
