/**
 * `/hangup`: after the call, from a hangup handler (preferred) or the h-extension. The named steps:
 *   readCall → resolveEnterprise → readHangupVariables → findCallStart → decideOutcome → recordCallEnd
 * The channel is already dead: only GET VARIABLE is used (it works on a dead channel). Nothing here touches the
 * recording, which MixMonitor closes only after this session ends; the upload job waits for it.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { errorCode } from '../lib/errors.js';
import { EXTENSION_CODE } from '../db/extension-store.js';
import { resolveRecordingPath } from '../recordings/recording-path.js';
import type { AgiChannel } from './agi-channel.js';
import { buildCallEnd } from './call-end.js';
import type { CallJournal, StoredCall } from './call-journal.js';
import { readCall, resolveEnterprise, type CallContext, type CallContextDeps } from './call-context.js';
import { callOutcome, endpointOf, epochOfUniqueid, parseRingCodes, talkedLast, type HangupVariables } from './call-result.js';
import { readChannelVariables } from './channel-facts.js';
import type { EnterpriseDirectory, EnterpriseView } from './enterprise-directory.js';
import { normalisePhone } from '../domain/phone-number.js';

export interface HangupDeps extends CallContextDeps {
  readonly directory: EnterpriseDirectory;
  readonly journal: CallJournal;
  readonly recordingsDir: string;
  /** This instance's PUBLIC_URL: the host that holds the recordings of the calls it ends. */
  readonly publicUrl?: string;
  /** A recording was registered for this host to finish (recordings/recording-finisher.ts kick()). */
  readonly onRecording?: () => void;
  readonly now?: () => number;
}

const VARIABLES = [
  'DIALSTATUS',
  'ANSWEREDTIME',
  'ANSWEREDTIME_MS',
  'DIALEDPEERNUMBER',
  'MEMBERINTERFACE',
  'QUEUESTATUS',
  'CDR(disposition)',
  'CDR(dstchannel)',
  'CDR(dst)',
  'MIXMONITOR_FILENAME',
  'RCRM_MANAGER',
  'RCRM_RING_CODES',
  'BLINDTRANSFER',
  'CHANNEL(linkedid)',
  // Set by the shipped dialplan's rcrm-answered (Dial U(), Queue's gosub) when the call was first answered.
  'RCRM_ANSWERED_AT',
] as const;
type VariableName = (typeof VARIABLES)[number];

/** Every variable in one round trip (readChannelVariables); '' reads as unset. */
async function readVariables(session: AgiChannel): Promise<Record<VariableName, string | undefined>> {
  const values = await readChannelVariables(session, VARIABLES);
  const out = {} as Record<VariableName, string | undefined>;
  for (const name of VARIABLES) out[name] = values[name] === '' ? undefined : values[name];
  return out;
}

export async function handleHangup(session: AgiChannel, deps: HangupDeps): Promise<void> {
  const ctx = readCall(session, deps);
  try {
    const resolved = await resolveEnterprise(ctx, deps.directory);
    if (!resolved.ok) return;
    const vars = await readVariables(session);
    const linkedid = (vars['CHANNEL(linkedid)'] ?? '').trim() || session.env.uniqueid;
    const enterprise = resolved.view.enterprise.number;
    let start: StoredCall | null = null;
    try {
      start = await deps.journal.find(enterprise, linkedid);
    } catch (err) {
      ctx.log.warn('cannot read the call start', { code: errorCode(err) });
    }
    const recordingFile = await existingRecording(deps.recordingsDir, vars.MIXMONITOR_FILENAME ?? '', ctx.log);
    const end = decideCallEnd(resolved.view, linkedid, vars, start, session, (deps.now ?? Date.now)(), recordingFile, deps.publicUrl);
    const { recorded, uploadJobId, hangupJobId, callback } = await deps.journal.recordEnd(end);
    if (recorded && end.recordingFile !== null && end.recordingHost) deps.onRecording?.();
    ctx.log.info('call ended', {
      call: linkedid,
      direction: end.direction,
      result: end.result,
      manager: end.managerCode ?? undefined,
      duration: end.durationSec,
      waiting: end.waitingSec,
      queued: uploadJobId !== null,
      hangupEvent: hangupJobId !== null,
      callbackTask: callback ? `${callback.kind} #${callback.taskId}` : undefined,
    });
  } catch (err) {
    ctx.log.error('cannot record the end of the call', { code: errorCode(err), err });
    throw err;
  } finally {
    ctx.done();
  }
}

/**
 * The recording to link, relative to RECORDINGS_DIR: MixMonitor creates the file when it starts, so a file that
 * does not exist now never will (wrong RECORDINGS_DIR, recording on another host): do not wait for it.
 */
export async function existingRecording(recordingsDir: string, reported: string, log: CallContext['log']): Promise<string | null> {
  if (reported === '') return null;
  const relative = await resolveRecordingPath(recordingsDir, reported).catch(() => null);
  if (relative === null) {
    log.warn('recording is outside RECORDINGS_DIR: not linked', { recordingsDir });
    return null;
  }
  try {
    await stat(path.join(recordingsDir, relative));
    return relative;
  } catch {
    log.warn('recording file not found under RECORDINGS_DIR: not linked', { recordingsDir });
    return null;
  }
}

