/**
 * A year of calls for one busy enterprise, generated inside PostgreSQL with generate_series (no row-by-row
 * round trips): a business-hours shape in the enterprise's timezone, ~65% inbound, ~15% of inbound missed, about
 * half of those called back within 40 minutes, queue waits, talk times, and RetailCRM orders that follow some
 * answered calls. The rows go in with the analytics triggers (sql/006) quiet (`rcrm.analytics_rebuild = on`, as a
 * bulk load should), then `analytics_rebuild(enterprise)` fills called_back_at, first_order_at and the rollup —
 * the migration's backfill. Used by the analytics benchmark; `ensureOrdersTable` is also used by the analytics tests.
 */
import type { Pool, PoolClient } from '../src/db/pool.js';

/**
 * retailcrm_orders belongs to sql/004_sync.sql (history sync). Until that migration exists in the tree, the
 * analytics tests and the benchmark create the same shape here; with 004 applied this does nothing.
 */
export async function ensureOrdersTable(pool: Pool): Promise<void> {
  await pool.query(`create table if not exists retailcrm_orders (
    enterprise text not null references enterprises(number) on delete cascade,
    order_id bigint not null,
    customer_id bigint,
    phone text,
    manager_user_id integer,
    status text,
    created_at timestamptz not null,
    updated_at timestamptz not null default now(),
    primary key (enterprise, order_id))`);
  await pool.query('create index if not exists retailcrm_orders_phone on retailcrm_orders (enterprise, phone, created_at)');
  await pool.query(
    'create index if not exists retailcrm_orders_customer on retailcrm_orders (enterprise, customer_id, created_at)',
  );
}

export interface GenerateOptions {
  readonly enterprise: string;
  /** Roughly the number of calls generated (callbacks included). */
  readonly calls: number;
  /** First local day of the year of calls, YYYY-MM-DD. */
  readonly from: string;
  readonly timezone: string;
  readonly managers?: number;
  readonly customers?: number;
}

/** Fills calls, extensions, retailcrm_customers and retailcrm_orders; returns the number of calls. */
export async function generateCalls(pool: Pool, o: GenerateOptions): Promise<number> {
  const managers = o.managers ?? 40;
  const customers = o.customers ?? 150_000;
  const base = Math.round(o.calls * 0.94);
  await ensureOrdersTable(pool);
  const db = await pool.connect();
  try {
    await db.query(`select set_config('rcrm.analytics_rebuild', 'on', false)`);
    await fill(db, o, managers, customers, base);
    await db.query(`select set_config('rcrm.analytics_rebuild', '', false)`);
    await db.query('analyze calls, retailcrm_orders, retailcrm_customers');
    await db.query('select analytics_rebuild($1)', [o.enterprise]);
  } finally {
    db.release(true);
  }
  await pool.query('vacuum analyze calls');
  await pool.query('vacuum analyze retailcrm_orders');
  await pool.query('vacuum analyze retailcrm_customers');
  await pool.query('vacuum analyze call_stats_daily');
  await pool.query('vacuum analyze call_stats_hourly');
  const { rows } = await pool.query<{ n: number }>('select count(*)::int as n from calls where enterprise = $1', [
    o.enterprise,
  ]);
  return rows[0]?.n ?? 0;
}

