/**
 * Secrets at rest and signed tokens, keyed by the keyring (./keyring.ts): AES-256-GCM for stored API keys and AMI
 * secrets, HMAC-SHA256 for lookup hashes (clientId) and URL tokens (recordings, webhooks). Sub-keys are derived
 * per purpose with HKDF, so one leaked purpose key does not open the others.
 *
 * Every sealed value and token names its key: `v2:<keyId>:<base64>` and `<keyId>.<signature>`. What was made
 * before the keyring (`v1:<base64>`, a bare signature) belongs to the legacy key, the original SECRET_KEY.
 * New seals, signatures and lookup hashes use the current key.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SecretError } from '../lib/errors.js';
import { keyIdOf, macSubKey, subKey } from './key-derivation.js';
import { activeKeys, KEY_ID, type Keyring } from './keyring.js';

const SIGNATURE_LENGTH = 32; // 24 HMAC bytes in base64url

export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
  /** Deterministic keyed hash (current key), hex: for finding a row by a secret without storing it in clear. */
  hash(purpose: string, value: string): string;
  /** URL-safe token that proves `payload` was issued by us: `<keyId>.<signature>`. */
  sign(purpose: string, payload: string): string;
  verify(purpose: string, payload: string, token: string): boolean;
  /** The id of the key that seals and signs now. */
  readonly currentKeyId: string;
  /** The keyring as this box knows it (ids and dates; the material too: never print it). */
  keyring(): Keyring;
  /** Re-reads the keyring (rate-limited, see KeyringBoxOptions.reload); true when the current key changed. */
  refresh(): boolean;
}

/** One key's primitives, sub-keys cached. */
class KeyPrimitives {
  private readonly encKey: Buffer;
  private readonly macKeys = new Map<string, Buffer>();
  constructor(private readonly master: string) {
    this.encKey = subKey(master, 'encrypt');
  }

  mac(purpose: string, value: string): Buffer {
    let key = this.macKeys.get(purpose);
    if (!key) {
      key = macSubKey(this.master, purpose);
      this.macKeys.set(purpose, key);
    }
    return createHmac('sha256', key).update(value, 'utf8').digest();
  }

  signature(purpose: string, payload: string): string {
    return this.mac(purpose, payload).subarray(0, 24).toString('base64url');
  }

  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  decrypt(data: string): string {
    const raw = Buffer.from(data, 'base64');
    if (raw.length < 28) throw new SecretError('stored secret is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.encKey, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}

/** A sealed value's key (`v1:` → the legacy key) and body; null when it is not a sealed value. */
export function parseSealed(sealed: string, legacyId: string): { keyId: string; data: string } | null {
  const parts = sealed.split(':');
  if (parts[0] === 'v1' && parts.length === 2 && parts[1]) return { keyId: legacyId, data: parts[1] };
  if (parts[0] === 'v2' && parts.length === 3 && KEY_ID.test(parts[1] ?? '') && parts[2]) return { keyId: parts[1] ?? '', data: parts[2] };
  return null;
}

/** A token's key (a bare signature → the legacy key) and signature; null when malformed. */
export function parseToken(token: string, legacyId: string): { keyId: string; signature: string } | null {
  const dot = token.indexOf('.');
  const keyId = dot < 0 ? legacyId : token.slice(0, dot);
  const signature = dot < 0 ? token : token.slice(dot + 1);
  if (signature.length !== SIGNATURE_LENGTH || (dot >= 0 && !KEY_ID.test(keyId))) return null;
  return { keyId, signature };
}

export interface KeyringBoxOptions {
  /**
   * Reads the keyring again (its file) when a value names a key this box does not know: a running service sees a
   * rotation made by the CLI. Called at most once per `reloadEveryMs` (default 5 s), so forged key ids cost nothing.
   */
  readonly reload?: () => Keyring | null;
  readonly reloadEveryMs?: number;
  readonly now?: () => number;
}

export function createKeyringBox(initial: Keyring, opts: KeyringBoxOptions = {}): SecretBox {
  let ring = initial;
  let keys = primitivesOf(ring);
  let lastReload = Number.NEGATIVE_INFINITY;
  const now = opts.now ?? Date.now;
  const reloadEveryMs = opts.reloadEveryMs ?? 5_000;

  const refresh = (): boolean => {
    if (!opts.reload || now() - lastReload < reloadEveryMs) return false;
    lastReload = now();
    const fresh = opts.reload();
    if (!fresh) return false;
    const changed = fresh.current !== ring.current;
    ring = fresh;
    keys = primitivesOf(fresh);
    return changed;
  };
  const keyFor = (id: string): KeyPrimitives | undefined => {
    const found = keys.get(id);
    if (found) return found;
    refresh();
    return keys.get(id);
  };
  const current = (): KeyPrimitives => {
    const k = keys.get(ring.current);
    if (!k) throw new SecretError(`the current key ${ring.current} is not in the keyring`);
    return k;
  };

  return {
    get currentKeyId() {
      return ring.current;
    },
    keyring: () => ring,
    refresh,
    seal(plain) {
      return `v2:${ring.current}:${current().encrypt(plain)}`;
    },
    open(sealed) {
      const parsed = parseSealed(sealed, ring.legacy);
      if (!parsed) throw new SecretError('stored secret has an unknown format');
      const key = keyFor(parsed.keyId);
      if (!key) {
        throw new SecretError(
          `a stored secret was sealed with key id ${parsed.keyId}, which this process does not have (SECRET_KEY, and after a rotation the keyring file: missing or old, or the key was retired)`,
        );
      }
      try {
        return key.decrypt(parsed.data);
      } catch (err) {
        if (err instanceof SecretError) throw err;
        throw new SecretError(`cannot decrypt a stored secret: key ${parsed.keyId} differs from the one that encrypted it`, { cause: err });
      }
    },
    hash(purpose, value) {
      return current().mac(purpose, value).toString('hex');
    },
    sign(purpose, payload) {
      return `${ring.current}.${current().signature(purpose, payload)}`;
    },
    verify(purpose, payload, token) {
      const parsed = parseToken(token, ring.legacy);
      const key = parsed ? keyFor(parsed.keyId) : undefined;
      if (!parsed || !key) return false;
      const expected = Buffer.from(key.signature(purpose, payload));
      const given = Buffer.from(parsed.signature);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

function primitivesOf(ring: Keyring): Map<string, KeyPrimitives> {
  return new Map([...activeKeys(ring)].map(([id, key]) => [id, new KeyPrimitives(key)]));
}

/** The box of one key (an installation that never rotated, or a test): that key is current and legacy. */
export function createSecretBox(secretKey: string): SecretBox {
  if (secretKey.length < 32) throw new SecretError('SECRET_KEY must be at least 32 characters');
  const id = keyIdOf(secretKey);
  return createKeyringBox({ current: id, legacy: id, keys: [{ id, key: secretKey, addedAt: new Date(0).toISOString() }] });
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
