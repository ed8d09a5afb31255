/**
 * Outbox handlers for leads and call-back tasks (docs/leads-and-tasks.md):
 * - callback_task_create: `tasks/create` for the manager, linked to the customer, due in N minutes;
 * - callback_task_complete: `tasks/{id}/edit` with `complete: true` once the caller was reached;
 * - lead_create: `orders/create` for a caller RetailCRM did not know.
 * Each waits for the number's customer creation (customer_create) to be over, so the task or order is linked
 * to the customer it made. Idempotent on retries: a task is looked for (by its reference in the text) before a
 * second tasks/create when a first one may have reached RetailCRM; an order carries our externalId and is looked
 * up by it first. A key without the scope is a failed job with the reason, never a retry loop.
 */
import { displayName } from '../domain/caller-name.js';
import { crmAccount, type CrmAccount } from '../domain/crm-account.js';
import { formatCrmDate } from '../domain/crm-date.js';
import type { Enterprise } from '../domain/enterprise.js';
import type { RetailCrmClient } from '../crm/client.js';
import type { ManagerLookup } from '../crm/types.js';
import type { Pool } from '../db/pool.js';
import { CrmAuthError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { resultForError } from '../outbox/crm-handlers.js';
import { outboxJobKey } from '../outbox/enqueue.js';
import type { Job, JobHandler, JobResult } from '../outbox/job-types.js';
import { findCallbackTask, markCreateSent, markCrmCompleted, saveCrmTask, type CallbackTask } from './callback-task-store.js';
import {
  CALLBACK_TASK_COMPLETE,
  CALLBACK_TASK_CREATE,
  LEAD_CREATE,
  type CallbackCompletePayload,
  type CallbackCreatePayload,
  type LeadCreatePayload,
} from './job-kinds.js';
import { findLead, saveLeadOrder } from './lead-store.js';

export interface WorkHandlerDeps {
  readonly client: Pick<RetailCrmClient, 'telephonyManager' | 'tasksCreate' | 'tasksList' | 'taskComplete' | 'ordersCreate' | 'ordersList'>;
  readonly enterprises: { find(number: string): Promise<Enterprise | null> };
  readonly pool: Pool;
  /** State of an outbox job by key, null when there is none (the customer creation a job waits for). */
  readonly jobState: (jobKey: string) => Promise<string | null>;
  readonly logger: Logger;
  /** Deadline of one RetailCRM request; default 10 s. */
  readonly requestTimeoutMs?: number;
  /** First pause before looking again at a customer creation still pending (then longer each time); default 2 s. */
  readonly customerWaitMs?: number;
}

export type WorkHandlers = {
  readonly [CALLBACK_TASK_CREATE]: JobHandler;
  readonly [CALLBACK_TASK_COMPLETE]: JobHandler;
  readonly [LEAD_CREATE]: JobHandler;
};

const MALFORMED: JobResult = { kind: 'failed', reason: 'malformed payload' };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

function parseCreate(p: unknown): CallbackCreatePayload | null {
  if (!isObject(p) || !isId(p['taskId']) || typeof p['phone'] !== 'string' || typeof p['linkedid'] !== 'string') return null;
  if (!isTime(p['startedAt']) || !isTime(p['endedAt'])) return null;
  if (p['routedUserId'] !== null && p['routedUserId'] !== undefined && !isId(p['routedUserId'])) return null;
  return p as unknown as CallbackCreatePayload;
}

function parseComplete(p: unknown): CallbackCompletePayload | null {
  return isObject(p) && isId(p['taskId']) ? (p as unknown as CallbackCompletePayload) : null;
}

function parseLead(p: unknown): LeadCreatePayload | null {
  if (!isObject(p) || !isId(p['leadId']) || typeof p['phone'] !== 'string' || !isTime(p['calledAt'])) return null;
  return p as unknown as LeadCreatePayload;
}

/** A refused scope says which one; other errors follow the outbox's rule (permanent → failed, else retry). */
export function resultForWorkError(err: unknown, scope: string): JobResult {
  if (err instanceof CrmAuthError && /Access denied/i.test(err.errorMsg ?? '')) {
    return { kind: 'failed', reason: `RetailCRM refused: the API key lacks the scope ${scope} (${err.errorMsg ?? 'Access denied.'})` };
  }
  return resultForError(err);
}

/** The reference in a task's text that finds it again after a lost answer. */
export const taskReference = (enterprise: string, taskId: number): string => `[agi-cb ${enterprise}-${taskId}]`;

/** "Call back +375… (Ivan Ivanov), missed at 14:02" (+ "3 missed calls" when several) + the reference. */
export function taskText(phone: string, name: string, missedAt: string, missedCount: number, ref: string): string {
  const who = name === '' ? phone : `${phone} (${name})`;
  const count = missedCount > 1 ? `, ${missedCount} missed calls` : '';
  return `Call back ${who}, missed at ${missedAt}${count} ${ref}`;
}

export function createWorkHandlers(deps: WorkHandlerDeps): WorkHandlers {
  const timeoutMs = deps.requestTimeoutMs ?? 10_000;
  const waitMs = deps.customerWaitMs ?? 2_000;

  async function accountFor(number: string): Promise<{ account: CrmAccount; enterprise: Enterprise } | JobResult> {
    try {
      const e = await deps.enterprises.find(number);
      if (!e) return { kind: 'failed', reason: `unknown enterprise ${number}` };
      return { account: crmAccount(e), enterprise: e };
    } catch (err) {
      return { kind: 'retry', error: err };
    }
  }

  /**
   * Whether the number's customer creation is still to come: the job asked by /incoming during the call
   * (its key names the UTC day it was asked on, which lies between the call's start and end).
   */
  /**
   * How long to wait before looking again: growing with each wait, so a customer creation held back by a RetailCRM
   * outage of hours does not use up the worker's deferral cap (500) within minutes and fail the task or lead.
   */
  const waitDelay = (job: Job): number => Math.min(waitMs * (1 + job.deferrals), 600_000);

  async function customerPending(enterprise: string, phone: string, times: readonly Date[]): Promise<boolean> {
    const days = new Set(times.map((t) => t.toISOString().slice(0, 10)));
    for (const day of days) {
      if ((await deps.jobState(outboxJobKey('customer_create', enterprise, phone, day))) === 'pending') return true;
    }
    return false;
  }

  /** One job at a time, each with its own result: the three kinds share this loop. */
  function perJob(run: (acc: { account: CrmAccount; enterprise: Enterprise }, job: Job, signal: AbortSignal) => Promise<JobResult>): JobHandler['handle'] {
    return async (number, jobs, signal) => {
      const acc = await accountFor(number);
      if ('kind' in acc) return jobs.map(() => acc);
      const results: JobResult[] = [];
      for (const job of jobs) {
        if (signal.aborted) {
          results.push({ kind: 'released' });
          continue;
        }
        try {
          results.push(await run(acc, job, signal));
        } catch (err) {
          results.push({ kind: 'retry', error: err });
        }
      }
      return results;
    };
  }

  async function createTask(acc: { account: CrmAccount; enterprise: Enterprise }, job: Job, signal: AbortSignal): Promise<JobResult> {
    const p = parseCreate(job.payload);
    if (!p) return MALFORMED;
    const number = acc.enterprise.number;
    const current = await findCallbackTask(deps.pool, p.taskId);
    if (!current) return { kind: 'dropped', reason: 'the call-back row is gone' };
    if (current.crmTaskId !== null) return { kind: 'done' };
    if (current.state !== 'open') return { kind: 'dropped', reason: 'the caller was reached before the task was created' };
    if (await customerPending(number, p.phone, [new Date(p.startedAt), new Date(p.endedAt)])) {
      return { kind: 'later', delayMs: waitDelay(job), reason: 'waiting for the customer to be created' };
    }
    let known: ManagerLookup;
    try {
      known = await deps.client.telephonyManager(acc.account, p.phone, { signal, timeoutMs });
    } catch (err) {
      return resultForWorkError(err, 'telephony_read');
    }
    const customer = known.customer;
    const performerId = known.manager?.id ?? customer?.managerId ?? p.routedUserId ?? acc.enterprise.settings.callbackTasks.defaultUserId;
    if (performerId === null) {
      return { kind: 'failed', reason: 'nobody to give the task to: the caller has no manager; set --callback-default-user' };
    }
    const before = await markCreateSent(deps.pool, p.taskId);
    if (!before) return { kind: 'dropped', reason: 'the caller was reached before the task was created' };
    const ref = taskReference(number, p.taskId);
    if (before.createSentAt !== null) {
      // A tasks/create may have reached RetailCRM while its answer was lost: adopt that task instead of a twin.
      try {
        const found = await deps.client.tasksList(acc.account, { text: ref, performers: [performerId] }, { limit: 20 }, { signal, timeoutMs });
        const mine = found.items.find((t) => t.text?.includes(ref) === true);
        if (mine) {
          await saveCrmTask(deps.pool, p.taskId, { crmTaskId: mine.id, customerId: customer?.id ?? null, performerId });
          return { kind: 'done' };
        }
      } catch (err) {
        return resultForWorkError(err, 'task_read');
      }
    }
    const tz = acc.enterprise.settings.crmTimezone;
    const name = customer
      ? displayName({ firstName: customer.firstName, lastName: customer.lastName, company: customer.companyName, isCorporate: customer.type === 'customer_corporate' })
      : '';
    const missedAt = formatCrmDate(before.firstMissedAt, tz).slice(11, 16);
    const due = new Date(before.lastMissedAt.getTime() + acc.enterprise.settings.callbackTasks.dueMinutes * 60_000);
    try {
      const crmTaskId = await deps.client.tasksCreate(
        acc.account,
        {
          text: taskText(p.phone, name, missedAt, before.missedCount, ref),
          commentary: `Missed call ${p.linkedid} from ${p.phone}`,
          datetime: formatCrmDate(due, tz).slice(0, 16),
          performerId,
          phone: p.phone,
          ...(customer ? { customer: { id: customer.id } } : {}),
        },
        acc.enterprise.site ?? undefined,
        { signal, timeoutMs },
      );
      await saveCrmTask(deps.pool, p.taskId, { crmTaskId, customerId: customer?.id ?? null, performerId });
      return { kind: 'done' };
    } catch (err) {
      return resultForWorkError(err, 'task_write');
    }
  }

  async function completeTask(acc: { account: CrmAccount; enterprise: Enterprise }, job: Job, signal: AbortSignal): Promise<JobResult> {
    const p = parseComplete(job.payload);
    if (!p) return MALFORMED;
    const row: CallbackTask | null = await findCallbackTask(deps.pool, p.taskId);
    if (!row) return { kind: 'dropped', reason: 'the call-back row is gone' };
    if (row.crmCompletedAt !== null) return { kind: 'done' };
    if (row.crmTaskId === null) {
      // The creation has not run (it will see the row completed and create nothing) or is under way: wait for it.
      const createState = await deps.jobState(outboxJobKey(CALLBACK_TASK_CREATE, acc.enterprise.number, String(p.taskId)));
      if (row.createSentAt !== null && createState === 'pending') {
        return { kind: 'later', delayMs: waitDelay(job), reason: 'waiting for the task to be created' };
      }
      return { kind: 'dropped', reason: 'no task was created in RetailCRM for this call-back' };
    }
    try {
      const found = await deps.client.taskComplete(acc.account, row.crmTaskId, { signal, timeoutMs });
      if (!found) deps.logger.warn('the call-back task is no longer in RetailCRM', { enterprise: acc.enterprise.number, task: row.crmTaskId });
      await markCrmCompleted(deps.pool, row.id);
      return { kind: 'done' };
    } catch (err) {
      return resultForWorkError(err, 'task_write');
    }
  }

  async function createLead(acc: { account: CrmAccount; enterprise: Enterprise }, job: Job, signal: AbortSignal): Promise<JobResult> {
    const p = parseLead(job.payload);
    if (!p) return MALFORMED;
    const number = acc.enterprise.number;
    const lead = await findLead(deps.pool, p.leadId);
    if (!lead) return { kind: 'dropped', reason: 'the lead row is gone' };
    if (lead.crmOrderId !== null) return { kind: 'done' };
    const calledAt = new Date(p.calledAt);
    if (await customerPending(number, p.phone, [calledAt, job.createdAt])) {
      return { kind: 'later', delayMs: waitDelay(job), reason: 'waiting for the customer to be created' };
    }
    const settings = acc.enterprise.settings.leads;
    const site = settings.site ?? acc.enterprise.site ?? undefined;
    try {
      // Made already (an answer lost, a worker killed after sending)? Our externalId finds it.
      const existing = await deps.client.ordersList(acc.account, { externalIds: [lead.externalId] }, { limit: 20 }, { signal, timeoutMs });
      const made = existing.items.find((o) => o.externalId === lead.externalId);
      if (made) {
        await saveLeadOrder(deps.pool, lead.id, { crmOrderId: made.id, customerId: made.customerId ?? null });
        return { kind: 'done' };
      }
    } catch (err) {
      return resultForWorkError(err, 'order_read');
    }
    let known: ManagerLookup;
    try {
      known = await deps.client.telephonyManager(acc.account, p.phone, { signal, timeoutMs });
    } catch (err) {
      return resultForWorkError(err, 'telephony_read');
    }
    const tz = acc.enterprise.settings.crmTimezone;
    const customerId = known.customer?.id ?? null;
    try {
      const orderId = await deps.client.ordersCreate(
        acc.account,
        {
          externalId: lead.externalId,
          ...(settings.orderMethod !== null ? { orderMethod: settings.orderMethod } : {}),
          ...(settings.status !== null ? { status: settings.status } : {}),
          ...(customerId !== null ? { customer: { id: customerId } } : {}),
          phone: p.phone,
          createdAt: formatCrmDate(calledAt, tz),
          managerComment: `Call from ${p.phone} at ${formatCrmDate(calledAt, tz)} (call ${lead.linkedid})`,
          ...(known.manager?.id !== undefined ? { managerId: known.manager.id } : {}),
        },
        site,
        { signal, timeoutMs },
      );
      await saveLeadOrder(deps.pool, lead.id, { crmOrderId: orderId, customerId });
      return { kind: 'done' };
    } catch (err) {
      return resultForWorkError(err, 'order_write');
    }
  }

  return {
    // Not serial: each job checks its own order (the customer creation before it, the creation before the
    // completion), so one number's wait holds back nobody else's.
    [CALLBACK_TASK_CREATE]: { batchSize: 5, handle: perJob(createTask) },
    [CALLBACK_TASK_COMPLETE]: { batchSize: 5, handle: perJob(completeTask) },
    [LEAD_CREATE]: { batchSize: 5, handle: perJob(createLead) },
  };
}
