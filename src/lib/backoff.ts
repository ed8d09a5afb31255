/**
 * The one backoff policy: capped exponential growth with optional jitter. Every retry loop of the service
 * (AMI reconnect, the LISTEN connection, history polling, RetailCRM retries) asks it how long to wait.
 * Pure: the random source is injected, so the tests are deterministic.
 */
export interface BackoffPolicy {
  /** The delay before the first retry (attempt 0). */
  readonly initialMs: number;
  /** No delay exceeds this. */
  readonly maxMs: number;
  /** Growth per attempt; default 2. */
  readonly factor?: number;
  /**
   * Share of the delay left to chance, in [0, 1]: the delay is uniform in [(1 − jitter)·d, d], so clients that
   * failed together do not all come back in the same millisecond. 0 (default) is no jitter; 1 is "full jitter".
   */
  readonly jitter?: number;
}

/**
 * Milliseconds to wait before retry number `attempt` (0-based): min(maxMs, initialMs · factor^attempt), then
 * jittered with `random` (in [0, 1)). Whole milliseconds, rounded down; finite for any attempt.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const factor = policy.factor ?? 2;
  const jitter = policy.jitter ?? 0;
  // factor^attempt overflows to Infinity for huge attempts; min() keeps the ceiling finite.
  const ceiling = Math.min(policy.maxMs, policy.initialMs * factor ** Math.max(0, attempt));
  if (jitter <= 0) return Math.floor(ceiling);
  return Math.floor(ceiling * (1 - jitter + jitter * random()));
}
