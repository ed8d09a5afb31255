import { expect } from 'chai';
import { CallerLookup, type CrmCallerLookup } from '../../src/customers/caller-lookup.js';
import { type CallerInfo } from '../../src/domain/caller-info.js';
import { CustomerStore } from '../../src/db/customer-store.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { type Enterprise } from '../../src/domain/enterprise.js';
import { CrmHttpError, CrmNetworkError } from '../../src/lib/errors.js';
import { createLogger } from '../../src/lib/logger.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { waitFor } from '../helpers/async.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const logger = createLogger({ level: 'error', silent: true });
const IVAN: CallerInfo = { customerId: 42, name: 'Иван Петров', isCorporate: false, managerUserId: 7 };
const PHONE = '+375291234567';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('caller lookup chain (real PostgreSQL)', () => {
  let db: TestDatabase;
  let enterprise: Enterprise;
  let customers: CustomerStore;
  let crmCalls: number;
  let crm: CrmCallerLookup;
  let lookup: CallerLookup;

  const build = (overrides: Partial<ConstructorParameters<typeof CallerLookup>[0]> = {}): CallerLookup =>
    new CallerLookup({
      customers,
      crmLookup: (e, p, s) => {
        crmCalls++;
        return crm(e, p, s);
      },
      cacheTtlMs: 60_000,
      cacheMax: 100,
      freshMs: 3_600_000,
      crmTimeoutMs: 5_000,
      logger,
      ...overrides,
    });

  before(async () => {
    db = await createTestDatabase();
    const store = new EnterpriseStore(db.pool, createSecretBox('s'.repeat(40)));
    enterprise = await store.create({
      number: '0367',
      crmUrl: 'https://demo.retailcrm.ru',
      apiKey: 'key-123456',
      clientId: 'client-id-0123456789',
      country: 'BY',
      site: null,
    });
    customers = new CustomerStore(db.pool);
  });
  after(async () => {
    await db.drop();
  });
  beforeEach(async () => {
    await db.pool.query('delete from retailcrm_customers');
    crmCalls = 0;
    crm = async () => IVAN;
    lookup = build();
  });
  afterEach(async () => {
    await lookup.drain();
  });

  const soon = (ms = 1_000) => ({ deadline: Date.now() + ms });

  // GIVEN an unknown number WHEN looked up twice THEN RetailCRM is asked once, the table and cache are filled
  it('asks RetailCRM once, then serves from cache and table', async () => {
    const first = await lookup.lookup(enterprise, PHONE, soon());
    expect(first).to.deep.include({ status: 'FOUND', source: 'crm' });
    const second = await lookup.lookup(enterprise, PHONE, soon());
    expect(second).to.deep.include({ status: 'FOUND', source: 'cache' });
    await lookup.drain();
    const row = await customers.find('0367', PHONE);
    expect(row).to.include({ customerId: 42, name: 'Иван Петров', managerUserId: 7 });
    const fresh = build();
    expect(await fresh.lookup(enterprise, PHONE, soon())).to.deep.include({ status: 'FOUND', source: 'table' });
    expect(crmCalls).to.equal(1);
  });

  // GIVEN ten simultaneous calls from one number WHEN looked up THEN they share one RetailCRM request
  it('coalesces concurrent lookups of the same number', async () => {
    const gate = deferred<CallerInfo | null>();
    crm = () => gate.promise;
    // Count the table reads: once all ten have read the (empty) table, all ten are waiting on RetailCRM.
    let tableReads = 0;
    const counting = new Proxy(customers, {
      get: (target, prop, receiver) =>
        prop === 'find'
          ? async (...args: Parameters<CustomerStore['find']>) => {
              const found = await target.find(...args);
              tableReads++;
              return found;
            }
          : Reflect.get(target, prop, receiver),
    });
    lookup = build({ customers: counting });
    const all = Array.from({ length: 10 }, () => lookup.lookup(enterprise, PHONE, soon(10_000)));
    await waitFor('all ten lookups past the table', () => tableReads === 10);
    gate.resolve(IVAN);
    const results = await Promise.all(all);
    expect(results.every((r) => r.status === 'FOUND')).to.equal(true);
    expect(crmCalls).to.equal(1);
  });

  // GIVEN RetailCRM slower than the budget WHEN looked up THEN TIMEOUT within the budget, and the late answer warms the cache
  it('times out within the budget and keeps the late answer', async () => {
    const gate = deferred<CallerInfo | null>();
    crm = () => gate.promise;
    const started = Date.now();
    const r = await lookup.lookup(enterprise, PHONE, soon(100));
    expect(r).to.deep.equal({ status: 'TIMEOUT', source: 'none', caller: null });
    expect(Date.now() - started).to.be.below(1_000);
    gate.resolve(IVAN);
    await lookup.drain();
    expect(await lookup.lookup(enterprise, PHONE, soon())).to.deep.include({ status: 'FOUND', source: 'cache' });
  });

  // GIVEN RetailCRM down and a stale row WHEN looked up THEN the stale row names the caller
  it('falls back to a stale row when RetailCRM fails', async () => {
    await customers.upsert({ enterprise: '0367', phone: PHONE, ...IVAN });
    await db.pool.query("update retailcrm_customers set updated_at = now() - interval '2 days'");
    crm = async () => {
      throw new CrmNetworkError('refused');
    };
    const r = await lookup.lookup(enterprise, PHONE, soon());
    expect(r).to.deep.include({ status: 'FOUND', source: 'stale' });
    expect(r.caller?.name).to.equal('Иван Петров');
  });

  // GIVEN a failing RetailCRM and no row WHEN looked up THEN ERROR, after at most one quick retry
  it('reports ERROR after one quick retry', async () => {
    crm = async () => {
      throw new CrmHttpError(500, 'boom', undefined, true);
    };
    expect(await lookup.lookup(enterprise, PHONE, soon())).to.deep.equal({ status: 'ERROR', source: 'none', caller: null });
    expect(crmCalls).to.equal(2);
  });

  // GIVEN RetailCRM no longer knows a number WHEN looked up THEN NOT_FOUND and the old row is removed
  it('forgets a number RetailCRM no longer knows', async () => {
    await customers.upsert({ enterprise: '0367', phone: PHONE, ...IVAN });
    await db.pool.query("update retailcrm_customers set updated_at = now() - interval '2 days'");
    crm = async () => null;
    expect(await lookup.lookup(enterprise, PHONE, soon())).to.deep.include({ status: 'NOT_FOUND', source: 'crm' });
    await lookup.drain();
    expect(await customers.find('0367', PHONE)).to.equal(null);
  });
});
