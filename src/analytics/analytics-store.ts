/**
 * The analytics SQL: the figures of analytics-queries.ts computed from `calls`, `call_stats_daily`,
 * `call_stats_hourly` (the rollups sql/006 keeps by trigger), `extensions` and `retailcrm_customers`, read only.
 * Values are always bound parameters; every query runs in a read-only transaction with its own
 * statement_timeout, so a heavy range cannot hold a pool connection beyond its deadline.
 */
import { inTransaction, type Pool } from '../db/pool.js';
import {
  AnalyticsTimeoutError,
  checkOptions,
  checkPeriodDays,
  DEFAULT_OPTIONS,
  EXACT_P90_MAX_DAYS,
  histogramP90,
  summedHistogram,
  wholeMonths,
  type AnalyticsOptions,
  type AnalyticsPeriod,
  type AnalyticsQueries,
  type CallBucket,
  type CallFigures,
  type PeriodFigures,
} from './analytics-queries.js';
import { callbackTaskFigures, leadList, managerNames, saleConverted, type Run, type SaleConvertedRow } from './sales-work-store.js';
import { waitingList } from './waiting-list-store.js';

/** Runs fn's statements in one read-only transaction with a statement_timeout; translates the timeout. */
async function inReadOnly<T>(pool: Pool, timeoutMs: number, fn: (run: Run) => Promise<T>): Promise<T> {
  try {
    return await inTransaction(pool, async (client) => {
      // JIT compiling these plans costs seconds and saves nothing on a few hundred thousand rows.
      await client.query(`select set_config('statement_timeout', $1, true), set_config('jit', 'off', true)`, [
        String(Math.max(1, Math.round(timeoutMs))),
      ]);
      return fn(async <R>(text: string, values: readonly unknown[]) => {
        const { rows } = await client.query(text, values as unknown[]);
        return rows as R[];
      });
    }, { readOnly: true });
  } catch (err) {
    if ((err as { code?: unknown }).code === '57014') throw new AnalyticsTimeoutError({ cause: err });
    throw err;
  }
}

// $1 enterprise, $2 from day, $3 to day, $4 timezone: the bounds are instants, so the calls index serves them.
const IN_PERIOD = `c.enterprise = $1
  and c.started_at >= ($2::date::timestamp at time zone $4)
  and c.started_at < ($3::date::timestamp at time zone $4)`;

// The rollup (sql/006) counts local days of the enterprise's zone: usable when the period asks for that zone. Its
// sale conversion (sql/017) counts the enterprise's sale statuses: usable when the request asks for the same set.
const ZONE_OK = 'select analytics_zone($1) is not distinct from $2 as ok';
const ROLLUP_OK = `select analytics_zone($1) is not distinct from $2 as zone_ok,
  analytics_sale_statuses($1) @> $3::text[] and $3::text[] @> analytics_sale_statuses($1) as sales_ok,
  analytics_wait_edges() as edges`;

// The rollup rows of the period ($1 enterprise, $2 from, $3 to): its whole local months from call_stats_monthly
// ([$4, $5), sql/017), the days before and after them from call_stats_daily.
const ROLLUP_ROWS = (columns: string): string => `
  select manager_code, manager_user_id, ${columns} from call_stats_monthly
  where enterprise = $1 and month >= $4::date and month < $5::date
  union all
  select manager_code, manager_user_id, ${columns} from call_stats_daily
  where enterprise = $1 and day >= $2::date and day < $4::date
  union all
  select manager_code, manager_user_id, ${columns} from call_stats_daily
  where enterprise = $1 and day >= $5::date and day < $3::date`;

const FIGURES = `
  count(*) filter (where direction = 'in')::int as calls_in,
  count(*) filter (where direction = 'out')::int as calls_out,
  count(*) filter (where direction = 'in' and answered)::int as answered_in,
  count(*) filter (where direction = 'out' and answered)::int as answered_out,
  count(*) filter (where missed)::int as missed,
  count(*) filter (where missed and not called_back)::int as missed_not_called_back,
  round(avg(waiting_sec) filter (where direction = 'in' and answered), 1)::float8 as avg_wait_sec,
  (percentile_disc(0.9) within group (order by waiting_sec) filter (where direction = 'in' and answered))::float8
    as p90_wait_sec,
  round(avg(duration_sec) filter (where answered), 1)::float8 as avg_talk_sec,
  count(*) filter (where converted)::int as converted`;

