/**
 * The `retailcrm_customers` table: phone (E.164) → what RetailCRM last said about that caller, per enterprise.
 * Its only owner: the lookup chain reads and writes it through CustomerStore; the sync rewrites a customer's
 * rows through the functions below, which run in the caller's transaction.
 */
import type { Pool, Queryable } from './pool.js';

export interface StoredCustomer {
  readonly enterprise: string;
  readonly phone: string;
  readonly customerId: number;
  readonly name: string;
  readonly isCorporate: boolean;
  readonly managerUserId: number | null;
  readonly updatedAt: Date;
}

interface Row {
  enterprise: string;
  phone: string;
  customer_id: number;
  customer_name: string;
  is_corporate: boolean;
  manager_user_id: number | null;
  updated_at: Date;
}

function fromRow(r: Row): StoredCustomer {
  return {
    enterprise: r.enterprise,
    phone: r.phone,
    customerId: r.customer_id,
    name: r.customer_name,
    isCorporate: r.is_corporate,
    managerUserId: r.manager_user_id,
    updatedAt: r.updated_at,
  };
}

export class CustomerStore {
  constructor(private readonly pool: Pool) {}

  async find(enterprise: string, phone: string, signal?: AbortSignal): Promise<StoredCustomer | null> {
    signal?.throwIfAborted();
    const { rows } = await this.pool.query<Row>(
      'select * from retailcrm_customers where enterprise = $1 and phone = $2',
      [enterprise, phone],
    );
    return rows[0] ? fromRow(rows[0]) : null;
  }

  async upsert(c: Omit<StoredCustomer, 'updatedAt'>): Promise<void> {
    await upsertCustomerPhone(this.pool, c);
  }

  /** RetailCRM no longer knows this phone: forget it so the next call does not route on stale data. */
  async remove(enterprise: string, phone: string): Promise<void> {
    await removeCustomerPhone(this.pool, enterprise, phone);
  }

  async removeCustomer(enterprise: string, customerId: number): Promise<string[]> {
    return removeCustomerPhones(this.pool, enterprise, customerId);
  }
}

export async function upsertCustomerPhone(db: Queryable, c: Omit<StoredCustomer, 'updatedAt'>): Promise<void> {
  await db.query(
    `insert into retailcrm_customers (enterprise, phone, customer_id, customer_name, is_corporate, manager_user_id)
     values ($1, $2, $3, $4, $5, $6)
     on conflict (enterprise, phone) do update set customer_id = excluded.customer_id,
       customer_name = excluded.customer_name, is_corporate = excluded.is_corporate,
       manager_user_id = excluded.manager_user_id, updated_at = now()`,
    [c.enterprise, c.phone, c.customerId, c.name, c.isCorporate, c.managerUserId],
  );
}

export async function removeCustomerPhone(db: Queryable, enterprise: string, phone: string): Promise<void> {
  await db.query('delete from retailcrm_customers where enterprise = $1 and phone = $2', [enterprise, phone]);
}

/** Removes the customer's rows, all of them or all but the phones in `keep`; returns the phones removed. */
export async function removeCustomerPhones(
  db: Queryable,
  enterprise: string,
  customerId: number,
  keep?: readonly string[],
): Promise<string[]> {
  const { rows } = keep === undefined
    ? await db.query<{ phone: string }>(
      'delete from retailcrm_customers where enterprise = $1 and customer_id = $2 returning phone',
      [enterprise, customerId],
    )
    : await db.query<{ phone: string }>(
      `delete from retailcrm_customers where enterprise = $1 and customer_id = $2 and not (phone = any($3::text[]))
       returning phone`,
      [enterprise, customerId, keep],
    );
  return rows.map((r) => r.phone);
}

/** A merge in RetailCRM: the merged-away customer's rows now belong to the survivor; returns their phones. */
export async function moveCustomerPhones(db: Queryable, enterprise: string, fromId: number, toId: number): Promise<string[]> {
  const { rows } = await db.query<{ phone: string }>(
    `update retailcrm_customers set customer_id = $3, updated_at = now()
     where enterprise = $1 and customer_id = $2 returning phone`,
    [enterprise, fromId, toId],
  );
  return rows.map((r) => r.phone);
}
