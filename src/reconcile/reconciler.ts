/**
 * The reconciler: every call Asterisk saw reaches RetailCRM, even when this service was down, overloaded or
 * unreachable while it happened. At start and every interval, per enterprise and under a session advisory lock
 * (one reconciler at a time across instances), it reads the CDRs Asterisk wrote (cdr-store.ts) for calls that
 * ended between the window's start and the grace period ago and have no ended call in the journal, and records
 * each through the same path as /hangup (CallJournal.recordEnd: the call row and its outbox jobs in one
 * transaction, idempotent by linkedid), so a call /hangup recorded, before or at the same moment, is never
 * recorded twice. Reconciled calls get no popup (they are over); their number gets a customer when the
 * enterprise auto-creates customers.
 */
import { LRUCache } from 'lru-cache';
import { existingRecording } from '../calls/hangup-call.js';
import type { CallJournal } from '../calls/call-journal.js';
import type { EnterpriseDirectory } from '../calls/enterprise-directory.js';
import type { CustomerStore } from '../db/customer-store.js';
import type { EnterpriseStore } from '../db/enterprise-store.js';
import type { Enterprise } from '../domain/enterprise.js';
import { withSessionLock } from '../db/advisory-lock.js';
import type { Pool } from '../db/pool.js';
import { errorCode } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { PeriodicTask } from '../lib/periodic-task.js';
import { callFromCdrs, recordingOf } from './cdr-call.js';
import { CdrStore, type CdrWindow } from './cdr-store.js';
import type { ReconcileMetrics } from './reconcile-metrics.js';

export interface ReconcilerOptions {
  readonly pool: Pool;
  readonly enterprises: Pick<EnterpriseStore, 'list' | 'find'>;
  readonly directory: Pick<EnterpriseDirectory, 'get'>;
  readonly journal: Pick<CallJournal, 'find' | 'recordEnd' | 'requestCustomer'>;
  readonly customers: Pick<CustomerStore, 'find'>;
  readonly recordingsDir: string;
  readonly logger: Logger;
  /** Pause between passes; 0: only passes run by hand. */
  readonly intervalMs: number;
  /** How far back a pass looks (CDR end times). */
  readonly windowMs: number;
  /** A call is left to /hangup this long after its last CDR ended. */
  readonly graceMs: number;
  /** Calls recorded per enterprise per pass (the rest waits for the next pass); default 500. */
  readonly maxCallsPerPass?: number;
  readonly now?: () => number;
  /** Told of every call the reconciler recorded and every pass (the /metrics counters). */
  readonly metrics?: Pick<ReconcileMetrics, 'inc' | 'pass'>;
}

/**
 * One call a pass found. `already`: /hangup (or another reconciler) recorded it meanwhile; `empty`: no CDR could
 * be read; `failed`: recording it failed (logged; tried again next pass).
 */
export interface ReconciledCall {
  readonly linkedid: string;
  readonly outcome: 'recorded' | 'already' | 'empty' | 'failed';
  readonly direction?: 'in' | 'out';
  readonly phone?: string;
  readonly result?: string;
  readonly manager?: string | null;
  readonly durationSec?: number;
  readonly waitingSec?: number;
  readonly recording?: boolean;
  readonly startedAt?: Date;
}

export type PassResult =
  | { readonly reconciled: false; readonly reason: 'locked' | 'unknown-enterprise' }
  | { readonly reconciled: true; readonly calls: readonly ReconciledCall[] };

/** Linkedids of unknown enterprises already logged: each is logged once, not on every pass. */
const MAX_LOGGED_UNKNOWN = 10_000;

export class Reconciler {
  private readonly loop: PeriodicTask;
  private readonly store: CdrStore;
  private readonly now: () => number;
  private readonly loggedUnknown = new LRUCache<string, true>({ max: MAX_LOGGED_UNKNOWN });

  constructor(private readonly o: ReconcilerOptions) {
    this.now = o.now ?? Date.now;
    this.store = new CdrStore(o.pool);
    this.loop = new PeriodicTask(() => this.reconcileAll(), o.intervalMs, (err) =>
      o.logger.warn('reconcile pass failed', { code: errorCode(err), err }),
    );
  }

  /** A pass now, then one every intervalMs (the next starts after the previous one ends). */
  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** The window of a pass: from `since` (default: the configured window) to the grace period ago. */
  window(sinceMs?: number): CdrWindow {
    const now = this.now();
    return { fromSec: (sinceMs ?? now - this.o.windowMs) / 1000, untilSec: (now - this.o.graceMs) / 1000 };
  }