// Every call of the period with its two windowed facts, from the columns the triggers keep (sql/006):
// called back ($5 minutes) ⇔ the first answered call of the phone at or after its start began by end + N;
// converted ($6 days) ⇔ the first order of the customer at or after its start was created before start + N.
const CALL_FACTS = `
with f as (
  select c.direction, c.answered, c.waiting_sec, c.duration_sec, c.manager_code,
         coalesce(c.manager_user_id, x.user_id) as manager_user_id,
         (c.direction = 'in' and c.answered is false) as missed,
         coalesce(c.called_back_at <= coalesce(c.ended_at, c.started_at) + make_interval(mins => $5::int), false)
           as called_back,
         coalesce(c.answered and c.first_order_at < c.started_at + make_interval(days => $6::int), false) as converted
  from calls c
  left join extensions x on x.enterprise = c.enterprise and x.ext = c.manager_code
  where ${IN_PERIOD}
)`;

// The same figures from the rollup with the default windows (30 min, 7 days); p90 is filled in apart, from the
// group's waiting-time histograms (summed in analytics-queries.ts: a year is ~12 arrays per manager).
const ROLLUP_FIGURES = `
with d as (
  select r.*, coalesce(r.manager_user_id, x.user_id) as user_id
  from (${ROLLUP_ROWS(`calls_in, calls_out, answered_in, answered_out, missed, missed_nc30, converted7,
    converted_sale7, wait_n, wait_sum, talk_n, talk_sum, wait_hist`)}) r
  left join extensions x on x.enterprise = $1 and x.ext = r.manager_code
)
select grouping(manager_code, user_id) as is_total, manager_code, user_id as manager_user_id,
  sum(calls_in)::int as calls_in, sum(calls_out)::int as calls_out, sum(answered_in)::int as answered_in,
  sum(answered_out)::int as answered_out, sum(missed)::int as missed, sum(missed_nc30)::int as missed_not_called_back,
  round(sum(wait_sum)::numeric / nullif(sum(wait_n), 0), 1)::float8 as avg_wait_sec, null::float8 as p90_wait_sec,
  round(sum(talk_sum)::numeric / nullif(sum(talk_n), 0), 1)::float8 as avg_talk_sec, sum(converted7)::int as converted,
  sum(converted_sale7)::int as converted_to_sale, array_agg(wait_hist) filter (where wait_n > 0) as hists
from d group by grouping sets ((), (manager_code, user_id))
having sum(calls_in + calls_out) > 0
order by is_total desc, sum(calls_in + calls_out) desc, manager_code nulls last, user_id nulls last`;

// Exact p90 (percentile_disc) from the answered inbound calls of the period (partial covering index).
const EXACT_P90 = `
select grouping(manager_code, manager_user_id) as is_total, manager_code, manager_user_id,
  (percentile_disc(0.9) within group (order by waiting_sec))::float8 as p90
from (select c.manager_code, coalesce(c.manager_user_id, x.user_id) as manager_user_id, c.waiting_sec
      from calls c left join extensions x on x.enterprise = c.enterprise and x.ext = c.manager_code
      where ${IN_PERIOD} and c.direction = 'in' and c.answered and c.waiting_sec is not null) s
group by grouping sets ((), (manager_code, manager_user_id))`;

const groupKey = (code: string | null, user: number | null): string => `${code ?? '\u0000'}|${user ?? ''}`;

interface FigureRow {
  calls_in: number;
  calls_out: number;
  answered_in: number;
  answered_out: number;
  missed: number;
  missed_not_called_back: number;
  avg_wait_sec: number | null;
  p90_wait_sec: number | null;
  avg_talk_sec: number | null;
  converted: number;
  converted_to_sale?: number;
}

function figuresFrom(r: FigureRow): CallFigures {
  const answered = r.answered_in + r.answered_out;
  return {
    callsIn: r.calls_in,
    callsOut: r.calls_out,
    answeredIn: r.answered_in,
    answeredOut: r.answered_out,
    missed: r.missed,
    missedNotCalledBack: r.missed_not_called_back,
    avgWaitSec: r.avg_wait_sec,
    p90WaitSec: r.p90_wait_sec,
    avgTalkSec: r.avg_talk_sec,
    converted: r.converted,
    conversionRate: answered > 0 ? Math.round((r.converted / answered) * 10_000) / 10_000 : null,
    convertedToSale: r.converted_to_sale ?? 0,
    saleConversionRate: answered > 0 ? Math.round(((r.converted_to_sale ?? 0) / answered) * 10_000) / 10_000 : null,
  };
}

const EMPTY_ROW: FigureRow = {
  calls_in: 0, calls_out: 0, answered_in: 0, answered_out: 0, missed: 0, missed_not_called_back: 0,
  avg_wait_sec: null, p90_wait_sec: null, avg_talk_sec: null, converted: 0,
};

