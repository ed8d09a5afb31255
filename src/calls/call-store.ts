/**
 * The `calls` table: one row per call (enterprise, linkedid), written when it rings and when it ends. Its only
 * writer; the journal (call-journal.ts) runs these in the transaction that also inserts the call's outbox jobs.
 * The analytics and the reconciler read the table in their own SQL (analytics-store.ts, cdr-store.ts).
 */
import type { Queryable } from '../db/pool.js';
import type { CallEnd, CallStart, StoredCall } from './call-journal.js';

const INSERT_CALL_START = `insert into calls (enterprise, linkedid, external_id, direction, phone, external_phone, site,
    customer_id, ring_codes, started_at)
  values ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9)
  on conflict (enterprise, linkedid) do nothing`;

const callStartParams = (call: CallStart): unknown[] => [call.enterprise, call.linkedid, call.direction, call.phone,
  call.externalPhone, call.site, call.customerId, call.ringCodes, call.startedAt];

/** Inserts a ringing call; a call already recorded (a second /incoming, or /hangup first) is left as it is. */
export async function insertCallStart(db: Queryable, call: CallStart): Promise<void> {
  await db.query(INSERT_CALL_START, callStartParams(call));
}

/**
 * insertCallStart for many calls, as the source of a one-statement write (claimed-jobs-store's
 * enqueueClaimedJobsAfter): CTEs ending in `source`, which has a row (`n`, the call's index in `calls`) for each
 * call this statement inserted, i.e. each call not recorded before (no /hangup came first).
 */
export function callStartsSource(calls: readonly CallStart[]): { ctes: string; params: unknown[] } {
  const input = calls.map((c, n) => ({
    n,
    enterprise: c.enterprise,
    linkedid: c.linkedid,
    direction: c.direction,
    phone: c.phone,
    external_phone: c.externalPhone,
    site: c.site,
    customer_id: c.customerId,
    ring_codes: c.ringCodes,
    started_at: c.startedAt.toISOString(),
  }));
  return {
    ctes: `call_input as (select * from jsonb_to_recordset($1::jsonb) as t(n int, enterprise text, linkedid text, direction text,
        phone text, external_phone text, site text, customer_id bigint, ring_codes text[], started_at timestamptz)),
      inserted_calls as (insert into calls (enterprise, linkedid, external_id, direction, phone, external_phone, site,
          customer_id, ring_codes, started_at)
        select enterprise, linkedid, linkedid, direction, phone, external_phone, site, customer_id, ring_codes, started_at
        from call_input order by n
        on conflict (enterprise, linkedid) do nothing
        returning enterprise, linkedid),
      source as (select min(i.n) as n from call_input i join inserted_calls c using (enterprise, linkedid) group by i.enterprise, i.linkedid)`,
    params: [JSON.stringify(input)],
  };
}

export async function isCallEnded(db: Queryable, enterprise: string, linkedid: string): Promise<boolean> {
  const { rows } = await db.query<{ ended: boolean }>(
    'select ended_at is not null as ended from calls where enterprise = $1 and linkedid = $2',
    [enterprise, linkedid],
  );
  return rows[0]?.ended === true;
}

export interface RingingCall {
  readonly phone: string;
  readonly ringCodes: readonly string[];
  readonly externalPhone: string | null;
  readonly site: string | null;
  readonly ended: boolean;
}

/** The call's row, locked for the rest of the caller's transaction; null when it is not recorded. */
export async function lockCallForRinging(db: Queryable, enterprise: string, linkedid: string): Promise<RingingCall | null> {
  const { rows } = await db.query<{ phone: string; ring_codes: string[]; external_phone: string | null; site: string | null; ended: boolean }>(
    'select phone, ring_codes, external_phone, site, ended_at is not null as ended from calls where enterprise = $1 and linkedid = $2 for update',
    [enterprise, linkedid],
  );
  const r = rows[0];
  return r ? { phone: r.phone, ringCodes: r.ring_codes, externalPhone: r.external_phone, site: r.site, ended: r.ended } : null;
}

export async function addRingCodes(db: Queryable, enterprise: string, linkedid: string, codes: readonly string[]): Promise<void> {
  await db.query('update calls set ring_codes = ring_codes || $3::text[], updated_at = now() where enterprise = $1 and linkedid = $2',
    [enterprise, linkedid, codes]);
}

export async function findCall(db: Queryable, enterprise: string, linkedid: string): Promise<StoredCall | null> {
  const { rows } = await db.query<{
    direction: 'in' | 'out';
    phone: string;
    external_phone: string | null;
    site: string | null;
    customer_id: number | null;
    ring_codes: string[];
    started_at: Date;
    ended_at: Date | null;
  }>('select * from calls where enterprise = $1 and linkedid = $2', [enterprise, linkedid]);
  const r = rows[0];
  if (!r) return null;
  return {
    direction: r.direction,
    phone: r.phone,
    externalPhone: r.external_phone,
    site: r.site,
    customerId: r.customer_id,
    ringCodes: r.ring_codes,
    startedAt: r.started_at,
    endedAt: r.ended_at,
  };
}

/** Records the end of a call (inserting the row when its start was never recorded); false when it had ended already. */
export async function recordCallEnd(db: Queryable, end: CallEnd): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into calls (enterprise, linkedid, external_id, direction, phone, external_phone, site, ring_codes,
       started_at, ended_at, answered, result, hangup_status, manager_code, manager_user_id, duration_sec,
       waiting_sec, recording_file, dial_status, reconciled)
     values ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
     on conflict (enterprise, linkedid) do update set ended_at = excluded.ended_at, answered = excluded.answered,
       result = excluded.result, hangup_status = excluded.hangup_status, manager_code = excluded.manager_code,
       manager_user_id = excluded.manager_user_id, duration_sec = excluded.duration_sec,
       waiting_sec = excluded.waiting_sec, recording_file = excluded.recording_file,
       dial_status = excluded.dial_status, reconciled = excluded.reconciled, updated_at = now()
     where calls.ended_at is null`,
    [end.enterprise, end.linkedid, end.direction, end.phone, end.externalPhone, end.site, end.ringCodes,
      end.startedAt, end.endedAt, end.answered, end.result, end.hangupStatus, end.managerCode, end.managerUserId,
      end.durationSec, end.waitingSec, end.recordingFile, end.dialStatus, end.reconciled === true],
  );
  return (rowCount ?? 0) > 0;
}