/** RCRM_ANSWERED_AT (`<epoch>.<ms>` from STRFTIME %s.%3q) → ms; undefined when unset or not a time. */
function answeredAtMs(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{9,11}(\.\d+)?$/.test(value.trim())) return undefined;
  return Math.round(Number(value.trim()) * 1000);
}

export function decideCallEnd(
  view: EnterpriseView,
  linkedid: string,
  vars: Record<VariableName, string | undefined>,
  start: StoredCall | null,
  session: AgiChannel,
  nowMs: number,
  recordingPath: string | null,
  recordingHost?: string,
): Parameters<CallJournal['recordEnd']>[0] {
  const e = view.enterprise;
  const isExtension = (code: string): boolean => view.userByExtension.has(code);
  const hv: HangupVariables = {
    dialStatus: vars.DIALSTATUS,
    answeredTime: vars.ANSWEREDTIME,
    answeredTimeMs: vars.ANSWEREDTIME_MS,
    dialedPeerNumber: vars.DIALEDPEERNUMBER,
    memberInterface: vars.MEMBERINTERFACE,
    queueStatus: vars.QUEUESTATUS,
    cdrDisposition: vars['CDR(disposition)'],
    cdrDstChannel: vars['CDR(dstchannel)'],
  };
  let outcome = callOutcome(hv);
  // A blind transfer whose target never answered: Dial's status is the second Dial's, but the transferer had
  // answered (only an answered call can be transferred) and BLINDTRANSFER names them (obs. 12 of the captures).
  const transferer = endpointOf(vars.BLINDTRANSFER, 'channel');
  if (!outcome.answered && transferer !== undefined && isExtension(transferer)) {
    outcome = { answered: true, result: 'answered', hangupStatus: 'answered', talkSeconds: 0 };
  }

  // Direction and numbers: from the call start when /incoming or /outgoing ran; otherwise from the channel.
  const callerNum = session.env.callerid === 'unknown' ? '' : session.env.callerid;
  const direction: 'in' | 'out' = start?.direction ?? (isExtension(callerNum) ? 'out' : 'in');
  let phone = start?.phone ?? '';
  if (phone === '') {
    const raw = direction === 'out' ? (vars['CDR(dst)'] ?? endpointOf(vars.DIALEDPEERNUMBER, 'peer') ?? '') : callerNum;
    const n = normalisePhone(raw, e.country);
    phone = n.kind === 'e164' ? n.e164 : raw;
  }

  // The extensions whose popups opened for this call (recorded by /incoming, /outgoing and /ringing).
  const ringCodes = start?.ringCodes.length ? start.ringCodes : parseRingCodes(vars.RCRM_RING_CODES, (c) => EXTENSION_CODE.test(c));
  const routed = (vars.RCRM_MANAGER ?? '').trim();
  let managerCode: string | undefined;
  if (direction === 'out') managerCode = [start?.ringCodes[0], callerNum].find((c): c is string => c !== undefined && isExtension(c));
  else if (outcome.answered) managerCode = talkedLast(hv, isExtension, outcome.answeredBy) ?? (transferer !== undefined && isExtension(transferer) ? transferer : undefined);
  // A missed call belongs to the manager it was routed to; a call that rang a whole group belongs to nobody.
  else managerCode = isExtension(routed) ? routed : start?.ringCodes.length === 1 && isExtension(start.ringCodes[0] as string) ? start.ringCodes[0] : undefined;

  const endedAt = new Date(nowMs);
  const epochStart = epochOfUniqueid(linkedid);
  const startedAt = start?.startedAt ?? (epochStart !== undefined ? new Date(epochStart * 1000) : endedAt);
  const total = Math.max(0, Math.round((endedAt.getTime() - startedAt.getTime()) / 1000));
  // Talk time from the first answer when the dialplan marked it (click-to-call: the manager's own leg was up
  // before the customer was dialled, so ANSWEREDTIME counts the customer's ringing as talk); else ANSWEREDTIME.
  const answeredAt = answeredAtMs(vars.RCRM_ANSWERED_AT);
  const measured = outcome.answered && answeredAt !== undefined && answeredAt <= nowMs ? Math.round((nowMs - answeredAt) / 1000) : outcome.talkSeconds;
  const talk = outcome.answered ? Math.min(measured, total || measured) : 0;

  return buildCallEnd(view, {
    linkedid,
    direction,
    phone,
    externalPhone: start?.externalPhone ?? null,
    site: start?.site ?? e.site,
    startedAt,
    endedAt,
    outcome,
    managerCode,
    ringCodes,
    routed,
    talkSec: talk,
    waitingSec: Math.max(0, total - talk),
    recordingFile: recordingPath,
    ...(recordingHost !== undefined ? { recordingHost } : {}),
    dialStatus: vars.DIALSTATUS ?? null,
  });
}
