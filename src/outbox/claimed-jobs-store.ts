/**
 * The owner of `outbox_jobs` (with outbox-store.ts), the popup fast path: jobs inserted already claimed by the
 * inserting process (so they need no claiming transaction), alone or in the same statement as the caller's own
 * write, and "done" marked for many claims in one statement. Times come from the database clock.
 */
import type { Pool } from '../db/pool.js';
import { GroupCommit } from '../lib/group-commit.js';
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

/** A claimed job to insert after the caller's row `n` (see enqueueClaimedJobsAfter). */
export interface ClaimedAfter {
  readonly n: number;
  readonly job: NewJob;
  readonly token: string;
}

/**
 * enqueueClaimedJob for many jobs in the same statement as the caller's own write: `source.ctes` are CTEs ending
 * in one named `source` (using $1…$k) with a column `n`, one row for each of the caller's rows this statement
 * wrote; job `n` is inserted only when `source` has row `n`. One statement in autocommit is one round trip and one
 * commit for every job of the batch (a transaction would take five round trips a job). Resolves with the claimed
 * jobs by claim token; a job missing from the map was not inserted (its source row was not written, or its key
 * exists already).
 */
export async function enqueueClaimedJobsAfter(
  db: Db,
  source: { readonly ctes: string; readonly params: readonly unknown[] },
  jobs: readonly ClaimedAfter[],
): Promise<Map<string, ClaimedBatch>> {
  const input = jobs.map(({ n, job, token }) => ({
    n,
    enterprise: job.enterprise,
    kind: job.kind,
    job_key: job.jobKey ?? null,
    payload: job.payload,
    run_at: job.runAt?.toISOString() ?? null,
    expires_at: job.expiresAt?.toISOString() ?? null,
    token,
  }));
  const { rows } = await db.query<JobRow & { locked_by: string }>(
    `with ${source.ctes},
     job_input as (select * from jsonb_to_recordset($${source.params.length + 1}::jsonb)
       as t(n int, enterprise text, kind text, job_key text, payload jsonb, run_at timestamptz, expires_at timestamptz, token text))
     insert into outbox_jobs (enterprise, kind, job_key, payload, run_at, expires_at, locked_at, locked_by, attempts)
     select j.enterprise, j.kind, j.job_key, j.payload, coalesce(j.run_at, now()), j.expires_at, now(), j.token, 1
     from job_input j join source s on s.n = j.n
     order by j.n
     on conflict (job_key) do nothing
     returning ${COLUMNS}, locked_by`,
    [...source.params, JSON.stringify(input)],
  );
  const out = new Map<string, ClaimedBatch>();
  for (const row of rows) out.set(row.locked_by, { token: row.locked_by, enterprise: row.enterprise, kind: row.kind, jobs: [claimedJob(row)] });
  return out;
}

/**
 * "Done" for many claims in one statement: jobs delivered at the same moment (popups of concurrent calls) are
 * marked together while the previous statement runs (lib/group-commit.ts), instead of one round trip each. Each
 * caller gets the rows of its own claim; a failed statement fails every caller of that group (their locks go
 * stale, as for one).
 */
export class DoneCoalescer {
  private readonly group: GroupCommit<{ readonly ids: readonly number[]; readonly token: string }, StateRows>;

  constructor(pool: Pool) {
    this.group = new GroupCommit(async (claims) => {
      const ids = claims.flatMap((c) => c.ids);
      const tokens = claims.flatMap((c) => c.ids.map(() => c.token));
      const rows = (await pool.query<{ id: number; state: JobState }>(
        `update outbox_jobs j set state = 'done', attempts = greatest(j.attempts - 1, 0), last_error = null, ${UNLOCK}
         from unnest($1::bigint[], $2::text[]) as u(id, token)
         where j.id = u.id and j.locked_by = u.token returning j.id, j.state`,
        [ids, tokens],
      )).rows;
      return claims.map((c) => rows.filter((r) => c.ids.includes(Number(r.id))));
    });
  }

  done(ids: number[], token: string): Promise<StateRows> {
    return this.group.submit({ ids, token });
  }
}
