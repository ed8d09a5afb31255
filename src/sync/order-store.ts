/**
 * The `retailcrm_orders` table (sql/006): one row per RetailCRM order with its customer, E.164 phone, manager,
 * status and creation time, kept by the order refresh; the analytics read it for call-to-order conversion.
 * Every function runs on the caller's pool or transaction.
 */
import type { Queryable } from '../db/pool.js';

export interface StoredOrder {
  readonly enterprise: string;
  readonly orderId: number;
  readonly customerId: number | null;
  /** E.164, or null when the order's phone is not a number we can normalise. */
  readonly phone: string | null;
  readonly managerUserId: number | null;
  readonly status: string | null;
  readonly createdAt: Date;
}

export async function upsertOrder(db: Queryable, o: StoredOrder): Promise<void> {
  await db.query(
    `insert into retailcrm_orders (enterprise, order_id, customer_id, phone, manager_user_id, status, created_at)
     values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (enterprise, order_id) do update set customer_id = excluded.customer_id, phone = excluded.phone,
       manager_user_id = excluded.manager_user_id, status = excluded.status, created_at = excluded.created_at,
       updated_at = now()`,
    [o.enterprise, o.orderId, o.customerId, o.phone, o.managerUserId, o.status, o.createdAt],
  );
}

export async function removeOrders(db: Queryable, enterprise: string, orderIds: readonly number[]): Promise<void> {
  if (orderIds.length === 0) return;
  await db.query('delete from retailcrm_orders where enterprise = $1 and order_id = any($2::bigint[])', [enterprise, orderIds]);
}
