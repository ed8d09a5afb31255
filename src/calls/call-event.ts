/**
 * A RetailCRM `call/event` for a call (popup `in`/`out`, or `hangup` that closes it): the one place that decides
 * which optional fields are sent, so a call's popups and its hangup event always match.
 */
import type { CallEvent, CallEventType, HangupStatus } from '../crm/types.js';

export interface CallEventFacts {
  readonly phone: string;
  readonly linkedid: string;
  readonly codes: readonly string[];
  readonly externalPhone: string | null;
  readonly site: string | null;
  readonly hangupStatus?: HangupStatus;
}

export function callEventOf(type: CallEventType, f: CallEventFacts): CallEvent {
  return {
    type,
    phone: f.phone,
    ...(f.hangupStatus !== undefined ? { hangupStatus: f.hangupStatus } : {}),
    callExternalId: f.linkedid,
    ...(f.codes.length > 0 ? { codes: [...f.codes] } : {}),
    ...(f.externalPhone ? { externalPhone: f.externalPhone } : {}),
    ...(f.site ? { site: f.site } : {}),
  };
}
