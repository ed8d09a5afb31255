/**
 * After a batch: what each result means for its row. planOutcomes() sorts the results into one group per outcome
 * (pure, with the backoff of each retry); recordOutcomes() writes each group with one statement and reports it
 * (outcome counters, log lines, an enterprise held back on a rate limit).
 */
import { CrmNetworkError, CrmRateLimitedError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { retryDelay } from '../crm/retry-policy.js';
import type { Job, JobOutcome, JobResult, JobState } from './job-types.js';
import { holdBackEnterprise, OutcomeWriter, type ClaimedBatch } from './outbox-store.js';
import type { Pool } from '../db/pool.js';

const MAX_REASON = 2000;

export interface OutcomePlan {
  readonly done: number[];
  readonly released: number[];
  readonly retry: { ids: number[]; delays: number[]; errors: string[] };
  readonly failed: { ids: number[]; reasons: string[] };
  readonly dropped: { ids: number[]; reasons: string[] };
  readonly later: { ids: number[]; delays: number[]; reasons: string[] };
  /** Set when a job hit RetailCRM's rate limit: how long the whole enterprise waits. */
  readonly rateLimitMs: number | undefined;
}

export interface RetryBounds {
  readonly retryBaseMs?: number | undefined;
  readonly retryCapMs?: number | undefined;
}

/** The delay before attempt `attempt`; non-CRM failures (a database hiccup in a handler) back off like a network error. */
export function backoffMs(attempt: number, error: unknown, bounds: RetryBounds): number {
  const policy = { attempt, baseMs: bounds.retryBaseMs, capMs: bounds.retryCapMs };
  return retryDelay({ ...policy, error }) ?? retryDelay({ ...policy, error: new CrmNetworkError(errorMessage(error)) }) ?? 0;
}

/** Sorts a batch's results (one per job, same order) into one group per outcome. A missing result is a retry. */
export function planOutcomes(jobs: readonly Job[], results: readonly JobResult[], bounds: RetryBounds): OutcomePlan {
  const plan = {
    done: [] as number[],
    released: [] as number[],
    retry: { ids: [] as number[], delays: [] as number[], errors: [] as string[] },
    failed: { ids: [] as number[], reasons: [] as string[] },
    dropped: { ids: [] as number[], reasons: [] as string[] },
    later: { ids: [] as number[], delays: [] as number[], reasons: [] as string[] },
    rateLimitMs: undefined as number | undefined,
  };
  jobs.forEach((job, i) => {
    const r = results[i] ?? { kind: 'retry', error: new Error('no result') };
    switch (r.kind) {
      case 'done':
      case 'released':
        plan[r.kind].push(job.id);
        break;
      case 'retry': {
        const delay = Math.max(0, r.delayMs ?? backoffMs(job.attempts + 1, r.error, bounds));
        plan.retry.ids.push(job.id);
        plan.retry.delays.push(delay);
        plan.retry.errors.push(errorMessage(r.error).slice(0, MAX_REASON));
        if (r.error instanceof CrmRateLimitedError) plan.rateLimitMs = Math.max(plan.rateLimitMs ?? 0, delay);
        break;
      }
      case 'failed':
      case 'dropped':
        plan[r.kind].ids.push(job.id);
        plan[r.kind].reasons.push(r.reason.slice(0, MAX_REASON));
        break;
      case 'later':
        plan.later.ids.push(job.id);
        plan.later.delays.push(Math.max(0, r.delayMs));
        plan.later.reasons.push(r.reason.slice(0, MAX_REASON));
        break;
    }
  });
  return plan;
}

export interface RecordContext {
  readonly pool: Pool;
  readonly logger: Logger;
  readonly maxAttempts: number;
  readonly giveUpAfterMs: number;
  readonly maxDeferrals: number;
  /** Called once per row whose state was written, with the outcome it counts as. */
  readonly count: (kind: string, outcome: string) => void;
}

/** Writes the plan, one statement per outcome, only for rows the batch's claim still holds. */
export async function recordOutcomes(ctx: RecordContext, batch: ClaimedBatch, plan: OutcomePlan): Promise<void> {
  const write = new OutcomeWriter(ctx.pool, batch.token);
  const where = { kind: batch.kind, enterprise: batch.enterprise };
  const count = (rows: { state: JobState }[], pendingAs: JobOutcome = 'retry'): void => {
    for (const r of rows) ctx.count(batch.kind, r.state === 'pending' ? pendingAs : r.state);
  };
  if (plan.done.length > 0) count(await write.done(plan.done));
  const { retry, failed, dropped, later } = plan;
  if (retry.ids.length > 0) {
    count(await write.retry(retry.ids, retry.delays, retry.errors, ctx.maxAttempts, ctx.giveUpAfterMs));
    ctx.logger.info('outbox: delivery failed, will retry', { ...where, jobs: retry.ids, error: retry.errors[0] });
  }
  if (failed.ids.length > 0) {
    count(await write.failed(failed.ids, failed.reasons));
    ctx.logger.warn('outbox: job failed permanently (retry by hand: outbox retry)', {
      ...where, jobs: failed.ids, reason: failed.reasons[0],
    });
  }
  if (dropped.ids.length > 0) count(await write.dropped(dropped.ids, dropped.reasons));
  if (later.ids.length > 0) count(await write.later(later.ids, later.delays, later.reasons, ctx.maxDeferrals), 'later');
  if (plan.released.length > 0) await write.released(plan.released);
  if (plan.rateLimitMs !== undefined) {
    // RetailCRM is throttling this account: hold back its other due jobs too instead of burning their attempts.
    const jobs = await holdBackEnterprise(ctx.pool, batch.enterprise, plan.rateLimitMs);
    ctx.logger.warn('outbox: RetailCRM rate limit, enterprise held back', {
      enterprise: batch.enterprise, delayMs: plan.rateLimitMs, jobs,
    });
  }
}
