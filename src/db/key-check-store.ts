/**
 * The `secret_key_check` table (sql/007, 012): the one row saying which key is current, a keyed hash proving it,
 * and every key id stored secrets may still need. secrets/key-check.ts decides with it (through `keyCheckRecords`);
 * `secret rotate|retire` change it in their transaction.
 */
import type { KeyCheckRecords, KeyFingerprint, StoredKeyCheck } from '../secrets/key-check.js';
import { oldestSealedApiKey } from './enterprise-store.js';
import type { Pool, Queryable } from './pool.js';

/** The row, or null before the first start; `lock`: for update, in the caller's transaction (serialises rotate and retire). */
export async function readKeyCheck(db: Queryable, lock = false): Promise<StoredKeyCheck | null> {
  const { rows } = await db.query<{
    key_id: string; check_mac: string; key_ids: string[] | null; legacy_key_id: string | null; rotated_at: Date | null; created_at: Date;
  }>(`select key_id, check_mac, key_ids, legacy_key_id, rotated_at, created_at from secret_key_check where id = 1${lock ? ' for update' : ''}`);
  const r = rows[0];
  if (!r) return null;
  return {
    keyId: r.key_id, checkMac: r.check_mac, keyIds: r.key_ids ?? [r.key_id], legacyKeyId: r.legacy_key_id ?? r.key_id, rotatedAt: r.rotated_at, createdAt: r.created_at,
  };
}

/** Records the first key; a row written meanwhile by another process wins (read it back to compare). */
export async function insertKeyCheck(db: Queryable, fp: KeyFingerprint): Promise<void> {
  await db.query('insert into secret_key_check (key_id, check_mac) values ($1, $2) on conflict (id) do nothing', [fp.keyId, fp.checkMac]);
}

/** `secret rotate`: the new current key, every key id still needed, and the legacy key's id. */
export async function recordRotation(db: Queryable, fp: KeyFingerprint, keyIds: readonly string[], legacyKeyId: string): Promise<void> {
  await db.query(
    `update secret_key_check set key_id = $1, check_mac = $2, key_ids = $3, legacy_key_id = $4, rotated_at = now() where id = 1`,
    [fp.keyId, fp.checkMac, keyIds, legacyKeyId],
  );
}

/** `secret retire`: the key is no longer needed. */
export async function removeKeyId(db: Queryable, keyId: string): Promise<void> {
  await db.query('update secret_key_check set key_ids = array_remove(key_ids, $1) where id = 1', [keyId]);
}

/** What the key check reads and writes, on this pool. */
export function keyCheckRecords(pool: Pool): KeyCheckRecords {
  return {
    read: () => readKeyCheck(pool),
    insert: (fp) => insertKeyCheck(pool, fp),
    oldestSealedApiKey: () => oldestSealedApiKey(pool),
  };
}
