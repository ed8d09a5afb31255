/**
 * Integration: the year view's fast paths (sql/017: monthly rollup, first_sale_at and its rollup, the waiting list
 * from an index) give exactly the figures of the straightforward computation (test/helpers/analytics-reference.ts)
 * on real PostgreSQL. A seeded pseudo-random set of ~1,600 calls over 14 months of an enterprise in Europe/Berlin
 * (DST), written the way the service writes them (ringing insert + /hangup upsert, reconciled calls recorded at
 * hangup only, late), with orders in several statuses; then changed the ways production changes it: order statuses
 * and deletions, a phone moving to another customer, a late answered call, calls deleted (retention), the
 * enterprise's sale statuses. After each change every period below is compared figure by figure, and what the
 * triggers maintain equals what analytics_rebuild computes from scratch.
 */
import { expect } from 'chai';
import type { AnalyticsPeriod, AnalyticsQueries } from '../../src/analytics/analytics-queries.js';
import { createAnalyticsQueries } from '../../src/analytics/analytics-store.js';
import { insertCallStart, recordCallEnd as storeCallEnd } from '../../src/calls/call-store.js';
import type { CallEnd } from '../../src/calls/call-journal.js';
import { ensureOrdersTable } from '../../bench/generate-calls.js';
import { referenceBuckets, referenceFigures, referenceWaiting, type ReferenceRow } from '../helpers/analytics-reference.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import type { Pool } from '../../src/db/pool.js';

const E = 'yr';
const TZ = 'Europe/Berlin';

/** Whole year, mid-month edges, DST days (2025-03-30, 2025-10-26), a single day, a month, and across the year end. */
const PERIODS: readonly [string, string][] = [
  ['2025-01-01', '2026-01-01'], ['2025-01-15', '2025-12-17'], ['2025-03-30', '2025-10-27'], ['2025-02-01', '2025-03-01'],
  ['2025-10-26', '2025-10-27'], ['2025-11-20', '2026-02-10'], ['2024-12-31', '2025-12-31'],
];

/** A deterministic generator (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The /hangup write of call-store.ts (it stores the row's fields; the outbox payloads are not its business). */
function recordCallEnd(pool: Pool, end: Omit<CallEnd, 'upload' | 'hangupEvent' | 'deliverToCrm'>): Promise<boolean> {
  return storeCallEnd(pool, end as CallEnd);
}

const phoneOf = (n: number): string => `+3752911${String(n).padStart(5, '0')}`;