const BUCKET = `
  count(*) filter (where c.direction = 'in')::int as calls_in,
  count(*) filter (where c.direction = 'out')::int as calls_out,
  count(*) filter (where c.answered)::int as answered,
  count(*) filter (where c.direction = 'in' and c.answered is false)::int as missed`;

interface BucketRow {
  calls_in: number | null;
  calls_out: number | null;
  answered: number | null;
  missed: number | null;
}
function bucketFrom(r: BucketRow): CallBucket {
  return { callsIn: r.calls_in ?? 0, callsOut: r.calls_out ?? 0, answered: r.answered ?? 0, missed: r.missed ?? 0 };
}

function periodValues(p: AnalyticsPeriod): unknown[] {
  checkPeriodDays(p.from, p.to);
  return [p.enterprise, p.from, p.to, p.timezone];
}

type ManagerRow = FigureRow & { is_total: number; manager_code: string | null; manager_user_id: number | null };

const rowKey = (r: { is_total: number; manager_code: string | null; manager_user_id: number | null }): string =>
  r.is_total !== 0 ? 'total' : groupKey(r.manager_code, r.manager_user_id);

interface Extras {
  readonly p90: ReadonlyMap<string, number | null> | null;
  /** Sale conversion counted apart (null: the rows carry converted_to_sale from the rollup). */
  readonly sales: readonly SaleConvertedRow[] | null;
  readonly names: ReadonlyMap<number, string>;
}

function toFigures(rows: readonly ManagerRow[], x: Extras): PeriodFigures {
  const sales = x.sales && new Map(x.sales.map((r) => [rowKey(r), r.n]));
  const complete = (r: ManagerRow): FigureRow => ({
    ...r,
    ...(x.p90 ? { p90_wait_sec: x.p90.get(rowKey(r)) ?? null } : {}),
    converted_to_sale: sales ? (sales.get(rowKey(r)) ?? 0) : (r.converted_to_sale ?? 0),
  });
  const total = rows.find((r) => r.is_total !== 0);
  const managers = rows
    .filter((r) => r.is_total === 0)
    .map((r) => ({
      managerCode: r.manager_code,
      managerUserId: r.manager_user_id,
      managerName: r.manager_user_id === null ? null : (x.names.get(Number(r.manager_user_id)) ?? null),
      ...figuresFrom(complete(r)),
    }));
  return { summary: figuresFrom(total ? complete(total) : EMPTY_ROW), managers };
}

