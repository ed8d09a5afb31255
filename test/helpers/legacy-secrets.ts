/**
 * What the service wrote before the keyring (issue 9), made the way it was made then: `v1:` sealed values and
 * bare 32-character signatures under SECRET_KEY, so tests can prove they still open and verify.
 */
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { macSubKey, subKey } from '../../src/secrets/key-derivation.js';

export function legacySeal(key: string, plain: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', subKey(key, 'encrypt'), iv);
  const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return `v1:${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
}

export function legacySign(key: string, purpose: string, payload: string): string {
  return createHmac('sha256', macSubKey(key, purpose)).update(payload).digest().subarray(0, 24).toString('base64url');
}
