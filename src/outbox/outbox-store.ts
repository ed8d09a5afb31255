/**
 * The owner of `outbox_jobs` (with outbox-admin-store.ts): every statement that reads or writes the table lives in
 * these two files. Here: writers on the call path, the worker's claims and outcomes. Functions take either the pool or
 * the caller's transaction client, so a job is inserted in the same transaction as the call row it belongs to.
 * Every time comes from the database clock, so several instances agree.
 */
import { inTransaction, type Pool, type PoolClient } from '../db/pool.js';
import { OUTBOX_CHANNEL, outboxJobKey, type Job, type JobState } from './job-types.js';

export type Db = Pool | PoolClient;

const MS = "* interval '1 millisecond'";
const JOB_COLUMNS = ['id', 'enterprise', 'kind', 'job_key', 'payload', 'state', 'attempts', 'deferrals', 'run_at', 'expires_at', 'last_error', 'created_at'];
const COLUMNS = JOB_COLUMNS.join(', ');
const UNLOCK = 'locked_at = null, locked_by = null, updated_at = now()';
/** A lock nobody holds, or one older than the lock timeout ($N): its worker died. */
const claimable = (alias: string, param: string): string =>
  `(${alias}locked_at is null or ${alias}locked_at < now() - ${param} ${MS})`;

interface JobRow {
  id: number;
  enterprise: string;
  kind: string;
  job_key: string | null;
  payload: unknown;
  state: JobState;
  attempts: number;
  deferrals: number;
  run_at: Date;
  expires_at: Date | null;
  last_error: string | null;
  created_at: Date;
}

/** A claimed row carries the attempt it is on; handlers see the failed attempts before it. */
function claimedJob(r: JobRow): Job {
  return {
    id: r.id,
    enterprise: r.enterprise,
    kind: r.kind,
    jobKey: r.job_key,
    payload: r.payload,
    state: r.state,
    attempts: Math.max(0, r.attempts - 1),
    deferrals: r.deferrals,
    runAt: r.run_at,
    expiresAt: r.expires_at,
    lastError: r.last_error,
    createdAt: r.created_at,
  };
}

// ---- writers (the call path) --------------------------------------------------------------------------------

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

/** Pending jobs with these keys expire now: one being delivered right now is not retried after a failure. */
export async function expirePendingJobs(db: Db, jobKeys: readonly string[]): Promise<void> {
  await db.query(
    `update outbox_jobs set expires_at = least(coalesce(expires_at, now()), now()) where job_key = any($1) and state = 'pending'`,
    [jobKeys],
  );
}

/** A job's state by key, and whether a worker holds it right now; null when there is no such job. */
export async function jobStateByKey(db: Db, jobKey: string): Promise<{ state: JobState; locked: boolean } | null> {
  const { rows } = await db.query<{ state: JobState; locked: boolean }>(
    'select state, locked_at is not null as locked from outbox_jobs where job_key = $1',
    [jobKey],
  );
  return rows[0] ?? null;
}

// ---- the worker: claiming ---------------------------------------------------------------------------------------

export interface ClaimScope {
  /** Kinds this worker has handlers for. */
  readonly kinds: readonly string[];
  readonly serialKinds: readonly string[];
  readonly lockTimeoutMs: number;
  /** A job whose claims were abandoned this many times (attempts counted at claim) fails instead of running again. */
  readonly maxAttempts: number;
}

export interface ClaimedBatch {
  readonly token: string;
  readonly enterprise: string;
  readonly kind: string;
  readonly jobs: Job[];
}

export interface DueGroup {
  readonly enterprise: string;
  readonly kind: string;
  readonly firstId: number;
}

/** Rows that changed state while claiming (expired popups, jobs given up), for the outcome counters. */
export type SideOutcomes = { kind: string; outcome: 'dropped' | 'failed' }[];

/**
 * One claiming transaction: the caller picks a group among the due ones and claims from it. Locks are taken with
 * FOR UPDATE SKIP LOCKED and the attempt is counted in the same statement that locks, so a job that kills its
 * worker has the attempt on record (and a job that keeps doing it fails instead of stalling its queue for ever).
 */