async function fill(pool: PoolClient, o: GenerateOptions, managers: number, customers: number, base: number): Promise<void> {
  await pool.query('select setseed(0.42)');
  await pool.query(
    `insert into extensions (enterprise, ext, user_id)
     select $1, (100 + n)::text, n from generate_series(1, $2::int) n on conflict do nothing`,
    [o.enterprise, managers],
  );
  await pool.query(
    `insert into retailcrm_customers (enterprise, phone, customer_id, customer_name, manager_user_id)
     select $1, '+37529' || lpad(n::text, 7, '0'), 500000 + n, 'Customer ' || n, 1 + n % $3::int
     from generate_series(1, $2::int / 2) n`,
    [o.enterprise, customers, managers],
  );
  // Popular customers call more: the phone index is skewed towards small numbers (random()^2).
  await pool.query(
    `insert into calls (enterprise, linkedid, external_id, direction, phone, started_at, ended_at, answered, result,
                        hangup_status, manager_code, manager_user_id, duration_sec, waiting_sec, ring_codes)
     select $1, 'bench-' || g, 'bench-' || g, dir, phone, started, started + make_interval(secs => wait + talk),
            ok, case when ok then 'answered' else 'no answer' end, case when ok then 'answered' else 'no answered' end,
            ext::text, ext - 100, talk, wait, array[ext::text]
     from (
       select g, dir, ok, ext, phone,
              (($4::date + day)::timestamp + make_interval(hours => hr, secs => floor(random() * 3600)::int))
                at time zone $5 as started,
              case when dir = 'in' then least(600, floor(-ln(1 - random()) * 25))::int
                   else floor(random() * 30)::int end as wait,
              case when ok then 5 + least(3600, floor(-ln(1 - random()) * 150))::int else 0 end as talk
       from (
         select g, dir, (random() < case when dir = 'in' then 0.85 else 0.7 end) as ok,
                101 + floor(random() * $6::int)::int as ext,
                '+37529' || lpad((1 + floor($3::int * random() ^ 2))::int::text, 7, '0') as phone,
                floor(random() * 365)::int as day,
                case when random() < 0.9 then 8 + floor(random() * 11)::int else floor(random() * 24)::int end as hr
         from (select g, case when random() < 0.65 then 'in' else 'out' end as dir
               from generate_series(1, $2::int) g) s
       ) t
     ) u
     order by started`,
    [o.enterprise, base, customers, o.from, o.timezone, managers],
  );
  // About half the missed calls are called back (answered outbound) 1-40 minutes after they ended.
  await pool.query(
    `insert into calls (enterprise, linkedid, external_id, direction, phone, started_at, ended_at, answered, result,
                        hangup_status, manager_code, manager_user_id, duration_sec, waiting_sec)
     select enterprise, 'cb-' || id, 'cb-' || id, 'out', phone, cb, cb + interval '90 seconds', true, 'answered',
            'answered', manager_code, manager_user_id, 80, 10
     from (select *, ended_at + make_interval(mins => 1 + floor(random() * 40)::int) as cb
           from calls where enterprise = $1 and direction = 'in' and answered is false and random() < 0.55) m`,
    [o.enterprise],
  );
  // Orders: ~8% of answered calls lead to one within 10 days (half matched by customer id only), plus noise;
  // about half of them reached the sale status `complete` (the default sale status), the rest are still `new`.
  await pool.query(
    `insert into retailcrm_orders (enterprise, order_id, customer_id, phone, manager_user_id, status, created_at)
     select $1, row_number() over (), rc.customer_id, case when random() < 0.5 then c.phone end,
            c.manager_user_id, case when random() < 0.5 then 'complete' else 'new' end,
            c.started_at + make_interval(mins => floor(random() * 14400)::int)
     from calls c left join retailcrm_customers rc on rc.enterprise = c.enterprise and rc.phone = c.phone
     where c.enterprise = $1 and c.answered and random() < 0.08`,
    [o.enterprise],
  );
  await pool.query(
    `insert into retailcrm_orders (enterprise, order_id, customer_id, phone, status, created_at)
     select $1, 10000000 + n, 500000 + n % ($2::int / 2), '+37529' || lpad((n % $2::int)::text, 7, '0'),
            case when n % 2 = 0 then 'complete' else 'new' end,
            ($3::date::timestamp at time zone $4) + make_interval(mins => floor(random() * 525600)::int)
     from generate_series(1, 20000) n`,
    [o.enterprise, customers, o.from, o.timezone],
  );
}
