-- 006: the call analytics maintained on write (docs/analytics.md, src/analytics/analytics-queries.ts).
-- Triggers keep, in the database itself (no application write path changes):
--   calls.called_back_at  for a missed inbound call: start of the first ANSWERED call (in or out) with the same
--                         enterprise+phone that started at or after it; null while nobody got through.
--   calls.first_order_at  for an answered call: creation time of the first order of the same customer (order
--                         phone = call phone, or order customer = coalesce(calls.customer_id, retailcrm_customers
--                         by phone)) created in [started_at, started_at + 366 days); null when none.
--   call_stats_hourly     calls per enterprise, local day and local hour (charts).
--   call_stats_daily      figures per enterprise, local day and manager, with the default windows (30 min call
--                         back, 7 days conversion) and a fixed histogram of waiting times.
-- Local days/hours use the enterprise's zone (settings.crmTimezone, default Europe/Moscow); a zone change
-- rebuilds that enterprise's rollup. Bulk loaders may set `rcrm.analytics_rebuild = on` to skip the triggers and
-- call analytics_rebuild(enterprise) afterwards.

alter table calls add column called_back_at timestamptz, add column first_order_at timestamptz;

create function analytics_zone(p_enterprise text) returns text language sql stable as $$
  select coalesce(case when jsonb_typeof(settings -> 'crmTimezone') = 'string' then settings ->> 'crmTimezone' end,
                  'Europe/Moscow')
  from enterprises where number = p_enterprise
$$;

create function analytics_bulk() returns boolean language sql stable as $$
  select coalesce(current_setting('rcrm.analytics_rebuild', true), '') = 'on'
$$;

-- Waiting-time histogram: bucket k (0-based) holds waits in [edge[k], edge[k+1]); edge[0] = 0.
create function analytics_wait_edges() returns integer[] language sql immutable as $$
  select array[1,2,3,4,5,6,7,8,9,10,12,14,16,18,20,25,30,35,40,45,50,55,60,70,80,90,100,120,150,180,240,300,420,
               600,900,1800,3600]
$$;
create function analytics_wait_bucket(w integer) returns integer language sql immutable as $$
  select width_bucket(w, analytics_wait_edges())
$$;

-- ---- the derived columns -------------------------------------------------------------------------------------

create function analytics_next_answered(p_enterprise text, p_phone text, p_after timestamptz, p_self bigint)
returns timestamptz language sql stable as $$
  select started_at from calls
  where enterprise = p_enterprise and phone = p_phone and answered and started_at >= p_after and id <> p_self
  order by enterprise, phone, started_at limit 1 -- the order of calls_answered_phone: a probe, whatever the stats
$$;

create function analytics_call_customer(p_enterprise text, p_phone text, p_customer bigint) returns bigint
language sql stable as $$
  select coalesce(p_customer,
    (select customer_id from retailcrm_customers where enterprise = p_enterprise and phone = p_phone))
$$;

create function analytics_first_order(p_enterprise text, p_phone text, p_customer bigint, p_started timestamptz)
returns timestamptz language sql stable as $$
  -- each "order by" is its index's order, so each is one probe (min() may walk retailcrm_orders_created instead)
  select least(
    (select created_at from retailcrm_orders
     where enterprise = p_enterprise and phone = p_phone
       and created_at >= p_started and created_at < p_started + interval '366 days'
     order by enterprise, phone, created_at limit 1),
    (select created_at from retailcrm_orders
     where enterprise = p_enterprise and customer_id = p_customer
       and created_at >= p_started and created_at < p_started + interval '366 days'
     order by enterprise, customer_id, created_at limit 1))
$$;

-- Serialises the writers of one phone's calls (a missed call and its call back committed at the same moment).
create function analytics_lock_phone(p_enterprise text, p_phone text) returns void language sql as $$
  select pg_advisory_xact_lock(hashtextextended('rcrm-analytics:' || p_enterprise || ':' || p_phone, 6))
$$;