export function createAnalyticsQueries(pool: Pool, opts: { timeoutMs: number }): AnalyticsQueries {
  const tx = <T>(fn: (run: Run) => Promise<T>): Promise<T> => inReadOnly(pool, opts.timeoutMs, fn);
  const zoneOk = async (run: Run, p: AnalyticsPeriod): Promise<boolean> =>
    (await run<{ ok: boolean }>(ZONE_OK, [p.enterprise, p.timezone]))[0]?.ok === true;
  // Identical requests in flight share one computation (a page asks summary and managers, hourly twice).
  const pending = new Map<string, Promise<unknown>>();
  const shared = <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const hit = pending.get(key);
    if (hit) return hit as Promise<T>;
    const value = fn().finally(() => pending.delete(key));
    pending.set(key, value);
    return value;
  };

  const figuresOf = async (period: AnalyticsPeriod, o: AnalyticsOptions): Promise<PeriodFigures> => {
    const values = periodValues(period);
    const { days } = checkPeriodDays(period.from, period.to);
    if (o.callbackMinutes === 30 && o.conversionDays === 7) {
      const months = wholeMonths(period.from, period.to);
      // One transaction on one connection; a short period's exact p90 at the same time on the other.
      const [viaRollup, exact] = await Promise.all([
        tx(async (run) => {
          const ok = (await run<{ zone_ok: boolean; sales_ok: boolean; edges: number[] }>(
            ROLLUP_OK, [period.enterprise, period.timezone, o.saleStatuses]))[0];
          if (ok?.zone_ok !== true) return null;
          const rows = await run<ManagerRow & { hists: number[][] | null }>(
            ROLLUP_FIGURES, [period.enterprise, period.from, period.to, months.from, months.to]);
          // the rollup counts the enterprise's own sale statuses; another set is counted from its orders
          const sales = ok.sales_ok ? null : await saleConverted(run, values, o.conversionDays, o.saleStatuses);
          return { rows, sales, names: await managerNames(run, period.enterprise), edges: ok.edges };
        }),
        days <= EXACT_P90_MAX_DAYS
          ? tx((run) => run<{ is_total: number; manager_code: string | null; manager_user_id: number | null; p90: number | null }>(
            EXACT_P90, values))
          : null,
      ]);
      if (viaRollup) {
        const p90 = new Map<string, number | null>();
        if (exact) for (const r of exact) p90.set(rowKey(r), r.p90);
        else for (const r of viaRollup.rows) p90.set(rowKey(r), histogramP90(summedHistogram(r.hists), viaRollup.edges));
        return toFigures(viaRollup.rows, { p90, sales: viaRollup.sales, names: viaRollup.names });
      }
    }
    const rows = await tx((run) => run<ManagerRow>(
      `${CALL_FACTS}
      select grouping(manager_code, manager_user_id) as is_total, manager_code, manager_user_id, ${FIGURES}
      from f group by grouping sets ((), (manager_code, manager_user_id))
      order by is_total desc, count(*) desc, manager_code nulls last, manager_user_id nulls last`,
      [...values, o.callbackMinutes, o.conversionDays],
    ));
    // Sale conversion and names after the main figures, in one transaction: the CLI's pool has two connections.
    const [sales, names] = await tx(async (run) => [
      await saleConverted(run, values, o.conversionDays, o.saleStatuses),
      await managerNames(run, period.enterprise),
    ] as const);
    return toFigures(rows, { p90: null, sales, names });
  };

  const buckets = async <R>(period: AnalyticsPeriod, rollupSql: string, rawSql: string): Promise<R[]> =>
    tx(async (run) => run<R>((await zoneOk(run, period)) ? rollupSql : rawSql, periodValues(period)));

  return {
    figures(period, options = DEFAULT_OPTIONS) {
      const o = checkOptions(options);
      return shared(JSON.stringify(['figures', period, o]), () => figuresOf(period, o));
    },

    async hourly(period) {
      const rows = await shared(JSON.stringify(['hourly', period]), () => buckets<BucketRow & { hour: number }>(
        period,
        `select h.hour, s.calls_in, s.calls_out, s.answered, s.missed
         from generate_series(0, 23) as h(hour)
         left join (
           select s.hour, sum(s.calls_in)::int as calls_in, sum(s.calls_out)::int as calls_out,
                  sum(s.answered)::int as answered, sum(s.missed)::int as missed
           from call_stats_hourly s where s.enterprise = $1 and s.day >= $2::date and s.day < $3::date and $4::text is not null
           group by s.hour
         ) s on s.hour = h.hour
         order by h.hour`,
        `select h.hour, s.calls_in, s.calls_out, s.answered, s.missed
         from generate_series(0, 23) as h(hour)
         left join (
           select extract(hour from c.started_at at time zone $4)::int as hour, ${BUCKET}
           from calls c where ${IN_PERIOD} group by 1
         ) s on s.hour = h.hour
         order by h.hour`,
      ));
      return rows.map((r) => ({ hour: r.hour, ...bucketFrom(r) }));
    },

    async daily(period) {
      const rows = await shared(JSON.stringify(['daily', period]), () => buckets<BucketRow & { day: string }>(
        period,
        `select to_char(d.day, 'YYYY-MM-DD') as day, s.calls_in, s.calls_out, s.answered, s.missed
         from generate_series($2::date, $3::date - 1, interval '1 day') as d(day)
         left join (
           select s.day, sum(s.calls_in)::int as calls_in, sum(s.calls_out)::int as calls_out,
                  sum(s.answered)::int as answered, sum(s.missed)::int as missed
           from call_stats_hourly s where s.enterprise = $1 and s.day >= $2::date and s.day < $3::date and $4::text is not null
           group by s.day
         ) s on s.day = d.day::date
         order by d.day`,
        `select to_char(d.day, 'YYYY-MM-DD') as day, s.calls_in, s.calls_out, s.answered, s.missed
         from generate_series($2::date, $3::date - 1, interval '1 day') as d(day)
         left join (
           select (c.started_at at time zone $4)::date as day, ${BUCKET}
           from calls c where ${IN_PERIOD} group by 1
         ) s on s.day = d.day::date
         order by d.day`,
      ));
      return rows.map((r) => ({ day: r.day, ...bucketFrom(r) }));
    },

    missedWaiting(period, limit = 500) {
      return tx((run) => waitingList(run, periodValues(period), Math.max(1, Math.min(5_000, Math.trunc(limit))),
        (r) => managerNames(r, period.enterprise)));
    },

    callbackTasks(period) {
      return tx((run) => callbackTaskFigures(run, periodValues(period)));
    },

    leads(period, limit = 500) {
      return tx((run) => leadList(run, periodValues(period), Math.max(1, Math.min(5_000, Math.trunc(limit)))));
    },
  };
}
