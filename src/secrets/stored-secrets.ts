/**
 * Every sealed value the database holds, over the list of sealed columns the composition root gives (each
 * column's SQL in the store that owns its table): which key each value names (for `secret retire` and
 * `secret list`), and re-encryption under the current key in the caller's transaction (for `secret rotate`),
 * with the lookup hashes that depend on the key recomputed.
 */
import { parseSealed, type SecretBox } from './secret-box.js';

/** One column of sealed values, read and rewritten by the store that owns its table, on the caller's client. */
export interface SealedColumn<Db> {
  /** `table.column`, for messages. */
  readonly name: string;
  /** Every row's sealed value with its row key; `lock`: for update, in the caller's transaction. */
  read(db: Db, lock: boolean): Promise<readonly { readonly rowKey: string; readonly sealed: string }[]>;
  /** A keyed lookup hash of the same secret, kept beside it: SecretBox.hash's purpose. */
  readonly hashPurpose?: string;
  /** Rewrites the row's sealed value (and its lookup hash, when the column has one). */
  write(db: Db, rowKey: string, sealed: string, hash: string | null): Promise<void>;
}

/** How many stored values each key id seals, per `table.column` (v1 values count for the legacy key). */
export async function sealedValuesByKey<Db>(
  db: Db,
  columns: readonly SealedColumn<Db>[],
  legacyKeyId: string,
): Promise<Map<string, Map<string, number>>> {
  const byKey = new Map<string, Map<string, number>>();
  for (const c of columns) {
    for (const r of await c.read(db, false)) {
      const keyId = parseSealed(r.sealed, legacyKeyId)?.keyId ?? 'unreadable';
      const where = byKey.get(keyId) ?? new Map<string, number>();
      where.set(c.name, (where.get(c.name) ?? 0) + 1);
      byKey.set(keyId, where);
    }
  }
  return byKey;
}

/** Opens every sealed value with `box` (any of its keys) and seals it again with its current key; returns the count. */
export async function resealAll<Db>(db: Db, columns: readonly SealedColumn<Db>[], box: SecretBox): Promise<number> {
  let count = 0;
  for (const c of columns) {
    for (const r of await c.read(db, true)) {
      const plain = box.open(r.sealed);
      await c.write(db, r.rowKey, box.seal(plain), c.hashPurpose !== undefined ? box.hash(c.hashPurpose, plain) : null);
      count++;
    }
  }
  return count;
}
