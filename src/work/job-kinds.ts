/**
 * The outbox jobs of leads and call-back tasks: their kinds, keys and payloads, shared by what enqueues them
 * (src/work/callback-tasks.ts, leads.ts) and what delivers them (work-handlers.ts).
 */
import { outboxJobKey } from '../outbox/enqueue.js';

export const CALLBACK_TASK_CREATE = 'callback_task_create';
export const CALLBACK_TASK_COMPLETE = 'callback_task_complete';
export const LEAD_CREATE = 'lead_create';

/** callback_task_create: the row to create the RetailCRM task for, and what the missed call knew. */
export interface CallbackCreatePayload {
  readonly taskId: number;
  readonly phone: string;
  readonly linkedid: string;
  /** ISO 8601: when the missed call started and ended (the customer creation it waits for was asked in between). */
  readonly startedAt: string;
  readonly endedAt: string;
  /** The manager the missed call was routed to, if any: the performer when the customer has no manager. */
  readonly routedUserId: number | null;
}

/** callback_task_complete: the row whose RetailCRM task is to be completed. */
export interface CallbackCompletePayload {
  readonly taskId: number;
}

/** lead_create: the claimed crm_leads row. */
export interface LeadCreatePayload {
  readonly leadId: number;
  readonly phone: string;
  /** ISO 8601: when the call came. */
  readonly calledAt: string;
}

export const callbackCreateKey = (enterprise: string, taskId: number): string => outboxJobKey(CALLBACK_TASK_CREATE, enterprise, String(taskId));
export const callbackCompleteKey = (enterprise: string, taskId: number): string => outboxJobKey(CALLBACK_TASK_COMPLETE, enterprise, String(taskId));
export const leadCreateKey = (enterprise: string, leadId: number): string => outboxJobKey(LEAD_CREATE, enterprise, String(leadId));
