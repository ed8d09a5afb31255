/**
 * The outbox's vocabulary: a job row as workers see it, what a handler answers for each job, and the handler
 * contract. Kept free of I/O so handlers, the worker, the CLI and tests share one definition.
 */

export type JobState = 'pending' | 'done' | 'failed' | 'dropped';

/** Kinds the service enqueues today; the column is free text so later features can add their own. */
export type KnownJobKind =
  | 'call_event'
  | 'call_upload'
  | 'customer_create'
  // src/work/ (leads and call-back tasks, docs/leads-and-tasks.md)
  | 'callback_task_create'
  | 'callback_task_complete'
  | 'lead_create';

export interface Job {
  readonly id: number;
  readonly enterprise: string;
  readonly kind: string;
  readonly jobKey: string | null;
  readonly payload: unknown;
  readonly state: JobState;
  /** Failed or abandoned deliveries so far (not counting this one). */
  readonly attempts: number;
  /** Times a handler said "not ready yet". */
  readonly deferrals: number;
  readonly runAt: Date;
  readonly expiresAt: Date | null;
  readonly lastError: string | null;
  readonly createdAt: Date;
}

/**
 * What became of one job:
 * - done: delivered (or the CRM already had it);
 * - retry: a failure that may pass; backoff from retryDelay() unless delayMs is given; counts as an attempt;
 * - failed: permanent (bad key, validation, malformed payload): kept with the reason, retried only by hand;
 * - dropped: no longer worth delivering (an expired popup);
 * - later: not ready yet (recording still open): postponed, not an attempt, capped by the worker's maxDeferrals;
 * - released: not tried at all (behind a failed job in an ordered batch, or cut by shutdown): put back untouched.
 */
export type JobResult =
  | { readonly kind: 'done' }
  | { readonly kind: 'retry'; readonly error: unknown; readonly delayMs?: number }
  | { readonly kind: 'failed'; readonly reason: string }
  | { readonly kind: 'dropped'; readonly reason: string }
  | { readonly kind: 'later'; readonly delayMs: number; readonly reason: string }
  | { readonly kind: 'released' };

export type JobOutcome = JobResult['kind'];

export interface JobHandler {
  /** Jobs per call to handle(); default 1. calls/upload takes 50. */
  readonly batchSize?: number;
  /**
   * One batch at a time per (enterprise, kind) across every worker, strictly in id order: a job that waits for a
   * retry holds back the jobs after it. For popups (in before hangup) and customer creation (no twin customers).
   */
  readonly serial?: boolean;
  /**
   * Delivers a batch: jobs of one kind and one enterprise, oldest first. Resolves with one result per job, in the
   * same order. A rejection counts as `retry` for every job of the batch. `signal` carries the batch's deadline.
   */
  handle(enterprise: string, jobs: readonly Job[], signal: AbortSignal): Promise<JobResult[]>;
}

export type JobHandlers = Readonly<Record<string, JobHandler>>;

/** The NOTIFY channel that wakes workers; the payload is the enterprise number. */
export const OUTBOX_CHANNEL = 'rcrm_outbox';

/**
 * The key convention: `kind:enterprise:callId[:suffix]`. dropPendingJobs({kind, callId}) relies on it.
 * E.g. outboxJobKey('call_event', '0367', linkedid, 'in').
 */
export function outboxJobKey(kind: string, enterprise: string, callId: string, suffix?: string): string {
  return [kind, enterprise, callId, ...(suffix === undefined ? [] : [suffix])].join(':');
}
