/**
 * The history poller: per enterprise, reads RetailCRM's `customers/history` and `orders/history` after the last
 * applied entry (`filter[sinceId]`, limit 100, page after page) and applies them: affected customers are re-read
 * and their phone rows rewritten (names, phones, managers, merges, deletions), changed orders re-read into
 * `retailcrm_orders`. Each page's changes and its sinceId commit in one transaction, so a restart resumes exactly
 * after the last applied page. A session advisory lock per enterprise keeps other instances from polling it at
 * the same time, and a due slot per enterprise (history_poll_schedule) makes one poll per interval in all, however
 * many instances run. Triggers (webhook-routes.ts) are the fast path; this is the one that does not miss anything.
 */
import os from 'node:os';
import type { RetailCrmClient } from '../crm/client.js';
import type { Customer, HistoryEntry, HistoryPage, HistoryQuery } from '../crm/types.js';
import { crmAccount } from '../domain/crm-account.js';
import { formatCrmDate } from '../domain/crm-date.js';
import type { EnterpriseStore } from '../db/enterprise-store.js';
import type { Enterprise } from '../domain/enterprise.js';
import { withSessionLock } from '../db/advisory-lock.js';
import { inTransaction, type Pool, type PoolClient } from '../db/pool.js';
import { errorCode } from '../lib/errors.js';
import { backoffDelay } from '../lib/backoff.js';
import type { Logger } from '../lib/logger.js';
import { PeriodicTask } from '../lib/periodic-task.js';
import type { CustomerRefresher } from './customer-refresh.js';
import type { OrderRefresher } from './order-refresh.js';
import { claimDuePollSlot } from './poll-schedule-store.js';
import { readSinceId, saveSinceId, type HistoryStream } from './sync-state-store.js';

export type { HistoryStream } from './sync-state-store.js';

const PAGE_LIMIT = 100;
/** How much earlier than one interval a claimed slot falls due again (timer drift between rounds); at most a tenth. */
const SLOT_SLACK_MS = 1_000;
/** Customer re-reads in flight per page (the client's limiter bounds the account as a whole). */
const FETCH_CONCURRENCY = 4;
/** Customer history fields that change what a call shows or where it is routed (snake_case as sent, or camel). */
const CUSTOMER_FIELDS = new Set(['id', 'firstname', 'lastname', 'patronymic', 'phones', 'phone', 'manager', 'managerid',
  'nickname', 'maincompany', 'companyname', 'type', 'combinedto']);

export interface HistoryPollerOptions {
  readonly pool: Pool;
  readonly crm: Pick<RetailCrmClient, 'customersHistory' | 'ordersHistory'>;
  readonly enterprises: Pick<EnterpriseStore, 'list' | 'find'>;
  readonly customers: CustomerRefresher;
  readonly orders: OrderRefresher;
  readonly logger: Logger;
  /** Pause between polls of every enterprise; default 60 s. */
  readonly intervalMs?: number;
  /** Deadline of each history request; default 15 s. */
  readonly crmTimeoutMs?: number;
  /** First poll of an enterprise: start this far back instead of replaying its whole history; default 10 min. */
  readonly bootstrapLookbackMs?: number;
  /** Pages per stream per poll (the rest waits for the next poll); default 50. */
  readonly maxPagesPerPoll?: number;
  /** Longest pause after repeated failures of one enterprise; default 15 min. */
  readonly maxBackoffMs?: number;
  /** Names this instance in history_poll_schedule (host and pid by default). */
  readonly instanceId?: string;
  readonly now?: () => number;
}

export interface StreamResult {
  readonly pages: number;
  readonly entries: number;
  readonly sinceId: number | null;
}

export type PollResult =
  | { readonly polled: false; readonly reason: 'locked' | 'unknown-enterprise' }
  | { readonly polled: true; readonly customers: StreamResult; readonly orders: StreamResult };

export interface CustomerChanges {
  /** Customers to re-read, in first-seen order. */
  readonly refresh: readonly number[];
  /** Merges seen on the page: the rows of `from` move to `to`. */
  readonly merges: readonly { readonly from: number; readonly to: number }[];
}

function fieldKey(field: string | undefined): string {
  return (field ?? '').toLowerCase().split('.')[0]?.replace(/[^a-z]/g, '') ?? '';
}

/**
 * Which customers a page of customers/history touches. Changes made with our own key are skipped only for
 * creations: we create customers only for unknown callers and store their row at once, so nothing is lost.
 */
