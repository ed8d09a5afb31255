/**
 * What the RetailCRM → us sync tests share: a fresh database, a fake RetailCRM, one enterprise pointing at it
 * (country BY, account timezone UTC like the fake's dates), the real client, and the two refreshers with their
 * local change callback recorded. `close()` releases everything.
 */
import { RetailCrmClient } from '../../src/crm/client.js';
import { RateLimiter } from '../../src/crm/rate-limiter.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { type Enterprise } from '../../src/domain/enterprise.js';
import { createLogger, type Logger } from '../../src/lib/logger.js';
import { createSecretBox, type SecretBox } from '../../src/secrets/secret-box.js';
import { CustomerRefresher } from '../../src/sync/customer-refresh.js';
import { OrderRefresher } from '../../src/sync/order-refresh.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { createTestDatabase, type TestDatabase } from './pg.js';

export const ENTERPRISE = '0367';

export interface SyncFixture {
  readonly db: TestDatabase;
  readonly fake: FakeRetailCrm;
  readonly box: SecretBox;
  readonly enterprises: EnterpriseStore;
  readonly enterprise: Enterprise;
  readonly client: RetailCrmClient;
  readonly customers: CustomerRefresher;
  readonly orders: OrderRefresher;
  readonly logger: Logger;
  /** Every local onChanged call, in order. */
  readonly changed: { enterprise: string; phones: string[] }[];
  /** Empties our tables and the fake, keeps the database and the enterprise. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export async function createSyncFixture(opts: { crmTimeoutMs?: number } = {}): Promise<SyncFixture> {
  const db = await createTestDatabase();
  const fake = await FakeRetailCrm.start();
  const box = createSecretBox('w'.repeat(40));
  const enterprises = new EnterpriseStore(db.pool, box);
  const enterprise = await enterprises.create({
    number: ENTERPRISE,
    crmUrl: fake.url,
    apiKey: fake.apiKey,
    clientId: 'client-id-sync-0367',
    country: 'BY',
    site: 'shop1',
    settings: { crmTimezone: 'UTC' },
  });
  const logger = createLogger({ level: 'error', silent: true });
  const client = new RetailCrmClient({ limiter: new RateLimiter({
    // RetailCRM's real budget would make page-sized tests take seconds; the limiter has its own tests.
    ratesPerSecond: { general: 1_000, telephony: 1_000 },
    burst: { general: 1_000, telephony: 1_000 },
  }), defaultTimeoutMs: 3_000 });
  const changed: { enterprise: string; phones: string[] }[] = [];
  const crmTimeoutMs = opts.crmTimeoutMs ?? 3_000;
  const customers = new CustomerRefresher({
    pool: db.pool,
    crm: client,
    crmTimeoutMs,
    logger,
    onChanged: (e, phones) => changed.push({ enterprise: e, phones: [...phones].sort() }),
  });
  const orders = new OrderRefresher({ pool: db.pool, crm: client, crmTimeoutMs });
  return {
    db,
    fake,
    box,
    enterprises,
    enterprise,
    client,
    customers,
    orders,
    logger,
    changed,
    async reset() {
      await db.pool.query('delete from retailcrm_customers; delete from retailcrm_orders; delete from sync_state; delete from history_poll_schedule');
      fake.reset();
      changed.length = 0;
    },
    async close() {
      client.close();
      await fake.close();
      await db.drop();
    },
  };
}

/** The phone → customer rows of the enterprise, sorted by phone. */
export async function customerRows(
  f: SyncFixture,
): Promise<{ phone: string; customer_id: number; customer_name: string; is_corporate: boolean; manager_user_id: number | null }[]> {
  const { rows } = await f.db.pool.query<{
    phone: string;
    customer_id: number;
    customer_name: string;
    is_corporate: boolean;
    manager_user_id: number | null;
  }>(
    `select phone, customer_id, customer_name, is_corporate, manager_user_id from retailcrm_customers
     where enterprise = $1 order by phone`,
    [ENTERPRISE],
  );
  return rows;
}

export async function orderRows(
  f: SyncFixture,
): Promise<{ order_id: number; customer_id: number | null; phone: string | null; manager_user_id: number | null; status: string | null; created_at: Date }[]> {
  const { rows } = await f.db.pool.query<{
    order_id: number;
    customer_id: number | null;
    phone: string | null;
    manager_user_id: number | null;
    status: string | null;
    created_at: Date;
  }>(
    'select order_id, customer_id, phone, manager_user_id, status, created_at from retailcrm_orders where enterprise = $1 order by order_id',
    [ENTERPRISE],
  );
  return rows;
}
