/**
 * The outbox worker (STYLE.md §9, modelled on graphile-worker): the loop that claims due jobs in batches of one
 * (enterprise, kind), runs them and records what became of them. LISTEN wakes it, polling is the fallback, and a
 * lock older than lockTimeoutMs is taken over (a worker that died). The parts live apart: SQL in outbox-store.ts,
 * the handler under its deadline in batch-runner.ts, outcomes and retry policy in outcome-recorder.ts, numbers in
 * outbox-metrics.ts; pruning runs on its own schedule.
 */
import { setMaxListeners } from 'node:events';
import { PgListener } from '../db/pg-listener.js';
import type { Pool } from '../db/pool.js';
import { DeadlineExpired, raceDeadline } from '../lib/deadline.js';
import type { Logger } from '../lib/logger.js';
import { PeriodicTask } from '../lib/periodic-task.js';
import { TaskTracker } from '../lib/task-tracker.js';
import type { Metrics } from '../metrics/metrics.js';
import { runBatch } from './batch-runner.js';
import { OUTBOX_CHANNEL, type JobHandlers, type JobOutcome, type JobResult } from './job-types.js';
import { collectBacklogGauges, OutcomeCounter } from './outbox-metrics.js';
import { outboxBacklog, pruneFinishedJobs, type OutboxBacklog } from './outbox-admin-store.js';
import { DoneCoalescer } from './claimed-jobs-store.js';
import { inClaimTransaction, type ClaimedBatch, type ClaimScope, type SideOutcomes } from './outbox-store.js';
import { planOutcomes, recordOutcomes, type RecordContext } from './outcome-recorder.js';

export type { OutboxBacklog } from './outbox-admin-store.js';

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
   * Attempts are counted when a job is claimed. A job that keeps failing with retryable errors becomes `failed`
   * only after this many attempts AND once it is older than giveUpAfterMs (a RetailCRM outage of hours must not
   * turn calls into failures); a job whose claim was abandoned (its worker died) fails once it has this many.
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
  /** How often old done/dropped rows are pruned; default 10 minutes. */
  readonly pruneIntervalMs?: number;
  /** done/dropped rows are deleted after this; default 7 days (their job_key can then be reused). */
  readonly retainFinishedMs?: number;
  /** Backoff bounds handed to retryDelay(); defaults are the policy's (250 ms, 30 s). */
  readonly retryBaseMs?: number;
  readonly retryCapMs?: number;
}

/** See OutboxWorker.reserveImmediate. */
export interface ImmediateSlot {
  /** locked_by of the job the caller inserts already claimed. */
  readonly token: string;
  /** Runs the claimed job (inserted with this slot's token) and records its outcome; frees the slot. */
  deliver(batch: ClaimedBatch): Promise<JobOutcome | null>;
  /** Frees the slot unused. */
  cancel(): void;
}

export class OutboxWorker {
  private readonly o: OutboxWorkerOptions;
  private readonly scope: ClaimScope;
  private readonly handlerTimeoutMs: number;
  private readonly recordContext: RecordContext;
  private readonly counter: OutcomeCounter;
  private readonly tasks: TaskTracker;
  private readonly shutdown = new AbortController();
  private readonly groupsInFlight = new Map<string, number>();
  private readonly listener: PgListener;
  private readonly pruner: PeriodicTask;
  private inFlight = 0;
  private tokenSeq = 0;
  private immediateInFlight = 0;
  private started = false;
  private stopping = false;
  private pumping = false;
  private wakeAgain = false;
  private pollTimer: NodeJS.Timeout | undefined;

