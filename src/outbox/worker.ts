/**
 * The outbox worker (STYLE.md §9, modelled on graphile-worker): claims due jobs with FOR UPDATE SKIP LOCKED in
 * batches of one (enterprise, kind), runs the kind's handler under a deadline, and records each outcome with one
 * statement per outcome. LISTEN wakes it, polling is the fallback, a lock older than lockTimeoutMs is taken over
 * (a worker that died), and every time comes from the database clock so several instances agree.
 */
import { CrmNetworkError, CrmRateLimitedError, errorMessage } from '../lib/errors.js';
import { retryDelay } from '../crm/retry-policy.js';
import { PgListener } from '../db/pg-listener.js';
import type { Pool, PoolClient } from '../db/pool.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { TaskTracker } from '../lib/task-tracker.js';
import { OUTBOX_CHANNEL, type Job, type JobHandlers, type JobOutcome, type JobResult, type JobState } from './job-types.js';

export interface OutboxBacklog {
  readonly enterprise: string;
  readonly pending: number;
  readonly failed: number;
  readonly oldestPendingSeconds: number;
}

export interface OutboxWorkerOptions {
  readonly pool: Pool;
  readonly handlers: JobHandlers;
  /** Names this instance in locked_by (host:pid is a good choice). */
  readonly workerId: string;
  /** Batches the delivery loop runs at once. */
  readonly concurrency: number;
  /** deliverNow deliveries at once (popups), apart from the loop's; default 32. */
  readonly immediateConcurrency?: number;
  readonly pollIntervalMs: number;
  /** A lock older than this is considered abandoned (its worker died) and is taken over. */
  readonly lockTimeoutMs: number;
  /**
   * A job that keeps failing with retryable errors becomes `failed` only after this many attempts AND once it is
   * older than giveUpAfterMs: a RetailCRM outage of hours must not turn calls into failures.
   */
  readonly maxAttempts: number;
  /** Default 3 days. */
  readonly giveUpAfterMs?: number;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** Deadline of one batch; default 80 % of lockTimeoutMs, and it must stay below it. */
  readonly handlerTimeoutMs?: number;
  /** "Not ready yet" postponements before a job becomes `failed`; default 500. */
  readonly maxDeferrals?: number;
  /** How often the job gauge is refreshed and old rows pruned; default 15 s. */
  readonly maintenanceIntervalMs?: number;
  /** done/dropped rows are deleted after this; default 7 days (their job_key can then be reused). */
  readonly retainFinishedMs?: number;
  /** Backoff bounds handed to retryDelay(); defaults are the policy's (250 ms, 30 s). */
  readonly retryBaseMs?: number;
  readonly retryCapMs?: number;
}

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
  due?: boolean;
}

interface Batch {
  readonly token: string;
  readonly enterprise: string;
  readonly kind: string;
  readonly jobs: Job[];
}

const JOB_COLUMNS = 'id, enterprise, kind, job_key, payload, state, attempts, deferrals, run_at, expires_at, last_error, created_at';
const MS = "* interval '1 millisecond'";

function toJob(r: JobRow): Job {
  return {
    id: r.id,
    enterprise: r.enterprise,
    kind: r.kind,
    jobKey: r.job_key,
    payload: r.payload,
    state: r.state,
    attempts: r.attempts,
    deferrals: r.deferrals,
    runAt: r.run_at,
    expiresAt: r.expires_at,
    lastError: r.last_error,
    createdAt: r.created_at,
  };
}

