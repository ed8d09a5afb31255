/**
 * Typed views of the AMI events the service uses, decoded from `AmiMessage`s, and the Originate reason codes.
 * Field names follow Asterisk 22 (see test/fixtures/ami/*.ami). Anything not listed stays available on the raw
 * message; decoding never throws, a missing field becomes '' (or undefined where the type says so).
 */
import type { AmiMessage } from './codec.js';

/** `Reason` of an OriginateResponse (Asterisk's `enum ast_control_frame_type` subset used by originate). */
export const OriginateReason = {
  Failure: 0,
  NoAnswer: 3,
  Answered: 4,
  Busy: 5,
  Congestion: 8,
} as const;
export type OriginateReasonCode = (typeof OriginateReason)[keyof typeof OriginateReason];

const REASON_NAMES: Readonly<Record<number, string>> = {
  0: 'failure',
  1: 'hangup',
  3: 'no answer',
  4: 'answered',
  5: 'busy',
  8: 'congestion',
};

/** Human name of an Originate reason code (`5` → `busy`); unknown codes give `reason N`. */
export function originateReasonName(reason: number): string {
  return REASON_NAMES[reason] ?? `reason ${reason}`;
}

export interface OriginateResponseEvent {
  readonly event: 'OriginateResponse';
  readonly actionId: string;
  readonly response: 'Success' | 'Failure';
  readonly reason: number;
  /** The agent leg's uniqueid on success; undefined when Asterisk says `<unknown>` (every failure). */
  readonly uniqueid: string | undefined;
  /** Real channel on success (`IAX2/101-12400`); on failure, the dial string that was asked for. */
  readonly channel: string;
  readonly context: string;
  readonly exten: string;
  readonly callerIdNum: string;
  readonly callerIdName: string;
}

/** Channel snapshot fields that most call events share. */
export interface ChannelFields {
  readonly channel: string;
  readonly uniqueid: string;
  readonly linkedid: string;
  readonly channelState: number;
  readonly callerIdNum: string;
  readonly callerIdName: string;
  readonly connectedLineNum: string;
  readonly connectedLineName: string;
  readonly context: string;
  readonly exten: string;
}

export interface NewchannelEvent extends ChannelFields {
  readonly event: 'Newchannel';
}

export interface HangupEvent extends ChannelFields {
  readonly event: 'Hangup';
  readonly cause: number;
  readonly causeTxt: string;
}

export interface DialBeginEvent extends ChannelFields {
  readonly event: 'DialBegin';
  readonly destChannel: string;
  readonly destUniqueid: string;
  readonly destLinkedid: string;
  readonly destCallerIdNum: string;
  readonly dialString: string;
}

export interface DialEndEvent extends ChannelFields {
  readonly event: 'DialEnd';
  readonly destChannel: string;
  readonly destUniqueid: string;
  readonly destLinkedid: string;
  /** ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL, ... */
  readonly dialStatus: string;
}

export interface BridgeEnterEvent extends ChannelFields {
  readonly event: 'BridgeEnter';
  readonly bridgeUniqueid: string;
  readonly bridgeNumChannels: number;
}

export interface BlindTransferEvent {
  readonly event: 'BlindTransfer';
  readonly result: string;
  readonly isExternal: boolean;
  readonly transfererChannel: string;
  readonly transfererUniqueid: string;
  readonly transfereeChannel: string;
  readonly transfereeUniqueid: string;
  readonly transfereeLinkedid: string;
  readonly context: string;
  readonly extension: string;
}

export interface AttendedTransferEvent {
  readonly event: 'AttendedTransfer';
  readonly result: string;
  readonly isExternal: boolean;
  readonly origTransfererChannel: string;
  readonly origTransfererUniqueid: string;
  readonly secondTransfererChannel: string;
  readonly secondTransfererUniqueid: string;
  readonly transfereeChannel: string;
  readonly transfereeUniqueid: string;
  readonly transferTargetChannel: string;
  readonly transferTargetUniqueid: string;
  /** Bridge, App, Link, Threeway or Fail. */
  readonly destType: string;
}

