/**
 * Purpose keys derived from a master key with HKDF (one leaked purpose key does not open the others), and the
 * key id every key is known by: the keyed hash of a fixed label that `secret_key_check` has shown since sql/007.
 */
import { createHmac, hkdfSync } from 'node:crypto';

const ID_LABEL = 'retailcrm-agi SECRET_KEY check v1';

export function subKey(master: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(master, 'utf8'), Buffer.alloc(0), `rcrm:${purpose}`, 32));
}

export function macSubKey(master: string, purpose: string): Buffer {
  return subKey(master, `mac:${purpose}`);
}

/** The key's id: 12 hex digits, safe to show and to put into URLs and sealed values. */
export function keyIdOf(key: string): string {
  return createHmac('sha256', macSubKey(key, 'key-id')).update(ID_LABEL, 'utf8').digest('hex').slice(0, 12);
}
