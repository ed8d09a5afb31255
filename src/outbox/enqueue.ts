/**
 * Writing to the outbox: inserting a job (deduplicated by its key), waking workers with NOTIFY, and dropping jobs
 * that lost their point before delivery. Every function takes either the pool or the caller's transaction client,
 * so a job is inserted in the same transaction as the call row it belongs to (STYLE.md §9).
 */
import type { Pool, PoolClient } from '../db/pool.js';
import { OUTBOX_CHANNEL } from './job-types.js';

type Db = Pool | PoolClient;

export interface NewJob {
  readonly enterprise: string;
  readonly kind: string;
  /** Deduplicates: a second job with the same key is not inserted (even after the first was delivered). */
  readonly jobKey?: string | null;
  readonly payload: unknown;
  /** Not before this moment; default now. */
  readonly runAt?: Date;
  /** Not after this moment: a late popup is worse than none. */
  readonly expiresAt?: Date | null;
}

/**
 * The key convention: `kind:enterprise:callId[:suffix]`. dropPendingJobs({kind, callId}) relies on it.
 * E.g. outboxJobKey('call_event', '0367', linkedid, 'in').
 */
export function outboxJobKey(kind: string, enterprise: string, callId: string, suffix?: string): string {
  return [kind, enterprise, callId, ...(suffix === undefined ? [] : [suffix])].join(':');
}

/** Inserts the job; resolves with its id, or null when a job with the same key exists already. */
export async function enqueueJob(db: Db, job: NewJob): Promise<number | null> {
  const { rows } = await db.query<{ id: number }>(
    `insert into outbox_jobs (enterprise, kind, job_key, payload, run_at, expires_at)
     values ($1, $2, $3, $4, coalesce($5, now()), $6)
     on conflict (job_key) do nothing
     returning id`,
    [job.enterprise, job.kind, job.jobKey ?? null, JSON.stringify(job.payload), job.runAt ?? null, job.expiresAt ?? null],
  );
  return rows[0]?.id ?? null;
}

/** Wakes every worker listening on the database. Inside a transaction it is delivered at commit (or never). */
export async function notifyOutbox(db: Db, enterprise: string): Promise<void> {
  await db.query('select pg_notify($1, $2)', [OUTBOX_CHANNEL, enterprise]);
}

export type DropSelector =
  | { readonly enterprise: string; readonly jobKeyPrefix: string; readonly reason?: string }
  | { readonly enterprise: string; readonly kind: string; readonly callId: string; readonly reason?: string };

/**
 * "The call ended": pending jobs not yet picked up by a worker become `dropped` (a popup shown late is worse than
 * none). A job a worker holds right now is left alone: its delivery is already under way. Resolves with the count.
 */
export async function dropPendingJobs(db: Db, sel: DropSelector): Promise<number> {
  const prefix = 'jobKeyPrefix' in sel ? sel.jobKeyPrefix : `${outboxJobKey(sel.kind, sel.enterprise, sel.callId)}`;
  const exactKey = 'jobKeyPrefix' in sel ? null : prefix;
  const like = `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}${'jobKeyPrefix' in sel ? '' : ':'}%`;
  const { rowCount } = await db.query(
    `update outbox_jobs set state = 'dropped', last_error = $4, updated_at = now()
     where enterprise = $1 and state = 'pending' and locked_at is null
       and (job_key like $2 or job_key = $3)`,
    [sel.enterprise, like, exactKey, sel.reason ?? 'dropped before delivery: the call ended'],
  );
  return rowCount ?? 0;
}