create function calls_analytics_own() returns trigger language plpgsql as $$
begin
  if analytics_bulk() then return new; end if;
  if new.answered is not null then perform analytics_lock_phone(new.enterprise, new.phone); end if;
  new.called_back_at := case when new.direction = 'in' and new.answered is false
    then analytics_next_answered(new.enterprise, new.phone, new.started_at, new.id) end;
  new.first_order_at := case when new.answered then analytics_first_order(new.enterprise, new.phone,
    analytics_call_customer(new.enterprise, new.phone, new.customer_id), new.started_at) end;
  return new;
end $$;

create trigger calls_analytics_own_ins before insert on calls for each row execute function calls_analytics_own();
create trigger calls_analytics_own_upd before update on calls for each row
  when ((old.enterprise, old.phone, old.direction, old.answered, old.started_at, old.customer_id)
        is distinct from (new.enterprise, new.phone, new.direction, new.answered, new.started_at, new.customer_id))
  execute function calls_analytics_own();

-- An answered call is the call back of the earlier missed calls of its phone that had none before it. Only the
-- missed calls since the previous answered call of that phone can change (earlier ones are called back by it).
create function calls_analytics_callback() returns trigger language plpgsql as $$
declare prev timestamptz;
begin
  if analytics_bulk() then return null; end if;
  if tg_op <> 'INSERT' and old.answered then
    if tg_op = 'DELETE' and not exists (select 1 from enterprises where number = old.enterprise) then
      return null; -- the enterprise is being deleted: its calls go with it
    end if;
    if tg_op = 'DELETE' or new.answered is not true
       or (old.enterprise, old.phone, old.started_at) is distinct from (new.enterprise, new.phone, new.started_at) then
      perform analytics_lock_phone(old.enterprise, old.phone);
      update calls m set called_back_at = analytics_next_answered(m.enterprise, m.phone, m.started_at, m.id)
      where m.enterprise = old.enterprise and m.phone = old.phone and m.direction = 'in' and m.answered is false
        and m.called_back_at = old.started_at;
    end if;
  end if;
  if tg_op <> 'DELETE' and new.answered then
    select started_at into prev from calls
    where enterprise = new.enterprise and phone = new.phone and answered and started_at < new.started_at
      and id <> new.id
    order by enterprise desc, phone desc, started_at desc limit 1;
    update calls m set called_back_at = new.started_at
    where m.enterprise = new.enterprise and m.phone = new.phone and m.direction = 'in' and m.answered is false
      and m.started_at <= new.started_at and m.started_at >= coalesce(prev, '-infinity')
      and (m.called_back_at is null or m.called_back_at > new.started_at);
  end if;
  return null;
end $$;

create trigger calls_analytics_callback_ins after insert on calls for each row when (new.answered)
  execute function calls_analytics_callback();
create trigger calls_analytics_callback_upd after update on calls for each row
  when ((old.enterprise, old.phone, old.answered, old.started_at)
        is distinct from (new.enterprise, new.phone, new.answered, new.started_at))
  execute function calls_analytics_callback();
create trigger calls_analytics_callback_del after delete on calls for each row when (old.answered)
  execute function calls_analytics_callback();

-- Answered calls an order of (phone, customer) can be the first order of: started in [from, to].
create function analytics_order_calls(p_enterprise text, p_phone text, p_customer bigint, p_from timestamptz,
                                      p_to timestamptz) returns setof bigint language sql stable as $$
  select id from calls
  where enterprise = p_enterprise and phone = p_phone and answered and started_at >= p_from and started_at <= p_to
  union
  select id from calls
  where enterprise = p_enterprise and customer_id = p_customer and answered
    and started_at >= p_from and started_at <= p_to
  union
  select c.id from retailcrm_customers rc
  join calls c on c.enterprise = rc.enterprise and c.phone = rc.phone
  where rc.enterprise = p_enterprise and rc.customer_id = p_customer and c.customer_id is null and c.answered
    and c.started_at >= p_from and c.started_at <= p_to
$$;