export interface CdrEvent {
  readonly event: 'Cdr';
  readonly accountCode: string;
  readonly source: string;
  readonly destination: string;
  readonly destinationContext: string;
  readonly callerId: string;
  readonly channel: string;
  readonly destinationChannel: string;
  readonly lastApplication: string;
  readonly lastData: string;
  readonly startTime: string;
  readonly answerTime: string;
  readonly endTime: string;
  readonly duration: number;
  readonly billableSeconds: number;
  /** ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION. */
  readonly disposition: string;
  readonly uniqueid: string;
  readonly userField: string;
  /** Custom `cdr_manager.conf [mappings]` field; undefined when the PBX does not map it. */
  readonly recordingFile: string | undefined;
}

export interface FullyBootedEvent {
  readonly event: 'FullyBooted';
  readonly status: string;
  readonly uptime: number | undefined;
}

export type AmiTypedEvent =
  | OriginateResponseEvent
  | NewchannelEvent
  | HangupEvent
  | DialBeginEvent
  | DialEndEvent
  | BridgeEnterEvent
  | BlindTransferEvent
  | AttendedTransferEvent
  | CdrEvent
  | FullyBootedEvent;

export type AmiTypedEventName = AmiTypedEvent['event'];

/** Event name → typed payload, for `AmiClient.on('Hangup', (e) => …)`. */
export type AmiTypedEventMap = { [E in AmiTypedEvent as E['event']]: E };

function str(m: AmiMessage, key: string): string {
  return m.get(key) ?? '';
}

function int(m: AmiMessage, key: string): number {
  const v = m.get(key);
  if (v === undefined || !/^-?\d+$/.test(v.trim())) return Number.NaN;
  return Number(v.trim());
}

function yes(m: AmiMessage, key: string): boolean {
  return /^(yes|true|1)$/i.test(str(m, key));
}

function channelFields(m: AmiMessage): ChannelFields {
  return {
    channel: str(m, 'Channel'),
    uniqueid: str(m, 'Uniqueid'),
    linkedid: str(m, 'Linkedid'),
    channelState: int(m, 'ChannelState'),
    callerIdNum: str(m, 'CallerIDNum'),
    callerIdName: str(m, 'CallerIDName'),
    connectedLineNum: str(m, 'ConnectedLineNum'),
    connectedLineName: str(m, 'ConnectedLineName'),
    context: str(m, 'Context'),
    exten: str(m, 'Exten'),
  };
}

export function decodeOriginateResponse(m: AmiMessage): OriginateResponseEvent {
  const uniqueid = m.get('Uniqueid');
  return {
    event: 'OriginateResponse',
    actionId: str(m, 'ActionID'),
    response: str(m, 'Response').toLowerCase() === 'success' ? 'Success' : 'Failure',
    reason: int(m, 'Reason'),
    uniqueid: uniqueid === undefined || uniqueid === '' || uniqueid === '<unknown>' ? undefined : uniqueid,
    channel: str(m, 'Channel'),
    context: str(m, 'Context'),
    exten: str(m, 'Exten'),
    callerIdNum: str(m, 'CallerIDNum'),
    callerIdName: str(m, 'CallerIDName'),
  };
}

