/**
 * Outbox handlers that write to RetailCRM: popups (call_event), call history (call_upload, 50 per request, each
 * call uploaded once its recording link is final) and auto-created customers (customer_create). They translate
 * CRM errors into job results: a key, validation or not-found problem is permanent (`failed`, reason kept); what
 * may pass is `retry`; a payload we cannot read is `failed`.
 */
import type { CallerInfo } from '../domain/caller-info.js';
import { displayName } from '../domain/caller-name.js';
import { crmAccount } from '../domain/crm-account.js';
import type { RetailCrmClient } from '../crm/client.js';
import { isRetryable } from '../crm/retry-policy.js';
import { MAX_CALLS_PER_UPLOAD, type CallEvent, type CustomerCreate, type UploadCall } from '../crm/types.js';
import { type CrmAccount } from '../domain/crm-account.js';
import type { CustomerStore } from '../db/customer-store.js';
import type { Enterprise } from '../domain/enterprise.js';
import { CrmError, CrmHttpError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Job, JobHandler, JobResult } from './job-types.js';

export type RecordingStatus = { status: 'ready'; url: string } | { status: 'pending' } | { status: 'none' };

export interface RecordingResolver {
  /**
   * Whether `file` (relative to the recordings directory of `host`, the PUBLIC_URL of the instance holding it;
   * absent for calls recorded without one) is complete, and its public link when it is.
   */
  resolve(enterprise: string, file: string, callEndedAt: Date, signal: AbortSignal, host?: string): Promise<RecordingStatus>;
}

export interface CallEventPayload {
  readonly event: CallEvent;
  /** A hangup event closes this popup job's popup: sent only if that popup was shown. */
  readonly closesJobKey?: string;
}
export interface CallUploadPayload {
  readonly call: UploadCall;
  readonly recordingFile?: string | null;
  /** PUBLIC_URL of the instance that holds the recording (calls/call-journal.ts). */
  readonly recordingHost?: string;
  /** ISO 8601. */
  readonly callEndedAt: string;
}
export interface CustomerCreatePayload {
  readonly phone: string;
  readonly site?: string | null;
  readonly customer: CustomerCreate;
}

export interface CrmHandlerDeps {
  readonly client: RetailCrmClient;
  readonly enterprises: { find(number: string): Promise<Enterprise | null> };
  readonly customers: Pick<CustomerStore, 'upsert'>;
  readonly recordings: RecordingResolver;
  /** State of another outbox job by key (null when there is none): a hangup event checks its popup. */
  readonly jobState?: (jobKey: string) => Promise<string | null>;
  /** A caller became known (created or found): lets the lead refresh the in-process lookup cache. */
  readonly onCustomerKnown?: (enterprise: string, phone: string, info: CallerInfo) => void;
  readonly logger: Logger;
  /** Deadline of one RetailCRM request; default 10 s. */
  readonly requestTimeoutMs?: number;
  /** How long after the call an open recording is waited for before uploading without a link; default 10 min. */
  readonly recordingWaitMs?: number;
  /** Pause between checks of an open recording; default 15 s. */
  readonly recordingRecheckMs?: number;
  /** How long enterprise credentials are cached; default 30 s. */
  readonly enterpriseCacheMs?: number;
  /** Popups delivered in order per batch; default 10. */
  readonly eventBatchSize?: number;
  /** Told of each popup (call/event in or out) RetailCRM accepted: `late` when shown popupLateMs after the call began. */
  readonly onPopup?: (outcome: 'sent' | 'late', enterprise: string) => void;
  /** Default 3000: managers pick up within seconds, a popup after that mostly comes too late to help. */
  readonly popupLateMs?: number;
  readonly now?: () => number;
}

export type CrmHandlers = {
  readonly call_event: JobHandler;
  readonly call_upload: JobHandler;
  readonly customer_create: JobHandler;
};

// ---- payload checks -------------------------------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseEventPayload(p: unknown): CallEventPayload | null {
  if (!isObject(p) || !isObject(p['event'])) return null;
  const e = p['event'];
  if (typeof e['phone'] !== 'string' || e['phone'] === '' || !['in', 'out', 'hangup'].includes(e['type'] as string)) return null;
  return p as unknown as CallEventPayload;
}

function parseUploadPayload(p: unknown): CallUploadPayload | null {
  if (!isObject(p) || !isObject(p['call'])) return null;
  const c = p['call'];
  if (typeof c['externalId'] !== 'string' || c['externalId'] === '' || typeof c['phone'] !== 'string') return null;
  if (typeof p['callEndedAt'] !== 'string' || Number.isNaN(Date.parse(p['callEndedAt']))) return null;
  const file = p['recordingFile'];
  if (file !== undefined && file !== null && typeof file !== 'string') return null;
  if (p['recordingHost'] !== undefined && typeof p['recordingHost'] !== 'string') return null;
  return p as unknown as CallUploadPayload;
}