create function orders_analytics() returns trigger language plpgsql as $$
declare prev timestamptz;
begin
  if analytics_bulk() then return null; end if;
  if tg_op <> 'INSERT' then
    if tg_op = 'DELETE' and not exists (select 1 from enterprises where number = old.enterprise) then
      return null;
    end if;
    -- the calls this order was the first order of look again
    update calls c set first_order_at = analytics_first_order(c.enterprise, c.phone,
      analytics_call_customer(c.enterprise, c.phone, c.customer_id), c.started_at)
    where c.id in (select analytics_order_calls(old.enterprise, old.phone, old.customer_id,
                                                old.created_at - interval '366 days', old.created_at))
      and c.first_order_at = old.created_at;
  end if;
  if tg_op <> 'DELETE' then
    -- calls started before an earlier order of the same phone (customer) already have a first order by then
    if new.phone is not null then
      select created_at into prev from retailcrm_orders
      where enterprise = new.enterprise and phone = new.phone and created_at <= new.created_at
        and order_id <> new.order_id
      order by enterprise desc, phone desc, created_at desc limit 1;
      update calls c set first_order_at = new.created_at
      where c.enterprise = new.enterprise and c.phone = new.phone and c.answered
        and c.started_at <= new.created_at
        and c.started_at >= coalesce(prev, '-infinity') and c.started_at > new.created_at - interval '366 days'
        and (c.first_order_at is null or c.first_order_at > new.created_at);
    end if;
    if new.customer_id is not null then
      select created_at into prev from retailcrm_orders
      where enterprise = new.enterprise and customer_id = new.customer_id and created_at <= new.created_at
        and order_id <> new.order_id
      order by enterprise desc, customer_id desc, created_at desc limit 1;
      update calls c set first_order_at = new.created_at
      where c.id in (select analytics_order_calls(new.enterprise, null, new.customer_id,
                       greatest(coalesce(prev, '-infinity'), new.created_at - interval '366 days' + interval '1 microsecond'),
                       new.created_at))
        and (c.first_order_at is null or c.first_order_at > new.created_at);
    end if;
  end if;
  return null;
end $$;

create trigger retailcrm_orders_analytics_ins after insert on retailcrm_orders for each row
  execute function orders_analytics();
create trigger retailcrm_orders_analytics_upd after update on retailcrm_orders for each row
  when ((old.enterprise, old.phone, old.customer_id, old.created_at)
        is distinct from (new.enterprise, new.phone, new.customer_id, new.created_at))
  execute function orders_analytics();
create trigger retailcrm_orders_analytics_del after delete on retailcrm_orders for each row
  execute function orders_analytics();

-- A phone now belonging to another customer (or to none) changes which orders its calls without their own
-- customer id match: recompute those calls.
create function customers_analytics() returns trigger language plpgsql as $$
begin
  if analytics_bulk() then return null; end if;
  if tg_op = 'DELETE' and not exists (select 1 from enterprises where number = old.enterprise) then
    return null;
  end if;
  update calls c set first_order_at = analytics_first_order(c.enterprise, c.phone,
    analytics_call_customer(c.enterprise, c.phone, c.customer_id), c.started_at)
  where c.answered and c.customer_id is null
    and ((tg_op <> 'INSERT' and c.enterprise = old.enterprise and c.phone = old.phone)
      or (tg_op <> 'DELETE' and c.enterprise = new.enterprise and c.phone = new.phone))
    and c.first_order_at is distinct from analytics_first_order(c.enterprise, c.phone,
      analytics_call_customer(c.enterprise, c.phone, c.customer_id), c.started_at);
  return null;
end $$;

create trigger retailcrm_customers_analytics_ins after insert on retailcrm_customers for each row
  execute function customers_analytics();
create trigger retailcrm_customers_analytics_upd after update on retailcrm_customers for each row
  when ((old.enterprise, old.phone, old.customer_id) is distinct from (new.enterprise, new.phone, new.customer_id))
  execute function customers_analytics();
create trigger retailcrm_customers_analytics_del after delete on retailcrm_customers for each row
  execute function customers_analytics();

-- ---- the rollup ----------------------------------------------------------------------------------------------

create table call_stats_hourly (
  enterprise  text not null references enterprises(number) on delete cascade,
  day         date not null,            -- local day
  hour        smallint not null,        -- local hour 0-23
  calls_in    integer not null default 0,
  calls_out   integer not null default 0,
  answered    integer not null default 0,
  missed      integer not null default 0,
  primary key (enterprise, day, hour)
);

