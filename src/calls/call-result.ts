/**
 * What a finished call was, from what Asterisk reports to /hangup. Pure functions, tested as tables against the
 * real Asterisk 22 transcripts (test/fixtures/agi/*__hangup.json) and proved on a real PBX (test/pbx/). What the
 * variables really mean (docs/call-results.md; apps/app_dial.c and apps/app_queue.c of Asterisk 22):
 * - Dial and Queue both reset ANSWEREDTIME(_MS) when they start. Dial sets it only when its call was answered
 *   (the caller channel's up-time); Queue always sets it when it returns: the member's talk time, or 0 when
 *   nobody answered. So ANSWEREDTIME says what the *last* of them did: > 0 answered, 0 a queue nobody answered,
 *   empty a Dial nobody answered (or neither ran).
 * - DIALSTATUS is reset by Dial only, MEMBERINTERFACE (setinterfacevar=yes) is set by Queue only when a member
 *   answers: after "Dial, then Queue" DIALSTATUS is the stale status of the first Dial, and it must not decide.
 * - QUEUESTATUS is set only when Queue gave up by itself (TIMEOUT, …); unset when the caller hung up waiting.
 * - CDR(...) is the channel's *last* CDR, not the call: only CDR(dstchannel) with disposition ANSWERED is used,
 *   to see who talked last after an attended transfer.
 */
import type { CallResult, HangupStatus } from '../crm/types.js';

export interface HangupVariables {
  readonly dialStatus: string | undefined;
  readonly answeredTime: string | undefined;
  readonly answeredTimeMs?: string | undefined;
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
  /** Which application's answer it was: the last Dial, the last Queue, or neither (not answered). */
  readonly answeredBy?: 'dial' | 'queue';
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

const CANCELLED: Outcome = Object.freeze({ answered: false, result: 'no answer', hangupStatus: 'cancel', talkSeconds: 0 });

function number(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  return Number(value);
}

/** ANSWEREDTIME in ms: ANSWEREDTIME_MS (Asterisk 20+), else the seconds; undefined when empty. */
function answeredMs(v: HangupVariables): number | undefined {
  return number(v.answeredTimeMs) ?? (number(v.answeredTime) !== undefined ? (number(v.answeredTime) as number) * 1000 : undefined);
}

function fromTable(table: Readonly<Record<string, readonly [CallResult, HangupStatus]>>, status: string): Outcome {
  const [result, hangupStatus] = table[status] ?? (['unknown', 'failed'] as const);
  return { answered: false, result, hangupStatus, talkSeconds: 0 };
}

export function callOutcome(v: HangupVariables): Outcome {
  const talkMs = answeredMs(v);
  const dialStatus = (v.dialStatus ?? '').trim().toUpperCase();
  const member = (v.memberInterface ?? '').trim();
  // A Dial answered for under half a second reports ANSWEREDTIME=0 without _MS: DIALSTATUS breaks the tie.
  const answered = talkMs !== undefined && (talkMs > 0 || (dialStatus === 'ANSWER' && member === '' && v.answeredTimeMs === undefined));
  if (answered) {
    const answeredBy = member !== '' && dialStatus !== 'ANSWER' ? 'queue' : 'dial';
    return { answered: true, result: 'answered', hangupStatus: 'answered', talkSeconds: Math.round(talkMs / 1000), answeredBy };
  }
  if (talkMs !== undefined) {
    // The last application was a Queue. ANSWEREDTIME=0 says nobody answered — unless a member did (setinterfacevar
    // sets MEMBERINTERFACE when a member is connected): Queue sets ANSWEREDTIME in a bridge callback that can run
    // after Queue has returned and written its 0 (seen on a real Asterisk 22 under load).
    if (member !== '') return { answered: true, result: 'answered', hangupStatus: 'answered', talkSeconds: Math.round(talkMs / 1000), answeredBy: 'queue' };
    const queueStatus = (v.queueStatus ?? '').trim().toUpperCase();
    return queueStatus !== '' ? fromTable(QUEUE_STATUS_TABLE, queueStatus) : CANCELLED;
  }
  // The last application was a Dial nobody answered, or none ran (hung up in an IVR or during /incoming).
  if (dialStatus !== '') return fromTable(DIAL_STATUS_TABLE, dialStatus);
  const queueStatus = (v.queueStatus ?? '').trim().toUpperCase();
  return queueStatus !== '' ? fromTable(QUEUE_STATUS_TABLE, queueStatus) : CANCELLED;
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
 * segment; then, for a queue's answer, MEMBERINTERFACE (needs setinterfacevar=yes); for a Dial's answer (and a
 * blind transfer), DIALEDPEERNUMBER.
 * Only extensions the enterprise knows are returned, so a trunk is never taken for a manager.
 */
export function talkedLast(v: HangupVariables, isExtension: (code: string) => boolean, answeredBy: Outcome['answeredBy'] = 'dial'): string | undefined {
  const candidates: (string | undefined)[] = [];
  if ((v.cdrDisposition ?? '').toUpperCase() === 'ANSWERED') candidates.push(endpointOf(v.cdrDstChannel, 'channel'));
  const member = endpointOf(v.memberInterface, 'interface');
  const peer = endpointOf(v.dialedPeerNumber, 'peer');
  // The application that answered last names who: a stale member of an earlier queue (or peer of an earlier
  // Dial) must not win.
  candidates.push(...(answeredBy === 'queue' ? [member, peer] : [peer, member]));
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