  /** One pass over every enterprise, and a log line for each new call of an enterprise nobody knows. */
  async reconcileAll(): Promise<void> {
    const window = this.window();
    await this.logUnknownEnterprises(window);
    for (const enterprise of await this.o.enterprises.list()) {
      if (this.loop.stopped) return;
      try {
        await this.reconcileEnterprise(enterprise, window);
      } catch (err) {
        this.o.logger.warn('reconcile pass failed', { enterprise: enterprise.number, code: errorCode(err), err });
      }
    }
  }

  /** One pass for one enterprise, unless another instance (or this one) is reconciling it right now. */
  async reconcileEnterprise(enterpriseOrNumber: Enterprise | string, window: CdrWindow = this.window()): Promise<PassResult> {
    const enterprise =
      typeof enterpriseOrNumber === 'string' ? await this.o.enterprises.find(enterpriseOrNumber) : enterpriseOrNumber;
    if (!enterprise) return { reconciled: false, reason: 'unknown-enterprise' };
    const pass = await withSessionLock(this.o.pool, `rcrm-reconcile:${enterprise.number}`, async () => {
      const linkedids = await this.store.unrecorded(enterprise.number, window, this.o.maxCallsPerPass ?? 500);
      const rows = await this.store.rowsOf(enterprise.number, linkedids);
      const calls: ReconciledCall[] = [];
      for (const linkedid of linkedids) {
        if (this.loop.stopped) break;
        try {
          calls.push(await this.reconcileCall(enterprise.number, linkedid, rows.get(linkedid) ?? []));
        } catch (err) {
          // One call that cannot be recorded must not hold back the others; it is tried again next pass.
          this.o.logger.warn('cannot reconcile a call', { enterprise: enterprise.number, call: linkedid, code: errorCode(err), err });
          calls.push({ linkedid, outcome: 'failed' });
        }
      }
      return calls;
    });
    this.o.metrics?.pass(enterprise.number, pass.locked ? 'done' : 'locked');
    if (!pass.locked) return { reconciled: false, reason: 'locked' };
    return { reconciled: true, calls: pass.value };
  }

  private async reconcileCall(enterprise: string, linkedid: string, rows: Parameters<typeof callFromCdrs>[0]['rows']): Promise<ReconciledCall> {
    const view = await this.o.directory.get(enterprise);
    const log = this.o.logger.child({ enterprise, call: linkedid });
    const start = await this.o.journal.find(enterprise, linkedid);
    const recordingFile = await existingRecording(this.o.recordingsDir, recordingOf(rows) ?? '', log);
    const end = view ? callFromCdrs({ view, linkedid, rows, start, recordingFile }) : null;
    if (!end) return { linkedid, outcome: 'empty' };
    const { recorded } = await this.o.journal.recordEnd(end);
    const found: ReconciledCall = {
      linkedid,
      outcome: recorded ? 'recorded' : 'already',
      direction: end.direction,
      phone: end.phone,
      result: end.result,
      manager: end.managerCode,
      durationSec: end.durationSec,
      waitingSec: end.waitingSec,
      recording: end.recordingFile !== null,
      startedAt: end.startedAt,
    };
    if (!recorded) return found;
    this.o.metrics?.inc(enterprise);
    log.info('call reconciled from the CDRs', {
      direction: end.direction,
      result: end.result,
      manager: end.managerCode ?? undefined,
      duration: end.durationSec,
      waiting: end.waitingSec,
      halfRecorded: start !== null,
    });
    if (view && end.direction === 'in' && end.deliverToCrm && view.enterprise.settings.autoCreateCustomers && (start?.customerId ?? null) === null) {
      await this.requestCustomer(enterprise, end.phone, end.site, log);
    }
    return found;
  }

  /** A caller this service has never seen gets a customer, as /incoming would have asked for one. */
  private async requestCustomer(enterprise: string, phone: string, site: string | null, log: Logger): Promise<void> {
    if (!phone.startsWith('+') || (await this.o.customers.find(enterprise, phone)) !== null) return;
    const id = await this.o.journal.requestCustomer(enterprise, phone, site, { phones: [{ number: phone }], source: { source: 'phone', medium: 'call' } });
    if (id !== null) log.info('customer creation queued for a new number');
  }

  private async logUnknownEnterprises(window: CdrWindow): Promise<void> {
    try {
      for (const { enterprise, linkedid } of await this.store.unknownEnterprises(window, 1000)) {
        if (this.loggedUnknown.has(linkedid)) continue;
        this.loggedUnknown.set(linkedid, true);
        this.o.logger.warn('CDR of an unknown enterprise ignored', { enterprise, call: linkedid });
      }
    } catch (err) {
      this.o.logger.warn('cannot read the CDRs of unknown enterprises', { code: errorCode(err), err });
    }
  }

}