export class ClaimTransaction {
  readonly sideOutcomes: SideOutcomes = [];

  constructor(
    private readonly client: PoolClient,
    private readonly scope: ClaimScope,
  ) {}

  /** Popups past their expiry are dropped, never sent late (a stale lock does not protect them). */
  async expireDue(): Promise<void> {
    const { rows } = await this.client.query<{ kind: string }>(
      `update outbox_jobs set state = 'dropped', last_error = 'expired before delivery', ${UNLOCK}
       where state = 'pending' and expires_at <= now() and kind = any($1) and ${claimable('', '$2')}
       returning kind`,
      [this.scope.kinds, this.scope.lockTimeoutMs],
    );
    for (const r of rows) this.sideOutcomes.push({ kind: r.kind, outcome: 'dropped' });
  }

  /**
   * A job still locked past the lock timeout was abandoned mid-delivery (its worker crashed or hung). Once its
   * attempts, counted at claim, reach the limit it fails with the reason: a job that crashes the process must not
   * hold an ordered queue back for ever.
   */
  async failAbandoned(): Promise<void> {
    const { rows } = await this.client.query<{ kind: string }>(
      `update outbox_jobs set state = 'failed',
         last_error = 'abandoned mid-delivery ' || attempts || ' time(s) (its worker died or hung; last worker '
           || coalesce(locked_by, '?') || ')' || coalesce(': ' || last_error, ''),
         ${UNLOCK}
       where state = 'pending' and kind = any($1) and locked_at < now() - $2 ${MS} and attempts >= $3
       returning kind`,
      [this.scope.kinds, this.scope.lockTimeoutMs, this.scope.maxAttempts],
    );
    for (const r of rows) this.sideOutcomes.push({ kind: r.kind, outcome: 'failed' });
  }

  /** (enterprise, kind) groups with due jobs, oldest first (looking at the 200 oldest due jobs). */
  async dueGroups(exclude: readonly number[]): Promise<DueGroup[]> {
    const { rows } = await this.client.query<{ enterprise: string; kind: string; first_id: number }>(
      `select enterprise, kind, min(id) as first_id from (
         select enterprise, kind, id from outbox_jobs
         where state = 'pending' and run_at <= now() and kind = any($1) and ${claimable('', '$2')} and id <> all($3)
         order by id limit 200
       ) due group by enterprise, kind order by first_id`,
      [this.scope.kinds, this.scope.lockTimeoutMs, exclude],
    );
    return rows.map((r) => ({ enterprise: r.enterprise, kind: r.kind, firstId: r.first_id }));
  }

  /** Claims up to batchSize due jobs of the group (for an ordered kind: the due prefix), or none. */
  async claimFromGroup(group: DueGroup, batchSize: number, exclude: readonly number[], token: string): Promise<ClaimedBatch | null> {
    const ids = this.scope.serialKinds.includes(group.kind)
      ? await this.serialPrefix(group, batchSize, exclude)
      : await this.dueIds(group, batchSize, exclude);
    if (ids.length === 0) return null;
    const { rows } = await this.client.query<JobRow>(
      `update outbox_jobs set locked_at = now(), locked_by = $2, attempts = attempts + 1, updated_at = now()
       where id = any($1) returning ${COLUMNS}`,
      [ids, token],
    );
    rows.sort((a, b) => a.id - b.id);
    return { token, enterprise: group.enterprise, kind: group.kind, jobs: rows.map(claimedJob) };
  }

  private async dueIds(group: DueGroup, batchSize: number, exclude: readonly number[]): Promise<number[]> {
    const { rows } = await this.client.query<{ id: number }>(
      `select id from outbox_jobs
       where enterprise = $1 and kind = $2 and state = 'pending' and run_at <= now() and ${claimable('', '$3')}
         and id <> all($4)
       order by id limit $5 for update skip locked`,
      [group.enterprise, group.kind, this.scope.lockTimeoutMs, exclude, batchSize],
    );
    return rows.map((r) => r.id);
  }

