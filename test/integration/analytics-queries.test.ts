/**
 * Integration: the analytics SQL against the hand-computed fixture (test/helpers/analytics-fixture.ts) on real
 * PostgreSQL. Period 2025-03-10..2025-03-12 in Europe/Minsk (UTC+3). In the period: A, C-H, J0-J8 (B is local
 * 03-09 23:59, I is local 03-12 00:10, X is another enterprise). Answered inbound waits 10..100 s: avg 55, p90 90.
 * Talk of the 12 answered calls: 10×100 + 50 + 20 → 89.2. C is called back by D exactly 30 min after it ended;
 * E's call back F comes 30 min 1 s after: late. G has only an unanswered outbound attempt H: still waiting.
 * Orders: A's 1 s before the 7-day edge (counts), J0's exactly at it (does not), J1's via calls.customer_id, J2's
 * before the call (does not): 2 converted of 12 answered.
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
    });
  });

  // GIVEN three extensions WHEN figures are asked THEN one row per manager, busiest first, user ids from extensions
  it('computes the per-manager figures', async () => {
    const { managers } = await q.figures(period);
    expect(managers).to.deep.equal([
      { managerCode: '101', managerUserId: 11, callsIn: 11, callsOut: 1, answeredIn: 10, answeredOut: 1, missed: 1,
        missedNotCalledBack: 1, avgWaitSec: 55, p90WaitSec: 90, avgTalkSec: 92.7, converted: 2, conversionRate: 0.1818 },
      { managerCode: '102', managerUserId: 12, callsIn: 1, callsOut: 1, answeredIn: 0, answeredOut: 1, missed: 1,
        missedNotCalledBack: 0, avgWaitSec: null, p90WaitSec: null, avgTalkSec: 50, converted: 0, conversionRate: 0 },
      { managerCode: '103', managerUserId: 13, callsIn: 1, callsOut: 1, answeredIn: 0, answeredOut: 0, missed: 1,
        missedNotCalledBack: 1, avgWaitSec: null, p90WaitSec: null, avgTalkSec: null, converted: 0, conversionRate: null },
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