create table call_stats_daily (
  enterprise       text not null references enterprises(number) on delete cascade,
  day              date not null,       -- local day
  manager_code     text,
  manager_user_id  integer,             -- calls.manager_user_id as stored (extensions joined when read)
  calls_in         integer not null default 0,
  calls_out        integer not null default 0,
  answered_in      integer not null default 0,
  answered_out     integer not null default 0,
  missed           integer not null default 0,
  missed_nc30      integer not null default 0,   -- missed, not called back within 30 min (the default)
  converted7       integer not null default 0,   -- answered, an order within 7 days (the default)
  wait_n           integer not null default 0,   -- answered inbound with a waiting time
  wait_sum         bigint not null default 0,
  talk_n           integer not null default 0,   -- answered with a talk time
  talk_sum         bigint not null default 0,
  wait_hist        integer[] not null            -- wait_n by analytics_wait_bucket (index k+1)
);
create unique index call_stats_daily_key on call_stats_daily (enterprise, day, manager_code, manager_user_id)
  nulls not distinct;

create function analytics_stats_apply(c calls, sign integer) returns void language plpgsql as $$
declare
  lt timestamp := c.started_at at time zone analytics_zone(c.enterprise);
  missed boolean := c.direction = 'in' and c.answered is false;
  waited boolean := c.direction = 'in' and c.answered and c.waiting_sec is not null;
  b integer := case when waited then analytics_wait_bucket(c.waiting_sec) + 1 else 1 end;
  hist integer[] := array_fill(0, array[cardinality(analytics_wait_edges()) + 1]);
begin
  if lt is null then return; end if; -- the enterprise is gone
  insert into call_stats_hourly as s (enterprise, day, hour, calls_in, calls_out, answered, missed)
  values (c.enterprise, lt::date, extract(hour from lt)::smallint, sign * (c.direction = 'in')::int,
          sign * (c.direction = 'out')::int, sign * coalesce(c.answered, false)::int, sign * missed::int)
  on conflict (enterprise, day, hour) do update set calls_in = s.calls_in + excluded.calls_in,
    calls_out = s.calls_out + excluded.calls_out, answered = s.answered + excluded.answered,
    missed = s.missed + excluded.missed;
  if waited then hist[b] := sign; end if;
  insert into call_stats_daily as s (enterprise, day, manager_code, manager_user_id, calls_in, calls_out,
    answered_in, answered_out, missed, missed_nc30, converted7, wait_n, wait_sum, talk_n, talk_sum, wait_hist)
  values (c.enterprise, lt::date, c.manager_code, c.manager_user_id, sign * (c.direction = 'in')::int,
    sign * (c.direction = 'out')::int, sign * (c.direction = 'in' and coalesce(c.answered, false))::int,
    sign * (c.direction = 'out' and coalesce(c.answered, false))::int, sign * missed::int,
    sign * (missed and not coalesce(c.called_back_at <= coalesce(c.ended_at, c.started_at) + interval '30 minutes',
                                    false))::int,
    sign * coalesce(c.answered and c.first_order_at < c.started_at + interval '7 days', false)::int,
    sign * waited::int, sign * case when waited then c.waiting_sec else 0 end,
    sign * (coalesce(c.answered, false) and c.duration_sec is not null)::int,
    sign * case when c.answered then coalesce(c.duration_sec, 0) else 0 end, hist)
  on conflict (enterprise, day, manager_code, manager_user_id) do update set
    calls_in = s.calls_in + excluded.calls_in, calls_out = s.calls_out + excluded.calls_out,
    answered_in = s.answered_in + excluded.answered_in, answered_out = s.answered_out + excluded.answered_out,
    missed = s.missed + excluded.missed, missed_nc30 = s.missed_nc30 + excluded.missed_nc30,
    converted7 = s.converted7 + excluded.converted7, wait_n = s.wait_n + excluded.wait_n,
    wait_sum = s.wait_sum + excluded.wait_sum, talk_n = s.talk_n + excluded.talk_n,
    talk_sum = s.talk_sum + excluded.talk_sum, wait_hist[b] = s.wait_hist[b] + excluded.wait_hist[b];
end $$;

create function calls_analytics_stats() returns trigger language plpgsql as $$
begin
  if analytics_bulk() then return null; end if;
  if tg_op <> 'INSERT' then perform analytics_stats_apply(old, -1); end if;
  if tg_op <> 'DELETE' then perform analytics_stats_apply(new, 1); end if;
  return null;
