/**
 * The SQL text of the analytics queries. Values are always bound parameters: $1 enterprise, $2 from day,
 * $3 to day, $4 timezone.
 */

// $1 enterprise, $2 from day, $3 to day, $4 timezone: the bounds are instants, so the calls index serves them.
export const IN_PERIOD = `c.enterprise = $1
  and c.started_at >= ($2::date::timestamp at time zone $4)
  and c.started_at < ($3::date::timestamp at time zone $4)`;

// The rollup (sql/006) counts local days of the enterprise's zone: usable when the period asks for that zone.
export const ZONE_OK = 'select analytics_zone($1) is not distinct from $2 as ok';

export const FIGURES = `
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
export const CALL_FACTS = `
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

// The same figures from the daily rollup with the default windows (30 min, 7 days); p90 is filled in apart.
export const ROLLUP_FIGURES = `
with d as (
  select d.*, coalesce(d.manager_user_id, x.user_id) as user_id
  from call_stats_daily d
  left join extensions x on x.enterprise = d.enterprise and x.ext = d.manager_code
  where d.enterprise = $1 and d.day >= $2::date and d.day < $3::date
)
select grouping(manager_code, user_id) as is_total, manager_code, user_id as manager_user_id,
  sum(calls_in)::int as calls_in, sum(calls_out)::int as calls_out, sum(answered_in)::int as answered_in,
  sum(answered_out)::int as answered_out, sum(missed)::int as missed, sum(missed_nc30)::int as missed_not_called_back,
  round(sum(wait_sum)::numeric / nullif(sum(wait_n), 0), 1)::float8 as avg_wait_sec, null::float8 as p90_wait_sec,
  round(sum(talk_sum)::numeric / nullif(sum(talk_n), 0), 1)::float8 as avg_talk_sec, sum(converted7)::int as converted
from d group by grouping sets ((), (manager_code, user_id))
having sum(calls_in + calls_out) > 0
order by is_total desc, sum(calls_in + calls_out) desc, manager_code nulls last, user_id nulls last`;

// Exact p90 (percentile_disc) from the answered inbound calls of the period (partial covering index).
export const EXACT_P90 = `
select grouping(manager_code, manager_user_id) as is_total, manager_code, manager_user_id,
  (percentile_disc(0.9) within group (order by waiting_sec))::float8 as p90
from (select c.manager_code, coalesce(c.manager_user_id, x.user_id) as manager_user_id, c.waiting_sec
      from calls c left join extensions x on x.enterprise = c.enterprise and x.ext = c.manager_code
      where ${IN_PERIOD} and c.direction = 'in' and c.answered and c.waiting_sec is not null) s
group by grouping sets ((), (manager_code, manager_user_id))`;

// The waiting-time histogram of the period (sql/006 analytics_wait_edges: bucket b holds [edge[b-1], edge[b])).
export const HISTOGRAM = `
select grouping(manager_code, user_id) as is_total, manager_code, user_id as manager_user_id, h.b::int as b,
  sum(h.n)::int as n, analytics_wait_edges() as edges
from (select d.manager_code, coalesce(d.manager_user_id, x.user_id) as user_id, d.wait_hist
      from call_stats_daily d left join extensions x on x.enterprise = d.enterprise and x.ext = d.manager_code
      where d.enterprise = $1 and d.day >= $2::date and d.day < $3::date and d.wait_n > 0) s
cross join lateral unnest(s.wait_hist) with ordinality as h(n, b)
where h.n <> 0
group by grouping sets ((h.b), (manager_code, user_id, h.b))`;

export const BUCKET = `
  count(*) filter (where c.direction = 'in')::int as calls_in,
  count(*) filter (where c.direction = 'out')::int as calls_out,
  count(*) filter (where c.answered)::int as answered,
  count(*) filter (where c.direction = 'in' and c.answered is false)::int as missed`;
