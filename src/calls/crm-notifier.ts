/**
 * What a routed call tells RetailCRM, off the AGI session's critical path: the call record and its popup
 * (type in/out) in one transaction, then the popup handed to the outbox for immediate delivery; and, for a number
 * RetailCRM does not know, a customer-creation job (one per number, however many calls arrive at once) and, when
 * the enterprise wants leads, a lead (src/work/leads.ts: one per number and period, asked after the customer).
 * Everything runs as tracked background work; failures are logged, and the outbox keeps what was committed.
 */
import { errorCode } from '../lib/errors.js';
import type { CallEvent } from '../crm/types.js';
import type { Logger } from '../lib/logger.js';
import type { TaskTracker } from '../lib/task-tracker.js';
import { callEventOf } from './call-event.js';
import type { CallJournal } from './call-journal.js';
import type { CallContext } from './call-context.js';
import type { LeadRequests } from '../work/leads.js';
import { MAX_POPUP_CODES, type CallNotifier, type RoutedCall } from './incoming-call.js';

export interface NotifierDeps {
  readonly journal: CallJournal;
  /** Call starts being recorded at once; more wait, up to maxQueued; beyond that a start is skipped (degrade,
   * never queue without bound): /hangup still records the call, only its popup is lost. */
  readonly maxInFlight?: number;
  readonly maxQueued?: number;
  readonly onSkipped?: () => void;
  /** Delivers a committed job at once, in process (the outbox worker's deliverNow). */
  readonly deliverNow: (jobId: number) => Promise<unknown>;
  readonly tasks: TaskTracker;
  readonly logger: Logger;
  /** Leads for new callers (enterprise setting `leads`); absent: none are asked for. */
  readonly leads?: Pick<LeadRequests, 'request'>;
}

function siteFor(call: RoutedCall): string | null {
  const did = call.externalPhone.replace(/\D+/g, '');
  const match = did === '' ? undefined : call.view.enterprise.settings.externalPhones.find((p) => p.externalPhone.replace(/\D+/g, '') === did);
  return match?.siteCode ?? call.view.enterprise.site;
}

export function popupEvent(call: RoutedCall): CallEvent {
  return callEventOf(call.direction, {
    phone: call.phone,
    linkedid: call.linkedid,
    codes: call.ringCodes.slice(0, MAX_POPUP_CODES),
    externalPhone: call.externalPhone,
    site: siteFor(call),
  });
}

export function createCrmNotifier(deps: NotifierDeps): CallNotifier {
  const maxInFlight = deps.maxInFlight ?? 32;
  const maxQueued = deps.maxQueued ?? 5_000;
  let inFlight = 0;
  const queue: (() => void)[] = [];
  const run = (ctx: CallContext, call: RoutedCall): void => {
    inFlight++;
    deps.tasks.track(
      notify(ctx, call, deps).finally(() => {
        inFlight--;
        queue.shift()?.();
      }),
    );
  };
  return (ctx: CallContext, call: RoutedCall) => {
    if (inFlight < maxInFlight) run(ctx, call);
    else if (queue.length < maxQueued) queue.push(() => run(ctx, call));
    else {
      deps.onSkipped?.();
      ctx.log.warn('overloaded: call start not recorded (no popup); /hangup will record the call');
    }
  };
}

async function notify(ctx: CallContext, call: RoutedCall, deps: NotifierDeps): Promise<void> {
  const enterprise = call.view.enterprise;
  if (enterprise.settings.telephonyEvents) await recordCall(ctx, call, deps);
  // Create the customer only when RetailCRM may not know the number; the job checks again before creating.
  if (enterprise.settings.autoCreateCustomers && call.lookup.caller === null) await requestCustomer(ctx, call, deps);
  // A lead only when RetailCRM said it does not know the number (not when it could not be asked).
  if (enterprise.settings.leads.enabled && call.direction === 'in' && call.lookup.status === 'NOT_FOUND') await requestLead(ctx, call, deps);
}

async function requestLead(ctx: CallContext, call: RoutedCall, deps: NotifierDeps): Promise<void> {
  if (!deps.leads) return;
  try {
    const id = await deps.leads.request({
      enterprise: call.view.enterprise.number,
      phone: call.phone,
      linkedid: call.linkedid,
      calledAt: call.startedAt,
      periodHours: call.view.enterprise.settings.leads.periodHours,
    });
    if (id !== null) ctx.log.info('lead queued for a new caller', { lead: id });
  } catch (err) {
    ctx.log.error('cannot queue the lead', { code: errorCode(err), err });
  }
}

async function recordCall(ctx: CallContext, call: RoutedCall, deps: NotifierDeps): Promise<void> {
  const enterprise = call.view.enterprise;
  try {
    const jobId = await deps.journal.recordStart(
      {
        enterprise: enterprise.number,
        linkedid: call.linkedid,
        direction: call.direction,
        phone: call.phone,
        externalPhone: call.externalPhone === '' ? null : call.externalPhone,
        site: siteFor(call),
        customerId: call.lookup.caller?.customerId ?? null,
        ringCodes: call.ringCodes,
        startedAt: call.startedAt,
      },
      popupEvent(call),
    );
    if (jobId !== null) await deps.deliverNow(jobId);
  } catch (err) {
    ctx.log.error('cannot record the call start', { code: errorCode(err), err });
  }
}

async function requestCustomer(ctx: CallContext, call: RoutedCall, deps: NotifierDeps): Promise<void> {
  try {
    const id = await deps.journal.requestCustomer(call.view.enterprise.number, call.phone, siteFor(call), {
      // No name: a made-up one (the number as first name) would show on the phones and in RetailCRM as if
      // someone had named the customer; the phone shows the number until a person does.
      phones: [{ number: call.phone }],
      source: { source: 'phone', medium: 'call' },
    });
    if (id !== null) ctx.log.info('customer creation queued for a new number');
  } catch (err) {
    ctx.log.error('cannot queue the customer creation', { code: errorCode(err), err });
  }
}
