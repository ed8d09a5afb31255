/**
 * What a finished call was, from what Asterisk reports to /hangup. Pure functions, tested as tables against the
 * real Asterisk 22 transcripts (test/fixtures/agi/*__hangup.json). What the variables really mean
 * (docs/call-results.md):
 * - DIALSTATUS is set by Dial (ANSWER, BUSY, NOANSWER, CANCEL, CHANUNAVAIL, CONGESTION, ...); after Queue it is
 *   unset and ANSWEREDTIME says whether a member answered (0 = nobody), QUEUESTATUS why Queue gave up.
 * - ANSWEREDTIME is the caller channel's up-time (talk time for a plain Dial/Queue); "" when Dial was not answered.
 * - CDR(...) is the channel's *last* CDR, not the call: only CDR(dstchannel) with disposition ANSWERED is used,
 *   to see who talked last after an attended transfer.
 */
import type { CallResult, HangupStatus } from '../crm/types.js';

export interface HangupVariables {
  readonly dialStatus: string | undefined;
  readonly answeredTime: string | undefined;
  readonly dialedPeerNumber: string | undefined;
  readonly memberInterface: string | undefined;
  readonly queueStatus: string | undefined;
  readonly cdrDisposition: string | undefined;
  readonly cdrDstChannel: string | undefined;
}

export interface Outcome {
  readonly answered: boolean;
  readonly result: CallResult;
  readonly hangupStatus: HangupStatus;
  readonly talkSeconds: number;
}

/** Dial's DIALSTATUS → (calls/upload result, call/event hangupStatus). Note the two spellings of "no answer". */
export const DIAL_STATUS_TABLE: Readonly<Record<string, readonly [CallResult, HangupStatus]>> = Object.freeze({
  ANSWER: ['answered', 'answered'],
  BUSY: ['busy', 'busy'],
  NOANSWER: ['no answer', 'no answered'],
  CANCEL: ['no answer', 'cancel'],
  CHANUNAVAIL: ['failed', 'failed'],
  CONGESTION: ['failed', 'failed'],
  INVALIDARGS: ['failed', 'failed'],
  DONTCALL: ['not allowed', 'failed'],
  TORTURE: ['not allowed', 'failed'],
});

/** Why Queue() returned without an answer → (result, hangupStatus). Unset = the caller hung up while waiting. */
export const QUEUE_STATUS_TABLE: Readonly<Record<string, readonly [CallResult, HangupStatus]>> = Object.freeze({
  TIMEOUT: ['no answer', 'no answered'],
  FULL: ['failed', 'failed'],
  JOINEMPTY: ['failed', 'failed'],
  LEAVEEMPTY: ['no answer', 'no answered'],
  JOINUNAVAIL: ['failed', 'failed'],
  LEAVEUNAVAIL: ['no answer', 'no answered'],
  CONTINUE: ['no answer', 'no answered'],
});

function seconds(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  return Math.round(Number(value));
}

export function callOutcome(v: HangupVariables): Outcome {
  const talk = seconds(v.answeredTime);
  const dialStatus = (v.dialStatus ?? '').trim().toUpperCase();
  if (dialStatus !== '') {
    const [result, hangupStatus] = DIAL_STATUS_TABLE[dialStatus] ?? (['unknown', 'failed'] as const);
    const answered = dialStatus === 'ANSWER';
    return { answered, result, hangupStatus, talkSeconds: answered ? (talk ?? 0) : 0 };
  }
  // No Dial status: a Queue (ANSWEREDTIME set, 0 when nobody answered), or the call ended before any of them.
  if ((v.memberInterface ?? '') !== '' || (talk !== undefined && talk > 0)) {
    return { answered: true, result: 'answered', hangupStatus: 'answered', talkSeconds: talk ?? 0 };
  }
  const queueStatus = (v.queueStatus ?? '').trim().toUpperCase();
  if (queueStatus !== '') {
    const [result, hangupStatus] = QUEUE_STATUS_TABLE[queueStatus] ?? (['unknown', 'failed'] as const);
    return { answered: false, result, hangupStatus, talkSeconds: 0 };
  }
  // Caller hung up while waiting in a queue, in an IVR, or during /incoming: a missed call.
  return { answered: false, result: 'no answer', hangupStatus: 'cancel', talkSeconds: 0 };
}

/**
 * The endpoint a channel, interface or dial string names: `PJSIP/101-0000001a` → 101, `IAX2/101-4749` → 101,
 * `IAX2/102/102` → 102, `PJSIP/102` → 102, `Local/101@from-internal-00000001;1` → 101, `101/101` → 101.
 */
export function endpointOf(value: string | undefined, kind: 'channel' | 'interface' | 'peer'): string | undefined {
  const v = (value ?? '').trim();
  if (v === '') return undefined;
  let rest = kind === 'peer' ? v : v.slice(v.indexOf('/') + 1);
  if (kind !== 'peer' && !v.includes('/')) return undefined;
  if (rest.includes('@')) rest = rest.slice(0, rest.indexOf('@'));
  else if (kind === 'channel') rest = rest.replace(/-[0-9a-f]+(;\d)?$/i, '');
  rest = rest.split('/')[0] ?? '';
  return rest === '' ? undefined : rest;
}

/**
 * The extension that talked last (answered calls) — attended transfer: CDR(dstchannel) of the last answered
 * segment; queue: MEMBERINTERFACE (needs setinterfacevar=yes); Dial and blind transfer: DIALEDPEERNUMBER.
 * Only extensions the enterprise knows are returned, so a trunk is never taken for a manager.
 */
export function talkedLast(v: HangupVariables, isExtension: (code: string) => boolean): string | undefined {
  const candidates: (string | undefined)[] = [];
  if ((v.cdrDisposition ?? '').toUpperCase() === 'ANSWERED') candidates.push(endpointOf(v.cdrDstChannel, 'channel'));
  candidates.push(endpointOf(v.memberInterface, 'interface'), endpointOf(v.dialedPeerNumber, 'peer'));
  return candidates.find((c): c is string => c !== undefined && isExtension(c));
}

/** Call start from an Asterisk uniqueid/linkedid (`<epoch>.<n>`, or `<systemname>-<epoch>.<n>`). */
export function epochOfUniqueid(id: string): number | undefined {
  const m = /(?:^|-)(\d{9,11})\.\d+$/.exec(id.trim());
  return m?.[1] ? Number(m[1]) : undefined;
}

/** RCRM_RING_CODES as the dialplan writes it (`101&102`, `101,102`, `PJSIP/101&PJSIP/102`) → extension codes. */
export function parseRingCodes(raw: string | undefined, isValid: (code: string) => boolean): string[] {
  if (raw === undefined) return [];
  const codes = raw
    .split(/[&,|\s]+/)
    .map((c) => (c.includes('/') ? (endpointOf(c, 'interface') ?? '') : c).trim())
    .filter((c) => c !== '' && isValid(c));
  return [...new Set(codes)].slice(0, 50);
}
