/**
 * Integration: the analytics triggers of sql/006 on real PostgreSQL — calls.called_back_at, calls.first_order_at
 * and the rollup tables stay what the set-based backfill (analytics_rebuild) computes, whatever order the rows
 * arrive in: a call back recorded after the missed call, a missed call recorded after its call back, a late
 * order, an order matched by customer id through retailcrm_customers, and the backfill itself.
 */
import { expect } from 'chai';
import { createAnalyticsQueries } from '../../src/analytics/analytics-store.js';
import type { Pool } from '../../src/db/pool.js';
import { FIXTURE, seedAnalyticsFixture } from '../helpers/analytics-fixture.js';
import { withDb } from '../helpers/pg.js';

const E = 'roll';

async function seedEnterprise(pool: Pool): Promise<void> {
  await pool.query(
    `insert into enterprises (number, crm_url, api_key_enc, client_id_enc, client_id_hash, settings)
     values ($1, 'https://roll.retailcrm.ru', 'v1:x', 'v1:x', $1, $2)`,
    [E, JSON.stringify({ crmTimezone: 'Europe/Minsk' })],
  );
}

/** A call written like call-journal.ts: inserted when it rings, completed by the /hangup upsert. */
async function call(pool: Pool, id: string, dir: 'in' | 'out', phone: string, start: string, answered: boolean,
  extra: { customerId?: number } = {}): Promise<void> {
  await pool.query(
    `insert into calls (enterprise, linkedid, external_id, direction, phone, customer_id, started_at)
     values ($1, $2, $2, $3, $4, $5, $6)`,
    [E, id, dir, phone, extra.customerId ?? null, start],
  );
  await pool.query(
    `insert into calls (enterprise, linkedid, external_id, direction, phone, started_at, ended_at, answered,
       manager_code, duration_sec, waiting_sec)
     values ($1, $2, $2, $3, $4, $5::timestamptz, $5::timestamptz + interval '2 minutes', $6, '101', 60, 15)
     on conflict (enterprise, linkedid) do update set ended_at = excluded.ended_at, answered = excluded.answered,
       manager_code = excluded.manager_code, duration_sec = excluded.duration_sec, waiting_sec = excluded.waiting_sec
     where calls.ended_at is null`,
    [E, id, dir, phone, start, answered],
  );
}

async function derived(pool: Pool, id: string): Promise<{ called_back_at: string | null; first_order_at: string | null }> {
  const { rows } = await pool.query<{ called_back_at: Date | null; first_order_at: Date | null }>(
    'select called_back_at, first_order_at from calls where enterprise = $1 and linkedid = $2',
    [E, id],
  );
  const r = rows[0];
  if (!r) throw new Error(`no call ${id}`);
  return { called_back_at: r.called_back_at?.toISOString() ?? null, first_order_at: r.first_order_at?.toISOString() ?? null };
}

async function order(pool: Pool, id: number, created: string, o: { phone?: string; customerId?: number }): Promise<void> {
  await pool.query(
    `insert into retailcrm_orders (enterprise, order_id, customer_id, phone, created_at) values ($1, $2, $3, $4, $5)`,
    [E, id, o.customerId ?? null, o.phone ?? null, created],
  );
}

/** Everything the triggers maintain, as text, to compare with what analytics_rebuild computes from scratch. */
async function snapshot(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query<{ t: string }>(
    `select format('call %s %s %s', linkedid, called_back_at, first_order_at) as t from calls
     union all
     select format('hour %s', row(h.*)) from call_stats_hourly h where calls_in + calls_out > 0
     union all
     select format('day %s', row(d.*)) from call_stats_daily d where calls_in + calls_out > 0
     order by 1`,
  );
  return rows.map((r) => r.t);
}

async function rebuilt(pool: Pool): Promise<string[]> {
  await pool.query('select analytics_rebuild(null)');
  return snapshot(pool);
}

