/**
 * The caller lookup chain for the live call path: in-process LRU cache → `retailcrm_customers` table →
 * RetailCRM, all inside one time budget. Concurrent lookups of the same number share one RetailCRM request;
 * a RetailCRM answer that arrives after the budget still warms the cache and the table for the next call.
 * When RetailCRM fails, a stale table row is better than nothing.
 */
import { LRUCache } from 'lru-cache';
import { CrmError, errorCode } from '../lib/errors.js';
import type { CustomerStore, StoredCustomer } from '../db/customer-store.js';
import type { CallerInfo } from '../domain/caller-info.js';
import type { Enterprise } from '../domain/enterprise.js';
import type { Logger } from '../lib/logger.js';
import { DeadlineExpired, deadlineSignal, raceDeadline } from '../lib/deadline.js';
import { TaskTracker } from '../lib/task-tracker.js';

export type LookupStatus = 'FOUND' | 'NOT_FOUND' | 'TIMEOUT' | 'ERROR';
export type LookupSource = 'cache' | 'table' | 'crm' | 'stale' | 'none';

export type { CallerInfo } from '../domain/caller-info.js';

export interface LookupResult {
  readonly status: LookupStatus;
  readonly source: LookupSource;
  readonly caller: CallerInfo | null;
}

/** Asks RetailCRM who calls from `phone` (E.164); null when RetailCRM does not know the number. */
export type CrmCallerLookup = (enterprise: Enterprise, phone: string, signal: AbortSignal) => Promise<CallerInfo | null>;

export interface CallerLookupOptions {
  readonly customers: CustomerStore;
  readonly crmLookup: CrmCallerLookup;
  readonly cacheTtlMs: number;
  readonly cacheMax: number;
  /** Table rows younger than this are used without asking RetailCRM. */
  readonly freshMs: number;
  /** Deadline of the RetailCRM request itself; it may outlive a call's budget to warm the cache. */
  readonly crmTimeoutMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Told of every lookup's result (metrics). */
  readonly onResult?: (result: LookupResult) => void;
}

type CacheEntry = { readonly caller: CallerInfo | null };

const NEGATIVE_TTL_MS = 60_000;
const QUICK_RETRY_MIN_MS = 150;

export class CallerLookup {
  private readonly cache: LRUCache<string, CacheEntry>;
  private readonly inFlight = new Map<string, Promise<CallerInfo | null>>();
  private readonly tasks = new TaskTracker();
  private readonly now: () => number;

  constructor(private readonly opts: CallerLookupOptions) {
    this.now = opts.now ?? Date.now;
    this.cache = new LRUCache<string, CacheEntry>({
      max: opts.cacheMax,
      ttl: Math.max(1, opts.cacheTtlMs),
      ttlAutopurge: false,
    });
  }

  private key(enterprise: string, phone: string): string {
    return `${enterprise}|${phone}`;
  }

  /** Forget what we know about a number (changes seen in RetailCRM, another instance's notification). */
  invalidate(enterprise: string, phone?: string): void {
    if (phone !== undefined) {
      this.cache.delete(this.key(enterprise, phone));
      return;
    }
    const prefix = `${enterprise}|`;
    for (const k of this.cache.keys()) if (k.startsWith(prefix)) this.cache.delete(k);
  }

  /** Forget everything (a cross-instance invalidation may have been missed). */
  invalidateAll(): void {
    this.cache.clear();
  }

