/**
 * Per-account request admission for RetailCRM: token buckets per (account, class) matching RetailCRM's limits
 * (10 rps in general, 40 rps for /telephony/*, contract §1.7) and a bound on in-flight requests per account.
 * Waiting is bounded too: past `maxWaitersPerAccount` a request is refused at once (CrmOverloadedError), never
 * queued without bound (STYLE.md §13). Telephony waiters are served before general ones: they are on the call path.
 * The clock is injectable so tests drive time by hand.
 */
import { CrmOverloadedError, CrmTimeoutError } from '../lib/errors.js';

export type RateClass = 'telephony' | 'general';
const CLASSES: readonly RateClass[] = ['telephony', 'general'];

/** RetailCRM counts /api/v5/telephony/* separately (40 rps); everything else shares 10 rps. */
export function rateClassForPath(path: string): RateClass {
  return /\/telephony\//.test(path) ? 'telephony' : 'general';
}

export interface LimiterClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: LimiterClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface RateLimiterOptions {
  /** Requests per second; defaults telephony 40, general 10. */
  readonly ratesPerSecond?: Partial<Record<RateClass, number>>;
  /**
   * Bucket size (requests that may go at once after idling); defaults to half the rate, so RetailCRM's own bucket
   * keeps slack for network jitter bunching our evenly spaced requests together on arrival.
   */
  readonly burst?: Partial<Record<RateClass, number>>;
  /** Requests of one account on the wire at once; default 32. */
  readonly maxInFlightPerAccount?: number;
  /** Requests of one account waiting for admission; default 200. */
  readonly maxWaitersPerAccount?: number;
  readonly clock?: LimiterClock;
}

/** Gives the in-flight slot back. Calling it more than once is harmless. */
export type Release = () => void;

interface Bucket {
  tokens: number;
  updatedAt: number;
  blockedUntil: number;
}

interface Waiter {
  readonly cls: RateClass;
  readonly since: number;
  readonly resolve: (release: Release) => void;
  readonly reject: (err: unknown) => void;
  readonly detach: () => void;
}

interface AccountState {
  readonly key: string;
  readonly buckets: Record<RateClass, Bucket>;
  readonly queues: Record<RateClass, Waiter[]>;
  inFlight: number;
  timer: unknown;
  timerAt: number;
}

export class RateLimiter {
  private readonly rates: Record<RateClass, number>;
  private readonly burst: Record<RateClass, number>;
  private readonly maxInFlight: number;
  private readonly maxWaiters: number;
  private readonly clock: LimiterClock;
  private readonly accounts = new Map<string, AccountState>();