end $$;

create trigger calls_analytics_stats_ins after insert on calls for each row execute function calls_analytics_stats();
create trigger calls_analytics_stats_upd after update on calls for each row
  when ((old.enterprise, old.started_at, old.ended_at, old.direction, old.answered, old.manager_code,
         old.manager_user_id, old.waiting_sec, old.duration_sec, old.called_back_at, old.first_order_at)
        is distinct from (new.enterprise, new.started_at, new.ended_at, new.direction, new.answered,
         new.manager_code, new.manager_user_id, new.waiting_sec, new.duration_sec, new.called_back_at,
         new.first_order_at))
  execute function calls_analytics_stats();
create trigger calls_analytics_stats_del after delete on calls for each row execute function calls_analytics_stats();

-- ---- rebuilds (the backfill, bulk loads, zone changes) ---------------------------------------------------------

create function analytics_rebuild_rollup(p_enterprise text) returns void language plpgsql as $$
begin
  delete from call_stats_hourly where enterprise = p_enterprise or p_enterprise is null;
  delete from call_stats_daily where enterprise = p_enterprise or p_enterprise is null;
  insert into call_stats_hourly (enterprise, day, hour, calls_in, calls_out, answered, missed)
  select c.enterprise, (c.started_at at time zone e.zone)::date, extract(hour from c.started_at at time zone e.zone),
         count(*) filter (where c.direction = 'in'), count(*) filter (where c.direction = 'out'),
         count(*) filter (where c.answered), count(*) filter (where c.direction = 'in' and c.answered is false)
  from calls c join (select number, analytics_zone(number) as zone from enterprises) e on e.number = c.enterprise
  where c.enterprise = p_enterprise or p_enterprise is null
  group by 1, 2, 3;
  insert into call_stats_daily (enterprise, day, manager_code, manager_user_id, calls_in, calls_out, answered_in,
    answered_out, missed, missed_nc30, converted7, wait_n, wait_sum, talk_n, talk_sum, wait_hist)
  with r as (
    select c.*, (c.started_at at time zone e.zone)::date as day,
           (c.direction = 'in' and c.answered is false) as is_missed,
           (c.direction = 'in' and c.answered and c.waiting_sec is not null) as waited
    from calls c join (select number, analytics_zone(number) as zone from enterprises) e on e.number = c.enterprise
    where c.enterprise = p_enterprise or p_enterprise is null
  ),
  figures as (
    select enterprise, day, manager_code, manager_user_id,
           count(*) filter (where direction = 'in') as calls_in, count(*) filter (where direction = 'out') as calls_out,
           count(*) filter (where direction = 'in' and answered) as answered_in,
           count(*) filter (where direction = 'out' and answered) as answered_out,
           count(*) filter (where is_missed) as missed,
           count(*) filter (where is_missed and not coalesce(
             called_back_at <= coalesce(ended_at, started_at) + interval '30 minutes', false)) as missed_nc30,
           count(*) filter (where answered and first_order_at < started_at + interval '7 days') as converted7,
           count(*) filter (where waited) as wait_n, coalesce(sum(waiting_sec) filter (where waited), 0) as wait_sum,
           count(*) filter (where answered and duration_sec is not null) as talk_n,
           coalesce(sum(duration_sec) filter (where answered), 0) as talk_sum
    from r group by 1, 2, 3, 4
  ),
  buckets as (
    select enterprise, day, manager_code, manager_user_id, analytics_wait_bucket(waiting_sec) as b, count(*)::int as n
    from r where waited group by 1, 2, 3, 4, 5
  ),
  maps as (
    select enterprise, day, manager_code, manager_user_id, jsonb_object_agg(b::text, n) as m
    from buckets group by 1, 2, 3, 4
  )
  -- keys compared through coalesce so the join can hash; the is-null tests keep null and the stand-in apart
  select f.enterprise, f.day, f.manager_code, f.manager_user_id, f.calls_in, f.calls_out, f.answered_in,
         f.answered_out, f.missed, f.missed_nc30, f.converted7, f.wait_n, f.wait_sum, f.talk_n, f.talk_sum,
         array(select coalesce((mp.m ->> g::text)::int, 0)
               from generate_series(0, cardinality(analytics_wait_edges())) g order by g)
  from figures f
  left join maps mp on mp.enterprise = f.enterprise and mp.day = f.day
    and coalesce(mp.manager_code, '') = coalesce(f.manager_code, '') and (mp.manager_code is null) = (f.manager_code is null)
    and coalesce(mp.manager_user_id, 0) = coalesce(f.manager_user_id, 0)
    and (mp.manager_user_id is null) = (f.manager_user_id is null);