  constructor(options: OutboxWorkerOptions) {
    this.o = options;
    if (!(options.concurrency >= 1)) throw new RangeError('concurrency must be at least 1');
    if (!(options.pollIntervalMs > 0)) throw new RangeError('pollIntervalMs must be positive');
    if (!(options.maxAttempts >= 1)) throw new RangeError('maxAttempts must be at least 1');
    this.handlerTimeoutMs = options.handlerTimeoutMs ?? Math.floor(options.lockTimeoutMs * 0.8);
    if (!(this.handlerTimeoutMs > 0 && this.handlerTimeoutMs < options.lockTimeoutMs)) {
      throw new RangeError('handlerTimeoutMs must be positive and below lockTimeoutMs (or the lock would go stale mid-batch)');
    }
    const kinds = Object.keys(options.handlers);
    this.scope = {
      kinds,
      serialKinds: kinds.filter((k) => options.handlers[k]?.serial === true),
      lockTimeoutMs: options.lockTimeoutMs,
      maxAttempts: options.maxAttempts,
    };
    this.counter = new OutcomeCounter(options.metrics);
    this.recordContext = {
      pool: options.pool,
      logger: options.logger,
      maxAttempts: options.maxAttempts,
      giveUpAfterMs: options.giveUpAfterMs ?? 3 * 86_400_000,
      maxDeferrals: options.maxDeferrals ?? 500,
      count: (kind, outcome) => this.counter.count(kind, outcome),
      done: new DoneCoalescer(options.pool),
    };
    this.tasks = new TaskTracker((err) => options.logger.error('outbox worker task failed', { err }));
    // Every batch in flight waits on the shutdown signal (one listener each, removed when it ends): many popups at
    // once are many listeners, not a leak.
    setMaxListeners(0, this.shutdown.signal);
    // Polling covers the time LISTEN is down; once it is back, wake: something may have been enqueued meanwhile.
    this.listener = new PgListener({
      pool: options.pool,
      channel: OUTBOX_CHANNEL,
      logger: options.logger,
      label: 'outbox',
      onNotification: () => this.wake(),
      onConnected: () => this.wake(),
    });
    // Pruning is upkeep of the table, not of the metrics: it runs whether or not anyone scrapes.
    this.pruner = new PeriodicTask(
      () => pruneFinishedJobs(options.pool, options.retainFinishedMs ?? 7 * 86_400_000),
      options.pruneIntervalMs ?? 600_000,
      (err) => options.logger.error('outbox: pruning finished jobs failed', { err }),
    );
    if (options.metrics) collectBacklogGauges(options.metrics, () => this.backlog());
  }

  /** True while LISTEN is active, so a NOTIFY wakes this worker (tests wait on it instead of sleeping). */
  get listening(): boolean {
    return this.listener.listening;
  }

  // ---- lifecycle ----------------------------------------------------------------------------------------------

  /** Starts listening, polling and pruning; the first claim runs at once. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.tasks.track(this.listener.start());
    this.pollTimer = setInterval(() => this.wake(), this.o.pollIntervalMs);
    this.pruner.start();
    this.wake();
  }

  /**
   * Stops claiming, lets in-flight batches finish until drainMs, then aborts them: what they had not finished is
   * put back (lock cleared, no attempt counted) for the next worker. Closes the listener last. Resolves with true
   * when everything in flight finished within drainMs, false when it had to be aborted.
   */
  async stop(opts: { drainMs: number } = { drainMs: 10_000 }): Promise<boolean> {
    if (this.stopping) {
      await this.tasks.drain();
      return true;
    }
    this.stopping = true;
    clearInterval(this.pollTimer);
    let drained = true;
    try {
      await raceDeadline(this.tasks.drain(), Date.now() + Math.max(0, opts.drainMs));
    } catch (err) {
      if (!(err instanceof DeadlineExpired)) throw err;
      drained = false;
      this.o.logger.warn('outbox drain deadline passed: aborting in-flight batches', { inFlight: this.inFlight });
      this.shutdown.abort(new Error('outbox worker stopping'));
      await this.tasks.drain();
    }
    await this.pruner.stop();
    await this.listener.stop();
    return drained;
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

  /**
   * A delivery slot for a job the caller inserts already claimed, in its own transaction (enqueueClaimedJob with
   * the slot's token): a popup then needs no claiming transaction and no wake-up. Null when no slot is free or the
   * worker is stopping: insert the job unclaimed and let deliverNow or the loop take it. The slot counts against
   * immediateConcurrency until delivered or cancelled (cancel after a failed or empty insert; it is idempotent).
   */
  reserveImmediate(): ImmediateSlot | null {
    if (this.stopping || this.immediateInFlight >= (this.o.immediateConcurrency ?? 32)) return null;
    this.immediateInFlight++;
    let open = true;
    const free = (): void => {
      this.immediateInFlight--;
    };
    return {
      token: this.nextToken(),
      deliver: (batch) => {
        if (!open) return Promise.reject(new Error('delivery slot already used or cancelled'));
        open = false;
        // Run even when stop() has begun: the job is ours; a forced stop releases it (runBatch's shutdown signal).
        const work = this.runTracked(batch)
          .then((results) => results[0]?.kind ?? null)
          .finally(free);
        this.tasks.track(work);
        return work;
      },
      cancel: () => {
        if (!open) return;
        open = false;
        free();
      },
    };
  }

  /** Outcomes so far by kind ("done", "retry", "later", "failed", "dropped"); for tests and the CLI. */
  outcomeCounts(): Record<string, number> {
    return this.counter.snapshot();
  }

  /** Per enterprise: pending and failed jobs and the age of the oldest pending one. For /metrics and /ready. */
  backlog(): Promise<OutboxBacklog[]> {
    return outboxBacklog(this.o.pool);
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
      let batch: ClaimedBatch | null;
      try {
        batch = await this.claimBatch([]);
      } finally {
        this.inFlight--;
      }
      if (!batch) return;
      this.tasks.track(this.runTracked(batch).finally(() => this.wake()));
    }
  }

