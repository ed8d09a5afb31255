/**
 * What a call was, from the CDRs Asterisk wrote for it (every segment sharing its linkedid): the same record
 * /hangup would have made (call-end.ts), for calls /hangup never recorded. Pure; tested as tables.
 * How Asterisk 22 writes CDRs (main/cdr.c): one row per pair of parties (the caller's channel and each channel
 * it dialled, every queue member rung included), with `disposition` ANSWERED only for the pair that talked,
 * `billsec` that pair's talk time and `duration` the segment's length; rows are written when the call's channels
 * are gone. The shipped dialplan puts the enterprise, the direction and the recording's name into CDR variables.
 */
import type { CallResult, HangupStatus } from '../crm/types.js';
import { buildCallEnd } from '../calls/call-end.js';
import type { CallEnd, StoredCall } from '../calls/call-journal.js';
import { endpointOf } from '../calls/call-result.js';
import type { EnterpriseView } from '../calls/enterprise-directory.js';
import { normalisePhone } from '../domain/phone-number.js';

/** One asterisk_cdr row, as the reconciler reads it. Times are epoch seconds (answer 0: never answered). */
export interface CdrRow {
  readonly src: string;
  readonly dst: string;
  readonly channel: string;
  readonly dstchannel: string;
  readonly lastapp: string;
  readonly start: number;
  readonly answer: number;
  readonly end: number;
  readonly duration: number;
  readonly billsec: number;
  readonly disposition: string;
  readonly sequence: number;
  readonly recordingfile: string;
  readonly direction: string;
}

/**
 * The last CDR's disposition of a call nobody talked in → (calls/upload result, call/event hangupStatus);
 * docs/call-results.md. ANSWERED there means the PBX itself answered (an IVR) and the caller hung up in it.
 */
export const DISPOSITION_TABLE: Readonly<Record<string, readonly [CallResult, HangupStatus]>> = Object.freeze({
  ANSWERED: ['no answer', 'cancel'],
  'NO ANSWER': ['no answer', 'no answered'],
  BUSY: ['busy', 'busy'],
  FAILED: ['failed', 'failed'],
  CONGESTION: ['failed', 'failed'],
});

export interface CdrCallInput {
  readonly view: EnterpriseView;
  readonly linkedid: string;
  readonly rows: readonly CdrRow[];
  /** The call's start, when /incoming or /outgoing recorded it (a call half-recorded by the AGI). */
  readonly start: StoredCall | null;
  /** The recording (relative to RECORDINGS_DIR) when its file exists; null otherwise. */
  readonly recordingFile: string | null;
}

const byTime = (a: CdrRow, b: CdrRow): number => a.start - b.start || a.sequence - b.sequence;
const byEnd = (a: CdrRow, b: CdrRow): number => a.end - b.end || a.sequence - b.sequence;

/** A row in which the caller talked to someone: answered, with a second party. */
const talked = (r: CdrRow): boolean => r.disposition.toUpperCase() === 'ANSWERED' && r.dstchannel !== '';

export function callFromCdrs(input: CdrCallInput): CallEnd | null {
  const { view, linkedid, start } = input;
  const rows = [...input.rows].sort(byTime);
  const first = rows[0];
  if (!first) return null;
  const e = view.enterprise;
  const isExtension = (code: string | undefined): code is string => code !== undefined && view.userByExtension.has(code);
  const declared = rows.map((r) => r.direction).find((d) => d === 'in' || d === 'out');
  const direction: 'in' | 'out' = start?.direction ?? declared ?? (isExtension(first.src) ? 'out' : 'in');

  let phone = start?.phone ?? '';
  if (phone === '') {
    const raw = direction === 'out' ? first.dst : first.src;
    const n = normalisePhone(raw, e.country);
    phone = n.kind === 'e164' ? n.e164 : raw;
  }

  const answeredRows = rows.filter(talked).sort(byEnd);
  const answered = answeredRows.length > 0;
  const last = [...rows].sort(byEnd).at(-1) ?? first;
  const [result, hangupStatus] = answered
    ? (['answered', 'answered'] as const)
    : (DISPOSITION_TABLE[last.disposition.toUpperCase()] ?? (['unknown', 'failed'] as const));

  const dialled = [...new Set(rows.map((r) => endpointOf(r.dstchannel, 'channel')).filter(isExtension))];
  let managerCode: string | undefined;
  if (direction === 'out') {
    managerCode = [start?.ringCodes[0], first.src, endpointOf(first.channel, 'channel')].find(isExtension);
  } else if (answered) {
    // Whoever talked last: the last answered pair's extension (after a transfer, the target; a transfer leg's
    // caller side may be the extension that took the call over).
    managerCode = answeredRows
      .flatMap((r) => [endpointOf(r.dstchannel, 'channel'), endpointOf(r.channel, 'channel')])
      .filter(isExtension)
      .at(-1);
  } else {
    // A missed call belongs to the manager it was routed to (the Dial before the queue); a call that only rang a
    // group belongs to nobody, unless the group was one extension.
    const routedDial = rows.find((r) => r.lastapp.toLowerCase() === 'dial' && isExtension(endpointOf(r.dstchannel, 'channel')));
    managerCode = routedDial ? endpointOf(routedDial.dstchannel, 'channel') : dialled.length === 1 ? dialled[0] : undefined;
  }

  const startedAt = start?.startedAt ?? new Date(first.start * 1000);
  const endedSec = Math.max(...rows.map((r) => r.end));
  const endedAt = new Date(Math.max(endedSec * 1000, startedAt.getTime()));
  const total = Math.max(0, Math.round((endedAt.getTime() - startedAt.getTime()) / 1000));
  const talk = Math.min(answeredRows.reduce((sum, r) => sum + Math.max(0, r.billsec), 0), total);

  return buildCallEnd(view, {
    linkedid,
    direction,
    phone,
    // Our DID: the number the carrier called (what /incoming records).
    externalPhone: start?.externalPhone ?? (direction === 'in' && /^\+?\d{3,20}$/.test(first.dst) ? first.dst : null),
    site: start?.site ?? e.site,
    startedAt,
    endedAt,
    outcome: { answered, result, hangupStatus },
    managerCode,
    ringCodes: start?.ringCodes.length ? start.ringCodes : [],
    routed: '',
    talkSec: talk,
    waitingSec: Math.max(0, total - talk),
    recordingFile: input.recordingFile,
    dialStatus: null,
    reconciled: true,
  });
}

/** The recording the dialplan named in the CDRs (CDR(recordingfile)), if any. */
export function recordingOf(rows: readonly CdrRow[]): string | undefined {
  return [...rows].sort(byTime).map((r) => r.recordingfile.trim()).find((f) => f !== '');
}
