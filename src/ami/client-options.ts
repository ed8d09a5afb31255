/**
 * The public vocabulary of AmiClient: its options and reconnect policy, the results of actions and Originates,
 * and the error of an Originate that failed on the PBX. Kept apart from the client so callers and the
 * correlator share the types without the connection machinery.
 */
import { AmiActionError, AmiProtocolError } from '../lib/errors.js';
import type { BackoffPolicy } from '../lib/backoff.js';
import type { AmiActionFields, AmiMessage } from './codec.js';
import { DEFAULT_MAX_BUFFER_BYTES } from './framer.js';
import { originateReasonName, type OriginateResponseEvent } from './types.js';

export type AmiClientState = 'disconnected' | 'connecting' | 'connected' | 'closed';
export type AmiLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type AmiLogFn = (level: AmiLogLevel, msg: string, fields?: Record<string, unknown>) => void;

export interface ReconnectPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly factor: number;
  /** Fraction of the delay taken off at random (0.2 → 80–100 % of the delay), so PBX restarts don't sync clients. */
  readonly jitter: number;
}

export const DEFAULT_RECONNECT_POLICY: ReconnectPolicy = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.2,
});

/** The reconnect policy in the terms of the service's one backoff policy. */
export function reconnectBackoff(policy: ReconnectPolicy): BackoffPolicy {
  return { initialMs: policy.initialDelayMs, maxMs: policy.maxDelayMs, factor: policy.factor, jitter: policy.jitter };
}

export interface AmiClientOptions {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly secret: string;
  /** `Events:` sent at Login ('on', 'off' or a class list such as 'call,cdr'). Default 'on'. */
  readonly events?: string;
  readonly connectTimeoutMs?: number;
  /** Deadline for the banner and, separately, for the Login answer. */
  readonly loginTimeoutMs?: number;
  /** Default deadline of `action()`. */
  readonly actionTimeoutMs?: number;
  /** Ping period; 0 turns the keepalive off. */
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /** false: never reconnect by itself. */
  readonly reconnect?: Partial<ReconnectPolicy> | false;
  /** Smallest delay before retrying after `Authentication failed`: a wrong secret won't fix itself quickly. */
  readonly authRetryDelayMs?: number;
  /** Most actions (and Originates waiting for their OriginateResponse) in flight; more are refused. */
  readonly maxPendingActions?: number;
  /** Most events one event-list action may collect. */
  readonly maxListEvents?: number;
  readonly maxBufferBytes?: number;
  readonly logoffTimeoutMs?: number;
  /** Added to an Originate's ring timeout to get the deadline for its OriginateResponse. */
  readonly originateGraceMs?: number;
  /** Prefix of ActionIDs; default a random one, so ids stay unique across clients sharing a PBX. */
  readonly actionIdPrefix?: string;
  readonly onLog?: AmiLogFn;
  readonly random?: () => number;
}

/** The options with every default filled in (the reconnect policy is resolved apart). */
export type ResolvedClientOptions = Required<Omit<AmiClientOptions, 'reconnect' | 'onLog'>> & { onLog: AmiLogFn };

/** How long Asterisk rings an Originate's channel unless told (its `Timeout:`). */
export const DEFAULT_RING_MS = 30_000;

const noLog: AmiLogFn = () => undefined;

export function resolveClientOptions(options: AmiClientOptions): ResolvedClientOptions {
  const random = options.random ?? Math.random;
  return {
    host: options.host,
    port: options.port,
    username: options.username,
    secret: options.secret,
    events: options.events ?? 'on',
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    loginTimeoutMs: options.loginTimeoutMs ?? 5_000,
    actionTimeoutMs: options.actionTimeoutMs ?? 10_000,
    keepaliveIntervalMs: options.keepaliveIntervalMs ?? 20_000,
    keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? 5_000,
    authRetryDelayMs: options.authRetryDelayMs ?? 60_000,
    maxPendingActions: options.maxPendingActions ?? 200,
    maxListEvents: options.maxListEvents ?? 50_000,
    maxBufferBytes: options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES,
    logoffTimeoutMs: options.logoffTimeoutMs ?? 1_000,
    originateGraceMs: options.originateGraceMs ?? 15_000,
    actionIdPrefix: options.actionIdPrefix ?? `rca${Math.floor(random() * 36 ** 6).toString(36)}`,
    random,
    onLog: options.onLog ?? noLog,
  };
}

export interface ActionOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface AmiActionResult {
  readonly response: AmiMessage;
  /** Events of an event list (`EventList: start`), without the closing `…Complete` event. */
  readonly events: readonly AmiMessage[];
  /** The event carrying `EventList: Complete` (has `ListItems`), when the action was an event list. */
  readonly complete: AmiMessage | undefined;
}

export interface OriginateOptions {
  readonly channel: string;
  readonly context: string;
  readonly exten: string;
  readonly priority?: number;
  readonly callerId?: string;
  readonly variables?: Readonly<Record<string, string>>;
  /** How long Asterisk rings `channel` (the `Timeout:` field). Default 30 000 ms. */
  readonly timeoutMs?: number;
  /** Our deadline for the OriginateResponse; default timeoutMs + originateGraceMs. */
  readonly deadlineMs?: number;
  readonly account?: string;
  readonly signal?: AbortSignal;
  /** Only asynchronous Originate is supported: a sync one would hold the AMI action for the whole ring time. */
  readonly async?: true;
}

/** The fields of an async Originate action; throws AmiProtocolError on a variable name the PBX would misread. */
export function originateFields(o: OriginateOptions): AmiActionFields {
  const variables = Object.entries(o.variables ?? {}).map(([k, v]) => {
    if (k === '' || /[=\r\n]/.test(k)) throw new AmiProtocolError(`invalid Originate variable name ${JSON.stringify(k)}`);
    return `${k}=${v}`;
  });
  return {
    Channel: o.channel,
    Context: o.context,
    Exten: o.exten,
    Priority: o.priority ?? 1,
    CallerID: o.callerId,
    Timeout: o.timeoutMs ?? DEFAULT_RING_MS,
    Account: o.account,
    Async: 'true',
    Variable: variables.length > 0 ? variables : undefined,
  };
}

/** An Originate whose OriginateResponse said Failure; `reason` is Asterisk's code (0, 3 no answer, 5 busy, 8 …). */
export class AmiOriginateError extends AmiActionError {
  readonly reason: number;
  readonly reasonName: string;
  readonly event: OriginateResponseEvent;
  constructor(event: OriginateResponseEvent, response: Readonly<Record<string, string>>) {
    super('Originate', `${originateReasonName(event.reason)} (reason ${event.reason}) on ${event.channel}`, response);
    this.reason = event.reason;
    this.reasonName = originateReasonName(event.reason);
    this.event = event;
  }
}
