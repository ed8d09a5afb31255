/**
 * The owner of `outbox_jobs` (with outbox-store.ts), the popup fast path: jobs inserted already claimed by the
 * inserting process (so they need no claiming transaction), alone or in the same statement as the caller's own
 * write, and "done" marked for many claims in one statement. Times come from the database clock.
 */
import type { Pool } from '../db/pool.js';
import type { JobState } from './job-types.js';
import { claimedJob, COLUMNS, UNLOCK, type ClaimedBatch, type Db, type JobRow, type NewJob, type StateRows } from './outbox-store.js';

/**
 * Inserts the job already claimed by `token` (attempt 1 on record, as a claim counts it), so the caller can run it
 * at once without a claiming transaction of its own; resolves with it as a one-job batch, or null when a job with
 * the same key exists already. Same rules as a claim: a worker that dies before recording the outcome leaves a
 * lock that goes stale after the lock timeout, and the job is then delivered (or expired) like any other.
 */
export async function enqueueClaimedJob(db: Db, job: NewJob, token: string): Promise<ClaimedBatch | null> {
  const { rows } = await db.query<JobRow>(
    `insert into outbox_jobs (enterprise, kind, job_key, payload, run_at, expires_at, locked_at, locked_by, attempts)
     values ($1, $2, $3, $4, coalesce($5, now()), $6, now(), $7, 1)
     on conflict (job_key) do nothing
     returning ${COLUMNS}`,
    [job.enterprise, job.kind, job.jobKey ?? null, JSON.stringify(job.payload), job.runAt ?? null, job.expiresAt ?? null, token],
  );
  const row = rows[0];
  return row ? { token, enterprise: row.enterprise, kind: row.kind, jobs: [claimedJob(row)] } : null;
}

/**
 * enqueueClaimedJob in the same statement as the caller's own write: `source` is a data-modifying CTE (named
 * `source`, using $1…$n) and the job is inserted only when it returned a row. One statement in autocommit is one
 * round trip and one commit where a transaction takes five round trips. Resolves with the claimed job, or null when
 * the source returned nothing or the job key exists already.
 */
export async function enqueueClaimedJobAfter(
  db: Db,
  source: { readonly sql: string; readonly params: readonly unknown[] },
  job: NewJob,
  token: string,
): Promise<ClaimedBatch | null> {
  const n = source.params.length;
  const p = (i: number): string => `$${n + i}`;
  const { rows } = await db.query<JobRow>(
    `with source as (${source.sql})
     insert into outbox_jobs (enterprise, kind, job_key, payload, run_at, expires_at, locked_at, locked_by, attempts)
     select ${p(1)}::text, ${p(2)}::text, ${p(3)}::text, ${p(4)}::jsonb, coalesce(${p(5)}::timestamptz, now()), ${p(6)}::timestamptz, now(), ${p(7)}::text, 1
     from source limit 1
     on conflict (job_key) do nothing
     returning ${COLUMNS}`,
    [...source.params, job.enterprise, job.kind, job.jobKey ?? null, JSON.stringify(job.payload), job.runAt ?? null, job.expiresAt ?? null, token],
  );
  const row = rows[0];
  return row ? { token, enterprise: row.enterprise, kind: row.kind, jobs: [claimedJob(row)] } : null;
}

/**
 * "Done" for many claims in one statement: jobs delivered at the same moment (popups of concurrent calls) are
 * marked together while the previous statement runs, instead of one round trip each. Each caller gets the rows
 * of its own claim; a failed statement fails every caller of that group (their locks go stale, as for one).
 */
export class DoneCoalescer {
  private waiting: { ids: number[]; token: string; resolve: (rows: StateRows) => void; reject: (err: unknown) => void }[] = [];
  private running = false;

  constructor(private readonly pool: Pool) {}

  done(ids: number[], token: string): Promise<StateRows> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ ids, token, resolve, reject });
      if (!this.running) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.running = true;
    while (this.waiting.length > 0) {
      const group = this.waiting;
      this.waiting = [];
      const ids = group.flatMap((w) => w.ids);
      const tokens = group.flatMap((w) => w.ids.map(() => w.token));
      try {
        const rows = (await this.pool.query<{ id: number; state: JobState }>(
          `update outbox_jobs j set state = 'done', attempts = greatest(j.attempts - 1, 0), last_error = null, ${UNLOCK}
           from unnest($1::bigint[], $2::text[]) as u(id, token)
           where j.id = u.id and j.locked_by = u.token returning j.id, j.state`,
          [ids, tokens],
        )).rows;
        for (const w of group) w.resolve(rows.filter((r) => w.ids.includes(Number(r.id))));
      } catch (err) {
        for (const w of group) w.reject(err);
      }
    }
    this.running = false;
  }
}
