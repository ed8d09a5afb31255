/**
 * Integration: the analytics SQL against the hand-computed fixture (test/helpers/analytics-fixture.ts) on real
 * PostgreSQL. Period 2025-03-10..2025-03-12 in Europe/Minsk (UTC+3). In the period: A, C-H, J0-J8 (B is local
 * 03-09 23:59, I is local 03-12 00:10, X is another enterprise). Answered inbound waits 10..100 s: avg 55, p90 90.
 * Talk of the 12 answered calls: 10×100 + 50 + 20 → 89.2. C is called back by D exactly 30 min after it ended;
 * E's call back F comes 30 min 1 s after: late. G has only an unanswered outbound attempt H: still waiting.
 * Orders: A's 1 s before the 7-day edge (counts), J0's exactly at it (does not), J1's via calls.customer_id, J2's
 * before the call (does not): 2 converted of 12 answered. Sales (status `complete` by default): J1's order 3 is one;
 * J0's order 2 is `complete` but at the 7-day edge, J2's order 4 is `complete` but before the call, A's order 1 is
 * `paid` (a sale only when `paid` is listed): 1 sale of 12 answered, 2 with `paid`.
 * Names (crm_users): user 11 Anna Smirnova, 12 "Oleg <b>Petrov</b>", 13 unknown. Call-back rows: G's open with task
 * 7001, C's and E's completed, I's open but its first miss is after the period. Leads: J1's (order 3) and J3's (no
 * order yet) in the period, I's after it.
 */
import { expect } from 'chai';
import type { AnalyticsQueries, AnalyticsPeriod } from '../../src/analytics/analytics-queries.js';
import { createAnalyticsQueries } from '../../src/analytics/analytics-store.js';
import { FIXTURE, seedAnalyticsFixture } from '../helpers/analytics-fixture.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const period: AnalyticsPeriod = { enterprise: FIXTURE.enterprise, from: FIXTURE.from, to: FIXTURE.to, timezone: FIXTURE.timezone };

