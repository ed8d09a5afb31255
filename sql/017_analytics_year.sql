-- 017: the analytics year view from rollups (issue 11, docs/analytics.md). Never edited once released.
-- Adds, maintained by the triggers of 006 (extended here):
--   calls.first_sale_at   for an answered call: creation time of the first order of the same customer (as
--                         first_order_at) created in [started_at, started_at + 366 days) whose status is now one of
--                         the enterprise's sale statuses (settings.saleStatuses, default {complete}); null when none.
--   converted_sale7       in call_stats_daily: answered calls with a sale order within 7 days (the default window).
--   call_stats_monthly    the figures of call_stats_daily per local month (first day of the month), so a year
--                         reads ~12 rows per manager instead of ~365, and sums 12 histograms instead of 365.
-- An order's status change, a sale order's deletion, a phone moving to another customer and a change of the
-- enterprise's sale statuses recompute first_sale_at (the last one for all its calls, like a zone change).

alter table calls add column first_sale_at timestamptz;
alter table call_stats_daily add column converted_sale7 integer not null default 0;

create table call_stats_monthly (
  enterprise       text not null references enterprises(number) on delete cascade,
  month            date not null,       -- first local day of the local month
  manager_code     text,
  manager_user_id  integer,
  calls_in         integer not null default 0,
  calls_out        integer not null default 0,
  answered_in      integer not null default 0,
  answered_out     integer not null default 0,
  missed           integer not null default 0,
  missed_nc30      integer not null default 0,
  converted7       integer not null default 0,
  converted_sale7  integer not null default 0,
  wait_n           integer not null default 0,
  wait_sum         bigint not null default 0,
  talk_n           integer not null default 0,
  talk_sum         bigint not null default 0,
  wait_hist        integer[] not null
);
create unique index call_stats_monthly_key on call_stats_monthly (enterprise, month, manager_code, manager_user_id)
  nulls not distinct;

-- The backfill at the end reads every answered call once (1-4 min per million calls): not bound by the pool's
-- statement_timeout.
select set_config('statement_timeout', '0', true);