async function seed(pool: Pool): Promise<void> {
  await ensureOrdersTable(pool);
  await pool.query(
    `insert into enterprises (number, crm_url, api_key_enc, client_id_enc, client_id_hash, settings)
     values ($1, 'https://yr.retailcrm.ru', 'v1:x', 'v1:x', $1, $2)`,
    [E, JSON.stringify({ crmTimezone: TZ })],
  );
  await pool.query(`insert into extensions (enterprise, ext, user_id) values ('yr', '101', 1), ('yr', '102', 2), ('yr', '104', 4)`);
  await pool.query(
    `insert into retailcrm_customers (enterprise, phone, customer_id) select 'yr', '+3752911' || lpad(n::text, 5, '0'), 7000 + n / 2
     from generate_series(1, 40) n`,
  );
  const r = rng(11);
  const start = Date.UTC(2024, 11, 20);
  const span = Date.UTC(2026, 1, 15) - start;
  for (let i = 0; i < 1_600; i++) {
    // a few calls sit exactly on local midnights and month starts (the rollups' edges)
    const at = i % 97 === 0 ? new Date(Date.parse(`2025-${String(1 + (i % 12)).padStart(2, '0')}-01T00:00:00+01:00`))
      : new Date(start + Math.floor(r() * span / 60_000) * 60_000);
    const inbound = r() < 0.65;
    const answered = r() < (inbound ? 0.7 : 0.6);
    const ext = ['101', '102', '103', '104', null][Math.floor(r() * 5)] ?? null;
    const phone = phoneOf(1 + Math.floor(80 * r() ** 2));
    const linkedid = `c${i}`;
    const wait = r() < 0.05 ? 4000 : Math.floor(r() * 200);
    const talk = answered ? Math.floor(r() * 600) : 0;
    const end = {
      enterprise: E, linkedid, direction: inbound ? 'in' : 'out', phone, externalPhone: null, site: null, startedAt: at,
      endedAt: new Date(at.getTime() + (wait + talk) * 1000), answered, result: answered ? 'answered' : 'no answer',
      hangupStatus: answered ? 'answered' : 'no answered', managerCode: ext, managerUserId: ext === '102' && r() < 0.5 ? 22 : null,
      ringCodes: ext ? [ext] : [], durationSec: talk, waitingSec: wait, recordingFile: null, dialStatus: null,
      reconciled: i % 10 === 0,
    } as const;
    // reconciled calls (every 10th) are recorded at hangup only; the others ring first, with a customer id sometimes
    if (i % 10 !== 0) {
      await insertCallStart(pool, { enterprise: E, linkedid, direction: end.direction, phone, externalPhone: null, site: null,
        customerId: r() < 0.1 ? 7100 + Math.floor(r() * 5) : null, ringCodes: end.ringCodes, startedAt: at });
    }
    if (r() < 0.98) await recordCallEnd(pool, end); // a few stay live (answered null)
  }
  for (let k = 0; k < 260; k++) {
    const created = new Date(start + Math.floor(r() * span));
    const n = 1 + Math.floor(80 * r() ** 2);
    await pool.query(
      `insert into retailcrm_orders (enterprise, order_id, customer_id, phone, status, created_at) values ('yr', $1, $2, $3, $4, $5)`,
      [k + 1, r() < 0.6 ? 7000 + Math.floor(n / 2) : null, r() < 0.6 ? phoneOf(n) : null,
        ['complete', 'new', 'paid', null][Math.floor(r() * 4)] ?? null, created],
    );
  }
}

function pick(figures: { summary: ReferenceRow | object; managers: readonly object[] }): ReferenceRow[] {
  const keep = (x: object, total: boolean): ReferenceRow => {
    const f = x as ReferenceRow;
    return {
      managerCode: total ? null : f.managerCode, managerUserId: total ? null : f.managerUserId, callsIn: f.callsIn,
      callsOut: f.callsOut, answeredIn: f.answeredIn, answeredOut: f.answeredOut, missed: f.missed,
      missedNotCalledBack: f.missedNotCalledBack, avgWaitSec: f.avgWaitSec, p90WaitSec: f.p90WaitSec, avgTalkSec: f.avgTalkSec,
      converted: f.converted, convertedToSale: f.convertedToSale,
    };
  };
  return [keep(figures.summary, true), ...figures.managers.map((m) => keep(m, false))];
}

async function expectSameAsReference(pool: Pool, q: AnalyticsQueries, saleStatuses: readonly string[]): Promise<void> {
  for (const [from, to] of PERIODS) {
    const p: AnalyticsPeriod = { enterprise: E, from, to, timezone: TZ };
    const where = `${from} – ${to}`;
    expect(pick(await q.figures(p, { saleStatuses })), `figures ${where}`).to.deep.equal(await referenceFigures(pool, p, saleStatuses));
    const ref = await referenceBuckets(pool, p);
    expect((await q.hourly(p)).filter((h) => h.callsIn + h.callsOut > 0), `hourly ${where}`).to.deep.equal(ref.hours);
    expect((await q.daily(p)).filter((d) => d.callsIn + d.callsOut > 0), `daily ${where}`).to.deep.equal(ref.days);
    const waiting = await referenceWaiting(pool, p);
    const list = await q.missedWaiting(p, 5_000);
    expect(list.total, `waiting total ${where}`).to.equal(waiting.length);
    expect(list.items.map((m) => ({ phone: m.phone, lastMissedAt: m.lastMissedAt, attempts: m.attempts })), `waiting ${where}`)
      .to.deep.equal(waiting);
  }
}