export function customerChanges(entries: readonly HistoryEntry[]): CustomerChanges {
  const refresh = new Set<number>();
  const merges: { from: number; to: number }[] = [];
  for (const e of entries) {
    const id = e.customer?.id;
    if (id === undefined) continue;
    if (e.combinedTo) {
      merges.push({ from: id, to: e.combinedTo.id });
      refresh.add(id).add(e.combinedTo.id);
      continue;
    }
    if (e.byCurrentApiKey && e.created) continue;
    if (e.created || e.deleted || CUSTOMER_FIELDS.has(fieldKey(e.field))) refresh.add(id);
  }
  return { refresh: [...refresh], merges };
}

/** Orders a page of orders/history touches: all of them (re-reads are batched by 100, so this is cheap). */
export function orderChanges(entries: readonly HistoryEntry[]): number[] {
  return [...new Set(entries.flatMap((e) => (e.order ? [e.order.id] : [])))];
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export class HistoryPoller {
  private readonly loop: PeriodicTask;
  private readonly backoff = new Map<string, { attempts: number; until: number }>();
  private readonly now: () => number;
  private abort = new AbortController();
  /** When each enterprise's history was last read (by this instance, or found locked by another one reading it). */
  private readonly lastRead = new Map<string, number>();
  private readonly createdAt: number;

  constructor(private readonly o: HistoryPollerOptions) {
    this.now = o.now ?? Date.now;
    this.createdAt = this.now();
    this.loop = new PeriodicTask(() => this.pollAll(), o.intervalMs ?? 60_000, (err) =>
      o.logger.error('history poller crashed', { code: errorCode(err), err }),
    );
  }

  /**
   * Seconds since each enterprise's history was last read (since start for one never read yet); only
   * enterprises seen by a polling round. For the lag gauge and /ready.
   */
  lagSeconds(): Map<string, number> {
    const now = this.now();
    return new Map([...this.lastRead].map(([e, at]) => [e, Math.max(0, (now - (at > 0 ? at : this.createdAt)) / 1000)]));
  }

  private get intervalMs(): number {
    return this.o.intervalMs ?? 60_000;
  }

  /** Polls every enterprise now and then every intervalMs (the next round starts after the previous one ends). */
  start(): void {
    if (this.abort.signal.aborted) this.abort = new AbortController(); // started again after stop()
    this.loop.start();
  }

  /** Stops scheduling, cancels in-flight RetailCRM requests and waits for the poll to finish and unlock. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop.stop();
  }

  private async pollAll(): Promise<void> {
    let enterprises: Enterprise[];
    try {
      enterprises = await this.o.enterprises.list();
    } catch (err) {
      this.o.logger.warn('history poller: cannot list enterprises', { code: errorCode(err), err });
      return;
    }
    const known = new Set(enterprises.map((e) => e.number));
    for (const number of this.lastRead.keys()) if (!known.has(number)) this.lastRead.delete(number);
    for (const e of enterprises) if (!this.lastRead.has(e.number)) this.lastRead.set(e.number, 0);
    for (const enterprise of enterprises) {
      if (this.loop.stopped) return;
      const b = this.backoff.get(enterprise.number);
      if (b && b.until > this.now()) continue;
      try {
        // Another instance polled it within the interval: one poll per interval whatever the number of instances.
        if (!(await this.claimDueSlot(enterprise.number))) {
          this.lastRead.set(enterprise.number, this.now());
          continue;
        }
        const result = await this.pollOnce(enterprise, this.abort.signal);
        if (result.polled || result.reason === 'locked') this.lastRead.set(enterprise.number, this.now());
        this.backoff.delete(enterprise.number);
      } catch (err) {
        if (this.loop.stopped) return; // stop() aborted the poll: nothing to report
        const attempts = (b?.attempts ?? 0) + 1;
        const delay = backoffDelay(attempts - 1, { initialMs: this.intervalMs, maxMs: this.o.maxBackoffMs ?? 900_000 });
        this.backoff.set(enterprise.number, { attempts, until: this.now() + delay });
        this.o.logger.warn('history poll failed; backing off', {
          enterprise: enterprise.number,
          code: errorCode(err),
          err,
          attempts,
          retryInMs: delay,
        });
      }
    }
  }

  /**
   * Claims the enterprise's poll for this interval: true when its slot was due (or never set) and is now this
   * instance's, moved one interval on; false when another instance polled it within the interval.
   */
  async claimDueSlot(enterprise: string): Promise<boolean> {
    // A little under the interval, so this instance's own next round (one interval after this one ends) finds the
    // slot due again.
    const holdMs = this.intervalMs - Math.min(SLOT_SLACK_MS, this.intervalMs / 10);
    return claimDuePollSlot(this.o.pool, enterprise, holdMs, this.instanceId);
  }

  private get instanceId(): string {
    return this.o.instanceId ?? `${os.hostname()}:${process.pid}`;
  }

  /** One poll of one enterprise, unless another instance (or this one) is polling it right now. */
  async pollOnce(enterpriseOrNumber: Enterprise | string, signal?: AbortSignal): Promise<PollResult> {
    const enterprise =
      typeof enterpriseOrNumber === 'string' ? await this.o.enterprises.find(enterpriseOrNumber) : enterpriseOrNumber;
    if (!enterprise) return { polled: false, reason: 'unknown-enterprise' };
    const polled = await withSessionLock(this.o.pool, `rcrm-history-poll:${enterprise.number}`, async (client) => {
      const customers = await this.pollStream(client, enterprise, 'customers', signal);
      const orders = await this.pollStream(client, enterprise, 'orders', signal);
      return { polled: true as const, customers, orders };
    });
    return polled.locked ? polled.value : { polled: false, reason: 'locked' };
  }

  private async pollStream(
    client: PoolClient,
    enterprise: Enterprise,
    stream: HistoryStream,
    signal: AbortSignal | undefined,
  ): Promise<StreamResult> {
    let sinceId = await readSinceId(client, enterprise.number, stream);
    let pages = 0;
    let entries = 0;
    const maxPages = this.o.maxPagesPerPoll ?? 50;
    while (pages < maxPages) {
      signal?.throwIfAborted();
      const page = await this.fetchPage(enterprise, stream, sinceId, signal);
      const lastId = page.entries.reduce((max, e) => Math.max(max, e.id), 0);
      if (page.entries.length === 0 || (sinceId !== null && lastId <= sinceId)) break;
      if (stream === 'customers') await this.applyCustomerPage(client, enterprise, page.entries, lastId, signal);
      else await this.applyOrderPage(client, enterprise, page.entries, lastId, signal);
      pages++;
      entries += page.entries.length;
      sinceId = lastId;
      if (page.pagination.totalPageCount <= 1) break;
    }
    return { pages, entries, sinceId };
  }

  private fetchPage(
    enterprise: Enterprise,
    stream: HistoryStream,
    sinceId: number | null,
    signal: AbortSignal | undefined,
  ): Promise<HistoryPage> {
    const query: HistoryQuery =
      sinceId !== null
        ? { sinceId, limit: PAGE_LIMIT }
        : {
            startDate: formatCrmDate(new Date(this.now() - (this.o.bootstrapLookbackMs ?? 600_000)), enterprise.settings.crmTimezone),
            limit: PAGE_LIMIT,
          };
    const opts = { timeoutMs: this.o.crmTimeoutMs ?? 15_000, ...(signal ? { signal } : {}) };
    const account = crmAccount(enterprise);
    return stream === 'customers' ? this.o.crm.customersHistory(account, query, opts) : this.o.crm.ordersHistory(account, query, opts);
  }

  private async applyCustomerPage(
    client: PoolClient,
    enterprise: Enterprise,
    entries: readonly HistoryEntry[],
    lastId: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const changes = customerChanges(entries);
    // Read before the transaction: no database transaction stays open across RetailCRM requests.
    const fetched = await mapLimit(changes.refresh, FETCH_CONCURRENCY, async (id): Promise<[number, Customer | null]> => [
      id,
      await this.o.customers.fetch(enterprise, id, signal),
    ]);
    signal?.throwIfAborted();
    const phones = await inTransaction(client, async () => {
      const affected: string[] = [];
      for (const m of changes.merges) affected.push(...(await this.o.customers.moveRows(client, enterprise, m.from, m.to)));
      for (const [id, customer] of fetched) affected.push(...(await this.o.customers.apply(client, enterprise, id, customer)));
      await saveSinceId(client, enterprise.number, 'customers', lastId);
      const unique = [...new Set(affected)];
      await this.o.customers.publish(client, enterprise, unique);
      return unique;
    });
    this.o.customers.changed(enterprise, phones);
  }

  private async applyOrderPage(
    client: PoolClient,
    enterprise: Enterprise,
    entries: readonly HistoryEntry[],
    lastId: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const ids = orderChanges(entries);
    const orders = ids.length > 0 ? await this.o.orders.fetch(enterprise, ids, signal) : [];
    signal?.throwIfAborted();
    await inTransaction(client, async () => {
      await this.o.orders.apply(client, enterprise, ids, orders);
      await saveSinceId(client, enterprise.number, 'orders', lastId);
    });
  }
}
