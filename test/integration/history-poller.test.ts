/** Integration: polling customers/history and orders/history from the fake RetailCRM into our tables. */
import { expect } from 'chai';
import type { RetailCrmClient } from '../../src/crm/client.js';
import type { HistoryEntry } from '../../src/crm/types.js';
import { customerChanges, HistoryPoller, orderChanges, type HistoryPollerOptions } from '../../src/sync/history-poller.js';
import { deleteCustomer, editCustomer, editOrder, mergeCustomers } from '../fakes/fake-retailcrm-history.js';
import { waitFor } from '../helpers/async.js';
import { createSyncFixture, customerRows, ENTERPRISE, orderRows, type SyncFixture } from '../helpers/sync-fixture.js';

function entry(partial: Partial<HistoryEntry> & { id: number }): HistoryEntry {
  return {
    createdAt: undefined,
    created: false,
    deleted: false,
    source: 'user',
    userId: 1,
    byCurrentApiKey: false,
    field: undefined,
    oldValue: null,
    newValue: null,
    customer: undefined,
    order: undefined,
    combinedTo: undefined,
    ...partial,
  };
}
const ref = (id: number) => ({ id, externalId: undefined, site: 'shop1' });

describe('history entries → changes (pure)', () => {
  // GIVEN entries of every kind WHEN classified THEN names/phones/manager/created/deleted/merges count, the rest not
  it('picks the customers whose routing or name may have changed', () => {
    const changes = customerChanges([
      entry({ id: 1, customer: ref(10), field: 'first_name' }),
      entry({ id: 2, customer: ref(11), field: 'email' }),
      entry({ id: 3, customer: ref(12), field: 'phones' }),
      entry({ id: 4, customer: ref(13), field: 'manager' }),
      entry({ id: 5, customer: ref(14), created: true, byCurrentApiKey: true, field: 'id' }),
      entry({ id: 6, customer: ref(15), deleted: true, field: 'id' }),
      entry({ id: 7, customer: ref(16), combinedTo: ref(17), deleted: true }),
      entry({ id: 8, customer: ref(10), field: 'lastName' }),
      entry({ id: 9, customer: ref(18), field: 'manager_id', byCurrentApiKey: true }),
    ]);
    expect(changes.refresh).to.deep.equal([10, 12, 13, 15, 16, 17, 18]);
    expect(changes.merges).to.deep.equal([{ from: 16, to: 17 }]);
  });

  // GIVEN order entries WHEN classified THEN every order id once
  it('re-reads every touched order once', () => {
    expect(orderChanges([entry({ id: 1, order: ref(5) }), entry({ id: 2, order: ref(5) }), entry({ id: 3, order: ref(6) })])).to.deep.equal([5, 6]);
  });
});

