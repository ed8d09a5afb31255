/**
 * Re-reading one RetailCRM customer and rewriting its phone → customer rows in `retailcrm_customers`: every phone
 * it has now (E.164 with the enterprise's country, display name, manager), none of the phones it lost, nothing
 * at all once it is deleted. The change is published to every instance's cache (NOTIFY at commit) and reported
 * locally through `onChanged`. The read and the write are separate steps so the history poller can fold many
 * customers and its sinceId into one transaction.
 */
import type { RetailCrmClient } from '../crm/client.js';
import type { Customer } from '../crm/types.js';
import { displayName } from '../domain/caller-name.js';
import { crmAccount } from '../domain/crm-account.js';
import { normalisePhone } from '../domain/phone-number.js';
import type { Enterprise } from '../domain/enterprise.js';
import { moveCustomerPhones, removeCustomerPhones, upsertCustomerPhone } from '../db/customer-store.js';
import { inTransaction, type Pool, type PoolClient } from '../db/pool.js';
import type { Logger } from '../lib/logger.js';
import { publishInvalidation } from './cache-invalidation.js';

export type Db = Pool | PoolClient;

/** Local reaction to changed phones (the lead wires it to CallerLookup.invalidate). */
export type PhonesChanged = (enterprise: string, phones: readonly string[]) => void;

export interface CustomerRefresherOptions {
  readonly pool: Pool;
  readonly crm: Pick<RetailCrmClient, 'customerGet'>;
  readonly onChanged: PhonesChanged;
  /** Deadline of each RetailCRM read. */
  readonly crmTimeoutMs: number;
  readonly logger: Logger;
}

export interface RefreshResult {
  readonly customerId: number;
  /** false: RetailCRM no longer has the customer and its rows were removed. */
  readonly exists: boolean;
  /** Every phone whose row was written or removed. */
  readonly phones: readonly string[];
}

export interface CustomerRows {
  readonly phones: readonly string[];
  readonly name: string;
  readonly isCorporate: boolean;
  readonly managerUserId: number | null;
}

/** What the table should hold for a customer: distinct E.164 phones (unusable numbers dropped) and its name. */
export function customerRows(customer: Customer, country: string): CustomerRows {
  const phones = new Set<string>();
  for (const raw of customer.phones) {
    const n = normalisePhone(raw, country);
    if (n.kind === 'e164') phones.add(n.e164);
  }
  const isCorporate = customer.type === 'customer_corporate';
  return {
    phones: [...phones],
    name: displayName({ firstName: customer.firstName, lastName: customer.lastName, company: customer.companyName, isCorporate }),
    isCorporate,
    managerUserId: customer.managerId ?? null,
  };
}

export class CustomerRefresher {
  constructor(private readonly o: CustomerRefresherOptions) {}

  /** The customer as RetailCRM has it now; null when it was deleted (404). Other failures throw. */
  async fetch(enterprise: Enterprise, customerId: number, signal?: AbortSignal): Promise<Customer | null> {
    // By id the customer is unique across sites; passing the enterprise's site would hide other sites' customers.
    return this.o.crm.customerGet(crmAccount(enterprise), customerId, undefined, {
      timeoutMs: this.o.crmTimeoutMs,
      ...(signal ? { signal } : {}),
    });
  }

  /** Rewrites the customer's rows from `customer` (null = gone). Returns the affected phones. */
  async apply(db: Db, enterprise: Enterprise, customerId: number, customer: Customer | null): Promise<string[]> {
    if (customer === null) return removeCustomerPhones(db, enterprise.number, customerId);
    const wanted = customerRows(customer, enterprise.country);
    const dropped = await removeCustomerPhones(db, enterprise.number, customerId, wanted.phones);
    for (const phone of wanted.phones) {
      await upsertCustomerPhone(db, {
        enterprise: enterprise.number,
        phone,
        customerId,
        name: wanted.name,
        isCorporate: wanted.isCorporate,
        managerUserId: wanted.managerUserId,
      });
    }
    return [...new Set([...dropped, ...wanted.phones])];
  }

  /** A merge: the merged-away customer's rows now belong to the surviving one (refresh the survivor after). */
  async moveRows(db: Db, enterprise: Enterprise, fromId: number, toId: number): Promise<string[]> {
    if (fromId === toId) return [];
    return moveCustomerPhones(db, enterprise.number, fromId, toId);
  }

  /** Tells every instance (at commit, when `db` is in a transaction) that these phones changed. */
  async publish(db: Db, enterprise: Enterprise, phones: readonly string[]): Promise<void> {
    if (phones.length > 0) await publishInvalidation(db, enterprise.number, phones);
  }

  /** Local cache invalidation after a commit; a failing callback is logged, never thrown. */
  changed(enterprise: Enterprise, phones: readonly string[]): void {
    if (phones.length === 0) return;
    try {
      this.o.onChanged(enterprise.number, phones);
    } catch (err) {
      this.o.logger.error('cache invalidation callback failed', { enterprise: enterprise.number, err });
    }
  }

  /** Re-reads one customer and rewrites its rows in one transaction, then invalidates the caches. */
  async refresh(enterprise: Enterprise, customerId: number, signal?: AbortSignal): Promise<RefreshResult> {
    const customer = await this.fetch(enterprise, customerId, signal);
    signal?.throwIfAborted();
    const phones = await inTransaction(this.o.pool, async (tx) => {
      const affected = await this.apply(tx, enterprise, customerId, customer);
      await this.publish(tx, enterprise, affected);
      return affected;
    });
    this.changed(enterprise, phones);
    return { customerId, exists: customer !== null, phones };
  }
}
