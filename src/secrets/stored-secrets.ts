/**
 * Every sealed value the database holds, in one list: which key each names (for `secret retire` and `secret list`)
 * and re-encryption under the current key in the caller's transaction (for `secret rotate`), with the lookup hashes
 * that depend on the key recomputed. A new table with a sealed column is added here, or rotation misses it.
 */
import type pg from 'pg';
import { parseSealed, type SecretBox } from './secret-box.js';

interface SealedColumn {
  readonly table: string;
  /** The row's key, for updates and messages. */
  readonly rowKey: string;
  readonly column: string;
  /** A keyed lookup hash of the same secret (purpose for SecretBox.hash) kept in another column. */
  readonly hash?: { readonly column: string; readonly purpose: string };
}

export const SEALED_COLUMNS: readonly SealedColumn[] = [
  { table: 'enterprises', rowKey: 'number', column: 'api_key_enc' },
  { table: 'enterprises', rowKey: 'number', column: 'client_id_enc', hash: { column: 'client_id_hash', purpose: 'client-id' } },
  { table: 'pbx_connections', rowKey: 'enterprise', column: 'ami_secret_enc' },
];

type Queryable = Pick<pg.PoolClient, 'query'>;

/** How many stored values each key id seals, per `table.column` (v1 values count for the legacy key). */
export async function sealedValuesByKey(db: Queryable, legacyKeyId: string): Promise<Map<string, Map<string, number>>> {
  const byKey = new Map<string, Map<string, number>>();
  for (const c of SEALED_COLUMNS) {
    const { rows } = await db.query<{ v: string }>(`select ${c.column} as v from ${c.table}`);
    for (const r of rows) {
      const keyId = parseSealed(r.v, legacyKeyId)?.keyId ?? 'unreadable';
      const where = byKey.get(keyId) ?? new Map<string, number>();
      where.set(`${c.table}.${c.column}`, (where.get(`${c.table}.${c.column}`) ?? 0) + 1);
      byKey.set(keyId, where);
    }
  }
  return byKey;
}

/** Opens every sealed value with `box` (any of its keys) and seals it again with its current key; returns the count. */
export async function resealAll(db: Queryable, box: SecretBox): Promise<number> {
  let count = 0;
  for (const c of SEALED_COLUMNS) {
    const { rows } = await db.query<{ k: string; v: string }>(`select ${c.rowKey} as k, ${c.column} as v from ${c.table} for update`);
    for (const r of rows) {
      const plain = box.open(r.v);
      const sets = [`${c.column} = $2`, ...(c.hash ? [`${c.hash.column} = $3`] : [])];
      const params = [r.k, box.seal(plain), ...(c.hash ? [box.hash(c.hash.purpose, plain)] : [])];
      await db.query(`update ${c.table} set ${sets.join(', ')} where ${c.rowKey} = $1`, params);
      count++;
    }
  }
  return count;
}