describe('analytics queries (PostgreSQL)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let q: AnalyticsQueries;

  before(async () => {
    db = await createTestDatabase();
    await seedAnalyticsFixture(db.pool);
    q = createAnalyticsQueries(db.pool, { timeoutMs: 10_000 });
  });
  after(async () => {
    await db.drop();
  });

  // GIVEN the fixture WHEN the period's figures are asked THEN every summary figure matches the hand computation
  it('computes the summary', async () => {
    const { summary } = await q.figures(period);
    expect(summary).to.deep.equal({
      callsIn: 13, callsOut: 3, answeredIn: 10, answeredOut: 2, missed: 3, missedNotCalledBack: 2,
      avgWaitSec: 55, p90WaitSec: 90, avgTalkSec: 89.2, converted: 2, conversionRate: 0.1667,
      convertedToSale: 1, saleConversionRate: 0.0833,
    });
  });

  // GIVEN three extensions WHEN figures are asked THEN one row per manager, busiest first, user ids from extensions
  it('computes the per-manager figures', async () => {
    const { managers } = await q.figures(period);
    expect(managers).to.deep.equal([
      { managerCode: '101', managerUserId: 11, managerName: 'Anna Smirnova', callsIn: 11, callsOut: 1, answeredIn: 10,
        answeredOut: 1, missed: 1, missedNotCalledBack: 1, avgWaitSec: 55, p90WaitSec: 90, avgTalkSec: 92.7, converted: 2,
        conversionRate: 0.1818, convertedToSale: 1, saleConversionRate: 0.0909 },
      { managerCode: '102', managerUserId: 12, managerName: 'Oleg <b>Petrov</b>', callsIn: 1, callsOut: 1, answeredIn: 0,
        answeredOut: 1, missed: 1, missedNotCalledBack: 0, avgWaitSec: null, p90WaitSec: null, avgTalkSec: 50, converted: 0,
        conversionRate: 0, convertedToSale: 0, saleConversionRate: 0 },
      { managerCode: '103', managerUserId: 13, managerName: null, callsIn: 1, callsOut: 1, answeredIn: 0, answeredOut: 0,
        missed: 1, missedNotCalledBack: 1, avgWaitSec: null, p90WaitSec: null, avgTalkSec: null, converted: 0,
        conversionRate: null, convertedToSale: 0, saleConversionRate: null },
    ]);
  });

  // GIVEN a callback window of 31 minutes and a conversion window of 8 days WHEN asked THEN E counts as called back and J0 converts
  it('moves the window edges with the options', async () => {
    const { summary } = await q.figures(period, { callbackMinutes: 31, conversionDays: 8 });
    expect(summary.missedNotCalledBack).to.equal(1);
    expect(summary.converted).to.equal(3);
  });

  // GIVEN calls around local midnight WHEN grouped by hour THEN buckets use Minsk time (A at 00:30 local, G at 23:30)
  it('groups by local hour of day', async () => {
    const hours = await q.hourly(period);
    expect(hours).to.have.length(24);
    const nonEmpty = hours.filter((h) => h.callsIn + h.callsOut > 0);
    expect(nonEmpty).to.deep.equal([
      { hour: 0, callsIn: 1, callsOut: 0, answered: 1, missed: 0 },
      { hour: 9, callsIn: 1, callsOut: 1, answered: 1, missed: 1 },
      { hour: 10, callsIn: 1, callsOut: 1, answered: 1, missed: 1 },
      { hour: 13, callsIn: 6, callsOut: 0, answered: 6, missed: 0 },
      { hour: 14, callsIn: 3, callsOut: 0, answered: 3, missed: 0 },
      { hour: 23, callsIn: 1, callsOut: 1, answered: 0, missed: 1 },
    ]);
  });

  // GIVEN the period of two local days WHEN grouped by day THEN both days, in local dates
  it('groups by local day', async () => {
    expect(await q.daily(period)).to.deep.equal([
      { day: '2025-03-10', callsIn: 12, callsOut: 2, answered: 12, missed: 2 },
      { day: '2025-03-11', callsIn: 1, callsOut: 1, answered: 0, missed: 1 },
    ]);
  });

  // GIVEN G missed with only an unanswered attempt after it WHEN the waiting list is asked THEN only G's phone is listed
  it('lists missed calls still waiting for a call back', async () => {
    const list = await q.missedWaiting(period);
    expect(list.total).to.equal(1);
    expect(list.items).to.have.length(1);
    const [g] = list.items;
    expect(g).to.include({
      phone: FIXTURE.waitingPhone, customerId: 950, customerName: FIXTURE.waitingName, lastMissedAt: '2025-03-11T20:30:00.000Z',
      attempts: 1, managerCode: '103', managerUserId: 13,
    });
    expect(g?.ringCodes).to.deep.equal(['103']);
    expect(g?.minutesAgo).to.be.greaterThan(0);
    expect(g?.managerName).to.equal(null);
    expect(g?.openTask).to.deep.equal({ crmTaskId: FIXTURE.waitingTaskId, missedCount: 1, firstMissedAt: '2025-03-11T20:30:00.000Z' });
  });

  // GIVEN sale orders around the window WHEN other windows and sale statuses are asked THEN the sale edges move with them
  it('counts conversion to a sale on the configured statuses', async () => {
    const paid = await q.figures(period, { saleStatuses: ['complete', 'paid'] });
    expect(paid.summary).to.include({ converted: 2, convertedToSale: 2, saleConversionRate: 0.1667 });
    // 8 days: J0's order 2 (complete, at the 7-day edge) now counts; A's order 1 is paid, not a sale by default
    const wider = await q.figures(period, { conversionDays: 8 });
    expect(wider.summary).to.include({ converted: 3, convertedToSale: 2 });
    const none = await q.figures(period, { saleStatuses: ['cancel-other'] });
    expect(none.summary).to.include({ convertedToSale: 0, saleConversionRate: 0 });
    // the non-default path (no rollup) counts the same sales as the rollup path
    const raw = await q.figures(period, { callbackMinutes: 31 });
    expect(raw.summary.convertedToSale).to.equal(1);
    expect(raw.managers.map((m) => [m.managerCode, m.managerName, m.convertedToSale])).to.deep.equal([
      ['101', 'Anna Smirnova', 1], ['102', 'Oleg <b>Petrov</b>', 0], ['103', null, 0],
    ]);
  });

  // GIVEN a sale order matched only through retailcrm_customers WHEN asked THEN the call counts once, however many paths match
  it('matches a sale through the customer record, once per call', async () => {
    // J0 (phone P(7), customer 900 via retailcrm_customers): a second sale 1 h after it, by phone and by customer
    await db.pool.query(
      `insert into retailcrm_orders (enterprise, order_id, customer_id, phone, created_at, status)
       values ('acme', 90, 900, null, '2025-03-10T11:00:00Z', 'complete'),
              ('acme', 91, 900, '+375290000007', '2025-03-10T11:05:00Z', 'complete')`,
    );
    try {
      const { summary } = await q.figures(period);
      expect(summary.convertedToSale).to.equal(2);
    } finally {
      await db.pool.query(`delete from retailcrm_orders where enterprise = 'acme' and order_id in (90, 91)`);
    }
    expect((await q.figures({ ...period, from: '2025-03-09', to: '2025-03-10' })).summary.convertedToSale).to.equal(0);
  });

  // GIVEN call-back rows in and around the period WHEN asked THEN open, open with a RetailCRM task and completed by first miss
  it('counts the call-back tasks of the period', async () => {
    expect(await q.callbackTasks(period)).to.deep.equal({ open: 1, openWithTask: 1, completed: 2 });
    // I's row: its first miss is local 03-12 00:10, so it belongs to the next day
    expect(await q.callbackTasks({ ...period, from: '2025-03-12', to: '2025-03-13' })).to.deep.equal({ open: 1, openWithTask: 0, completed: 0 });
  });

  // GIVEN leads in and after the period WHEN asked THEN the period's, latest first, with their orders
  it('lists the leads of the period', async () => {
    const leads = await q.leads(period);
    expect(leads).to.deep.equal({
      requested: 2, created: 1,
      items: [
        { phone: '+375290000010', calledAt: '2025-03-10T10:30:00.000Z', crmOrderId: null, customerId: null },
        { phone: '+375290000008', calledAt: '2025-03-10T10:10:00.000Z', crmOrderId: 3, customerId: null },
      ],
    });
    expect((await q.leads(period, 1)).items).to.have.length(1);
    expect((await q.leads(period, 1)).requested).to.equal(2);
  });

  // GIVEN a period with no calls WHEN asked THEN zeros and nulls, not errors
  it('answers an empty period', async () => {
    const empty = { ...period, from: '2024-01-01', to: '2024-01-02' };
    const { summary, managers } = await q.figures(empty);
    expect(summary).to.include({ callsIn: 0, missed: 0, avgWaitSec: null, p90WaitSec: null, conversionRate: null });
    expect(managers).to.deep.equal([]);
    expect((await q.missedWaiting(empty)).total).to.equal(0);
  });

  // GIVEN a 1 ms statement deadline WHEN the figures are asked THEN the query is cancelled with ANALYTICS_TIMEOUT
  it('cancels a query past its deadline', async () => {
    const slow = createAnalyticsQueries(db.pool, { timeoutMs: 1 });
    await db.pool.query('select 1');
    const err = await slow.figures({ ...period, from: '2024-01-01', to: '2025-01-01' }).then(() => null, (e: unknown) => e);
    // a tiny database may answer within 1 ms; when it does not, the error must be the translated one
    if (err !== null) expect((err as { code?: string }).code).to.equal('ANALYTICS_TIMEOUT');
  });
});
