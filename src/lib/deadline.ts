/**
 * The one way this service waits on work with a deadline (STYLE.md §7). Waiting stops at the deadline; the work
 * itself is not cancelled and runs on under its own I/O deadline (a late RetailCRM answer still warms the cache).
 * Every variant clears its timer and its abort listener, whichever side wins, and never leaves a rejection
 * of the abandoned work unhandled.
 *
 * - `waitAtMost(work, ms)`: the outcome, or `{ settled: false }` at the deadline (drains, "answer within").
 * - `withTimeout(work, ms, onTimeout)`: the value, or the caller's own error at the deadline (AMI actions).
 * - `raceDeadline(work, deadline)`: the value, or DeadlineExpired at an absolute deadline (the call's budget).
 * - `deadlineSignal(ms, parent)`: a signal for I/O that aborts at the deadline or with `parent` (a request's).
 */
export class DeadlineExpired extends Error {
  constructor() {
    super('deadline expired');
    this.name = 'DeadlineExpired';
  }
}

export type Waited<T> = { readonly settled: true; readonly value: T } | { readonly settled: false };

const NOT_SETTLED: Waited<never> = Object.freeze({ settled: false });

/**
 * Waits for `work` for at most `ms` milliseconds (or until `signal` aborts). Resolves with its value, rejects
 * with its error when it fails in time, and resolves `{ settled: false }` when the wait ends first.
 */
export function waitAtMost<T>(work: Promise<T>, ms: number, signal?: AbortSignal): Promise<Waited<T>> {
  return new Promise<Waited<T>>((resolve, reject) => {
    const finish = (fn: () => void): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onGiveUp);
      fn();
    };
    const onGiveUp = (): void => finish(() => resolve(NOT_SETTLED));
    const timer = setTimeout(onGiveUp, Math.max(0, ms));
    if (signal?.aborted) onGiveUp();
    else signal?.addEventListener('abort', onGiveUp, { once: true });
    work.then(
      (value) => finish(() => resolve({ settled: true, value })),
      (err: unknown) => finish(() => reject(err)),
    );
  });
}

/** The value of `work`, or a rejection with `onTimeout()` when it has not settled within `ms`. */
export async function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  const waited = await waitAtMost(work, ms);
  if (!waited.settled) throw onTimeout();
  return waited.value;
}

/** The value of `work`, or DeadlineExpired at the absolute time `deadline` (or when `signal` aborts). */
export async function raceDeadline<T>(
  work: Promise<T>,
  deadline: number,
  opts: { readonly signal?: AbortSignal | undefined; readonly now?: () => number } = {},
): Promise<T> {
  const remaining = deadline - (opts.now ?? Date.now)();
  if (remaining <= 0) {
    work.catch(() => undefined); // nobody waits for it any more: its failure must not go unhandled
    throw new DeadlineExpired();
  }
  const waited = await waitAtMost(work, remaining, opts.signal);
  if (!waited.settled) throw new DeadlineExpired();
  return waited.value;
}

export interface DeadlineSignal {
  readonly signal: AbortSignal;
  /** Aborts now (the caller gave up on the work: it must stop too). */
  abort(reason?: unknown): void;
  /** The work is over: clears the timer and the parent listener. Idempotent. */
  dispose(): void;
}

/**
 * A signal that aborts after `ms` (reason: a `TimeoutError` DOMException, like AbortSignal.timeout's) or when
 * `parent` aborts (with its reason). Unlike AbortSignal.timeout, whose timer cannot be cleared, and AbortSignal.any,
 * whose result every source remembers until it aborts, nothing outlives `dispose()`: a popup sent in a millisecond
 * no longer leaves a timer and weak references behind for the whole deadline (they piled up by the thousand under
 * load: issue 11's memory figures).
 */
export function deadlineSignal(ms: number, parent?: AbortSignal): DeadlineSignal {
  const controller = new AbortController();
  const onParent = (): void => controller.abort(parent?.reason);
  const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), Math.max(0, ms));
  timer.unref();
  if (parent?.aborted) onParent();
  else parent?.addEventListener('abort', onParent, { once: true });
  const dispose = (): void => {
    clearTimeout(timer);
    parent?.removeEventListener('abort', onParent);
  };
  return {
    signal: controller.signal,
    abort(reason) {
      dispose();
      controller.abort(reason);
    },
    dispose,
  };
}
