/**
 * The keyring: every key this installation has used, by key id. One key is current (new seals and signatures);
 * the others only open and verify what they made; a retired key keeps its id and dates but not its material.
 * The key that was SECRET_KEY before the first rotation is the "legacy" key: it opens `v1:` secrets and URL
 * tokens without a key id. Kept in a 0600 JSON file beside the configuration (`SECRET_KEYRING_FILE`, default
 * `DATA_DIR/keyring.json`); the key material never goes into the database.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SecretError } from '../lib/errors.js';
import { keyIdOf } from './key-derivation.js';

export const KEYRING_FORMAT = 'retailcrm-agi keyring v1';
/** A key id: 12 hex digits (never the 32 characters of a signature, so old and new URL tokens stay apart). */
export const KEY_ID = /^[0-9a-f]{12}$/;

export interface KeyEntry {
  readonly id: string;
  /** The key material; absent once retired. */
  readonly key?: string;
  readonly addedAt: string;
  readonly retiredAt?: string;
}

export interface Keyring {
  /** The key that seals and signs; the database has the last word (sql/007's secret_key_check.key_id). */
  readonly current: string;
  /** The key of `v1:` secrets and of URL tokens without a key id (the SECRET_KEY from before any rotation). */
  readonly legacy: string;
  readonly keys: readonly KeyEntry[];
}

/** A keyring of one key: an installation that has never rotated. */
export function singleKeyring(key: string, addedAt: string): Keyring {
  const id = keyIdOf(key);
  return { current: id, legacy: id, keys: [{ id, key, addedAt }] };
}

/** The material of the keys still in use, by id. */
export function activeKeys(ring: Keyring): Map<string, string> {
  const map = new Map<string, string>();
  for (const k of ring.keys) if (k.key !== undefined && k.retiredAt === undefined) map.set(k.id, k.key);
  return map;
}

export function knownIds(ring: Keyring): Set<string> {
  return new Set(ring.keys.map((k) => k.id));
}

export function newKey(): string {
  return randomBytes(32).toString('base64url'); // 43 characters
}

/** Adds `key` and makes it current; every other entry is kept as it is (old keys verify what they signed). */
export function withNewCurrentKey(ring: Keyring, key: string, now: Date): Keyring {
  const id = keyIdOf(key);
  if (knownIds(ring).has(id)) throw new SecretError(`key ${id} is already in the keyring`);
  return { ...ring, current: id, keys: [...ring.keys, { id, key, addedAt: now.toISOString() }] };
}

/** Drops the material of `id` and records when. */
export function withRetiredKey(ring: Keyring, id: string, now: Date): Keyring {
  return {
    ...ring,
    keys: ring.keys.map((k) => (k.id === id ? { id: k.id, addedAt: k.addedAt, retiredAt: now.toISOString() } : k)),
  };
}

export function parseKeyring(text: string, source: string): Keyring {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SecretError(`${source} is not a retailcrm-agi keyring (not JSON)`);
  }
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const bad = (why: string): SecretError => new SecretError(`${source} is not a usable retailcrm-agi keyring: ${why}`);
  if (o['format'] !== KEYRING_FORMAT) throw bad(`format is not "${KEYRING_FORMAT}"`);
  if (!Array.isArray(o['keys'])) throw bad('no "keys" list');
  const keys = (o['keys'] as unknown[]).map((e): KeyEntry => {
    const k = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    const id = k['id'];
    const key = k['key'];
    const addedAt = k['addedAt'];
    const retiredAt = k['retiredAt'];
    if (typeof id !== 'string' || !KEY_ID.test(id)) throw bad(`key id ${JSON.stringify(id)}`);
    if (typeof addedAt !== 'string') throw bad(`key ${id} has no addedAt`);
    if (retiredAt !== undefined && typeof retiredAt !== 'string') throw bad(`key ${id}: retiredAt`);
    if (key !== undefined) {
      if (typeof key !== 'string' || key.length < 32) throw bad(`key ${id} is shorter than 32 characters`);
      if (keyIdOf(key) !== id) throw bad(`key ${id} does not match its id (edited?)`);
    }
    if (key === undefined && retiredAt === undefined) throw bad(`key ${id} has neither material nor retiredAt`);
    return { id, addedAt, ...(typeof key === 'string' ? { key } : {}), ...(typeof retiredAt === 'string' ? { retiredAt } : {}) };
  });
  const current = o['current'];
  const legacy = o['legacy'];
  if (typeof current !== 'string' || !activeKeys({ current, legacy: '', keys }).has(current)) throw bad('"current" names no usable key');
  if (typeof legacy !== 'string' || !keys.some((k) => k.id === legacy)) throw bad('"legacy" names no key');
  return { current, legacy, keys };
}

export function serializeKeyring(ring: Keyring): string {
  return `${JSON.stringify({ format: KEYRING_FORMAT, current: ring.current, legacy: ring.legacy, keys: ring.keys }, null, 2)}\n`;
}

export function keyringPath(config: { readonly secretKeyringFile: string | null; readonly dataDir: string }): string {
  return config.secretKeyringFile ?? path.join(config.dataDir, 'keyring.json');
}

/** The keyring in `file`, or null when there is none (an installation that never rotated). */
export function readKeyringFile(file: string): Keyring | null {
  if (!existsSync(file)) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SecretError(`cannot read the keyring ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseKeyring(text, file);
}

/**
 * Replaces `file` atomically (a 0600 file beside it, then rename), so a crash leaves the old or the new keyring.
 * Run as root (the CLI usually is), the file keeps the owner of the file it replaces, or else of its directory:
 * the service's user must still read it.
 */
export async function writeKeyringFile(file: string, ring: Keyring): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, serializeKeyring(ring), { mode: 0o600 });
  await chmod(tmp, 0o600);
  if (process.getuid?.() === 0) {
    const owner = await stat(existsSync(file) ? file : dir);
    await chown(tmp, owner.uid, owner.gid);
  }
  await rename(tmp, file);
}