  private async serialPrefix(group: DueGroup, batchSize: number, exclude: readonly number[]): Promise<number[]> {
    if (!(await this.tryGroupLock(group.enterprise, group.kind))) return [];
    const { rows: busy } = await this.client.query(
      `select 1 from outbox_jobs where enterprise = $1 and kind = $2 and state = 'pending'
         and locked_at >= now() - $3 ${MS} limit 1`,
      [group.enterprise, group.kind, this.scope.lockTimeoutMs],
    );
    if (busy.length > 0) return [];
    // Strict id order: take the due prefix; a job waiting for its retry holds back everything after it.
    const { rows } = await this.client.query<{ id: number; attempts: number; deferrals: number; due: boolean }>(
      `select id, attempts, deferrals, run_at <= now() as due from outbox_jobs
       where enterprise = $1 and kind = $2 and state = 'pending'
       order by id limit $3 for update skip locked`,
      [group.enterprise, group.kind, batchSize],
    );
    const prefix: number[] = [];
    for (const r of rows) {
      if (exclude.includes(r.id)) break;
      // A job only waiting for its input (an open recording) does not hold the others back; one waiting for a
      // retry does, so history after an outage still arrives in order.
      if (!r.due && r.attempts === 0 && r.deferrals > 0) continue;
      if (!r.due) break;
      prefix.push(r.id);
    }
    return prefix;
  }

  /** Serialises claims of one ordered group across instances for the rest of the claiming transaction. */
  async tryGroupLock(enterprise: string, kind: string): Promise<boolean> {
    const { rows } = await this.client.query<{ ok: boolean }>(
      'select pg_try_advisory_xact_lock(hashtextextended($1, 0)) as ok',
      [`rcrm_outbox:${enterprise}:${kind}`],
    );
    return rows[0]?.ok === true;
  }

  /** The pending job's (enterprise, kind), or null when it is not pending or not one of this worker's kinds. */
  async pendingHead(jobId: number): Promise<{ enterprise: string; kind: string } | null> {
    const { rows } = await this.client.query<{ enterprise: string; kind: string }>(
      'select enterprise, kind from outbox_jobs where id = $1 and state = $2',
      [jobId, 'pending'],
    );
    const head = rows[0];
    return head && this.scope.kinds.includes(head.kind) ? head : null;
  }

  /** Claims this one job if it is due, unexpired, unlocked and (for an ordered kind) first in its queue. */
  async claimOne(jobId: number, serial: boolean, token: string): Promise<ClaimedBatch | null> {
    const { rows } = await this.client.query<JobRow>(
      `update outbox_jobs j set locked_at = now(), locked_by = $2, attempts = j.attempts + 1, updated_at = now()
       where j.id = $1 and j.state = 'pending' and j.run_at <= now()
         and (j.expires_at is null or j.expires_at > now()) and ${claimable('j.', '$3')}
         and not ($4 and exists (
           select 1 from outbox_jobs e where e.enterprise = j.enterprise and e.kind = j.kind and e.state = 'pending'
             and (e.id < j.id or e.locked_at >= now() - $3 ${MS})))
       returning ${JOB_COLUMNS.map((c) => `j.${c}`).join(', ')}`,
      [jobId, token, this.scope.lockTimeoutMs, serial],
    );
    const row = rows[0];
    return row ? { token, enterprise: row.enterprise, kind: row.kind, jobs: [claimedJob(row)] } : null;
  }
}

/** Runs fn in one claiming transaction (the one transaction helper); rolls back on error. */
export async function inClaimTransaction<T>(
  pool: Pool,
  scope: ClaimScope,
  fn: (tx: ClaimTransaction) => Promise<T>,
): Promise<{ result: T; sideOutcomes: SideOutcomes }> {
  return inTransaction(pool, async (client) => {
    const tx = new ClaimTransaction(client, scope);
    const result = await fn(tx);
    return { result, sideOutcomes: tx.sideOutcomes };
  });
}

// ---- the worker: recording outcomes -----------------------------------------------------------------------------

type StateRows = { id: number; state: JobState }[];

/**
 * Outcome statements, one per outcome, each only for rows this claim (token) still holds. The attempt was counted
 * at claim: outcomes that are not a failed delivery (done, dropped, later, released) take it back.
 */
