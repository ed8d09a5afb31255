/**
 * The owner of `outbox_jobs`, operators' side (with outbox-store.ts): pruning, the backlog gauges, the CLI's
 * listing, requeue and statistics. Times come from the database clock.
 */
import type { Db } from './outbox-store.js';

const MS = "* interval '1 millisecond'";
const UNLOCK = 'locked_at = null, locked_by = null, updated_at = now()';

/** Deletes up to `limit` done/dropped rows finished more than retainMs ago; resolves with how many. */
export async function pruneFinishedJobs(db: Db, retainMs: number, limit = 10_000): Promise<number> {
  const { rowCount } = await db.query(
    `delete from outbox_jobs where id in (
       select id from outbox_jobs where state in ('done', 'dropped') and updated_at < now() - $1 ${MS} limit $2)`,
    [retainMs, limit],
  );
  return rowCount ?? 0;
}

export interface OutboxBacklog {
  readonly enterprise: string;
  readonly pending: number;
  readonly failed: number;
  readonly oldestPendingSeconds: number;
}

/**
 * Per enterprise: pending and failed jobs and the age of the oldest pending one, by the database clock (cheap:
 * partial indexes cover pending and failed rows). For /metrics and /ready.
 */
export async function outboxBacklog(db: Db): Promise<OutboxBacklog[]> {
  const { rows } = await db.query<OutboxBacklog>(
    `select enterprise, count(*) filter (where state = 'pending')::int as pending,
             count(*) filter (where state = 'failed')::int as failed,
             coalesce(extract(epoch from now() - min(created_at) filter (where state = 'pending')), 0)::float8
               as "oldestPendingSeconds"
           from outbox_jobs where state in ('pending', 'failed') group by enterprise order by enterprise`,
  );
  return rows;
}

export interface ListedJob {
  id: number;
  enterprise: string;
  kind: string;
  state: string;
  attempts: number;
  run_at: Date;
  last_error: string | null;
}

/** Newest first: failed jobs, or pending and failed ones. */
export async function listJobs(db: Db, opts: { enterprise: string | null; failedOnly: boolean; limit: number }): Promise<ListedJob[]> {
  const { rows } = await db.query<ListedJob>(
    `select id, enterprise, kind, state, attempts, run_at, last_error from outbox_jobs
     where ($1::text is null or enterprise = $1)
       and (case when $2 then state = 'failed' else state in ('pending', 'failed') end)
     order by id desc limit $3`,
    [opts.enterprise, opts.failedOnly, opts.limit],
  );
  return rows;
}

/**
 * Back to pending with attempts reset (last_error stays as a record of what went wrong): one failed or dropped job
 * by id, or every failed job (of one enterprise).
 */
export async function requeueJobs(
  db: Db,
  sel: { readonly id: number } | { readonly enterprise: string | null },
): Promise<{ id: number; enterprise: string }[]> {
  const set = `state = 'pending', attempts = 0, deferrals = 0, run_at = now(), ${UNLOCK}`;
  const { rows } = await db.query<{ id: number; enterprise: string }>(
    'id' in sel
      ? `update outbox_jobs set ${set} where id = $1 and state in ('failed', 'dropped') returning id, enterprise`
      : `update outbox_jobs set ${set} where state = 'failed' and ($1::text is null or enterprise = $1) returning id, enterprise`,
    ['id' in sel ? sel.id : sel.enterprise],
  );
  return rows;
}

export interface JobStats {
  enterprise: string;
  kind: string;
  state: string;
  n: number;
  oldest: Date | null;
}

/** Jobs by (enterprise, kind, state) and the oldest pending run_at. */
export async function jobStats(db: Db, enterprise: string | null): Promise<JobStats[]> {
  const { rows } = await db.query<JobStats>(
    `select enterprise, kind, state, count(*)::int as n, min(run_at) filter (where state = 'pending') as oldest
     from outbox_jobs where ($1::text is null or enterprise = $1)
     group by enterprise, kind, state order by enterprise, kind, state`,
    [enterprise],
  );
  return rows;
}
