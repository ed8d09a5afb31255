/**
 * A finished call as the journal records it and RetailCRM receives it (the history upload and the hangup event
 * that closes the popups), built from what was decided about the call. Shared by /hangup (hangup-call.ts) and
 * the reconciler (src/reconcile/), so a call reads the same in RetailCRM whichever of them recorded it.
 */
import type { UploadCall } from '../crm/types.js';
import { callEventOf } from './call-event.js';
import type { CallEnd } from './call-journal.js';
import type { Outcome } from './call-result.js';
import { formatCrmDate } from '../domain/crm-date.js';
import type { EnterpriseView } from './enterprise-directory.js';

export interface CallEndFacts
  extends Pick<CallEnd, 'linkedid' | 'direction' | 'phone' | 'externalPhone' | 'site' | 'startedAt' | 'endedAt' | 'dialStatus' | 'reconciled' | 'recordingHost'> {
  readonly outcome: Pick<Outcome, 'answered' | 'result' | 'hangupStatus'>;
  /** Who handled the call (a mapped extension), if anyone. */
  readonly managerCode: string | undefined;
  /** The extensions whose popups opened. */
  readonly ringCodes: readonly string[];
  /** The manager the call was routed to (RCRM_MANAGER), '' if none. */
  readonly routed: string;
  readonly talkSec: number;
  readonly waitingSec: number;
  /** Relative to RECORDINGS_DIR; linked only when the call was answered. */
  readonly recordingFile: string | null;
}

export function buildCallEnd(view: EnterpriseView, f: CallEndFacts): CallEnd {
  const e = view.enterprise;
  const managerUserId = f.managerCode !== undefined ? (view.userByExtension.get(f.managerCode) ?? null) : null;
  const recordingFile = f.outcome.answered ? f.recordingFile : null;
  const upload: UploadCall = {
    date: formatCrmDate(f.startedAt, e.settings.crmTimezone),
    type: f.direction,
    phone: f.phone,
    result: f.outcome.result,
    duration: f.talkSec,
    durationWaiting: f.waitingSec,
    externalId: f.linkedid,
    ...(f.managerCode !== undefined ? { code: f.managerCode } : {}),
    ...(managerUserId !== null ? { userId: managerUserId } : {}),
    ...(f.externalPhone ? { externalPhone: f.externalPhone } : {}),
    ...(f.site ? { site: f.site } : {}),
  };
  // The hangup event goes to every extension whose popup opened, so none stays open.
  const codes =
    f.ringCodes.length > 0 ? f.ringCodes : f.direction === 'out' ? (f.managerCode ? [f.managerCode] : []) : f.routed ? [f.routed] : [];
  const hangupEvent = callEventOf('hangup', {
    phone: f.phone,
    linkedid: f.linkedid,
    codes,
    externalPhone: f.externalPhone,
    site: f.site,
    hangupStatus: f.outcome.hangupStatus,
  });
  return {
    enterprise: e.number,
    linkedid: f.linkedid,
    direction: f.direction,
    phone: f.phone,
    externalPhone: f.externalPhone,
    site: f.site,
    startedAt: f.startedAt,
    endedAt: f.endedAt,
    answered: f.outcome.answered,
    result: f.outcome.result,
    hangupStatus: f.outcome.hangupStatus,
    managerCode: f.managerCode ?? null,
    managerUserId,
    ringCodes: f.ringCodes,
    durationSec: f.talkSec,
    waitingSec: f.waitingSec,
    recordingFile,
    ...(recordingFile !== null && f.recordingHost ? { recordingHost: f.recordingHost } : {}),
    dialStatus: f.dialStatus,
    upload,
    hangupEvent,
    deliverToCrm: e.settings.telephonyEvents,
    callbackTasks: e.settings.callbackTasks.enabled,
    ...(f.reconciled ? { reconciled: true } : {}),
  };
}