-- The sale statuses of an enterprise's settings as the application reads them (enterprise-store.ts
-- parseSaleStatuses): the non-empty strings of settings.saleStatuses, else {complete}; sorted, without repeats.
create function analytics_sale_statuses_of(p_settings jsonb) returns text[] language sql immutable as $$
  select coalesce(nullif(array(
    select distinct s #>> '{}'
    from jsonb_array_elements(case when jsonb_typeof(p_settings -> 'saleStatuses') = 'array'
                                   then p_settings -> 'saleStatuses' else '[]'::jsonb end) s
    where jsonb_typeof(s) = 'string' and s #>> '{}' <> '' order by 1), '{}'), '{complete}')
$$;

create function analytics_sale_statuses(p_enterprise text) returns text[] language sql stable as $$
  select analytics_sale_statuses_of(settings) from enterprises where number = p_enterprise
$$;

create function analytics_first_sale(p_enterprise text, p_phone text, p_customer bigint, p_started timestamptz,
                                     p_statuses text[]) returns timestamptz language sql stable as $$
  -- the probes of analytics_first_order (006), stepping over the orders not in a sale status
  select least(
    (select created_at from retailcrm_orders
     where enterprise = p_enterprise and phone = p_phone and status = any(p_statuses)
       and created_at >= p_started and created_at < p_started + interval '366 days'
     order by enterprise, phone, created_at limit 1),
    (select created_at from retailcrm_orders
     where enterprise = p_enterprise and customer_id = p_customer and status = any(p_statuses)
       and created_at >= p_started and created_at < p_started + interval '366 days'
     order by enterprise, customer_id, created_at limit 1))
$$;

create or replace function calls_analytics_own() returns trigger language plpgsql as $$
begin
  if analytics_bulk() then return new; end if;
  if new.answered is not null then perform analytics_lock_phone(new.enterprise, new.phone); end if;
  new.called_back_at := case when new.direction = 'in' and new.answered is false
    then analytics_next_answered(new.enterprise, new.phone, new.started_at, new.id) end;
  if new.answered then
    declare customer bigint := analytics_call_customer(new.enterprise, new.phone, new.customer_id);
    begin
      new.first_order_at := analytics_first_order(new.enterprise, new.phone, customer, new.started_at);
      new.first_sale_at := analytics_first_sale(new.enterprise, new.phone, customer, new.started_at,
                                                analytics_sale_statuses(new.enterprise));
    end;
  else
    new.first_order_at := null;
    new.first_sale_at := null;
  end if;
  return new;
end $$;

-- Sale orders: an order in a sale status is the first sale of the answered calls of its phone (customer) up to 366
-- days before it that had none earlier; one leaving a sale status (status change, deletion, new phone, customer or
-- date) makes the calls it was the first sale of look again.
create function orders_analytics_sale() returns trigger language plpgsql as $$
declare prev timestamptz; sales text[];
begin
  if analytics_bulk() then return null; end if;
  if tg_op <> 'INSERT' then
    if not exists (select 1 from enterprises where number = old.enterprise) then return null; end if;
    sales := analytics_sale_statuses(old.enterprise);
    if old.status = any(sales) then
      update calls c set first_sale_at = analytics_first_sale(c.enterprise, c.phone,
        analytics_call_customer(c.enterprise, c.phone, c.customer_id), c.started_at, sales)
      where c.id in (select analytics_order_calls(old.enterprise, old.phone, old.customer_id,
                                                  old.created_at - interval '366 days', old.created_at))
        and c.first_sale_at = old.created_at;
    end if;
  end if;
  if tg_op <> 'DELETE' then
    sales := analytics_sale_statuses(new.enterprise);
    if new.status = any(sales) then
      -- calls started before an earlier sale order of the same phone (customer) already have a first sale by then
      if new.phone is not null then
        select created_at into prev from retailcrm_orders
        where enterprise = new.enterprise and phone = new.phone and status = any(sales)
          and created_at <= new.created_at and order_id <> new.order_id
        order by enterprise desc, phone desc, created_at desc limit 1;
        update calls c set first_sale_at = new.created_at
        where c.enterprise = new.enterprise and c.phone = new.phone and c.answered
          and c.started_at <= new.created_at
          and c.started_at >= coalesce(prev, '-infinity') and c.started_at > new.created_at - interval '366 days'
          and (c.first_sale_at is null or c.first_sale_at > new.created_at);
      end if;
      if new.customer_id is not null then
        prev := null;
        select created_at into prev from retailcrm_orders
        where enterprise = new.enterprise and customer_id = new.customer_id and status = any(sales)
          and created_at <= new.created_at and order_id <> new.order_id
        order by enterprise desc, customer_id desc, created_at desc limit 1;
        update calls c set first_sale_at = new.created_at
        where c.id in (select analytics_order_calls(new.enterprise, null, new.customer_id,
                         greatest(coalesce(prev, '-infinity'), new.created_at - interval '366 days' + interval '1 microsecond'),
                         new.created_at))
          and (c.first_sale_at is null or c.first_sale_at > new.created_at);
      end if;
    end if;
  end if;
  return null;
end $$;

create trigger retailcrm_orders_analytics_sale_ins after insert on retailcrm_orders for each row
  execute function orders_analytics_sale();
create trigger retailcrm_orders_analytics_sale_upd after update on retailcrm_orders for each row
  when ((old.enterprise, old.phone, old.customer_id, old.created_at, old.status)
        is distinct from (new.enterprise, new.phone, new.customer_id, new.created_at, new.status))
  execute function orders_analytics_sale();
create trigger retailcrm_orders_analytics_sale_del after delete on retailcrm_orders for each row
  execute function orders_analytics_sale();

-- A phone moving to another customer: first_order_at (006) and now first_sale_at of its calls look again.
create or replace function customers_analytics() returns trigger language plpgsql as $$
declare e text := case when tg_op = 'DELETE' then old.enterprise else new.enterprise end;
        sales text[];
begin
  if analytics_bulk() then return null; end if;
  if tg_op = 'DELETE' and not exists (select 1 from enterprises where number = old.enterprise) then
    return null;
  end if;
  sales := analytics_sale_statuses(e);
  update calls c set first_order_at = v.fo, first_sale_at = v.fs
  from (select c.id, analytics_first_order(c.enterprise, c.phone, k.customer, c.started_at) as fo,
               analytics_first_sale(c.enterprise, c.phone, k.customer, c.started_at, sales) as fs
        from calls c, lateral (select analytics_call_customer(c.enterprise, c.phone, c.customer_id) as customer) k
        where c.answered and c.customer_id is null
          and ((tg_op <> 'INSERT' and c.enterprise = old.enterprise and c.phone = old.phone)
            or (tg_op <> 'DELETE' and c.enterprise = new.enterprise and c.phone = new.phone))) v
  where c.id = v.id and (c.first_order_at, c.first_sale_at) is distinct from (v.fo, v.fs);
  return null;
end $$;

-- ---- the rollup ----------------------------------------------------------------------------------------------

create or replace function analytics_stats_apply(c calls, sign integer) returns void language plpgsql as $$
declare
  lt timestamp := c.started_at at time zone analytics_zone(c.enterprise);
  missed boolean := c.direction = 'in' and c.answered is false;
  waited boolean := c.direction = 'in' and c.answered and c.waiting_sec is not null;
  b integer := case when waited then analytics_wait_bucket(c.waiting_sec) + 1 else 1 end;
  hist integer[] := array_fill(0, array[cardinality(analytics_wait_edges()) + 1]);
  v call_stats_monthly;
begin
  if lt is null then return; end if; -- the enterprise is gone
  insert into call_stats_hourly as s (enterprise, day, hour, calls_in, calls_out, answered, missed)
  values (c.enterprise, lt::date, extract(hour from lt)::smallint, sign * (c.direction = 'in')::int,
          sign * (c.direction = 'out')::int, sign * coalesce(c.answered, false)::int, sign * missed::int)
  on conflict (enterprise, day, hour) do update set calls_in = s.calls_in + excluded.calls_in,
    calls_out = s.calls_out + excluded.calls_out, answered = s.answered + excluded.answered,
    missed = s.missed + excluded.missed;
  if waited then hist[b] := sign; end if;
  v := row(c.enterprise, lt::date, c.manager_code, c.manager_user_id, sign * (c.direction = 'in')::int,
    sign * (c.direction = 'out')::int, sign * (c.direction = 'in' and coalesce(c.answered, false))::int,
    sign * (c.direction = 'out' and coalesce(c.answered, false))::int, sign * missed::int,
    sign * (missed and not coalesce(c.called_back_at <= coalesce(c.ended_at, c.started_at) + interval '30 minutes',
                                    false))::int,
    sign * coalesce(c.answered and c.first_order_at < c.started_at + interval '7 days', false)::int,
    sign * coalesce(c.answered and c.first_sale_at < c.started_at + interval '7 days', false)::int,
    sign * waited::int, sign * case when waited then c.waiting_sec else 0 end,
    sign * (coalesce(c.answered, false) and c.duration_sec is not null)::int,
    sign * case when c.answered then coalesce(c.duration_sec, 0) else 0 end, hist);
  insert into call_stats_daily as s (enterprise, day, manager_code, manager_user_id, calls_in, calls_out,
    answered_in, answered_out, missed, missed_nc30, converted7, converted_sale7, wait_n, wait_sum, talk_n, talk_sum,
    wait_hist)
  values (v.enterprise, v.month, v.manager_code, v.manager_user_id, v.calls_in, v.calls_out, v.answered_in,
    v.answered_out, v.missed, v.missed_nc30, v.converted7, v.converted_sale7, v.wait_n, v.wait_sum, v.talk_n,
    v.talk_sum, v.wait_hist)
  on conflict (enterprise, day, manager_code, manager_user_id) do update set
    calls_in = s.calls_in + excluded.calls_in, calls_out = s.calls_out + excluded.calls_out,
    answered_in = s.answered_in + excluded.answered_in, answered_out = s.answered_out + excluded.answered_out,
    missed = s.missed + excluded.missed, missed_nc30 = s.missed_nc30 + excluded.missed_nc30,
    converted7 = s.converted7 + excluded.converted7, converted_sale7 = s.converted_sale7 + excluded.converted_sale7,
    wait_n = s.wait_n + excluded.wait_n, wait_sum = s.wait_sum + excluded.wait_sum, talk_n = s.talk_n + excluded.talk_n,
    talk_sum = s.talk_sum + excluded.talk_sum, wait_hist[b] = s.wait_hist[b] + excluded.wait_hist[b];
  insert into call_stats_monthly as s
  values (v.enterprise, date_trunc('month', lt)::date, v.manager_code, v.manager_user_id, v.calls_in, v.calls_out,
    v.answered_in, v.answered_out, v.missed, v.missed_nc30, v.converted7, v.converted_sale7, v.wait_n, v.wait_sum,
    v.talk_n, v.talk_sum, v.wait_hist)
  on conflict (enterprise, month, manager_code, manager_user_id) do update set
    calls_in = s.calls_in + excluded.calls_in, calls_out = s.calls_out + excluded.calls_out,
    answered_in = s.answered_in + excluded.answered_in, answered_out = s.answered_out + excluded.answered_out,
    missed = s.missed + excluded.missed, missed_nc30 = s.missed_nc30 + excluded.missed_nc30,
    converted7 = s.converted7 + excluded.converted7, converted_sale7 = s.converted_sale7 + excluded.converted_sale7,
    wait_n = s.wait_n + excluded.wait_n, wait_sum = s.wait_sum + excluded.wait_sum, talk_n = s.talk_n + excluded.talk_n,
    talk_sum = s.talk_sum + excluded.talk_sum, wait_hist[b] = s.wait_hist[b] + excluded.wait_hist[b];
end $$;

-- first_sale_at changes the rollup too: the update trigger's column list gains it.
drop trigger calls_analytics_stats_upd on calls;
create trigger calls_analytics_stats_upd after update on calls for each row
  when ((old.enterprise, old.started_at, old.ended_at, old.direction, old.answered, old.manager_code,
         old.manager_user_id, old.waiting_sec, old.duration_sec, old.called_back_at, old.first_order_at,
         old.first_sale_at)
        is distinct from (new.enterprise, new.started_at, new.ended_at, new.direction, new.answered,
         new.manager_code, new.manager_user_id, new.waiting_sec, new.duration_sec, new.called_back_at,
         new.first_order_at, new.first_sale_at))
  execute function calls_analytics_stats();

-- ---- rebuilds (the backfill, bulk loads, zone and sale-status changes) ---------------------------------------

create or replace function analytics_rebuild_rollup(p_enterprise text) returns void language plpgsql as $$
begin
  delete from call_stats_hourly where enterprise = p_enterprise or p_enterprise is null;
  delete from call_stats_daily where enterprise = p_enterprise or p_enterprise is null;
  delete from call_stats_monthly where enterprise = p_enterprise or p_enterprise is null;
  insert into call_stats_hourly (enterprise, day, hour, calls_in, calls_out, answered, missed)
  select c.enterprise, (c.started_at at time zone e.zone)::date, extract(hour from c.started_at at time zone e.zone),
         count(*) filter (where c.direction = 'in'), count(*) filter (where c.direction = 'out'),
         count(*) filter (where c.answered), count(*) filter (where c.direction = 'in' and c.answered is false)
  from calls c join (select number, analytics_zone(number) as zone from enterprises) e on e.number = c.enterprise
  where c.enterprise = p_enterprise or p_enterprise is null
  group by 1, 2, 3;
  insert into call_stats_daily (enterprise, day, manager_code, manager_user_id, calls_in, calls_out, answered_in,
    answered_out, missed, missed_nc30, converted7, converted_sale7, wait_n, wait_sum, talk_n, talk_sum, wait_hist)
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
           count(*) filter (where answered and first_sale_at < started_at + interval '7 days') as converted_sale7,
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
  select f.enterprise, f.day, f.manager_code, f.manager_user_id, f.calls_in, f.calls_out, f.answered_in,
         f.answered_out, f.missed, f.missed_nc30, f.converted7, f.converted_sale7, f.wait_n, f.wait_sum, f.talk_n,
         f.talk_sum,
         array(select coalesce((mp.m ->> g::text)::int, 0)
               from generate_series(0, cardinality(analytics_wait_edges())) g order by g)
  from figures f
  left join maps mp on mp.enterprise = f.enterprise and mp.day = f.day
    and coalesce(mp.manager_code, '') = coalesce(f.manager_code, '') and (mp.manager_code is null) = (f.manager_code is null)
    and coalesce(mp.manager_user_id, 0) = coalesce(f.manager_user_id, 0)
    and (mp.manager_user_id is null) = (f.manager_user_id is null);
  -- the months are the sums of their days (the days' histograms, a 2-D array, summed bucket by bucket)
  insert into call_stats_monthly (enterprise, month, manager_code, manager_user_id, calls_in, calls_out,
    answered_in, answered_out, missed, missed_nc30, converted7, converted_sale7, wait_n, wait_sum, talk_n, talk_sum,
    wait_hist)
  select f.enterprise, f.month, f.manager_code, f.manager_user_id, f.calls_in, f.calls_out, f.answered_in,
         f.answered_out, f.missed, f.missed_nc30, f.converted7, f.converted_sale7, f.wait_n, f.wait_sum, f.talk_n,
         f.talk_sum,
         array(select (select sum(f.h[r][g]) from generate_subscripts(f.h, 1) r)::int
               from generate_subscripts(f.h, 2) g order by g)
  from (select d.enterprise, date_trunc('month', d.day)::date as month, d.manager_code, d.manager_user_id,
               sum(d.calls_in) as calls_in, sum(d.calls_out) as calls_out, sum(d.answered_in) as answered_in,
               sum(d.answered_out) as answered_out, sum(d.missed) as missed, sum(d.missed_nc30) as missed_nc30,
               sum(d.converted7) as converted7, sum(d.converted_sale7) as converted_sale7, sum(d.wait_n) as wait_n,
               sum(d.wait_sum) as wait_sum, sum(d.talk_n) as talk_n, sum(d.talk_sum) as talk_sum,
               array_agg(d.wait_hist) as h
        from call_stats_daily d
        where d.enterprise = p_enterprise or p_enterprise is null
        group by 1, 2, 3, 4) f;
end $$;

-- Recomputes first_sale_at set-based (one probe pair per answered call); the caller rebuilds the rollup.
create function analytics_rebuild_sales(p_enterprise text) returns void language plpgsql as $$
begin
  update calls m set first_sale_at = v.fs
  from (select c.id, c.first_sale_at as was, least(
          (select o.created_at from retailcrm_orders o
           where o.enterprise = c.enterprise and o.phone = c.phone and o.status = any(e.sales)
             and o.created_at >= c.started_at and o.created_at < c.started_at + interval '366 days'
           order by o.enterprise, o.phone, o.created_at limit 1),
          (select o.created_at from retailcrm_orders o
           where o.enterprise = c.enterprise and o.customer_id = coalesce(c.customer_id, rc.customer_id)
             and o.status = any(e.sales)
             and o.created_at >= c.started_at and o.created_at < c.started_at + interval '366 days'
           order by o.enterprise, o.customer_id, o.created_at limit 1)) as fs
        from calls c
        join (select number, analytics_sale_statuses(number) as sales from enterprises) e on e.number = c.enterprise
        left join retailcrm_customers rc on rc.enterprise = c.enterprise and rc.phone = c.phone
        where (c.enterprise = p_enterprise or p_enterprise is null) and c.answered) v
  where m.id = v.id and v.fs is distinct from v.was;
end $$;

-- 006's backfill, now with first_sale_at; triggers stay quiet.
create or replace function analytics_rebuild(p_enterprise text) returns void language plpgsql as $$
declare was text := current_setting('rcrm.analytics_rebuild', true);
begin
  perform set_config('rcrm.analytics_rebuild', 'on', true);
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
  perform analytics_rebuild_sales(p_enterprise);
  perform analytics_rebuild_rollup(p_enterprise);
  perform set_config('rcrm.analytics_rebuild', coalesce(was, ''), true);
end $$;

-- Other sale statuses: every answered call of the enterprise looks again, then its rollup is rebuilt (like a zone
-- change, in the same transaction as the settings update).
create function enterprises_analytics_sales() returns trigger language plpgsql as $$
declare was text := current_setting('rcrm.analytics_rebuild', true);
begin
  if analytics_bulk() then return null; end if;
  perform set_config('rcrm.analytics_rebuild', 'on', true);
  perform analytics_rebuild_sales(new.number);
  perform analytics_rebuild_rollup(new.number);
  perform set_config('rcrm.analytics_rebuild', coalesce(was, ''), true);
  return null;
end $$;
create trigger enterprises_analytics_sales after update on enterprises for each row
  when (analytics_sale_statuses_of(old.settings) is distinct from analytics_sale_statuses_of(new.settings))
  execute function enterprises_analytics_sales();

-- ---- indexes -------------------------------------------------------------------------------------------------

-- the waiting list: the phones of the period's waiting calls, read from the index alone (006's
-- calls_missed_waiting without the phone needed a heap visit per waiting call)
create index calls_missed_waiting_phone on calls (enterprise, started_at) include (phone)
  where direction = 'in' and answered is false and called_back_at is null;
drop index calls_missed_waiting;

-- the backfill of the new column and rollups for existing rows
select set_config('rcrm.analytics_rebuild', 'on', true);
select analytics_rebuild_sales(null);
select analytics_rebuild_rollup(null);
select set_config('rcrm.analytics_rebuild', '', true);
