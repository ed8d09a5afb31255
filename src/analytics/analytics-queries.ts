/**
 * Call analytics in SQL: the figures of one enterprise over a period [from, to) of local calendar days in the
 * enterprise's timezone (docs/analytics.md defines every figure). Values are always bound parameters; every
 * query runs in a read-only transaction with its own statement_timeout, so a heavy range cannot hold a pool
 * connection beyond its deadline.
 */
import type { Pool } from '../db/pool.js';
import {
  AnalyticsTimeoutError,
  checkOptions,
  checkPeriodDays,
  DEFAULT_OPTIONS,
  type AnalyticsOptions,
  type AnalyticsPeriod,
  type CallBucket,
  type CallFigures,
  type DayBucket,
  type HourBucket,
  type ManagerFigures,
  type MissedCallbackList,
} from './analytics-model.js';
import { BUCKET, CALL_FACTS, EXACT_P90, FIGURES, HISTOGRAM, IN_PERIOD, ROLLUP_FIGURES, ZONE_OK } from './analytics-sql.js';
import { withSuppressed } from '../lib/errors.js';

export * from './analytics-model.js';

// ---- running ----------------------------------------------------------------------------------------------

type Run = <R>(text: string, values: readonly unknown[]) => Promise<R[]>;

/** Runs fn's statements in one read-only transaction with a statement_timeout; translates the timeout. */
async function inReadOnly<T>(pool: Pool, timeoutMs: number, fn: (run: Run) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin read only');
    // JIT compiling these plans costs seconds and saves nothing on a few hundred thousand rows.
    await client.query(`select set_config('statement_timeout', $1, true), set_config('jit', 'off', true)`, [
      String(Math.max(1, Math.round(timeoutMs))),
    ]);
    const result = await fn(async <R>(text: string, values: readonly unknown[]) => {
      const { rows } = await client.query(text, values as unknown[]);
      return rows as R[];
    });
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch((rollbackErr: unknown) => withSuppressed(err, rollbackErr));
    if ((err as { code?: unknown }).code === '57014') throw new AnalyticsTimeoutError({ cause: err });
    throw err;
  } finally {
    client.release();
  }
}

/** Ranges up to this many days get an exact p90 from the calls; longer ones the histogram's bucket edge. */
export const EXACT_P90_MAX_DAYS = 31;

interface HistogramRow {
  is_total: number;
  manager_code: string | null;
  manager_user_id: number | null;
  b: number;
  n: number;
  edges: number[];
}

/**
 * percentile_disc(0.9) over a histogram: the bucket holding the ⌈0.9·n⌉-th smallest wait, reported as the
 * largest whole second of that bucket (the last, open bucket reports its lower edge).
 */
export function histogramP90(buckets: readonly { b: number; n: number }[], edges: readonly number[]): number | null {
  const sorted = [...buckets].sort((x, y) => x.b - y.b);
  const total = sorted.reduce((a, x) => a + x.n, 0);
  if (total === 0) return null;
  const target = Math.ceil(0.9 * total);
  let seen = 0;
  for (const { b, n } of sorted) {
    seen += n;
    if (seen >= target) return b <= edges.length ? (edges[b - 1] ?? 1) - 1 : (edges[edges.length - 1] ?? 0);
  }
  return null;
}

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
  };
}

const EMPTY_ROW: FigureRow = {
  calls_in: 0, calls_out: 0, answered_in: 0, answered_out: 0, missed: 0, missed_not_called_back: 0,
  avg_wait_sec: null, p90_wait_sec: null, avg_talk_sec: null, converted: 0,
};

export interface PeriodFigures {
  readonly summary: CallFigures;
  /** Busiest managers first; calls with no extension are one row with managerCode null. */
  readonly managers: readonly ManagerFigures[];
}

export interface AnalyticsQueries {
  figures(period: AnalyticsPeriod, options?: AnalyticsOptions): Promise<PeriodFigures>;
  hourly(period: AnalyticsPeriod): Promise<HourBucket[]>;
  daily(period: AnalyticsPeriod): Promise<DayBucket[]>;
  missedWaiting(period: AnalyticsPeriod, limit?: number): Promise<MissedCallbackList>;
}

export function busiestHours(hours: readonly HourBucket[], count = 3): { hour: number; calls: number }[] {
  return hours
    .map((h) => ({ hour: h.hour, calls: h.callsIn + h.callsOut }))
    .filter((h) => h.calls > 0)
    .sort((a, b) => b.calls - a.calls || a.hour - b.hour)
    .slice(0, count);
}

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

