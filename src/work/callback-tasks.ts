/**
 * What a finished call means for call-back tasks, decided inside the transaction that records the call's end
 * (src/calls/call-journal.ts), so the task is as durable as the call: a missed inbound call opens the number's
 * row (the first miss queues the RetailCRM task; later misses only count), an answered call with the number
 * completes the open row and queues the task's completion.
 */
import type { PoolClient } from '../db/pool.js';
import { enqueueJob, notifyOutbox } from '../outbox/enqueue.js';
import { completeOnReach, recordMissedCall } from './callback-task-store.js';
import {
  CALLBACK_TASK_COMPLETE,
  CALLBACK_TASK_CREATE,
  callbackCompleteKey,
  callbackCreateKey,
  type CallbackCompletePayload,
  type CallbackCreatePayload,
} from './job-kinds.js';

export interface FinishedCall {
  readonly enterprise: string;
  readonly linkedid: string;
  readonly direction: 'in' | 'out';
  /** E.164; anything else (a hidden or internal number) has nobody to call back. */
  readonly phone: string;
  readonly answered: boolean;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly managerUserId: number | null;
  /** The enterprise's callbackTasks.enabled: off, misses open nothing (open rows still complete). */
  readonly callbackTasks: boolean;
}

export type CallbackEffect = { readonly kind: 'opened' | 'counted' | 'completed'; readonly taskId: number } | null;

const E164 = /^\+\d{6,15}$/;

export async function recordCallForCallbacks(db: PoolClient, call: FinishedCall): Promise<CallbackEffect> {
  if (!E164.test(call.phone)) return null;
  if (call.answered) {
    const taskId = await completeOnReach(db, { enterprise: call.enterprise, phone: call.phone, linkedid: call.linkedid, at: call.endedAt });
    if (taskId === null) return null;
    const payload: CallbackCompletePayload = { taskId };
    await enqueueJob(db, { enterprise: call.enterprise, kind: CALLBACK_TASK_COMPLETE, jobKey: callbackCompleteKey(call.enterprise, taskId), payload });
    await notifyOutbox(db, call.enterprise);
    return { kind: 'completed', taskId };
  }
  if (call.direction !== 'in' || !call.callbackTasks) return null;
  const { id, opened } = await recordMissedCall(db, { enterprise: call.enterprise, phone: call.phone, linkedid: call.linkedid, at: call.startedAt });
  if (!opened) return { kind: 'counted', taskId: id };
  const payload: CallbackCreatePayload = {
    taskId: id,
    phone: call.phone,
    linkedid: call.linkedid,
    startedAt: call.startedAt.toISOString(),
    endedAt: call.endedAt.toISOString(),
    routedUserId: call.managerUserId,
  };
  await enqueueJob(db, { enterprise: call.enterprise, kind: CALLBACK_TASK_CREATE, jobKey: callbackCreateKey(call.enterprise, id), payload });
  await notifyOutbox(db, call.enterprise);
  return { kind: 'opened', taskId: id };
}