describe('analytics rollup triggers (PostgreSQL)', function () {
  this.timeout(60_000);

  // GIVEN a missed call WHEN an answered call back is recorded 10 min later THEN the missed call knows when
  it('records a call back made after the missed call', () => withDb(async ({ pool }) => {
    await seedEnterprise(pool);
    await call(pool, 'm1', 'in', '+375290000001', '2025-05-05T08:00:00Z', false);
    await call(pool, 'm2', 'in', '+375290000001', '2025-05-05T08:05:00Z', false);
    expect((await derived(pool, 'm1')).called_back_at).to.equal(null);
    await call(pool, 'try', 'out', '+375290000001', '2025-05-05T08:10:00Z', false);
    expect((await derived(pool, 'm1')).called_back_at).to.equal(null);
    await call(pool, 'cb', 'out', '+375290000001', '2025-05-05T08:15:00Z', true);
    expect((await derived(pool, 'm1')).called_back_at).to.equal('2025-05-05T08:15:00.000Z');
    expect((await derived(pool, 'm2')).called_back_at).to.equal('2025-05-05T08:15:00.000Z');
    // a later answered call changes nothing; a later missed call waits again
    await call(pool, 'cb2', 'in', '+375290000001', '2025-05-05T09:00:00Z', true);
    await call(pool, 'm3', 'in', '+375290000001', '2025-05-05T10:00:00Z', false);
    expect((await derived(pool, 'm1')).called_back_at).to.equal('2025-05-05T08:15:00.000Z');
    expect((await derived(pool, 'm3')).called_back_at).to.equal(null);
    const snap = await snapshot(pool);
    expect(await rebuilt(pool)).to.deep.equal(snap);
  }));

  // GIVEN an answered call WHEN a missed call that started before it is recorded late THEN it is called back at once
  it('finds the call back of a missed call recorded after it', () => withDb(async ({ pool }) => {
    await seedEnterprise(pool);
    await call(pool, 'cb', 'out', '+375290000002', '2025-05-05T08:30:00Z', true);
    await call(pool, 'late', 'in', '+375290000002', '2025-05-05T08:00:00Z', false);
    expect((await derived(pool, 'late')).called_back_at).to.equal('2025-05-05T08:30:00.000Z');
    // an earlier call back recorded even later moves it earlier
    await call(pool, 'cb0', 'in', '+375290000002', '2025-05-05T08:10:00Z', true);
    expect((await derived(pool, 'late')).called_back_at).to.equal('2025-05-05T08:10:00.000Z');
    // and if that call turns out unanswered, the later one counts again
    await pool.query(`update calls set answered = false where enterprise = $1 and linkedid = 'cb0'`, [E]);
    expect((await derived(pool, 'late')).called_back_at).to.equal('2025-05-05T08:30:00.000Z');
    const snap = await snapshot(pool);
    expect(await rebuilt(pool)).to.deep.equal(snap);
  }));

  // GIVEN answered calls WHEN orders arrive days later (and one earlier, out of order) THEN first_order_at is the first
  it('applies a late order to the calls before it', () => withDb(async ({ pool }) => {
    await seedEnterprise(pool);
    await call(pool, 'a', 'in', '+375290000003', '2025-05-01T10:00:00Z', true);
    await call(pool, 'b', 'out', '+375290000003', '2025-05-03T10:00:00Z', true);
    await call(pool, 'missed', 'in', '+375290000003', '2025-05-02T10:00:00Z', false);
    await order(pool, 1, '2025-05-09T10:00:00Z', { phone: '+375290000003' });
    expect((await derived(pool, 'a')).first_order_at).to.equal('2025-05-09T10:00:00.000Z');
    expect((await derived(pool, 'b')).first_order_at).to.equal('2025-05-09T10:00:00.000Z');
    expect((await derived(pool, 'missed')).first_order_at).to.equal(null);
    await order(pool, 2, '2025-05-02T10:00:00Z', { phone: '+375290000003' });
    expect((await derived(pool, 'a')).first_order_at).to.equal('2025-05-02T10:00:00.000Z');
    expect((await derived(pool, 'b')).first_order_at).to.equal('2025-05-09T10:00:00.000Z');
    // the order is deleted in RetailCRM's copy: the next one counts again
    await pool.query('delete from retailcrm_orders where enterprise = $1 and order_id = 2', [E]);
    expect((await derived(pool, 'a')).first_order_at).to.equal('2025-05-09T10:00:00.000Z');
    const snap = await snapshot(pool);
    expect(await rebuilt(pool)).to.deep.equal(snap);
  }));

  // GIVEN a call whose phone belongs to customer 77 WHEN an order of customer 77 without a phone arrives THEN it converts
  it('matches orders by customer id through retailcrm_customers and calls.customer_id', () => withDb(async ({ pool }) => {
    await seedEnterprise(pool);
    await pool.query(`insert into retailcrm_customers (enterprise, phone, customer_id) values ($1, '+375290000004', 77)`, [E]);
    await call(pool, 'by-phone', 'in', '+375290000004', '2025-05-01T10:00:00Z', true);
    await call(pool, 'other-phone', 'in', '+375290000005', '2025-05-01T11:00:00Z', true, { customerId: 77 });
    await call(pool, 'not-77', 'in', '+375290000006', '2025-05-01T12:00:00Z', true);
    await order(pool, 10, '2025-05-04T10:00:00Z', { customerId: 77 });
    expect((await derived(pool, 'by-phone')).first_order_at).to.equal('2025-05-04T10:00:00.000Z');
    expect((await derived(pool, 'other-phone')).first_order_at).to.equal('2025-05-04T10:00:00.000Z');
    expect((await derived(pool, 'not-77')).first_order_at).to.equal(null);
    // the third phone is found to be customer 77's too: its call converts now
    await pool.query(`insert into retailcrm_customers (enterprise, phone, customer_id) values ($1, '+375290000006', 77)`, [E]);
    expect((await derived(pool, 'not-77')).first_order_at).to.equal('2025-05-04T10:00:00.000Z');
    // ... and when it moves to another customer, it no longer does
    await pool.query(`update retailcrm_customers set customer_id = 78 where enterprise = $1 and phone = '+375290000006'`, [E]);
    expect((await derived(pool, 'not-77')).first_order_at).to.equal(null);
    const snap = await snapshot(pool);
    expect(await rebuilt(pool)).to.deep.equal(snap);
  }));

  // GIVEN the fixture with its derived data wiped WHEN analytics_rebuild runs THEN the same columns, rollup and figures
  it('backfills set-based what the triggers maintain', () => withDb(async ({ pool }) => {
    await seedAnalyticsFixture(pool);
    const live = await snapshot(pool);
    const period = { enterprise: FIXTURE.enterprise, from: FIXTURE.from, to: FIXTURE.to, timezone: FIXTURE.timezone };
    const q = createAnalyticsQueries(pool, { timeoutMs: 10_000 });
    const before = await q.figures(period);
    await pool.query(`update calls set called_back_at = null, first_order_at = null`);
    await pool.query('delete from call_stats_hourly');
    await pool.query('delete from call_stats_daily');
    expect(await rebuilt(pool)).to.deep.equal(live);
    expect(await q.figures(period)).to.deep.equal(before);
    // the per-call path (here: a zone of the same offset under another name, so not the rollup's) agrees
    const perCall = await q.figures({ ...period, timezone: 'Etc/GMT-3' });
    expect(perCall).to.deep.equal(before);
    expect(await q.hourly({ ...period, timezone: 'Etc/GMT-3' })).to.deep.equal(await q.hourly(period));
    expect(await q.daily({ ...period, timezone: 'Etc/GMT-3' })).to.deep.equal(await q.daily(period));
    // a zone change rebuilds the enterprise's rollup in its new local days
    await pool.query(`update enterprises set settings = settings || '{"crmTimezone":"UTC"}' where number = $1`, [FIXTURE.enterprise]);
    const utc = { ...period, timezone: 'UTC' };
    const viaRollup = await q.hourly(utc);
    await pool.query(`update enterprises set settings = settings || '{"crmTimezone":"Asia/Tokyo"}' where number = $1`, [FIXTURE.enterprise]);
    expect(await q.hourly(utc)).to.deep.equal(viaRollup);
    expect(viaRollup.filter((h) => h.callsIn + h.callsOut > 0).map((h) => h.hour)).to.deep.equal([6, 7, 10, 11, 20, 21]);
  }));
});