  constructor(options: RateLimiterOptions = {}) {
    this.rates = {
      telephony: positive(options.ratesPerSecond?.telephony ?? 40, 'telephony rate'),
      general: positive(options.ratesPerSecond?.general ?? 10, 'general rate'),
    };
    this.burst = {
      telephony: Math.max(1, options.burst?.telephony ?? Math.floor(this.rates.telephony / 2)),
      general: Math.max(1, options.burst?.general ?? Math.floor(this.rates.general / 2)),
    };
    this.maxInFlight = Math.max(1, Math.floor(options.maxInFlightPerAccount ?? 32));
    this.maxWaiters = Math.max(0, Math.floor(options.maxWaitersPerAccount ?? 200));
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Resolves with a Release once a token and an in-flight slot are free. Rejects with CrmOverloadedError when
   * too many requests of this account already wait, and with CrmTimeoutError as soon as `signal` aborts.
   */
  acquire(accountKey: string, cls: RateClass, signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(abortError(0, signal));
    const state = this.stateFor(accountKey);
    if (state.queues[cls].length === 0 && state.inFlight < this.maxInFlight && this.takeToken(state, cls)) {
      state.inFlight++;
      return Promise.resolve(this.releaseFor(state));
    }
    if (waiting(state) >= this.maxWaiters) {
      this.dropIfIdle(state);
      return Promise.reject(
        new CrmOverloadedError(`too many RetailCRM requests waiting for account ${accountKey} (${this.maxWaiters})`),
      );
    }
    return new Promise<Release>((resolve, reject) => {
      const since = this.clock.now();
      const onAbort = (): void => {
        const queue = state.queues[cls];
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        reject(abortError(this.clock.now() - since, signal));
        this.schedule(state);
        this.dropIfIdle(state);
      };
      const waiter: Waiter = {
        cls,
        since,
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      state.queues[cls].push(waiter);
      this.schedule(state);
    });
  }

  /** After RetailCRM's own 503 with Retry-After: hand out no token of this class for `ms`. */
  penalize(accountKey: string, cls: RateClass, ms: number): void {
    if (!(ms > 0)) return;
    const state = this.stateFor(accountKey);
    const bucket = state.buckets[cls];
    bucket.tokens = 0;
    bucket.updatedAt = this.clock.now();
    bucket.blockedUntil = Math.max(bucket.blockedUntil, this.clock.now() + ms);
    this.schedule(state);
  }

  stats(accountKey: string): { inFlight: number; waiting: number } {
    const state = this.accounts.get(accountKey);
    return state ? { inFlight: state.inFlight, waiting: waiting(state) } : { inFlight: 0, waiting: 0 };
  }

  /** Rejects every waiter (e.g. at shutdown) and forgets all state. */
  close(reason: unknown = new CrmOverloadedError('RetailCRM limiter closed')): void {
    for (const state of this.accounts.values()) {
      if (state.timer !== undefined) this.clock.clearTimeout(state.timer);
      state.timer = undefined;
      for (const cls of CLASSES) {
        for (const w of state.queues[cls].splice(0)) {
          w.detach();
          w.reject(reason);
        }
      }
    }
    this.accounts.clear();
  }

  private stateFor(key: string): AccountState {
    let state = this.accounts.get(key);
    if (!state) {
      const now = this.clock.now();
      const bucket = (cls: RateClass): Bucket => ({ tokens: this.burst[cls], updatedAt: now, blockedUntil: 0 });
      state = {
        key,
        buckets: { telephony: bucket('telephony'), general: bucket('general') },
        queues: { telephony: [], general: [] },
        inFlight: 0,
        timer: undefined,
        timerAt: 0,
      };
      this.accounts.set(key, state);
    }
    return state;
  }

  private refill(state: AccountState, cls: RateClass): Bucket {
    const bucket = state.buckets[cls];
    const now = this.clock.now();
    const from = Math.max(bucket.updatedAt, bucket.blockedUntil);
    if (now > from) {
      bucket.tokens = Math.min(this.burst[cls], bucket.tokens + ((now - from) * this.rates[cls]) / 1000);
      bucket.updatedAt = now;
    }
    return bucket;
  }

  private takeToken(state: AccountState, cls: RateClass): boolean {
    const bucket = this.refill(state, cls);
    if (this.clock.now() < bucket.blockedUntil || bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Milliseconds until this class may have a token. */
  private waitFor(state: AccountState, cls: RateClass): number {
    const bucket = this.refill(state, cls);
    const now = this.clock.now();
    const unblock = Math.max(0, bucket.blockedUntil - now);
    const missing = Math.max(0, 1 - bucket.tokens);
    return unblock + Math.ceil((missing * 1000) / this.rates[cls]);
  }

  private releaseFor(state: AccountState): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      state.inFlight--;
      this.pump(state);
      this.dropIfIdle(state);
    };
  }

  private pump(state: AccountState): void {
    for (const cls of CLASSES) {
      const queue = state.queues[cls];
      while (queue.length > 0 && state.inFlight < this.maxInFlight && this.takeToken(state, cls)) {
        const waiter = queue.shift() as Waiter;
        waiter.detach();
        state.inFlight++;
        waiter.resolve(this.releaseFor(state));
      }
    }
    this.schedule(state);
  }

  /** Arms one timer per account for the earliest moment a waiting class can get a token. */
  private schedule(state: AccountState): void {
    let wait = Infinity;
    if (state.inFlight < this.maxInFlight) {
      for (const cls of CLASSES) if (state.queues[cls].length > 0) wait = Math.min(wait, this.waitFor(state, cls));
    }
    const at = this.clock.now() + wait;
    if (state.timer !== undefined && (wait === Infinity || state.timerAt !== at)) {
      this.clock.clearTimeout(state.timer);
      state.timer = undefined;
    }
    if (wait === Infinity || state.timer !== undefined) return;
    state.timerAt = at;
    state.timer = this.clock.setTimeout(() => {
      state.timer = undefined;
      this.pump(state);
    }, Math.max(1, wait));
  }

  /** Forget an account with nothing pending and full buckets: its next state starts the same way. */
  private dropIfIdle(state: AccountState): void {
    if (state.inFlight > 0 || waiting(state) > 0 || state.timer !== undefined) return;
    for (const cls of CLASSES) {
      const bucket = this.refill(state, cls);
      if (bucket.tokens < this.burst[cls] || bucket.blockedUntil > this.clock.now()) return;
    }
    if (this.accounts.get(state.key) === state) this.accounts.delete(state.key);
  }
}

function waiting(state: AccountState): number {
  return state.queues.telephony.length + state.queues.general.length;
}

function positive(n: number, what: string): number {
  if (!(n > 0) || !Number.isFinite(n)) throw new RangeError(`${what} must be a positive number, got ${n}`);
  return n;
}

function abortError(waitedMs: number, signal: AbortSignal | undefined): CrmTimeoutError {
  return new CrmTimeoutError(Math.round(waitedMs), { cause: signal?.reason });
}