end $$;

-- Recomputes the derived columns (set-based, one probe per call) and then the rollup; triggers stay quiet.
create function analytics_rebuild(p_enterprise text) returns void language plpgsql as $$
declare was text := current_setting('rcrm.analytics_rebuild', true);
begin
  perform set_config('rcrm.analytics_rebuild', 'on', true);
  -- inline sub-selects (not the SQL functions) and one evaluation per row: a plain index probe each
  update calls m set called_back_at = v.cb
  from (select c.id, (select b.started_at from calls b
                      where b.enterprise = c.enterprise and b.phone = c.phone and b.answered
                        and b.started_at >= c.started_at
                      order by b.enterprise, b.phone, b.started_at limit 1) as cb, c.called_back_at as was
        from calls c
        where (c.enterprise = p_enterprise or p_enterprise is null) and c.direction = 'in' and c.answered is false) v
  where m.id = v.id and v.cb is distinct from v.was;
  update calls m set first_order_at = v.fo
  from (select c.id, c.first_order_at as was, least(
          (select o.created_at from retailcrm_orders o
           where o.enterprise = c.enterprise and o.phone = c.phone
             and o.created_at >= c.started_at and o.created_at < c.started_at + interval '366 days'
           order by o.enterprise, o.phone, o.created_at limit 1),
          (select o.created_at from retailcrm_orders o
           where o.enterprise = c.enterprise and o.customer_id = coalesce(c.customer_id, rc.customer_id)
             and o.created_at >= c.started_at and o.created_at < c.started_at + interval '366 days'
           order by o.enterprise, o.customer_id, o.created_at limit 1)) as fo
        from calls c
        left join retailcrm_customers rc on rc.enterprise = c.enterprise and rc.phone = c.phone
        where (c.enterprise = p_enterprise or p_enterprise is null) and c.answered) v
  where m.id = v.id and v.fo is distinct from v.was;
  perform analytics_rebuild_rollup(p_enterprise);
  perform set_config('rcrm.analytics_rebuild', coalesce(was, ''), true);
end $$;

create function enterprises_analytics_zone() returns trigger language plpgsql as $$
begin
  if not analytics_bulk() then perform analytics_rebuild_rollup(new.number); end if;
  return null;
end $$;
create trigger enterprises_analytics_zone after update on enterprises for each row
  when ((old.settings -> 'crmTimezone') is distinct from (new.settings -> 'crmTimezone'))
  execute function enterprises_analytics_zone();

-- ---- indexes -------------------------------------------------------------------------------------------------

-- the trigger's "missed calls of this phone since its previous answered call"
create index calls_missed_phone on calls (enterprise, phone, started_at) include (called_back_at)
  where direction = 'in' and answered is false;
-- orders matched by calls.customer_id
create index calls_answered_customer on calls (enterprise, customer_id, started_at)
  where answered and customer_id is not null;
-- the waiting list: missed calls nobody got through to since
create index calls_missed_waiting on calls (enterprise, started_at) where direction = 'in' and answered is false
  and called_back_at is null;
-- exact p90 of waiting times for ranges up to a month, and the windows other than the defaults
create index calls_answered_in_wait on calls (enterprise, started_at)
  include (waiting_sec, manager_code, manager_user_id) where direction = 'in' and answered;
create index calls_missed_callback on calls (enterprise, started_at)
  include (ended_at, called_back_at, manager_code, manager_user_id) where direction = 'in' and answered is false;
create index calls_converted on calls (enterprise, started_at)
  include (first_order_at, manager_code, manager_user_id) where answered and first_order_at is not null;

select analytics_rebuild(null);