describe('history poller (real PostgreSQL, fake RetailCRM)', () => {
  let f: SyncFixture;
  const pollers: HistoryPoller[] = [];

  const poller = (overrides: Partial<HistoryPollerOptions> = {}): HistoryPoller => {
    const p = new HistoryPoller({
      pool: f.db.pool,
      crm: f.client,
      enterprises: f.enterprises,
      customers: f.customers,
      orders: f.orders,
      logger: f.logger,
      intervalMs: 60_000,
      ...overrides,
    });
    pollers.push(p);
    return p;
  };
  const historyRequests = () => f.fake.requests({ path: /\/history$/ });
  const sinceIds = async () =>
    Object.fromEntries(
      (await f.db.pool.query<{ stream: string; since_id: number }>('select stream, since_id from sync_state')).rows.map((r) => [
        r.stream,
        r.since_id,
      ]),
    );

  before(async () => {
    f = await createSyncFixture();
  });
  after(async () => {
    await f.close();
  });
  beforeEach(async () => {
    await f.reset();
  });
  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((p) => p.stop()));
  });

  // GIVEN years of old history and one fresh customer WHEN first polled THEN it starts from a recent startDate, not the beginning
  it('starts from now on the first poll instead of replaying the whole history', async () => {
    const old = f.fake.addCustomer({ firstName: 'Old', phones: ['+375291111111'] });
    const oldRecord = f.fake.account().history.at(-1);
    if (oldRecord) oldRecord.createdAt = '2019-05-01 10:00:00';
    const fresh = f.fake.addCustomer({ firstName: 'Fresh', phones: ['+375292222222'] });
    const result = await poller().pollOnce(ENTERPRISE);
    expect(result).to.deep.include({ polled: true });
    const first = historyRequests()[0];
    expect(first?.query).to.have.nested.property('filter.startDate');
    expect(first?.query).to.not.have.nested.property('filter.sinceId');
    expect(first?.query).to.have.property('limit', '100');
    expect((await customerRows(f)).map((r) => r.customer_id)).to.deep.equal([fresh.id]);
    expect(f.fake.requests({ path: `/api/v5/customers/${old.id}` })).to.have.length(0);
    expect(await sinceIds()).to.deep.equal({ customers: f.fake.account().history.at(-1)?.id });
  });

  // GIVEN a polled customer WHEN renamed, re-phoned and reassigned in RetailCRM THEN the next poll rewrites its rows
  it('applies renames, phone changes and manager reassignments', async () => {
    const c = f.fake.addCustomer({ firstName: 'Иван', lastName: 'Петров', phones: ['+375291111111'], managerId: 7 });
    const p = poller();
    await p.pollOnce(ENTERPRISE);
    f.changed.length = 0;
    editCustomer(f.fake, c.id, { firstName: 'Пётр' });
    editCustomer(f.fake, c.id, { phones: ['+375293333333'] });
    editCustomer(f.fake, c.id, { managerId: 9 });
    editCustomer(f.fake, c.id, { email: 'ignored@example.com' });
    await p.pollOnce(ENTERPRISE);
    expect(await customerRows(f)).to.deep.equal([
      { phone: '+375293333333', customer_id: c.id, customer_name: 'Пётр Петров', is_corporate: false, manager_user_id: 9 },
    ]);
    expect(f.changed).to.deep.equal([{ enterprise: ENTERPRISE, phones: ['+375291111111', '+375293333333'] }]);
    // one re-read for the three relevant entries of one customer on one page
    expect(f.fake.requests({ path: `/api/v5/customers/${c.id}` })).to.have.length(2);
  });

  // GIVEN two customers WHEN A is merged into B (history says combinedTo) THEN A's phone rows belong to B
  it('moves the merged-away customer’s rows to the surviving one', async () => {
    const a = f.fake.addCustomer({ firstName: 'A', phones: ['+375291111111'] });
    const b = f.fake.addCustomer({ firstName: 'B', phones: ['+375292222222'] });
    // The fake cannot say combinedTo; decorate its deletion entry the way RetailCRM reports a merge.
    const crm: Pick<RetailCrmClient, 'customersHistory' | 'ordersHistory'> = {
      ordersHistory: (acc, q, o) => f.client.ordersHistory(acc, q, o),
      customersHistory: async (acc, q, o) => {
        const page = await f.client.customersHistory(acc, q, o);
        const entries = page.entries.map((e) =>
          e.customer?.id === a.id && e.field === 'id' && e.newValue === null
            ? { ...e, deleted: true, combinedTo: { id: b.id, externalId: undefined, site: 'shop1' } }
            : e,
        );
        return { ...page, entries };
      },
    };
    const p = poller({ crm });
    await p.pollOnce(ENTERPRISE);
    mergeCustomers(f.fake, a.id, b.id);
    await p.pollOnce(ENTERPRISE);
    expect((await customerRows(f)).map((r) => [r.phone, r.customer_id, r.customer_name])).to.deep.equal([
      ['+375291111111', b.id, 'B'],
      ['+375292222222', b.id, 'B'],
    ]);
  });

  // GIVEN a polled customer WHEN deleted in RetailCRM THEN its rows are gone after the next poll
  it('removes deleted customers', async () => {
    const c = f.fake.addCustomer({ firstName: 'Gone', phones: ['+375291111111', '+375292222222'] });
    const p = poller();
    await p.pollOnce(ENTERPRISE);
    expect(await customerRows(f)).to.have.length(2);
    deleteCustomer(f.fake, c.id);
    await p.pollOnce(ENTERPRISE);
    expect(await customerRows(f)).to.deep.equal([]);
  });

  // GIVEN orders created and then edited in RetailCRM WHEN polled THEN retailcrm_orders follows them
  it('keeps retailcrm_orders in step with order creation and edits', async () => {
    const c = f.fake.addCustomer({ firstName: 'Buyer', phones: ['+375291111111'] });
    const o = f.fake.addOrder({ customerId: c.id, managerId: 7, phone: '8 029 111-11-11', createdAt: '2026-03-01 12:30:00' });
    const p = poller();
    await p.pollOnce(ENTERPRISE);
    expect(await orderRows(f)).to.deep.equal([
      { order_id: o.id, customer_id: c.id, phone: '+375291111111', manager_user_id: 7, status: 'new', created_at: new Date('2026-03-01T12:30:00Z') },
    ]);
    editOrder(f.fake, o.id, { status: 'complete', managerId: 8 });
    await p.pollOnce(ENTERPRISE);
    expect((await orderRows(f)).map((r) => [r.status, r.manager_user_id])).to.deep.equal([['complete', 8]]);
  });

  // GIVEN a poller that stored its sinceId WHEN a new instance starts after a change THEN it asks after that id and applies only the change
  it('resumes from the stored sinceId after a restart', async () => {
    const c = f.fake.addCustomer({ firstName: 'Before', phones: ['+375291111111'] });
    f.fake.addOrder({ customerId: c.id });
    const first = poller();
    await first.pollOnce(ENTERPRISE);
    await first.stop();
    const stored = await sinceIds();
    editCustomer(f.fake, c.id, { firstName: 'After' });
    const before = historyRequests().length;
    const reads = f.fake.requests({ path: `/api/v5/customers/${c.id}` }).length;
    await poller().pollOnce(ENTERPRISE);
    const resumed = historyRequests().slice(before);
    expect(resumed.map((r) => [r.path, (r.query['filter'] as Record<string, unknown>)['sinceId']])).to.deep.equal([
      ['/api/v5/customers/history', String(stored['customers'])],
      ['/api/v5/orders/history', String(stored['orders'])],
    ]);
    expect(f.fake.requests({ path: `/api/v5/customers/${c.id}` }).length - reads).to.equal(1);
    expect((await customerRows(f))[0]?.customer_name).to.equal('After');
  });

  // GIVEN 130 new customers WHEN polled THEN two pages by sinceId, and the stored id is the last entry's
  it('follows pages by sinceId', async () => {
    for (let i = 0; i < 130; i++) f.fake.addCustomer({ firstName: `C${i}`, phones: [`+37529${String(1_000_000 + i)}`] });
    const result = await poller().pollOnce(ENTERPRISE);
    expect(result.polled && result.customers).to.deep.include({ pages: 2, entries: 130 });
    const customerPages = f.fake.requests({ path: '/api/v5/customers/history' });
    expect(customerPages).to.have.length(2);
    expect((await sinceIds())['customers']).to.equal(f.fake.account().history.filter((h) => h.entity === 'customer').at(-1)?.id);
    expect(await customerRows(f)).to.have.length(130);
  });

  // GIVEN two poller instances on one database WHEN both poll one enterprise at once THEN only one asks RetailCRM
  it('does not let two instances poll one enterprise at the same time', async () => {
    f.fake.addCustomer({ firstName: 'Once', phones: ['+375291111111'] });
    f.fake.setLatency(150, '/api/v5/customers/history');
    const [a, b] = await Promise.all([poller().pollOnce(ENTERPRISE), poller().pollOnce(ENTERPRISE)]);
    expect([a.polled, b.polled].sort()).to.deep.equal([false, true]);
    expect([a, b].find((r) => !r.polled)).to.deep.equal({ polled: false, reason: 'locked' });
    expect(historyRequests()).to.have.length(2); // one per stream, by one instance
    // and the lock is released afterwards: the other instance polls next time, from the shared sinceId
    const again = await poller().pollOnce(ENTERPRISE);
    expect(again.polled && again.customers.pages).to.equal(0);
  });

  // GIVEN RetailCRM failing WHEN polled THEN nothing is stored, and the next poll applies the page
  it('keeps the sinceId when a page cannot be applied', async () => {
    const c = f.fake.addCustomer({ firstName: 'Retry', phones: ['+375291111111'] });
    const p = poller();
    await p.pollOnce(ENTERPRISE);
    const stored = await sinceIds();
    editCustomer(f.fake, c.id, { firstName: 'Later' });
    f.fake.failNext(1, { status: 500, route: `/api/v5/customers/${c.id}` });
    let failed = false;
    await p.pollOnce(ENTERPRISE).catch(() => {
      failed = true;
    });
    expect(failed).to.equal(true);
    expect(await sinceIds()).to.deep.equal(stored);
    await p.pollOnce(ENTERPRISE);
    expect((await customerRows(f))[0]?.customer_name).to.equal('Later');
  });

  // GIVEN a started poller WHEN a customer changes THEN the loop applies it, and stop() waits and releases the lock
  it('polls on its own interval and stops cleanly', async () => {
    f.fake.addCustomer({ firstName: 'Loop', phones: ['+375291111111'] });
    const p = poller({ intervalMs: 50 });
    p.start();
    await waitFor('the loop to store the customer', async () => (await customerRows(f)).length > 0);
    await p.stop();
    expect(await customerRows(f)).to.have.length(1);
    const other = await poller().pollOnce(ENTERPRISE);
    expect(other.polled).to.equal(true);
  });

  // GIVEN two instances polling every interval WHEN both reach the same enterprise THEN only one polls it in that
  // interval; when the slot falls due and the first is gone, the other takes it (handover within an interval).
  it('polls an enterprise once per interval across instances', async () => {
    const a = poller({ intervalMs: 60_000, instanceId: 'a' });
    const b = poller({ intervalMs: 60_000, instanceId: 'b' });
    expect(await a.claimDueSlot(ENTERPRISE)).to.equal(true);
    expect(await b.claimDueSlot(ENTERPRISE)).to.equal(false);
    expect(await a.claimDueSlot(ENTERPRISE)).to.equal(false);
    // One interval later (a has died): the slot is due, and b claims it.
    await f.db.pool.query("update history_poll_schedule set next_poll_at = now() - interval '1 second'");
    expect(await b.claimDueSlot(ENTERPRISE)).to.equal(true);
    const { rows } = await f.db.pool.query<{ claimed_by: string; due_in: number }>(
      'select claimed_by, extract(epoch from next_poll_at - now())::float as due_in from history_poll_schedule',
    );
    expect(rows[0]?.claimed_by).to.equal('b');
    expect(rows[0]?.due_in).to.be.within(55, 60);
  });
});