function parseCustomerPayload(p: unknown): CustomerCreatePayload | null {
  if (!isObject(p) || typeof p['phone'] !== 'string' || p['phone'] === '' || !isObject(p['customer'])) return null;
  const site = p['site'];
  if (site !== undefined && site !== null && typeof site !== 'string') return null;
  return p as unknown as CustomerCreatePayload;
}

// ---- errors → results -----------------------------------------------------------------------------------------

/** A CRM error that retrying cannot fix is permanent; anything else (CRM or our own database) is retried. */
export function resultForError(err: unknown): JobResult {
  if (err instanceof CrmError && !isRetryable(err)) return { kind: 'failed', reason: describeCrmError(err) };
  return { kind: 'retry', error: err };
}

function describeCrmError(err: CrmError): string {
  const details = err instanceof CrmHttpError && err.errors !== undefined ? ` ${JSON.stringify(err.errors)}` : '';
  return `${err.code}: ${err.message}${details}`.slice(0, 2000);
}

const MALFORMED: JobResult = { kind: 'failed', reason: 'malformed payload' };

// ---- handlers -------------------------------------------------------------------------------------------------

export function createCrmHandlers(deps: CrmHandlerDeps): CrmHandlers {
  const timeoutMs = deps.requestTimeoutMs ?? 10_000;
  const recordingWaitMs = deps.recordingWaitMs ?? 600_000;
  const recheckMs = deps.recordingRecheckMs ?? 15_000;
  const now = deps.now ?? Date.now;
  const cacheMs = deps.enterpriseCacheMs ?? 30_000;
  const cache = new Map<string, { at: number; value: Enterprise | null }>();

  async function enterprise(number: string): Promise<Enterprise | null> {
    const hit = cache.get(number);
    if (hit && now() - hit.at < cacheMs) return hit.value;
    const value = await deps.enterprises.find(number);
    if (cache.size > 1000) cache.clear();
    cache.set(number, { at: now(), value });
    return value;
  }

  /** Resolves the account, or the result every job of the batch gets when there is none. */
  async function accountFor(number: string): Promise<{ account: CrmAccount; enterprise: Enterprise } | JobResult> {
    try {
      const e = await enterprise(number);
      if (!e) return { kind: 'failed', reason: `unknown enterprise ${number}` };
      return { account: crmAccount(e), enterprise: e };
    } catch (err) {
      return { kind: 'retry', error: err };
    }
  }

  const callEvent: JobHandler = {
    batchSize: deps.eventBatchSize ?? 10,
    // Not serial across calls: one call's popup must not wait for another's. A call's own order (popup, then
    // its hangup event) is kept by the hangup event itself, which waits for its popup (closesJobKey).
    serial: false,
    async handle(number, jobs, signal) {
      const acc = await accountFor(number);
      if ('kind' in acc) return jobs.map(() => acc);
      const results: JobResult[] = [];
      let blocked = false;
      for (const job of jobs) {
        // In order: once one waits for a retry, the rest wait behind it (a hangup must not overtake its "in").
        if (blocked || signal.aborted) {
          results.push({ kind: 'released' });
          continue;
        }
        const payload = parseEventPayload(job.payload);
        if (!payload) {
          results.push(MALFORMED);
          continue;
        }
        if (payload.closesJobKey !== undefined && deps.jobState) {
          const popup = await deps.jobState(payload.closesJobKey);
          if (popup === 'pending') {
            results.push({ kind: 'later', delayMs: 500, reason: 'waiting for the popup it closes' });
            blocked = true;
            continue;
          }
          if (popup !== 'done') {
            results.push({ kind: 'dropped', reason: 'the popup it closes was never shown' });
            continue;
          }
        }
        try {
          const answer = await deps.client.callEvent(acc.account, payload.event, { signal, timeoutMs });
          if (answer.notExistCodes.length > 0 || answer.notExistUsers.length > 0) {
            deps.logger.warn('RetailCRM does not know some popup targets', {
              enterprise: number, notExistCodes: answer.notExistCodes, notExistUsers: answer.notExistUsers,
            });
          }
          results.push({ kind: 'done' });
          if (payload.event.type !== 'hangup') {
            const late = now() - job.createdAt.getTime() > (deps.popupLateMs ?? 3_000);
            deps.onPopup?.(late ? 'late' : 'sent', number);
          }
        } catch (err) {
          const result = resultForError(err);
          blocked = result.kind === 'retry';
          results.push(result);
        }
      }
      return results;
    },
  };

  async function recordingFor(number: string, job: Job, p: CallUploadPayload, signal: AbortSignal): Promise<JobResult | string | undefined> {
    if (p.recordingFile === undefined || p.recordingFile === null || p.recordingFile === '') return undefined;
    const endedAt = new Date(p.callEndedAt);
    const waitedMs = now() - endedAt.getTime();
    let status: RecordingStatus;
    try {
      status = await deps.recordings.resolve(number, p.recordingFile, endedAt, signal, p.recordingHost);
    } catch (err) {
      deps.logger.warn('recording check failed', { enterprise: number, job: job.id, err });
      status = { status: 'pending' };
    }
    if (status.status === 'ready') return status.url;
    if (status.status === 'none') return undefined;
    if (waitedMs < recordingWaitMs) return { kind: 'later', delayMs: recheckMs, reason: 'recording still being written' };
    deps.logger.warn('recording not finished in time: uploading the call without a link', {
      enterprise: number, job: job.id, file: p.recordingFile,
    });
    return undefined;
  }

  async function upload(account: CrmAccount, calls: UploadCall[], signal: AbortSignal): Promise<JobResult[]> {
    try {
      // duplicateCalls = already stored = delivered (a duplicate is never updated, so nothing more to do).
      await deps.client.callsUpload(account, calls, { signal, timeoutMs });
      return calls.map(() => ({ kind: 'done' }));
    } catch (err) {
      const result = resultForError(err);
      // One invalid call refuses the whole request: send them one by one so only the bad one fails.
      if (result.kind === 'failed' && calls.length > 1 && err instanceof CrmHttpError && err.status === 400) {
        const single: JobResult[] = [];
        for (const call of calls) single.push(...(await upload(account, [call], signal)));
        return single;
      }
      return calls.map(() => result);
    }
  }

  const callUpload: JobHandler = {
    batchSize: MAX_CALLS_PER_UPLOAD,
    // History in call order, also after an outage: each batch is the due prefix of the enterprise's uploads.
    serial: true,
    async handle(number, jobs, signal) {
      const acc = await accountFor(number);
      if ('kind' in acc) return jobs.map(() => acc);
      const results: (JobResult | undefined)[] = jobs.map(() => undefined);
      const ready: { index: number; call: UploadCall }[] = [];
      for (const [index, job] of jobs.entries()) {
        const p = parseUploadPayload(job.payload);
        if (!p) {
          results[index] = MALFORMED;
          continue;
        }
        const link = await recordingFor(number, job, p, signal);
        if (typeof link === 'object') {
          results[index] = link;
          continue;
        }
        const call: UploadCall = { ...p.call };
        if (link !== undefined) call.recordUrl = link;
        else delete call.recordUrl;
        ready.push({ index, call });
      }
      if (ready.length > 0) {
        const uploaded = await upload(acc.account, ready.map((r) => r.call), signal);
        ready.forEach((r, i) => (results[r.index] = uploaded[i] ?? { kind: 'retry', error: new Error('no result') }));
      }
      return results.map((r) => r ?? { kind: 'retry', error: new Error('no result') });
    },
  };

  const customerCreate: JobHandler = {
    batchSize: 1,
    // One at a time per enterprise: the second job for a phone finds the customer the first one created.
    serial: true,
    async handle(number, jobs, signal) {
      const acc = await accountFor(number);
      if ('kind' in acc) return jobs.map(() => acc);
      const results: JobResult[] = [];
      for (const job of jobs) {
        const p = parseCustomerPayload(job.payload);
        if (!p) {
          results.push(MALFORMED);
          continue;
        }
        try {
          const info = await findOrCreateCustomer(acc.account, acc.enterprise, p, signal);
          await deps.customers.upsert({ enterprise: number, phone: p.phone, ...info });
          deps.onCustomerKnown?.(number, p.phone, info);
          results.push({ kind: 'done' });
        } catch (err) {
          results.push(resultForError(err));
        }
      }
      return results;
    },
  };

  async function findOrCreateCustomer(
    account: CrmAccount,
    e: Enterprise,
    p: CustomerCreatePayload,
    signal: AbortSignal,
  ): Promise<CallerInfo> {
    // Someone (another instance, a person in the CRM) may have created the caller since the job was queued.
    const known = await deps.client.telephonyManager(account, p.phone, { signal, timeoutMs });
    if (known.customer) {
      const isCorporate = known.customer.type === 'customer_corporate';
      return {
        customerId: known.customer.id,
        name: displayName({
          firstName: known.customer.firstName,
          lastName: known.customer.lastName,
          company: known.customer.companyName,
          isCorporate,
        }),
        isCorporate,
        managerUserId: known.manager?.id ?? known.customer.managerId ?? null,
      };
    }
    const site = p.site ?? e.site ?? undefined;
    const id = await deps.client.customersCreate(account, p.customer, site, { signal, timeoutMs });
    return {
      customerId: id,
      name: displayName({ firstName: p.customer.firstName, lastName: p.customer.lastName }),
      isCorporate: false,
      managerUserId: p.customer.managerId ?? null,
    };
  }

  return { call_event: callEvent, call_upload: callUpload, customer_create: customerCreate };
}