/** Everything the triggers maintain, as text (the derived columns and the three rollups). */
async function maintained(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query<{ t: string }>(
    `select format('call %s %s %s %s', linkedid, called_back_at, first_order_at, first_sale_at) as t from calls
     union all select format('hour %s', row(h.*)) from call_stats_hourly h where calls_in + calls_out > 0
     union all select format('day %s', row(d.*)) from call_stats_daily d where calls_in + calls_out > 0
     union all select format('month %s', row(m.*)) from call_stats_monthly m where calls_in + calls_out > 0
     order by 1`,
  );
  return rows.map((r) => r.t);
}

async function expectMaintainedAsRebuilt(pool: Pool): Promise<void> {
  const live = await maintained(pool);
  await pool.query('select analytics_rebuild(null)');
  expect(await maintained(pool)).to.deep.equal(live);
}

describe('analytics year view from rollups (PostgreSQL)', function () {
  this.timeout(300_000);
  let db: TestDatabase;
  let q: AnalyticsQueries;

  before(async () => {
    db = await createTestDatabase();
    await seed(db.pool);
    q = createAnalyticsQueries(db.pool, { timeoutMs: 60_000 });
  });
  after(async () => {
    await db.drop();
  });

  // GIVEN calls written as the service writes them WHEN any period is asked THEN every figure equals the reference
  it('gives the straightforward figures for whole and partial months, DST days and the year', async () => {
    const year = await q.figures({ enterprise: E, from: '2025-01-01', to: '2026-01-01', timezone: TZ });
    // the set is not degenerate: each kind of figure is there to be got wrong
    expect(year.summary.convertedToSale).to.be.greaterThan(0);
    expect(year.summary.convertedToSale).to.be.lessThan(year.summary.converted);
    expect(year.summary.missedNotCalledBack).to.be.greaterThan(0);
    expect(year.managers.length).to.be.greaterThan(3);
    await expectSameAsReference(db.pool, q, ['complete']);
    // sale statuses other than the enterprise's are counted from the orders, and agree too
    await expectSameAsReference(db.pool, q, ['complete', 'paid']);
    await expectMaintainedAsRebuilt(db.pool);
  });

  // GIVEN sale orders WHEN statuses change, orders go, a phone changes customer THEN the sale conversion follows
  it('follows order status changes, deleted orders and customers moving', async () => {
    const before = (await q.figures({ enterprise: E, from: '2025-01-01', to: '2026-01-01', timezone: TZ })).summary.convertedToSale;
    await db.pool.query(`update retailcrm_orders set status = 'complete' where enterprise = $1 and status = 'new' and order_id % 3 = 0`, [E]);
    await db.pool.query(`update retailcrm_orders set status = 'cancel' where enterprise = $1 and status = 'complete' and order_id % 5 = 0`, [E]);
    await db.pool.query(`delete from retailcrm_orders where enterprise = $1 and order_id % 7 = 0`, [E]);
    await db.pool.query(`update retailcrm_orders set created_at = created_at - interval '2 days' where enterprise = $1 and order_id % 11 = 0`, [E]);
    await db.pool.query(`update retailcrm_customers set customer_id = 7003 where enterprise = $1 and phone in ($2, $3)`, [E, phoneOf(1), phoneOf(9)]);
    await db.pool.query(`delete from retailcrm_customers where enterprise = $1 and phone = $2`, [E, phoneOf(2)]);
    const after = (await q.figures({ enterprise: E, from: '2025-01-01', to: '2026-01-01', timezone: TZ })).summary.convertedToSale;
    expect(after).to.not.equal(before);
    await expectSameAsReference(db.pool, q, ['complete']);
    await expectMaintainedAsRebuilt(db.pool);
  });

  // GIVEN the waiting list WHEN a late answered call, a late missed call and a call's manager change arrive THEN it follows
  it('follows late and changed calls', async () => {
    const waiting = await referenceWaiting(db.pool, { enterprise: E, from: '2025-01-01', to: '2026-01-01', timezone: TZ });
    const first = waiting[0];
    if (!first) throw new Error('the seeded set has no waiting phone');
    // an answered call back recorded late (reconciled), a minute after the phone's latest missed call
    await recordCallEnd(db.pool, {
      enterprise: E, linkedid: 'late-cb', direction: 'out', phone: first.phone, externalPhone: null, site: null,
      startedAt: new Date(Date.parse(first.lastMissedAt) + 60_000), endedAt: new Date(Date.parse(first.lastMissedAt) + 120_000),
      answered: true, result: 'answered', hangupStatus: 'answered', managerCode: '101', managerUserId: null, ringCodes: ['101'],
      durationSec: 50, waitingSec: 3, recordingFile: null, dialStatus: null, reconciled: true,
    });
    // a missed call from a long-silent number, recorded months late, at a local month start
    await recordCallEnd(db.pool, {
      enterprise: E, linkedid: 'late-miss', direction: 'in', phone: '+375291199999', externalPhone: null, site: null,
      startedAt: new Date('2025-06-30T22:00:00Z'), endedAt: new Date('2025-06-30T22:01:00Z'), answered: false,
      result: 'no answer', hangupStatus: 'no answered', managerCode: '103', managerUserId: null, ringCodes: ['103'],
      durationSec: 0, waitingSec: 60, recordingFile: null, dialStatus: null, reconciled: true,
    });
    await db.pool.query(`update calls set manager_code = '102', waiting_sec = 45 where enterprise = $1 and linkedid in ('c5', 'c6', 'c7')`, [E]);
    const now = await referenceWaiting(db.pool, { enterprise: E, from: '2025-01-01', to: '2026-01-01', timezone: TZ });
    expect(now.map((w) => w.phone)).to.not.include(first.phone);
    expect(now.map((w) => w.phone)).to.include('+375291199999');
    await expectSameAsReference(db.pool, q, ['complete']);
    await expectMaintainedAsRebuilt(db.pool);
  });

  // GIVEN old calls WHEN they are deleted (retention) THEN the months they leave are what is left
  it('follows deleted calls', async () => {
    const { rowCount } = await db.pool.query(`delete from calls where enterprise = $1 and started_at < '2025-02-10T00:00:00Z'`, [E]);
    expect(rowCount).to.be.greaterThan(50);
    await expectSameAsReference(db.pool, q, ['complete']);
    await expectMaintainedAsRebuilt(db.pool);
  });

  // GIVEN the enterprise's sale statuses WHEN changed THEN the rollup counts the new ones (and the old set is still exact)
  it('recounts sales when the enterprise changes its sale statuses', async () => {
    await db.pool.query(`update enterprises set settings = settings || '{"saleStatuses":["paid","new"]}' where number = $1`, [E]);
    const { rows } = await db.pool.query<{ n: number }>(
      `select sum(converted_sale7)::int as n from call_stats_monthly where enterprise = $1 and month >= '2025-02-01' and month < '2026-02-01'`, [E]);
    const ref = await referenceFigures(db.pool, { enterprise: E, from: '2025-02-01', to: '2026-02-01', timezone: TZ }, ['new', 'paid']);
    expect(ref[0]?.convertedToSale).to.be.greaterThan(0);
    expect(rows[0]?.n).to.equal(ref[0]?.convertedToSale);
    await expectSameAsReference(db.pool, q, ['new', 'paid']);
    await expectSameAsReference(db.pool, q, ['complete']);
    await expectMaintainedAsRebuilt(db.pool);
  });
});
