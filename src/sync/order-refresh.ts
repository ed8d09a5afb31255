/**
 * Re-reading RetailCRM orders by id and keeping `retailcrm_orders` (read by the analytics for call-to-order
 * conversion) in step: one row per order with its customer, E.164 phone, manager, status and creation time; an
 * order RetailCRM no longer returns is removed. Read and write are separate so the history poller can put the
 * write and its sinceId in one transaction.
 */
import type { RetailCrmClient } from '../crm/client.js';
import type { Order } from '../crm/types.js';
import { crmAccount } from '../domain/crm-account.js';
import { formatCrmDate } from '../domain/crm-date.js';
import { normalisePhone } from '../domain/phone-number.js';
import type { Enterprise } from '../domain/enterprise.js';
import { inTransaction, type Pool, type PoolClient } from '../db/pool.js';
import { removeOrders, upsertOrder } from './order-store.js';

type Db = Pool | PoolClient;

/** ordersList accepts at most this many per page (contract §1.8). */
const PAGE_LIMIT = 100;

export interface OrderRefresherOptions {
  readonly pool: Pool;
  readonly crm: Pick<RetailCrmClient, 'ordersList'>;
  readonly crmTimeoutMs: number;
  readonly now?: () => Date;
}

/** `Y-m-d H:i:s` in the account's zone → instant; undefined when the text is not such a date. */
export function parseCrmDate(text: string | undefined, timeZone: string): Date | undefined {
  const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)$/.exec(text?.trim() ?? '');
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s);
  try {
    // The zone's offset at that moment: how the zone's wall clock differs from UTC's (DST edges may be an hour off).
    const wall = formatCrmDate(new Date(asUtc), timeZone);
    const w = wall.split(/[- :]/).map(Number) as [number, number, number, number, number, number];
    const offset = Date.UTC(w[0], w[1] - 1, w[2], w[3], w[4], w[5]) - asUtc;
    return new Date(asUtc - offset);
  } catch {
    return new Date(asUtc); // unknown zone name: better UTC than nothing
  }
}

export class OrderRefresher {
  private readonly now: () => Date;

  constructor(private readonly o: OrderRefresherOptions) {
    this.now = o.now ?? (() => new Date());
  }

  /** The orders RetailCRM has now among `ids`; ids it does not return are gone (or out of the key's reach). */
  async fetch(enterprise: Enterprise, ids: readonly number[], signal?: AbortSignal): Promise<Order[]> {
    const unique = [...new Set(ids)];
    const found: Order[] = [];
    for (let i = 0; i < unique.length; i += PAGE_LIMIT) {
      const chunk = unique.slice(i, i + PAGE_LIMIT);
      const page = await this.o.crm.ordersList(
        crmAccount(enterprise),
        { ids: chunk },
        { limit: PAGE_LIMIT },
        { timeoutMs: this.o.crmTimeoutMs, ...(signal ? { signal } : {}) },
      );
      found.push(...page.items.filter((order) => chunk.includes(order.id)));
    }
    return found;
  }

  /** Writes the fetched orders and removes the requested ones RetailCRM did not return. */
  async apply(db: Db, enterprise: Enterprise, requested: readonly number[], orders: readonly Order[]): Promise<void> {
    for (const order of orders) {
      const phone = normalisePhone(order.phone, enterprise.country);
      const createdAt = parseCrmDate(order.createdAt, enterprise.settings.crmTimezone) ?? this.now();
      await upsertOrder(db, {
        enterprise: enterprise.number,
        orderId: order.id,
        customerId: order.customerId ?? null,
        phone: phone.kind === 'e164' ? phone.e164 : null,
        managerUserId: order.managerId ?? null,
        status: order.status ?? null,
        createdAt,
      });
    }
    const present = new Set(orders.map((o) => o.id));
    await removeOrders(db, enterprise.number, requested.filter((id) => !present.has(id)));
  }

  /** Re-reads and stores the orders; resolves with what RetailCRM returned. */
  async refresh(enterprise: Enterprise, ids: readonly number[], signal?: AbortSignal): Promise<Order[]> {
    const orders = await this.fetch(enterprise, ids, signal);
    signal?.throwIfAborted();
    await inTransaction(this.o.pool, (tx) => this.apply(tx, enterprise, ids, orders));
    return orders;
  }
}
