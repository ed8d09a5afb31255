/**
 * The `sync_state` table: per enterprise and history stream (customers, orders), the id of the last RetailCRM
 * history entry applied. Saved in the same transaction as what the entries changed, and never moved back.
 */
import type { Queryable } from '../db/pool.js';

export type HistoryStream = 'customers' | 'orders';

/** The last applied history id; null before the first poll. */
export async function readSinceId(db: Queryable, enterprise: string, stream: HistoryStream): Promise<number | null> {
  const { rows } = await db.query<{ since_id: number }>(
    'select since_id from sync_state where enterprise = $1 and stream = $2',
    [enterprise, stream],
  );
  return rows[0]?.since_id ?? null;
}

export async function saveSinceId(db: Queryable, enterprise: string, stream: HistoryStream, sinceId: number): Promise<void> {
  await db.query(
    `insert into sync_state (enterprise, stream, since_id) values ($1, $2, $3)
     on conflict (enterprise, stream) do update set since_id = greatest(sync_state.since_id, excluded.since_id),
       updated_at = now()`,
    [enterprise, stream, sinceId],
  );
}
