/**
 * The analytics of issue 10, read only, beside the call figures of analytics-store.ts: conversion on orders that
 * reached a sale status (retailcrm_orders, sql/004), the call-back tasks and leads of the period (callback_tasks and
 * crm_leads, sql/014, written by src/work/), and the managers' names (crm_users, sql/016). Each query starts from a
 * small indexed set (the period's sale orders, tasks or leads), never from a scan of the period's calls.
 */
import type { CallbackTaskFigures, LeadList } from './analytics-queries.js';

export type Run = <R>(text: string, values: readonly unknown[]) => Promise<R[]>;

/** [from, to) local days of $2/$3 in zone $4 as instants. */
const FROM = `($2::date::timestamp at time zone $4)`;
const TO = `($3::date::timestamp at time zone $4)`;

/**
 * Answered calls of the period ($1 enterprise, $2 from, $3 to, $4 zone) followed by an order of the same customer in
 * a sale status ($6) created within $5 days: started_at ≤ order.created_at < started_at + $5 days. Same customer as
 * the "any order" conversion: the order's phone is the call's, or its customer id is the call's customer
 * (calls.customer_id, else retailcrm_customers by the call's phone). Driven by the sale orders created in
 * [from, to + $5 days) (retailcrm_orders_status, sql/016), each probing the answered calls of its phone or customer.
 */
const SALE_CONVERTED = `
with o as (
  select o.phone, o.customer_id, o.created_at
  from retailcrm_orders o
  where o.enterprise = $1 and o.status = any($6::text[])
    and o.created_at >= ${FROM} and o.created_at < ${TO} + make_interval(days => $5::int)
),
hit as (
  select c.id from o join calls c
    on c.enterprise = $1 and c.phone = o.phone and c.answered
   and c.started_at <= o.created_at and c.started_at > o.created_at - make_interval(days => $5::int)
  union
  select c.id from o join calls c
    on c.enterprise = $1 and c.customer_id = o.customer_id and c.answered
   and c.started_at <= o.created_at and c.started_at > o.created_at - make_interval(days => $5::int)
  union
  select c.id from o
  join retailcrm_customers rc on rc.enterprise = $1 and rc.customer_id = o.customer_id
  join calls c
    on c.enterprise = $1 and c.phone = rc.phone and c.customer_id is null and c.answered
   and c.started_at <= o.created_at and c.started_at > o.created_at - make_interval(days => $5::int)
)
select grouping(c.manager_code, coalesce(c.manager_user_id, x.user_id)) as is_total, c.manager_code,
       coalesce(c.manager_user_id, x.user_id) as manager_user_id, count(*)::int as n
from hit join calls c on c.id = hit.id
left join extensions x on x.enterprise = c.enterprise and x.ext = c.manager_code
where c.started_at >= ${FROM} and c.started_at < ${TO}
group by grouping sets ((), (c.manager_code, coalesce(c.manager_user_id, x.user_id)))`;

export interface SaleConvertedRow {
  is_total: number;
  manager_code: string | null;
  manager_user_id: number | null;
  n: number;
}

export function saleConverted(run: Run, values: readonly unknown[], days: number, statuses: readonly string[]): Promise<SaleConvertedRow[]> {
  return run<SaleConvertedRow>(SALE_CONVERTED, [...values, days, statuses]);
}

/** "First Last" per RetailCRM user id of the enterprise, from what the last users read stored. */
export async function managerNames(run: Run, enterprise: string): Promise<Map<number, string>> {
  const rows = await run<{ user_id: string; name: string }>(
    `select user_id, btrim(btrim(first_name) || ' ' || btrim(last_name)) as name
     from crm_users where enterprise = $1`,
    [enterprise],
  );
  return new Map(rows.filter((r) => r.name !== '').map((r) => [Number(r.user_id), r.name]));
}

/** Call-back tasks whose first miss falls in the period (callback_tasks_by_time). */
export async function callbackTaskFigures(run: Run, values: readonly unknown[]): Promise<CallbackTaskFigures> {
  const rows = await run<{ open: number; open_with_task: number; completed: number }>(
    `select count(*) filter (where state = 'open')::int as open,
            count(*) filter (where state = 'open' and crm_task_id is not null)::int as open_with_task,
            count(*) filter (where state = 'completed')::int as completed
     from callback_tasks where enterprise = $1 and first_missed_at >= ${FROM} and first_missed_at < ${TO}`,
    values,
  );
  return { open: rows[0]?.open ?? 0, openWithTask: rows[0]?.open_with_task ?? 0, completed: rows[0]?.completed ?? 0 };
}

/** Leads of calls that started in the period, latest first (crm_leads_by_time). */
export async function leadList(run: Run, values: readonly unknown[], limit: number): Promise<LeadList> {
  const rows = await run<{
    phone: string; called_at: Date; crm_order_id: string | null; customer_id: string | null; requested: number; created: number;
  }>(
    `select l.phone, l.called_at, l.crm_order_id, l.customer_id,
            count(*) over ()::int as requested, count(l.crm_order_id) over ()::int as created
     from crm_leads l
     where l.enterprise = $1 and l.called_at >= ${FROM} and l.called_at < ${TO}
     order by l.called_at desc, l.id desc
     limit $5`,
    [...values, limit],
  );
  return {
    requested: rows[0]?.requested ?? 0,
    created: rows[0]?.created ?? 0,
    items: rows.map((r) => ({
      phone: r.phone,
      calledAt: r.called_at.toISOString(),
      crmOrderId: r.crm_order_id === null ? null : Number(r.crm_order_id),
      customerId: r.customer_id === null ? null : Number(r.customer_id),
    })),
  };
}
