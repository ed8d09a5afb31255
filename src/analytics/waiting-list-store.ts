/**
 * The waiting list of analytics-store.ts: the phones with a missed inbound call in the period that nobody got
 * through to since (calls.called_back_at is null, sql/006), latest first, with the number's open call-back task
 * (callback_tasks, sql/014). Read only. The phones and their counts come from the index alone
 * (calls_missed_waiting_phone, sql/017); only the rows shown are read from the tables.
 */
import type { MissedCallbackList } from './analytics-queries.js';
import type { Run } from './sales-work-store.js';

interface WaitingRow {
  phone: string; customer_id: number | null; customer_name: string | null; last_missed_at: Date; attempts: number;
  minutes_ago: number; manager_code: string | null; manager_user_id: number | null; ring_codes: string[];
  total: number; task_row: string | null; crm_task_id: string | null; task_missed: number | null; task_first_missed_at: Date | null;
}

// $1 enterprise, $2 from day, $3 to day, $4 timezone, $5 limit. Of several waiting calls of a phone starting at the
// same instant, the latest recorded (highest id) stands for the phone.
const WAITING = `
with per_phone as (
  select c.phone, max(c.started_at) as last_missed_at, count(*)::int as attempts
  from calls c
  where c.enterprise = $1
    and c.started_at >= ($2::date::timestamp at time zone $4) and c.started_at < ($3::date::timestamp at time zone $4)
    and c.direction = 'in' and c.answered is false and c.called_back_at is null
  group by c.phone
),
shown as (
  select p.*, count(*) over ()::int as total from per_phone p
  order by p.last_missed_at desc, p.phone
  limit $5
)
select p.phone, coalesce(c.customer_id, rc.customer_id) as customer_id, rc.customer_name, p.last_missed_at,
       p.attempts, floor(extract(epoch from now() - coalesce(c.ended_at, c.started_at)) / 60)::int as minutes_ago,
       c.manager_code, coalesce(c.manager_user_id, x.user_id) as manager_user_id, c.ring_codes, p.total,
       t.id as task_row, t.crm_task_id, t.missed_count as task_missed, t.first_missed_at as task_first_missed_at
from shown p
cross join lateral (
  select c.* from calls c
  where c.enterprise = $1 and c.phone = p.phone and c.started_at = p.last_missed_at
    and c.direction = 'in' and c.answered is false and c.called_back_at is null
  order by c.id desc limit 1
) c
left join extensions x on x.enterprise = $1 and x.ext = c.manager_code
left join retailcrm_customers rc on rc.enterprise = $1 and rc.phone = p.phone
-- the number's open call-back task (at most one: callback_tasks_one_open, sql/014)
left join callback_tasks t on t.enterprise = $1 and t.phone = p.phone and t.state = 'open'
order by p.last_missed_at desc, p.phone`;

/** The waiting list of the period ($1–$4 as periodValues), at most `limit` phones; names filled in by the caller. */
export async function waitingList(
  run: Run, values: readonly unknown[], limit: number, names: (run: Run) => Promise<ReadonlyMap<number, string>>,
): Promise<MissedCallbackList> {
  const rows = await run<WaitingRow>(WAITING, [...values, limit]);
  const known = rows.some((r) => r.manager_user_id !== null) ? await names(run) : new Map<number, string>();
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
      managerName: r.manager_user_id === null ? null : (known.get(Number(r.manager_user_id)) ?? null),
      ringCodes: r.ring_codes,
      openTask: r.task_row === null ? null : {
        crmTaskId: r.crm_task_id === null ? null : Number(r.crm_task_id),
        missedCount: r.task_missed ?? 0,
        firstMissedAt: (r.task_first_missed_at ?? r.last_missed_at).toISOString(),
      },
    })),
  };
}
