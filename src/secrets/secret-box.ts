/**
 * Secrets at rest and signed tokens, all keyed by SECRET_KEY: AES-256-GCM for stored API keys and AMI secrets,
 * HMAC-SHA256 for lookup hashes (clientId) and URL tokens (recordings, webhooks). Sub-keys are derived per
 * purpose with HKDF, so one leaked purpose key does not open the others.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { SecretError } from '../errors.js';

const VERSION = 'v1';

export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
  /** Deterministic keyed hash, hex: for finding a row by a secret without storing the secret in clear. */
  hash(purpose: string, value: string): string;
  /** URL-safe token that proves `payload` was issued by us. */
  sign(purpose: string, payload: string): string;
  verify(purpose: string, payload: string, token: string): boolean;
}

function subKey(master: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(master, 'utf8'), Buffer.alloc(0), `rcrm:${purpose}`, 32));
}

export function createSecretBox(secretKey: string): SecretBox {
  if (secretKey.length < 32) throw new SecretError('SECRET_KEY must be at least 32 characters');
  const encKey = subKey(secretKey, 'encrypt');
  const macKeys = new Map<string, Buffer>();
  const macKey = (purpose: string): Buffer => {
    let key = macKeys.get(purpose);
    if (!key) {
      key = subKey(secretKey, `mac:${purpose}`);
      macKeys.set(purpose, key);
    }
    return key;
  };
  const mac = (purpose: string, value: string): Buffer =>
    createHmac('sha256', macKey(purpose)).update(value, 'utf8').digest();

  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', encKey, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
    },
    open(sealed) {
      const [version, data] = sealed.split(':', 2);
      if (version !== VERSION || data === undefined) throw new SecretError('stored secret has an unknown format');
      const raw = Buffer.from(data, 'base64');
      if (raw.length < 28) throw new SecretError('stored secret is truncated');
      try {
        const decipher = createDecipheriv('aes-256-gcm', encKey, raw.subarray(0, 12));
        decipher.setAuthTag(raw.subarray(12, 28));
        return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      } catch (err) {
        throw new SecretError('cannot decrypt a stored secret: SECRET_KEY differs from the one that encrypted it', {
          cause: err,
        });
      }
    },
    hash(purpose, value) {
      return mac(purpose, value).toString('hex');
    },
    sign(purpose, payload) {
      return mac(purpose, payload).subarray(0, 24).toString('base64url');
    },
    verify(purpose, payload, token) {
      const expected = Buffer.from(mac(purpose, payload).subarray(0, 24).toString('base64url'));
      const given = Buffer.from(token);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

/** Constant-time comparison of two strings of possibly different lengths. */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHmac('sha256', 'cmp').update(a).digest();
  const hb = createHmac('sha256', 'cmp').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export function randomSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}
