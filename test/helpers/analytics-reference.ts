/**
 * The analytics figures computed the straightforward way, for the tests to hold the fast paths against: every
 * figure straight from `calls`, `retailcrm_orders`, `retailcrm_customers` and `extensions` by its definition in
 * docs/analytics.md — no derived column (called_back_at, first_order_at, first_sale_at), no rollup, no trigger.
 */
import type { Pool } from '../../src/db/pool.js';
import { EXACT_P90_MAX_DAYS, checkPeriodDays, type AnalyticsPeriod } from '../../src/analytics/analytics-queries.js';

/** The figures a test compares, as the store returns them (rates are arithmetic on these, done in TypeScript). */
export interface ReferenceRow {
  managerCode: string | null;
  managerUserId: number | null;
  callsIn: number;
  callsOut: number;
  answeredIn: number;
  answeredOut: number;
  missed: number;
  missedNotCalledBack: number;
  avgWaitSec: number | null;
  p90WaitSec: number | null;
  avgTalkSec: number | null;
  converted: number;
  convertedToSale: number;
}

const PERIOD_CALLS = `
  select c.*, coalesce(c.manager_user_id, x.user_id) as uid,
         coalesce(c.customer_id, (select rc.customer_id from retailcrm_customers rc
                                  where rc.enterprise = c.enterprise and rc.phone = c.phone)) as cust
  from calls c left join extensions x on x.enterprise = c.enterprise and x.ext = c.manager_code
  where c.enterprise = $1 and c.started_at >= ($2::date::timestamp at time zone $4)
    and c.started_at < ($3::date::timestamp at time zone $4)`;

// An order of the call's customer (same phone, or customer id = the call's customer) created in [start, start + 7 d).
const ORDER_WITHIN_7_DAYS = `
  select 1 from retailcrm_orders o
  where o.enterprise = c.enterprise and (o.phone = c.phone or o.customer_id = c.cust)
    and o.created_at >= c.started_at and o.created_at < c.started_at + interval '7 days'`;

const REFERENCE_FIGURES = `
with c as (${PERIOD_CALLS}),
f as (
  select c.*,
    c.direction = 'in' and c.answered is false as is_missed,
    c.direction = 'in' and c.answered is false and not exists (
      select 1 from calls b where b.enterprise = c.enterprise and b.phone = c.phone and b.answered and b.id <> c.id
        and b.started_at >= c.started_at
        and b.started_at <= coalesce(c.ended_at, c.started_at) + interval '30 minutes') as not_called_back,
    coalesce(c.answered, false) and exists (${ORDER_WITHIN_7_DAYS}) as converted,
    coalesce(c.answered, false) and exists (${ORDER_WITHIN_7_DAYS} and o.status = any($5::text[])) as sale
  from c
)
select grouping(manager_code, uid) as is_total, manager_code, uid,
  count(*) filter (where direction = 'in')::int as calls_in, count(*) filter (where direction = 'out')::int as calls_out,
  count(*) filter (where direction = 'in' and answered)::int as answered_in,
  count(*) filter (where direction = 'out' and answered)::int as answered_out,
  count(*) filter (where is_missed)::int as missed, count(*) filter (where not_called_back)::int as not_called_back,
  round(avg(waiting_sec) filter (where direction = 'in' and answered), 1)::float8 as avg_wait,
  (percentile_disc(0.9) within group (order by waiting_sec)
     filter (where direction = 'in' and answered and waiting_sec is not null))::float8 as p90_exact,
  percentile_disc(0.9) within group (order by width_bucket(waiting_sec, analytics_wait_edges()))
     filter (where direction = 'in' and answered and waiting_sec is not null) as p90_bucket,
  round(avg(duration_sec) filter (where answered), 1)::float8 as avg_talk,
  count(*) filter (where converted)::int as converted, count(*) filter (where sale)::int as sale
from f group by grouping sets ((), (manager_code, uid))
order by is_total desc, count(*) desc, manager_code nulls last, uid nulls last`;