export class OutcomeWriter {
  constructor(
    private readonly pool: Pool,
    private readonly token: string,
  ) {}

  private async rows(sql: string, params: unknown[]): Promise<StateRows> {
    return (await this.pool.query<{ id: number; state: JobState }>(sql, params)).rows;
  }

  done(ids: number[]): Promise<StateRows> {
    return this.rows(
      `update outbox_jobs set state = 'done', attempts = greatest(attempts - 1, 0), last_error = null, ${UNLOCK}
       where id = any($1) and locked_by = $2 returning id, state`,
      [ids, this.token],
    );
  }

  /** Back to pending after each delay, or failed once out of attempts and old enough, or dropped past expiry. */
  retry(ids: number[], delays: number[], errors: string[], maxAttempts: number, giveUpAfterMs: number): Promise<StateRows> {
    return this.rows(
      `update outbox_jobs j set run_at = now() + u.delay ${MS}, last_error = u.err,
         state = case when j.attempts >= $5 and j.created_at <= now() - $6 ${MS} then 'failed'
                      when j.expires_at <= now() + u.delay ${MS} then 'dropped' else 'pending' end,
         ${UNLOCK}
       from unnest($1::bigint[], $2::float8[], $3::text[]) as u(id, delay, err)
       where j.id = u.id and j.locked_by = $4 returning j.id, j.state`,
      [ids, delays, errors, this.token, maxAttempts, giveUpAfterMs],
    );
  }

  failed(ids: number[], reasons: string[]): Promise<StateRows> {
    return this.rows(
      `update outbox_jobs j set state = 'failed', last_error = u.reason, ${UNLOCK}
       from unnest($1::bigint[], $2::text[]) as u(id, reason)
       where j.id = u.id and j.locked_by = $3 returning j.id, j.state`,
      [ids, reasons, this.token],
    );
  }

  dropped(ids: number[], reasons: string[]): Promise<StateRows> {
    return this.rows(
      `update outbox_jobs j set state = 'dropped', attempts = greatest(j.attempts - 1, 0), last_error = u.reason, ${UNLOCK}
       from unnest($1::bigint[], $2::text[]) as u(id, reason)
       where j.id = u.id and j.locked_by = $3 returning j.id, j.state`,
      [ids, reasons, this.token],
    );
  }

  /** "Not ready yet": postponed without an attempt; failed once postponed more than maxDeferrals times. */
  later(ids: number[], delays: number[], reasons: string[], maxDeferrals: number): Promise<StateRows> {
    return this.rows(
      `update outbox_jobs j set deferrals = j.deferrals + 1, attempts = greatest(j.attempts - 1, 0),
         run_at = now() + u.delay ${MS},
         state = case when j.deferrals + 1 > $4 then 'failed' else 'pending' end,
         last_error = case when j.deferrals + 1 > $4 then 'gave up waiting: ' || u.reason else u.reason end,
         ${UNLOCK}
       from unnest($1::bigint[], $2::float8[], $3::text[]) as u(id, delay, reason)
       where j.id = u.id and j.locked_by = $5 returning j.id, j.state`,
      [ids, delays, reasons, maxDeferrals, this.token],
    );
  }

  /** Not tried at all: put back untouched. */
  released(ids: number[]): Promise<StateRows> {
    return this.rows(
      `update outbox_jobs set attempts = greatest(attempts - 1, 0), ${UNLOCK}
       where id = any($1) and locked_by = $2 returning id, state`,
      [ids, this.token],
    );
  }
}

/** RetailCRM throttles this account: its other due, unlocked jobs wait too. Resolves with how many. */
export async function holdBackEnterprise(db: Db, enterprise: string, delayMs: number): Promise<number> {
  const { rowCount } = await db.query(
    `update outbox_jobs set run_at = now() + $2 ${MS}, updated_at = now()
     where enterprise = $1 and state = 'pending' and locked_at is null and run_at < now() + $2 ${MS}`,
    [enterprise, delayMs],
  );
  return rowCount ?? 0;
}

// ---- upkeep and reading -----------------------------------------------------------------------------------------

