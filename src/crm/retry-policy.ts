/**
 * The one place that decides whether and when a failed RetailCRM request is tried again (STYLE.md §6).
 * Pure: no clock, no I/O; randomness is injected so the table test is deterministic.
 */
import {
  CrmAuthError,
  CrmBadResponseError,
  CrmError,
  CrmHttpError,
  CrmOverloadedError,
  CrmRateLimitedError,
} from '../lib/errors.js';
import { backoffDelay } from '../lib/backoff.js';

export interface RetryInput {
  /** 1 for the first retry (i.e. after the first failure), 2 for the second, … */
  readonly attempt: number;
  readonly error: unknown;
  /** First backoff step; default 250 ms. */
  readonly baseMs?: number;
  /** No delay exceeds this (Retry-After included); default 30 s. */
  readonly capMs?: number;
  /** [0, 1); default Math.random. */
  readonly random?: () => number;
}

export const DEFAULT_RETRY_BASE_MS = 250;
export const DEFAULT_RETRY_CAP_MS = 30_000;
/** With no Retry-After, a rate limit waits at least this long (RetailCRM's window is one second). */
export const RATE_LIMIT_MIN_DELAY_MS = 1_000;

/** Milliseconds to wait before the next attempt, or null when retrying cannot help. */
export function retryDelay(input: RetryInput): number | null {
  const { attempt, error } = input;
  const baseMs = input.baseMs ?? DEFAULT_RETRY_BASE_MS;
  const capMs = input.capMs ?? DEFAULT_RETRY_CAP_MS;
  const random = input.random ?? Math.random;
  if (!Number.isFinite(attempt) || attempt < 1) return null;
  if (!isRetryable(error)) return null;
  // Full jitter (AWS architecture blog): uniform in [0, min(cap, base·2^(attempt-1))].
  const backoff = { initialMs: baseMs, maxMs: capMs, jitter: 1 };

  if (error instanceof CrmRateLimitedError) {
    if (error.retryAfterMs !== undefined && error.retryAfterMs >= 0) return Math.min(error.retryAfterMs, capMs);
    // Without Retry-After: a full window, plus jitter so tenants don't all come back in the same millisecond.
    return Math.min(RATE_LIMIT_MIN_DELAY_MS + backoffDelay(attempt - 1, backoff, random), capMs);
  }
  return backoffDelay(attempt - 1, backoff, random);
}

/** Whether the same request may succeed later. Unknown (non-CRM) errors are bugs: not retried. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof CrmAuthError) return false;
  if (error instanceof CrmRateLimitedError || error instanceof CrmOverloadedError) return true;
  if (error instanceof CrmBadResponseError) return true;
  if (error instanceof CrmHttpError) {
    const status = error.status ?? 0;
    return status >= 500 || status === 408 || status === 429;
  }
  if (error instanceof CrmError) return error.retryable;
  return false;
}