function toFigures(rows: readonly ManagerRow[], p90: ReadonlyMap<string, number | null> | null): PeriodFigures {
  const withP90 = (r: ManagerRow): FigureRow =>
    p90 ? { ...r, p90_wait_sec: p90.get(r.is_total !== 0 ? 'total' : groupKey(r.manager_code, r.manager_user_id)) ?? null } : r;
  const total = rows.find((r) => r.is_total !== 0);
  const managers = rows
    .filter((r) => r.is_total === 0)
    .map((r) => ({ managerCode: r.manager_code, managerUserId: r.manager_user_id, ...figuresFrom(withP90(r)) }));
  return { summary: figuresFrom(total ? withP90(total) : EMPTY_ROW), managers };
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
    const isDefault = o.callbackMinutes === 30 && o.conversionDays === 7;
    const rollup = isDefault && (await tx((run) => zoneOk(run, period)));
    if (!rollup) {
      const rows = await tx((run) => run<ManagerRow>(
        `${CALL_FACTS}
        select grouping(manager_code, manager_user_id) as is_total, manager_code, manager_user_id, ${FIGURES}
        from f group by grouping sets ((), (manager_code, manager_user_id))
        order by is_total desc, count(*) desc, manager_code nulls last, manager_user_id nulls last`,
        [...values, o.callbackMinutes, o.conversionDays],
      ));
      return toFigures(rows, null);
    }
    const p90 = new Map<string, number | null>();
    const [rows] = await Promise.all([
      tx((run) => run<ManagerRow>(ROLLUP_FIGURES, values.slice(0, 3))),
      days <= EXACT_P90_MAX_DAYS
        ? tx((run) => run<{ is_total: number; manager_code: string | null; manager_user_id: number | null; p90: number | null }>(
          EXACT_P90, values)).then((rs) => {
          for (const r of rs) p90.set(r.is_total !== 0 ? 'total' : groupKey(r.manager_code, r.manager_user_id), r.p90);
        })
        : tx((run) => run<HistogramRow>(HISTOGRAM, values.slice(0, 3))).then((rs) => {
          const groups = new Map<string, HistogramRow[]>();
          for (const r of rs) {
            const key = r.is_total !== 0 ? 'total' : groupKey(r.manager_code, r.manager_user_id);
            groups.set(key, [...(groups.get(key) ?? []), r]);
          }
          for (const [key, g] of groups) p90.set(key, histogramP90(g, g[0]?.edges ?? []));
        }),
    ]);
    return toFigures(rows, p90);
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

    async missedWaiting(period, limit = 500) {
      const rows = await tx((run) => run<{
        phone: string; customer_id: number | null; customer_name: string | null; last_missed_at: Date; attempts: number;
        minutes_ago: number; manager_code: string | null; manager_user_id: number | null; ring_codes: string[];
        total: number;
      }>(
        // called_back_at is null ⇔ no answered call with this phone started at or after the missed call (sql/006)
        `with waiting as (
           select c.phone, c.started_at, c.manager_code, coalesce(c.manager_user_id, x.user_id) as manager_user_id,
                  c.ring_codes, coalesce(c.ended_at, c.started_at) as ended_at, c.customer_id
           from calls c
           left join extensions x on x.enterprise = c.enterprise and x.ext = c.manager_code
           where ${IN_PERIOD} and c.direction = 'in' and c.answered is false and c.called_back_at is null
         ),
         per_phone as (
           select distinct on (phone) phone, started_at as last_missed_at, ended_at, manager_code, manager_user_id,
                  ring_codes, customer_id, count(*) over (partition by phone)::int as attempts
           from waiting order by phone, started_at desc
         )
         select p.phone, coalesce(p.customer_id, rc.customer_id) as customer_id, rc.customer_name, p.last_missed_at,
                p.attempts, floor(extract(epoch from now() - p.ended_at) / 60)::int as minutes_ago,
                p.manager_code, p.manager_user_id, p.ring_codes, count(*) over ()::int as total
         from per_phone p
         left join retailcrm_customers rc on rc.enterprise = $1 and rc.phone = p.phone
         order by p.last_missed_at desc, p.phone
         limit $5`,
        [...periodValues(period), Math.max(1, Math.min(5_000, Math.trunc(limit)))],
      ));
      return {
        total: rows[0]?.total ?? 0,
        items: rows.map((r) => ({
          phone: r.phone,
          customerId: r.customer_id,
          customerName: r.customer_name === '' ? null : r.customer_name,
          lastMissedAt: r.last_missed_at.toISOString(),
          attempts: r.attempts,
          minutesAgo: Math.max(0, r.minutes_ago),
          managerCode: r.manager_code,
          managerUserId: r.manager_user_id,
          ringCodes: r.ring_codes,
        })),
      };
    },
  };
}
