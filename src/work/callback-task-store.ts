/**
 * The `callback_tasks` table (sql/014_work.sql), and only this module touches it: one row per "call this number
 * back", opened by a missed inbound call, completed by an answered call with the number. At most one open row per
 * number (a partial unique index), so several misses before the call-back make one task, on any instance.
 */
import type { Queryable as Db } from '../db/pool.js';

export type CallbackTaskState = 'open' | 'completed';

export interface CallbackTask {
  readonly id: number;
  readonly enterprise: string;
  readonly phone: string;
  readonly state: CallbackTaskState;
  readonly customerId: number | null;
  readonly performerId: number | null;
  readonly crmTaskId: number | null;
  /** Set before tasks/create is sent: a task may exist in RetailCRM although crmTaskId is still null. */
  readonly createSentAt: Date | null;
  readonly firstMissedAt: Date;
  readonly lastMissedAt: Date;
  readonly missedCount: number;
  readonly firstMissedCall: string;
  readonly completedAt: Date | null;
  readonly completedByCall: string | null;
  readonly crmCompletedAt: Date | null;
}

interface Row {
  id: number;
  enterprise: string;
  phone: string;
  state: CallbackTaskState;
  customer_id: number | null;
  performer_id: number | null;
  crm_task_id: number | null;
  create_sent_at: Date | null;
  first_missed_at: Date;
  last_missed_at: Date;
  missed_count: number;
  first_missed_call: string;
  completed_at: Date | null;
  completed_by_call: string | null;
  crm_completed_at: Date | null;
}

function fromRow(r: Row): CallbackTask {
  return {
    id: r.id,
    enterprise: r.enterprise,
    phone: r.phone,
    state: r.state,
    customerId: r.customer_id,
    performerId: r.performer_id,
    crmTaskId: r.crm_task_id,
    createSentAt: r.create_sent_at,
    firstMissedAt: r.first_missed_at,
    lastMissedAt: r.last_missed_at,
    missedCount: r.missed_count,
    firstMissedCall: r.first_missed_call,
    completedAt: r.completed_at,
    completedByCall: r.completed_by_call,
    crmCompletedAt: r.crm_completed_at,
  };
}

/** A missed call: opens the number's row, or counts the miss on the open one. `opened` is true for a new row. */
export async function recordMissedCall(
  db: Db,
  miss: { enterprise: string; phone: string; linkedid: string; at: Date },
): Promise<{ id: number; opened: boolean }> {
  const { rows } = await db.query<{ id: number; opened: boolean }>(
    `insert into callback_tasks (enterprise, phone, first_missed_at, last_missed_at, first_missed_call)
     values ($1, $2, $3, $3, $4)
     on conflict (enterprise, phone) where state = 'open' do update
       set missed_count = callback_tasks.missed_count + 1,
           last_missed_at = greatest(callback_tasks.last_missed_at, excluded.last_missed_at),
           updated_at = now()
     returning id, (xmax = 0) as opened`,
    [miss.enterprise, miss.phone, miss.at, miss.linkedid],
  );
  const row = rows[0];
  if (!row) throw new Error('callback_tasks upsert returned no row');
  return row;
}

/**
 * The caller was reached (an answered call with the number that ended after the first miss): completes the open
 * row. Resolves with its id, or null when there was none.
 */
export async function completeOnReach(
  db: Db,
  reach: { enterprise: string; phone: string; linkedid: string; at: Date },
): Promise<number | null> {
  const { rows } = await db.query<{ id: number }>(
    `update callback_tasks set state = 'completed', completed_at = $3, completed_by_call = $4, updated_at = now()
     where enterprise = $1 and phone = $2 and state = 'open' and first_missed_at <= $3
     returning id`,
    [reach.enterprise, reach.phone, reach.at, reach.linkedid],
  );
  return rows[0]?.id ?? null;
}

export async function findCallbackTask(db: Db, id: number): Promise<CallbackTask | null> {
  const { rows } = await db.query<Row>('select * from callback_tasks where id = $1', [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/**
 * About to send tasks/create: notes it (first time only) and resolves with the row as it was before, or null when
 * the row is no longer open (the caller was reached first: no task is needed).
 */
export async function markCreateSent(db: Db, id: number): Promise<CallbackTask | null> {
  const { rows } = await db.query<Row>(
    `update callback_tasks t set create_sent_at = coalesce(t.create_sent_at, now()), updated_at = now()
     from callback_tasks before
     where t.id = $1 and before.id = t.id and t.state = 'open'
     returning before.*`,
    [id],
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

export async function saveCrmTask(db: Db, id: number, task: { crmTaskId: number; customerId: number | null; performerId: number }): Promise<void> {
  await db.query(
    'update callback_tasks set crm_task_id = $2, customer_id = $3, performer_id = $4, updated_at = now() where id = $1',
    [id, task.crmTaskId, task.customerId, task.performerId],
  );
}

export async function markCrmCompleted(db: Db, id: number): Promise<void> {
  await db.query('update callback_tasks set crm_completed_at = coalesce(crm_completed_at, now()), updated_at = now() where id = $1', [id]);
}

export interface CallbackSummary {
  /** Missed numbers not called back yet (open rows), and how many of them have their task in RetailCRM. */
  readonly open: number;
  readonly openWithTask: number;
  /** Rows completed in the period (the caller was reached). */
  readonly completed: number;
}

/** For analytics: rows whose first miss falls in [from, to). */
export async function callbackSummary(db: Db, enterprise: string, from: Date, to: Date): Promise<CallbackSummary> {
  const { rows } = await db.query<{ open: number; open_with_task: number; completed: number }>(
    `select count(*) filter (where state = 'open')::int as open,
            count(*) filter (where state = 'open' and crm_task_id is not null)::int as open_with_task,
            count(*) filter (where state = 'completed')::int as completed
     from callback_tasks where enterprise = $1 and first_missed_at >= $2 and first_missed_at < $3`,
    [enterprise, from, to],
  );
  const r = rows[0];
  return { open: r?.open ?? 0, openWithTask: r?.open_with_task ?? 0, completed: r?.completed ?? 0 };
}