const DECODERS: { [K in AmiTypedEventName]: (m: AmiMessage) => AmiTypedEventMap[K] } = {
  OriginateResponse: decodeOriginateResponse,
  Newchannel: (m) => ({ event: 'Newchannel', ...channelFields(m) }),
  Hangup: (m) => ({ event: 'Hangup', ...channelFields(m), cause: int(m, 'Cause'), causeTxt: str(m, 'Cause-txt') }),
  DialBegin: (m) => ({
    event: 'DialBegin',
    ...channelFields(m),
    destChannel: str(m, 'DestChannel'),
    destUniqueid: str(m, 'DestUniqueid'),
    destLinkedid: str(m, 'DestLinkedid'),
    destCallerIdNum: str(m, 'DestCallerIDNum'),
    dialString: str(m, 'DialString'),
  }),
  DialEnd: (m) => ({
    event: 'DialEnd',
    ...channelFields(m),
    destChannel: str(m, 'DestChannel'),
    destUniqueid: str(m, 'DestUniqueid'),
    destLinkedid: str(m, 'DestLinkedid'),
    dialStatus: str(m, 'DialStatus'),
  }),
  BridgeEnter: (m) => ({
    event: 'BridgeEnter',
    ...channelFields(m),
    bridgeUniqueid: str(m, 'BridgeUniqueid'),
    bridgeNumChannels: int(m, 'BridgeNumChannels'),
  }),
  BlindTransfer: (m) => ({
    event: 'BlindTransfer',
    result: str(m, 'Result'),
    isExternal: yes(m, 'IsExternal'),
    transfererChannel: str(m, 'TransfererChannel'),
    transfererUniqueid: str(m, 'TransfererUniqueid'),
    transfereeChannel: str(m, 'TransfereeChannel'),
    transfereeUniqueid: str(m, 'TransfereeUniqueid'),
    transfereeLinkedid: str(m, 'TransfereeLinkedid'),
    context: str(m, 'Context'),
    extension: str(m, 'Extension'),
  }),
  AttendedTransfer: (m) => ({
    event: 'AttendedTransfer',
    result: str(m, 'Result'),
    isExternal: yes(m, 'IsExternal'),
    origTransfererChannel: str(m, 'OrigTransfererChannel'),
    origTransfererUniqueid: str(m, 'OrigTransfererUniqueid'),
    secondTransfererChannel: str(m, 'SecondTransfererChannel'),
    secondTransfererUniqueid: str(m, 'SecondTransfererUniqueid'),
    transfereeChannel: str(m, 'TransfereeChannel'),
    transfereeUniqueid: str(m, 'TransfereeUniqueid'),
    transferTargetChannel: str(m, 'TransferTargetChannel'),
    transferTargetUniqueid: str(m, 'TransferTargetUniqueid'),
    destType: str(m, 'DestType'),
  }),
  Cdr: (m) => ({
    event: 'Cdr',
    accountCode: str(m, 'AccountCode'),
    source: str(m, 'Source'),
    destination: str(m, 'Destination'),
    destinationContext: str(m, 'DestinationContext'),
    callerId: str(m, 'CallerID'),
    channel: str(m, 'Channel'),
    destinationChannel: str(m, 'DestinationChannel'),
    lastApplication: str(m, 'LastApplication'),
    lastData: str(m, 'LastData'),
    startTime: str(m, 'StartTime'),
    answerTime: str(m, 'AnswerTime'),
    endTime: str(m, 'EndTime'),
    duration: int(m, 'Duration'),
    billableSeconds: int(m, 'BillableSeconds'),
    disposition: str(m, 'Disposition'),
    uniqueid: str(m, 'UniqueID'),
    userField: str(m, 'UserField'),
    recordingFile: m.get('RecordingFile'),
  }),
  FullyBooted: (m) => {
    const uptime = int(m, 'Uptime');
    return { event: 'FullyBooted', status: str(m, 'Status'), uptime: Number.isNaN(uptime) ? undefined : uptime };
  },
};

export function isTypedEventName(name: string): name is AmiTypedEventName {
  return Object.prototype.hasOwnProperty.call(DECODERS, name);
}

/** Typed view of an event message, or undefined when it is not one of the events listed here. */
export function decodeEvent(m: AmiMessage): AmiTypedEvent | undefined {
  if (m.kind !== 'event' || !isTypedEventName(m.type)) return undefined;
  const decode = DECODERS[m.type] as (msg: AmiMessage) => AmiTypedEvent;
  return decode(m);
}