  private async runTracked(batch: ClaimedBatch): Promise<JobResult[]> {
    const group = `${batch.enterprise}\u0000${batch.kind}`;
    this.inFlight++;
    this.groupsInFlight.set(group, (this.groupsInFlight.get(group) ?? 0) + 1);
    try {
      const results = await runBatch(this.o.handlers[batch.kind], batch, {
        timeoutMs: this.handlerTimeoutMs,
        shutdown: this.shutdown.signal,
      });
      try {
        await recordOutcomes(this.recordContext, batch, planOutcomes(batch.jobs, results, this.o));
      } catch (err) {
        // The locks go stale and another pass delivers again: at least once, never lost.
        this.o.logger.error('outbox: could not record outcomes', { err, kind: batch.kind, enterprise: batch.enterprise });
      }
      return results;
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

  private countSide(side: SideOutcomes): void {
    for (const s of side) this.counter.count(s.kind, s.outcome);
  }

  /** One batch of one (enterprise, kind), oldest first, locked for this worker; null when nothing is due. */
  private async claimBatch(exclude: number[]): Promise<ClaimedBatch | null> {
    if (this.scope.kinds.length === 0) return null;
    const { result, sideOutcomes } = await inClaimTransaction(this.o.pool, this.scope, async (tx) => {
      await tx.expireDue();
      await tx.failAbandoned();
      // Fairness: groups this process is already delivering go last, so one busy enterprise cannot take every slot.
      const ordered = (await tx.dueGroups(exclude))
        .map((g) => ({ g, busy: this.groupsInFlight.get(`${g.enterprise}\u0000${g.kind}`) ?? 0 }))
        .sort((a, b) => a.busy - b.busy || a.g.firstId - b.g.firstId);
      for (const { g } of ordered) {
        const batchSize = Math.max(1, this.o.handlers[g.kind]?.batchSize ?? 1);
        const batch = await tx.claimFromGroup(g, batchSize, exclude, this.nextToken());
        if (batch) return batch;
      }
      return null;
    });
    this.countSide(sideOutcomes);
    return result;
  }

  private async claimOne(jobId: number): Promise<ClaimedBatch | null> {
    const { result, sideOutcomes } = await inClaimTransaction(this.o.pool, this.scope, async (tx) => {
      await tx.failAbandoned();
      const head = await tx.pendingHead(jobId);
      if (!head) return null;
      const serial = this.scope.serialKinds.includes(head.kind);
      if (serial && !(await tx.tryGroupLock(head.enterprise, head.kind))) return null;
      return tx.claimOne(jobId, serial, this.nextToken());
    });
    this.countSide(sideOutcomes);
    return result;
  }
}