interface Raw {
  is_total: number; manager_code: string | null; uid: number | null; calls_in: number; calls_out: number;
  answered_in: number; answered_out: number; missed: number; not_called_back: number; avg_wait: number | null;
  p90_exact: number | null; p90_bucket: number | null; avg_talk: number | null; converted: number; sale: number;
}

const EDGES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 25, 30, 35, 40, 45, 50, 55, 60, 70, 80, 90, 100, 120,
  150, 180, 240, 300, 420, 600, 900, 1800, 3600];

/**
 * Summary first, then the managers busiest first. Periods over EXACT_P90_MAX_DAYS report the p90 as documented:
 * the largest whole second of the histogram bucket holding the ⌈0.9·n⌉-th wait (the open last bucket: 3600).
 */
export async function referenceFigures(pool: Pool, p: AnalyticsPeriod, saleStatuses: readonly string[]): Promise<ReferenceRow[]> {
  const { days } = checkPeriodDays(p.from, p.to);
  const { rows } = await pool.query<Raw>(REFERENCE_FIGURES, [p.enterprise, p.from, p.to, p.timezone, saleStatuses]);
  return rows.filter((r) => r.is_total !== 0 || r.calls_in + r.calls_out > 0).map((r) => ({
    managerCode: r.is_total !== 0 ? null : r.manager_code,
    managerUserId: r.is_total !== 0 ? null : r.uid,
    callsIn: r.calls_in, callsOut: r.calls_out, answeredIn: r.answered_in, answeredOut: r.answered_out, missed: r.missed,
    missedNotCalledBack: r.not_called_back, avgWaitSec: r.avg_wait,
    p90WaitSec: days <= EXACT_P90_MAX_DAYS || r.p90_bucket === null ? r.p90_exact
      : r.p90_bucket < EDGES.length ? (EDGES[r.p90_bucket] ?? 0) - 1 : (EDGES[EDGES.length - 1] ?? 0),
    avgTalkSec: r.avg_talk, converted: r.converted, convertedToSale: r.sale,
  }));
}

/** Calls per local hour and per local day of the period, straight from the calls. */
export async function referenceBuckets(pool: Pool, p: AnalyticsPeriod): Promise<{ hours: unknown[]; days: unknown[] }> {
  const bucket = `count(*) filter (where direction = 'in')::int as "callsIn", count(*) filter (where direction = 'out')::int as "callsOut",
    count(*) filter (where answered)::int as answered, count(*) filter (where direction = 'in' and answered is false)::int as missed`;
  const values = [p.enterprise, p.from, p.to, p.timezone];
  const hours = await pool.query(
    `select extract(hour from started_at at time zone $4)::int as hour, ${bucket} from (${PERIOD_CALLS}) c group by 1 order by 1`, values);
  const days = await pool.query(
    `select to_char(started_at at time zone $4, 'YYYY-MM-DD') as day, ${bucket} from (${PERIOD_CALLS}) c group by 1 order by 1`, values);
  return { hours: hours.rows, days: days.rows };
}

/** Phones with a missed call in the period and no answered call at or after it, ever: latest first. */
export async function referenceWaiting(pool: Pool, p: AnalyticsPeriod): Promise<{ phone: string; lastMissedAt: string; attempts: number }[]> {
  const { rows } = await pool.query<{ phone: string; last: Date; attempts: number }>(
    `select c.phone, max(c.started_at) as last, count(*)::int as attempts from (${PERIOD_CALLS}) c
     where c.direction = 'in' and c.answered is false and not exists (
       select 1 from calls b where b.enterprise = c.enterprise and b.phone = c.phone and b.answered and b.started_at >= c.started_at)
     group by c.phone order by last desc, c.phone`,
    [p.enterprise, p.from, p.to, p.timezone],
  );
  return rows.map((r) => ({ phone: r.phone, lastMissedAt: r.last.toISOString(), attempts: r.attempts }));
}