  remember(enterprise: string, phone: string, caller: CallerInfo | null): void {
    const ttl = caller ? this.opts.cacheTtlMs : Math.min(this.opts.cacheTtlMs, NEGATIVE_TTL_MS);
    if (ttl > 0) this.cache.set(this.key(enterprise, phone), { caller }, { ttl });
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  async lookup(
    enterprise: Enterprise,
    phone: string,
    budget: { readonly deadline: number; readonly signal?: AbortSignal },
  ): Promise<LookupResult> {
    const result = await this.find(enterprise, phone, budget);
    this.opts.onResult?.(result);
    return result;
  }

  private async find(
    enterprise: Enterprise,
    phone: string,
    budget: { readonly deadline: number; readonly signal?: AbortSignal },
  ): Promise<LookupResult> {
    const cached = this.cache.get(this.key(enterprise.number, phone));
    if (cached) return { status: cached.caller ? 'FOUND' : 'NOT_FOUND', source: 'cache', caller: cached.caller };

    let stored: StoredCustomer | null = null;
    try {
      stored = await raceDeadline(this.opts.customers.find(enterprise.number, phone), budget.deadline, { signal: budget.signal, now: this.now });
    } catch (err) {
      if (err instanceof DeadlineExpired) return { status: 'TIMEOUT', source: 'none', caller: null };
      this.opts.logger.warn('customer table lookup failed', { code: errorCode(err), err });
    }
    if (stored && this.now() - stored.updatedAt.getTime() < this.opts.freshMs) {
      const caller = fromStored(stored);
      this.remember(enterprise.number, phone, caller);
      return { status: 'FOUND', source: 'table', caller };
    }

    // Another call may have asked RetailCRM while we read the table.
    const warmed = this.cache.get(this.key(enterprise.number, phone));
    if (warmed) return { status: warmed.caller ? 'FOUND' : 'NOT_FOUND', source: 'cache', caller: warmed.caller };

    const stale = stored ? fromStored(stored) : null;
    for (let attempt = 0; ; attempt++) {
      try {
        const caller = await raceDeadline(this.crmShared(enterprise, phone), budget.deadline, { signal: budget.signal, now: this.now });
        return caller
          ? { status: 'FOUND', source: 'crm', caller }
          : { status: 'NOT_FOUND', source: 'crm', caller: null };
      } catch (err) {
        const timedOut = err instanceof DeadlineExpired || errorCode(err) === 'CRM_TIMEOUT';
        const retryable = err instanceof CrmError && err.retryable && !timedOut;
        if (retryable && attempt === 0 && budget.deadline - this.now() >= QUICK_RETRY_MIN_MS) continue;
        if (!(err instanceof DeadlineExpired)) {
          this.opts.logger.warn('RetailCRM caller lookup failed', { enterprise: enterprise.number, code: errorCode(err) });
        }
        if (stale) return { status: 'FOUND', source: 'stale', caller: stale };
        return { status: timedOut ? 'TIMEOUT' : 'ERROR', source: 'none', caller: null };
      }
    }
  }

  /** One RetailCRM request per (enterprise, phone) at a time; its answer is stored whoever still waits. */
  private crmShared(enterprise: Enterprise, phone: string): Promise<CallerInfo | null> {
    const key = this.key(enterprise.number, phone);
    const existing = this.inFlight.get(key);
    if (existing) return existing;
    const request = (async () => {
      try {
        const deadline = deadlineSignal(this.opts.crmTimeoutMs);
        const caller = await this.opts.crmLookup(enterprise, phone, deadline.signal).finally(() => deadline.dispose());
        this.remember(enterprise.number, phone, caller);
        this.tasks.track(this.store(enterprise.number, phone, caller));
        return caller;
      } finally {
        this.inFlight.delete(key);
      }
    })();
    this.inFlight.set(key, request);
    // The request may outlive every waiter (budget expired): keep it observed so a failure is never unhandled.
    this.tasks.track(request.then(() => undefined, () => undefined));
    return request;
  }

  private async store(enterprise: string, phone: string, caller: CallerInfo | null): Promise<void> {
    try {
      if (caller) {
        await this.opts.customers.upsert({ enterprise, phone, ...toStored(caller) });
      } else {
        await this.opts.customers.remove(enterprise, phone);
      }
    } catch (err) {
      this.opts.logger.warn('cannot store caller lookup result', { code: errorCode(err), err });
    }
  }

  /** Waits for background work (late CRM answers, table writes), for shutdown and tests. */
  async drain(): Promise<void> {
    await this.tasks.drain();
  }
}

function fromStored(s: StoredCustomer): CallerInfo {
  return { customerId: s.customerId, name: s.name, isCorporate: s.isCorporate, managerUserId: s.managerUserId };
}

function toStored(c: CallerInfo): Omit<StoredCustomer, 'enterprise' | 'phone' | 'updatedAt'> {
  return { customerId: c.customerId, name: c.name, isCorporate: c.isCorporate, managerUserId: c.managerUserId };
}