/** Rejects with `signal.reason` when the signal fires first; the loser's rejection is swallowed, not floated. */
function raceSignal<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export class OutboxWorker {
  private readonly o: OutboxWorkerOptions;
  private readonly kinds: string[];
  private readonly serialKinds: string[];
  private readonly handlerTimeoutMs: number;
  private readonly maxDeferrals: number;
  private readonly tasks: TaskTracker;
  private readonly shutdown = new AbortController();
  private readonly groupsInFlight = new Map<string, number>();
  private readonly outcomes = new Map<string, number>();
  private inFlight = 0;
  private tokenSeq = 0;
  private immediateInFlight = 0;
  private started = false;
  private stopping = false;
  private pumping = false;
  private wakeAgain = false;
  private readonly listener: PgListener;
  private pollTimer: NodeJS.Timeout | undefined;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private maintenanceTicks = 0;

  constructor(options: OutboxWorkerOptions) {
    this.o = options;
    if (!(options.concurrency >= 1)) throw new RangeError('concurrency must be at least 1');
    if (!(options.pollIntervalMs > 0)) throw new RangeError('pollIntervalMs must be positive');
    if (!(options.maxAttempts >= 1)) throw new RangeError('maxAttempts must be at least 1');
    this.handlerTimeoutMs = options.handlerTimeoutMs ?? Math.floor(options.lockTimeoutMs * 0.8);
    if (!(this.handlerTimeoutMs > 0 && this.handlerTimeoutMs < options.lockTimeoutMs)) {
      throw new RangeError('handlerTimeoutMs must be positive and below lockTimeoutMs (or the lock would go stale mid-batch)');
    }
    this.maxDeferrals = options.maxDeferrals ?? 500;
    this.kinds = Object.keys(options.handlers);
    this.serialKinds = this.kinds.filter((k) => options.handlers[k]?.serial === true);
    this.tasks = new TaskTracker((err) => options.logger.error('outbox worker task failed', { err }));
    // Polling covers the time LISTEN is down; once it is back, wake: something may have been enqueued meanwhile.
    this.listener = new PgListener({
      pool: options.pool,
      channel: OUTBOX_CHANNEL,
      logger: options.logger,
      label: 'outbox',
      onNotification: () => this.wake(),
      onConnected: () => this.wake(),
    });
    const metrics = options.metrics;
    if (metrics) metrics.addCollector('outbox', () => this.collectGauges(metrics));
  }

  /** True while LISTEN is active, so a NOTIFY wakes this worker (tests wait on it instead of sleeping). */
  get listening(): boolean {
    return this.listener.listening;
  }

  // ---- lifecycle ----------------------------------------------------------------------------------------------

  /** Starts listening, polling and the gauge refresh; the first claim runs at once. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.tasks.track(this.listener.start());
    this.pollTimer = setInterval(() => this.wake(), this.o.pollIntervalMs);
    if (this.o.metrics) {
      this.maintenanceTimer = setInterval(() => this.tasks.track(this.maintain()), this.o.maintenanceIntervalMs ?? 15_000);
      this.tasks.track(this.maintain());
    }
    this.wake();
  }

  /**
   * Stops claiming, lets in-flight batches finish until drainMs, then aborts them: what they had not finished is
   * put back (lock cleared, no attempt counted) for the next worker. Closes the listener last.
   */
  async stop(opts: { drainMs: number } = { drainMs: 10_000 }): Promise<void> {
    if (this.stopping) {
      await this.tasks.drain();
      return;
    }
    this.stopping = true;
    clearInterval(this.pollTimer);
    clearInterval(this.maintenanceTimer);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), Math.max(0, opts.drainMs));
    });
    const drained = await Promise.race([this.tasks.drain().then(() => false), timedOut]);
    clearTimeout(timer);
    if (drained) {
      this.o.logger.warn('outbox drain deadline passed: aborting in-flight batches', { inFlight: this.inFlight });
      this.shutdown.abort(new Error('outbox worker stopping'));
      await this.tasks.drain();
    }
    await this.listener.stop();
  }

  /** Claims and processes everything due now (each job at most once per call); resolves when done. For tests. */
  async runOnce(): Promise<void> {
    const seen = new Set<number>();
    for (;;) {
      const running: Promise<unknown>[] = [];
      try {
        while (running.length < this.o.concurrency) {
          const batch = await this.claimBatch([...seen]);
          if (!batch) break;
          for (const j of batch.jobs) seen.add(j.id);
          running.push(this.runTracked(batch));
        }
      } finally {
        await Promise.allSettled(running);
      }
      if (running.length === 0) return;
    }
  }

  /**
   * Delivers one job at once, in this process (popups must not wait for a wake-up). Resolves with its outcome, or
   * null when it was not taken: already delivered or held by another worker, not due, expired, behind an older job
   * of an ordered kind, or no slot free (then the loop is woken to deliver it in turn).
   */
  deliverNow(jobId: number): Promise<JobOutcome | null> {
    const work = this.deliverNowInner(jobId);
    this.tasks.track(work);
    return work;
  }

  // ---- the loop -----------------------------------------------------------------------------------------------

  private wake(): void {
    if (!this.started || this.stopping) return;
    if (this.pumping) {
      this.wakeAgain = true;
      return;
    }
    this.pumping = true;
    this.tasks.track(
      this.pump().finally(() => {
        this.pumping = false;
        if (this.wakeAgain) {
          this.wakeAgain = false;
          this.wake();
        }
      }),
    );
  }

  private async pump(): Promise<void> {
    while (!this.stopping && this.inFlight < this.o.concurrency) {
      this.inFlight++;
      let batch: Batch | null;
      try {
        batch = await this.claimBatch([]);
      } finally {
        this.inFlight--;
      }
      if (!batch) return;
      this.tasks.track(this.runTracked(batch).finally(() => this.wake()));
    }
  }

  private async runTracked(batch: Batch): Promise<JobResult[]> {
    const group = `${batch.enterprise}\u0000${batch.kind}`;
    this.inFlight++;
    this.groupsInFlight.set(group, (this.groupsInFlight.get(group) ?? 0) + 1);
    try {
      return await this.runBatch(batch);
    } finally {
      this.inFlight--;
      const n = (this.groupsInFlight.get(group) ?? 1) - 1;
      if (n <= 0) this.groupsInFlight.delete(group);
      else this.groupsInFlight.set(group, n);
    }
  }

  private async deliverNowInner(jobId: number): Promise<JobOutcome | null> {
    // Popups have their own bound: a busy delivery loop (uploads after an outage) must not delay a ringing call's
    // popup, and many calls ringing at once must not wait for the loop's few slots.
    if (this.stopping || this.immediateInFlight >= (this.o.immediateConcurrency ?? 32)) {
      this.wake();
      return null;
    }
    this.immediateInFlight++;
    try {
      const batch = await this.claimOne(jobId);
      if (!batch) {
        this.wake();
        return null;
      }
      const results = await this.runTracked(batch);
      return results[0]?.kind ?? null;
    } finally {
      this.immediateInFlight--;
    }
  }

  // ---- claiming -----------------------------------------------------------------------------------------------

  private nextToken(): string {
    this.tokenSeq++;
    return `${this.o.workerId}#${this.tokenSeq}`;
  }

  /** One batch of one (enterprise, kind), oldest first, locked for this worker; null when nothing is due. */
  private async claimBatch(exclude: number[]): Promise<Batch | null> {
    if (this.kinds.length === 0) return null;
    const client = await this.o.pool.connect();
    try {
      await client.query('begin');
      await this.expireDue(client);
      const { rows: groups } = await client.query<{ enterprise: string; kind: string; first_id: number }>(
        `select enterprise, kind, min(id) as first_id from (
           select enterprise, kind, id from outbox_jobs
           where state = 'pending' and run_at <= now() and kind = any($1)
             and (locked_at is null or locked_at < now() - $2 ${MS}) and id <> all($3)
           order by id limit 200
         ) due group by enterprise, kind order by first_id`,
        [this.kinds, this.o.lockTimeoutMs, exclude],
      );
      // Fairness: groups this process is already delivering go last, so one busy enterprise cannot take every slot.
      const ordered = groups
        .map((g) => ({ ...g, busy: this.groupsInFlight.get(`${g.enterprise}\u0000${g.kind}`) ?? 0 }))
        .sort((a, b) => a.busy - b.busy || a.first_id - b.first_id);
      for (const g of ordered) {
        const rows = await this.claimFromGroup(client, g.enterprise, g.kind, exclude);
        if (rows.length === 0) continue;
        const token = this.nextToken();
        await client.query(
          'update outbox_jobs set locked_at = now(), locked_by = $2, updated_at = now() where id = any($1)',
          [rows.map((r) => r.id), token],
        );
        await client.query('commit');
        return { token, enterprise: g.enterprise, kind: g.kind, jobs: rows.map(toJob) };
      }
      await client.query('commit');
      return null;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async claimFromGroup(client: PoolClient, enterprise: string, kind: string, exclude: number[]): Promise<JobRow[]> {
    const batchSize = Math.max(1, this.o.handlers[kind]?.batchSize ?? 1);
    if (!this.serialKinds.includes(kind)) {
      const { rows } = await client.query<JobRow>(
        `select ${JOB_COLUMNS} from outbox_jobs
         where enterprise = $1 and kind = $2 and state = 'pending' and run_at <= now()
           and (locked_at is null or locked_at < now() - $3 ${MS}) and id <> all($4)
         order by id limit $5 for update skip locked`,
        [enterprise, kind, this.o.lockTimeoutMs, exclude, batchSize],
      );
      return rows;
    }
    if (!(await this.tryGroupLock(client, enterprise, kind))) return [];
    const { rows: busy } = await client.query(
      `select 1 from outbox_jobs where enterprise = $1 and kind = $2 and state = 'pending'
         and locked_at >= now() - $3 ${MS} limit 1`,
      [enterprise, kind, this.o.lockTimeoutMs],
    );
    if (busy.length > 0) return [];
    // Strict id order: take the due prefix; a job waiting for its retry holds back everything after it.
    const { rows } = await client.query<JobRow>(
      `select ${JOB_COLUMNS}, run_at <= now() as due from outbox_jobs
       where enterprise = $1 and kind = $2 and state = 'pending'
       order by id limit $3 for update skip locked`,
      [enterprise, kind, batchSize],
    );
    const prefix: JobRow[] = [];
    for (const r of rows) {
      if (exclude.includes(r.id)) break;
      // A job only waiting for its input (an open recording) does not hold the others back; one waiting for a
      // retry does, so history after an outage still arrives in order.
      if (!r.due && r.attempts === 0 && r.deferrals > 0) continue;
      if (!r.due) break;
      prefix.push(r);
    }
    return prefix;
  }

  /** Serialises claims of one ordered group across instances for the rest of the claiming transaction. */
  private async tryGroupLock(client: PoolClient, enterprise: string, kind: string): Promise<boolean> {
    const { rows } = await client.query<{ ok: boolean }>(
      'select pg_try_advisory_xact_lock(hashtextextended($1, 0)) as ok',
      [`rcrm_outbox:${enterprise}:${kind}`],
    );
    return rows[0]?.ok === true;
  }

  private async claimOne(jobId: number): Promise<Batch | null> {
    const client = await this.o.pool.connect();
    try {
      await client.query('begin');
      const { rows: head } = await client.query<{ enterprise: string; kind: string }>(
        'select enterprise, kind from outbox_jobs where id = $1 and state = $2',
        [jobId, 'pending'],
      );
      const target = head[0];
      if (!target || !this.kinds.includes(target.kind)) {
        await client.query('commit');
        return null;
      }
      const serial = this.serialKinds.includes(target.kind);
      if (serial && !(await this.tryGroupLock(client, target.enterprise, target.kind))) {
        await client.query('commit');
        return null;
      }
      const token = this.nextToken();
      const { rows } = await client.query<JobRow>(
        `update outbox_jobs j set locked_at = now(), locked_by = $2, updated_at = now()
         where j.id = $1 and j.state = 'pending' and j.run_at <= now()
           and (j.expires_at is null or j.expires_at > now())
           and (j.locked_at is null or j.locked_at < now() - $3 ${MS})
           and not ($4 and exists (
             select 1 from outbox_jobs e where e.enterprise = j.enterprise and e.kind = j.kind and e.state = 'pending'
               and (e.id < j.id or e.locked_at >= now() - $3 ${MS})))
         returning ${JOB_COLUMNS.split(', ').map((c) => `j.${c}`).join(', ')}`,
        [jobId, token, this.o.lockTimeoutMs, serial],
      );
      await client.query('commit');
      const row = rows[0];
      return row ? { token, enterprise: row.enterprise, kind: row.kind, jobs: [toJob(row)] } : null;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Popups past their expiry are dropped, never sent late (a stale lock does not protect them). */
  private async expireDue(client: PoolClient): Promise<void> {
    const { rows } = await client.query<{ kind: string }>(
      `update outbox_jobs set state = 'dropped', last_error = 'expired before delivery', locked_at = null,
         locked_by = null, updated_at = now()
       where state = 'pending' and expires_at <= now() and kind = any($1)
         and (locked_at is null or locked_at < now() - $2 ${MS})
       returning kind`,
      [this.kinds, this.o.lockTimeoutMs],
    );
    for (const r of rows) this.countOutcome(r.kind, 'dropped');
  }

  // ---- running and recording ----------------------------------------------------------------------------------

  private async runBatch(batch: Batch): Promise<JobResult[]> {
    const handler = this.o.handlers[batch.kind];
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error(`outbox batch ${batch.kind} exceeded ${this.handlerTimeoutMs} ms`)),
      this.handlerTimeoutMs,
    );
    const signal = AbortSignal.any([deadline.signal, this.shutdown.signal]);
    let results: JobResult[];
    try {
      if (!handler) throw new Error(`no handler for kind ${batch.kind}`);
      results = await raceSignal(handler.handle(batch.enterprise, batch.jobs, signal), signal);
      if (results.length !== batch.jobs.length) {
        throw new Error(`handler ${batch.kind} answered ${results.length} results for ${batch.jobs.length} jobs`);
      }
    } catch (err) {
      results = batch.jobs.map(() => ({ kind: 'retry', error: err }));
    } finally {
      clearTimeout(timer);
    }
    if (this.shutdown.signal.aborted) {
      results = results.map((r) => (r.kind === 'retry' ? { kind: 'released' } : r));
    }
    try {
      await this.record(batch, results);
    } catch (err) {
      // The locks go stale and another pass delivers again: at least once, never lost.
      this.o.logger.error('outbox: could not record outcomes', { err, kind: batch.kind, enterprise: batch.enterprise });
    }
    return results;
  }

  private backoffMs(attempt: number, error: unknown): number {
    const policy = { attempt, baseMs: this.o.retryBaseMs, capMs: this.o.retryCapMs };
    // Non-CRM failures (a database hiccup in a handler) back off like a network error.
    return retryDelay({ ...policy, error }) ?? retryDelay({ ...policy, error: new CrmNetworkError(errorMessage(error)) }) ?? 0;
  }

  private async record(batch: Batch, results: JobResult[]): Promise<void> {
    const byKind = { done: [] as number[], released: [] as number[] };
    const retry = { ids: [] as number[], delays: [] as number[], errors: [] as string[] };
    const failed = { ids: [] as number[], reasons: [] as string[] };
    const dropped = { ids: [] as number[], reasons: [] as string[] };
    const later = { ids: [] as number[], delays: [] as number[], reasons: [] as string[] };
    let rateLimitMs: number | undefined;
    batch.jobs.forEach((job, i) => {
      const r = results[i] ?? { kind: 'retry', error: new Error('no result') };
      switch (r.kind) {
        case 'done':
        case 'released':
          byKind[r.kind].push(job.id);
          break;
        case 'retry': {
          const delay = Math.max(0, r.delayMs ?? this.backoffMs(job.attempts + 1, r.error));
          retry.ids.push(job.id);
          retry.delays.push(delay);
          retry.errors.push(errorMessage(r.error).slice(0, 2000));
          if (r.error instanceof CrmRateLimitedError) rateLimitMs = Math.max(rateLimitMs ?? 0, delay);
          break;
        }
        case 'failed':
          failed.ids.push(job.id);
          failed.reasons.push(r.reason.slice(0, 2000));
          break;
        case 'dropped':
          dropped.ids.push(job.id);
          dropped.reasons.push(r.reason.slice(0, 2000));
          break;
        case 'later':
          later.ids.push(job.id);
          later.delays.push(Math.max(0, r.delayMs));
          later.reasons.push(r.reason.slice(0, 2000));
          break;
      }
    });
    const q = async (sql: string, params: unknown[]): Promise<{ id: number; state: JobState }[]> =>
      (await this.o.pool.query<{ id: number; state: JobState }>(sql, params)).rows;
    const unlock = 'locked_at = null, locked_by = null, updated_at = now()';

    if (byKind.done.length > 0) {
      const rows = await q(
        `update outbox_jobs set state = 'done', last_error = null, ${unlock}
         where id = any($1) and locked_by = $2 returning id, state`,
        [byKind.done, batch.token],
      );
      this.countRows(batch.kind, rows);
    }
    if (retry.ids.length > 0) {
      const rows = await q(
        `update outbox_jobs j set attempts = j.attempts + 1, run_at = now() + u.delay ${MS}, last_error = u.err,
           state = case when j.attempts + 1 >= $5 and j.created_at <= now() - $6 ${MS} then 'failed'
                        when j.expires_at <= now() + u.delay ${MS} then 'dropped' else 'pending' end,
           ${unlock}
         from unnest($1::bigint[], $2::float8[], $3::text[]) as u(id, delay, err)
         where j.id = u.id and j.locked_by = $4 returning j.id, j.state`,
        [retry.ids, retry.delays, retry.errors, batch.token, this.o.maxAttempts, this.o.giveUpAfterMs ?? 3 * 86_400_000],
      );
      this.countRows(batch.kind, rows, 'retry');
      this.o.logger.info('outbox: delivery failed, will retry', {
        kind: batch.kind, enterprise: batch.enterprise, jobs: retry.ids, error: retry.errors[0],
      });
    }
    if (failed.ids.length > 0) {
      const rows = await q(
        `update outbox_jobs j set state = 'failed', attempts = j.attempts + 1, last_error = u.reason, ${unlock}
         from unnest($1::bigint[], $2::text[]) as u(id, reason)
         where j.id = u.id and j.locked_by = $3 returning j.id, j.state`,
        [failed.ids, failed.reasons, batch.token],
      );
      this.countRows(batch.kind, rows);
      this.o.logger.warn('outbox: job failed permanently (retry by hand: outbox retry)', {
        kind: batch.kind, enterprise: batch.enterprise, jobs: failed.ids, reason: failed.reasons[0],
      });
    }
    if (dropped.ids.length > 0) {
      const rows = await q(
        `update outbox_jobs j set state = 'dropped', last_error = u.reason, ${unlock}
         from unnest($1::bigint[], $2::text[]) as u(id, reason)
         where j.id = u.id and j.locked_by = $3 returning j.id, j.state`,
        [dropped.ids, dropped.reasons, batch.token],
      );
      this.countRows(batch.kind, rows);
    }
    if (later.ids.length > 0) {
      const rows = await q(
        `update outbox_jobs j set deferrals = j.deferrals + 1, run_at = now() + u.delay ${MS},
           state = case when j.deferrals + 1 > $4 then 'failed' else 'pending' end,
           last_error = case when j.deferrals + 1 > $4 then 'gave up waiting: ' || u.reason else u.reason end,
           ${unlock}
         from unnest($1::bigint[], $2::float8[], $3::text[]) as u(id, delay, reason)
         where j.id = u.id and j.locked_by = $5 returning j.id, j.state`,
        [later.ids, later.delays, later.reasons, this.maxDeferrals, batch.token],
      );
      this.countRows(batch.kind, rows, 'later');
    }
    if (byKind.released.length > 0) {
      await q(`update outbox_jobs set ${unlock} where id = any($1) and locked_by = $2 returning id, state`, [
        byKind.released,
        batch.token,
      ]);
    }
    if (rateLimitMs !== undefined) {
      // RetailCRM is throttling this account: hold back its other due jobs too instead of burning their attempts.
      const { rowCount } = await this.o.pool.query(
        `update outbox_jobs set run_at = now() + $2 ${MS}, updated_at = now()
         where enterprise = $1 and state = 'pending' and locked_at is null and run_at < now() + $2 ${MS}`,
        [batch.enterprise, rateLimitMs],
      );
      this.o.logger.warn('outbox: RetailCRM rate limit, enterprise held back', {
        enterprise: batch.enterprise, delayMs: rateLimitMs, jobs: rowCount,
      });
    }
  }

  // ---- metrics and upkeep -------------------------------------------------------------------------------------

  private countRows(kind: string, rows: { state: JobState }[], pendingAs?: JobOutcome): void {
    for (const r of rows) this.countOutcome(kind, r.state === 'pending' ? (pendingAs ?? 'retry') : r.state);
  }

  private countOutcome(kind: string, outcome: string): void {
    const key = `${kind}\u0000${outcome}`;
    this.outcomes.set(key, (this.outcomes.get(key) ?? 0) + 1);
    this.o.metrics?.outboxOutcomes.inc({ kind, outcome });
  }

  /** Outcomes so far by kind ("done", "retry", "later", "failed", "dropped"); for tests and the CLI. */
  outcomeCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of this.outcomes) out[k.replace('\u0000', ':')] = v;
    return out;
  }

  /**
   * Per enterprise: pending and failed jobs and the age of the oldest pending one, by the database clock (cheap:
   * partial indexes cover pending and failed rows). For /metrics and /ready.
   */
  async backlog(): Promise<OutboxBacklog[]> {
    const { rows } = await this.o.pool.query<OutboxBacklog>(
      `select enterprise, count(*) filter (where state = 'pending')::int as pending,
               count(*) filter (where state = 'failed')::int as failed,
               coalesce(extract(epoch from now() - min(created_at) filter (where state = 'pending')), 0)::float8
                 as "oldestPendingSeconds"
             from outbox_jobs where state in ('pending', 'failed') group by enterprise order by enterprise`,
    );
    return rows;
  }

  private async collectGauges(metrics: Metrics): Promise<void> {
    const rows = await this.backlog();
    metrics.outboxJobs.reset();
    metrics.outboxOldestPending.reset();
    for (const r of rows) {
      metrics.outboxJobs.set({ state: 'pending', enterprise: r.enterprise }, r.pending);
      metrics.outboxJobs.set({ state: 'failed', enterprise: r.enterprise }, r.failed);
      metrics.outboxOldestPending.set({ enterprise: r.enterprise }, r.oldestPendingSeconds);
    }
  }

  /** Now and then, prunes finished rows. */
  private async maintain(): Promise<void> {
    if (this.maintenanceTicks++ % 40 === 0) {
      await this.o.pool.query(
        `delete from outbox_jobs where id in (
           select id from outbox_jobs where state in ('done', 'dropped') and updated_at < now() - $1 ${MS} limit 10000)`,
        [this.o.retainFinishedMs ?? 7 * 86_400_000],
      );
    }
  }
}
