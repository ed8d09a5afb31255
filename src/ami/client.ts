/**
 * AmiClient: one Asterisk Manager Interface connection to one PBX, and its life cycle.
 *
 * Owns the TCP socket (connect deadline, banner, Login), ActionID correlation of actions and responses
 * (including `EventList: start … Complete` lists), Originate with its final `OriginateResponse`, the Ping
 * keepalive that detects a dead peer, and reconnection with capped exponential backoff and jitter. Everything
 * in flight is bounded and has a deadline; a dropped connection rejects what was pending at once. No config,
 * logger or CRM imports: the composition root passes options and an optional `onLog` callback.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import {
  AmiActionError,
  AmiAuthError,
  AmiConnectionError,
  AmiProtocolError,
  AmiTimeoutError,
  AppError,
} from '../lib/errors.js';
import { AmiMessage, formatAction, parseMessage, type AmiActionFields } from './codec.js';
import { AmiFramer, DEFAULT_MAX_BUFFER_BYTES } from './framer.js';
import {
  decodeEvent,
  decodeOriginateResponse,
  originateReasonName,
  type AmiTypedEventMap,
  type AmiTypedEventName,
  type OriginateResponseEvent,
} from './types.js';

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

/** Delay before reconnect attempt number `attempt` (0-based): capped exponential, minus random jitter. */
export function reconnectDelay(attempt: number, policy: ReconnectPolicy, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** Math.max(0, attempt));
  return Math.round(base * (1 - policy.jitter * random()));
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

type AmiClientEventMap = {
  state: [state: AmiClientState, previous: AmiClientState, cause: Error | undefined];
  event: [message: AmiMessage];
} & { [K in AmiTypedEventName]: [event: AmiTypedEventMap[K], message: AmiMessage] };

interface PendingAction {
  readonly name: string;
  readonly resolve: (r: AmiActionResult) => void;
  readonly reject: (e: unknown) => void;
  readonly timer: NodeJS.Timeout;
  readonly detachSignal: () => void;
  listResponse: AmiMessage | undefined;
  readonly events: AmiMessage[];
}

interface OriginateWaiter {
  readonly resolve: (e: OriginateResponseEvent) => void;
  readonly reject: (e: unknown) => void;
  readonly timer: NodeJS.Timeout;
  readonly detachSignal: () => void;
}

const noop = (): void => undefined;

function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return noop;
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new AmiConnectionError('aborted');
}

/** Resolves true when `p` settles within `ms`, false otherwise; never leaves its timer behind. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class AmiClient extends EventEmitter<AmiClientEventMap> {
  private readonly opts: Required<Omit<AmiClientOptions, 'reconnect' | 'onLog'>> & { onLog: AmiLogFn };
  private readonly policy: ReconnectPolicy | false;
  private readonly framer: AmiFramer;
  private currentState: AmiClientState = 'disconnected';
  private socket: net.Socket | undefined;
  private socketClosed: Promise<void> = Promise.resolve();
  private lastSocketError: Error | undefined;
  private bannerWaiter: { resolve: (b: string) => void; reject: (e: unknown) => void } | undefined;
  private readonly pending = new Map<string, PendingAction>();
  private readonly originates = new Map<string, OriginateWaiter>();
  private actionCounter = 0;
  private autoReconnect = false;
  private reconnectAttempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private keepaliveTask: Promise<void> | undefined;
  private inFlight: Promise<void> | undefined;
  private backgroundAttempt: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Text of the last banner (`Asterisk Call Manager/11.0.0`). */
  banner: string | undefined;

  constructor(options: AmiClientOptions) {
    super();
    const random = options.random ?? Math.random;
    this.opts = {
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
      onLog: options.onLog ?? noop,
    };
    this.policy = options.reconnect === false ? false : { ...DEFAULT_RECONNECT_POLICY, ...options.reconnect };
    this.framer = new AmiFramer({ expectBanner: true, maxBufferBytes: this.opts.maxBufferBytes });
  }

  get state(): AmiClientState {
    return this.currentState;
  }

  /** Actions (and Originates) currently waiting for an answer. */
  get pendingCount(): number {
    return this.pending.size + this.originates.size;
  }

  /**
   * Connects and logs in. Rejects (AmiConnectionError, AmiAuthError, AmiTimeoutError, AmiProtocolError) if this
   * first attempt fails, without retrying; once connected, later drops are reconnected in the background.
   */
  async connect(): Promise<void> {
    if (this.currentState === 'closed') throw new AmiConnectionError('AMI client is closed');
    if (this.currentState === 'connected') return;
    this.clearReconnectTimer();
    try {
      await (this.inFlight ?? this.startAttempt());
    } catch (err) {
      // Already in background mode (start() or an earlier connect): keep retrying as before.
      if (this.autoReconnect) this.scheduleReconnect(err instanceof AmiAuthError);
      throw err;
    }
    this.autoReconnect = true;
  }

  /** Like connect(), but never rejects: keeps trying in the background (with backoff) until connected or closed. */
  start(): void {
    if (this.currentState === 'closed') return;
    this.autoReconnect = true;
    if (this.currentState === 'connected' || this.inFlight || this.reconnectTimer) return;
    this.backgroundAttempt = this.runBackgroundAttempt();
  }

  /** Sends an action and resolves with its response (and list events). `Response: Error` → AmiActionError. */
  async action(name: string, fields: AmiActionFields = {}, options: ActionOptions = {}): Promise<AmiActionResult> {
    if (this.currentState !== 'connected') {
      throw new AmiConnectionError(`AMI not connected (${this.currentState}); ${name} not sent`);
    }
    this.checkCapacity(name);
    return this.send(name, fields, { timeoutMs: options.timeoutMs ?? this.opts.actionTimeoutMs, signal: options.signal });
  }

  /**
   * Async Originate; resolves with the OriginateResponse (Success) correlated by ActionID. Failure →
   * AmiOriginateError carrying the numeric reason; `Response: Error` (e.g. "Originate failed") → AmiActionError;
   * no OriginateResponse before the deadline → AmiTimeoutError; connection lost → AmiConnectionError (the call may
   * still go ahead on the PBX).
   */
  async originate(o: OriginateOptions): Promise<OriginateResponseEvent> {
    if (this.currentState !== 'connected') {
      throw new AmiConnectionError(`AMI not connected (${this.currentState}); Originate not sent`);
    }
    this.checkCapacity('Originate');
    const ringMs = o.timeoutMs ?? 30_000;
    const deadlineMs = o.deadlineMs ?? ringMs + this.opts.originateGraceMs;
    const variables = Object.entries(o.variables ?? {}).map(([k, v]) => {
      if (k === '' || /[=\r\n]/.test(k)) throw new AmiProtocolError(`invalid Originate variable name ${JSON.stringify(k)}`);
      return `${k}=${v}`;
    });
    const fields: AmiActionFields = {
      Channel: o.channel,
      Context: o.context,
      Exten: o.exten,
      Priority: o.priority ?? 1,
      CallerID: o.callerId,
      Timeout: ringMs,
      Account: o.account,
      Async: 'true',
      Variable: variables.length > 0 ? variables : undefined,
    };
    const actionId = this.nextActionId();
    const final = this.waitOriginateResponse(actionId, deadlineMs, o.signal);
    const queued = this.send('Originate', fields, { timeoutMs: this.opts.actionTimeoutMs, signal: o.signal, actionId });
    try {
      const [, event] = await Promise.all([queued, final]);
      return event;
    } catch (err) {
      this.settleOriginate(actionId, err);
      throw err;
    }
  }

  /** Logs off (short deadline), closes the socket, stops every timer; resolves when all is closed. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  // ---- connection life cycle ------------------------------------------------------------------------------

  private startAttempt(): Promise<void> {
    const attempt: Promise<void> = this.attempt().finally(() => {
      if (this.inFlight === attempt) this.inFlight = undefined;
    });
    this.inFlight = attempt;
    return attempt;
  }

  private async runBackgroundAttempt(): Promise<void> {
    try {
      await (this.inFlight ?? this.startAttempt());
    } catch (err) {
      if (this.currentState === 'closed') return;
      this.log('warn', 'AMI connect failed', { error: describe(err), attempt: this.reconnectAttempt });
      this.scheduleReconnect(err instanceof AmiAuthError);
    }
  }

  private async attempt(): Promise<void> {
    const { host, port } = this.opts;
    this.setState('connecting');
    const socket = new net.Socket();
    this.socket = socket;
    this.lastSocketError = undefined;
    this.banner = undefined;
    this.framer.reset(true);
    this.socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const banner = new Promise<string>((resolve, reject) => {
      this.bannerWaiter = { resolve, reject };
    });
    banner.catch(noop); // may be rejected by a close before we wait for it
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', (err) => {
      if (socket === this.socket) this.lastSocketError = err;
    });
    socket.once('close', () => this.onSocketClose(socket));
    try {
      await this.withDeadline(
        new Promise<void>((resolve, reject) => {
          socket.once('connect', () => resolve());
          socket.once('close', () => reject(this.closedError('connect failed')));
          socket.connect({ host, port });
        }),
        this.opts.connectTimeoutMs,
        () => new AmiConnectionError(`AMI connect to ${host}:${port} timed out after ${this.opts.connectTimeoutMs} ms`),
      );
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 10_000);
      this.banner = await this.withDeadline(
        banner,
        this.opts.loginTimeoutMs,
        () => new AmiTimeoutError('banner', this.opts.loginTimeoutMs),
      );
      await this.login();
      if (this.currentState === 'closed') throw new AmiConnectionError('AMI client closed while connecting');
      this.reconnectAttempt = 0;
      this.log('info', 'AMI connected', { host, port, banner: this.banner });
      this.setState('connected');
      this.scheduleKeepalive();
    } catch (err) {
      socket.destroy();
      await this.socketClosed;
      const error = err instanceof AppError ? err : new AmiConnectionError(describe(err), { cause: err });
      if (this.currentState !== 'closed') this.setState('disconnected', error);
      throw error;
    }
  }

  private async login(): Promise<void> {
    try {
      await this.send(
        'Login',
        { Username: this.opts.username, Secret: this.opts.secret, Events: this.opts.events },
        { timeoutMs: this.opts.loginTimeoutMs, signal: undefined },
      );
    } catch (err) {
      if (err instanceof AmiActionError) {
        const message = err.response['Message'] ?? 'Login refused';
        throw new AmiAuthError(`AMI login as ${this.opts.username} refused: ${message}`);
      }
      throw err;
    }
  }

  private onSocketClose(socket: net.Socket): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    this.stopKeepalive();
    const error = this.closedError('connection closed');
    this.bannerWaiter?.reject(error);
    this.bannerWaiter = undefined;
    this.rejectAll(error);
    const wasConnected = this.currentState === 'connected';
    if (this.currentState === 'closed') return;
    this.setState('disconnected', error);
    if (wasConnected) {
      this.log('warn', 'AMI connection lost', { error: error.message });
      if (this.autoReconnect) this.scheduleReconnect(false);
    }
  }

  private scheduleReconnect(authFailed: boolean): void {
    if (this.currentState === 'closed' || this.policy === false || this.reconnectTimer) return;
    let delay = reconnectDelay(this.reconnectAttempt, this.policy, this.opts.random);
    if (authFailed) delay = Math.max(delay, this.opts.authRetryDelayMs);
    this.reconnectAttempt++;
    this.log('info', 'AMI reconnect scheduled', { delayMs: delay, attempt: this.reconnectAttempt });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.backgroundAttempt = this.runBackgroundAttempt();
    }, delay);
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private async shutdown(): Promise<void> {
    const previous = this.currentState;
    this.setState('closed');
    this.clearReconnectTimer();
    this.stopKeepalive();
    this.rejectAll(new AmiConnectionError('AMI client closed'));
    const socket = this.socket;
    if (previous === 'connected' && socket && !socket.destroyed) {
      try {
        await this.send('Logoff', {}, { timeoutMs: this.opts.logoffTimeoutMs, signal: undefined });
      } catch (err) {
        this.log('debug', 'AMI Logoff not answered', { error: describe(err) });
      }
    }
    if (socket) {
      socket.end();
      if (!(await settlesWithin(this.socketClosed, this.opts.logoffTimeoutMs))) socket.destroy();
      await this.socketClosed;
    }
    await Promise.allSettled([this.inFlight, this.backgroundAttempt, this.keepaliveTask]);
    this.log('info', 'AMI client closed');
  }

  private setState(next: AmiClientState, cause?: Error): void {
    const previous = this.currentState;
    if (previous === next) return;
    this.currentState = next;
    this.safeEmit('state', next, previous, cause);
  }

  // ---- keepalive ------------------------------------------------------------------------------------------

  private scheduleKeepalive(): void {
    if (this.opts.keepaliveIntervalMs <= 0 || this.currentState !== 'connected') return;
    this.keepaliveTimer = setTimeout(() => {
      this.keepaliveTimer = undefined;
      this.keepaliveTask = this.keepalive();
    }, this.opts.keepaliveIntervalMs);
  }

  private stopKeepalive(): void {
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
  }

  /** One Ping; no Pong within the deadline means the peer is gone even if TCP has not noticed. */
  private async keepalive(): Promise<void> {
    const socket = this.socket;
    if (!socket || this.currentState !== 'connected') return;
    try {
      const { response } = await this.send('Ping', {}, { timeoutMs: this.opts.keepaliveTimeoutMs, signal: undefined });
      if (response.get('Ping')?.toLowerCase() !== 'pong') throw new AmiProtocolError('Ping answered without Pong');
      if (socket === this.socket) this.scheduleKeepalive();
    } catch (err) {
      if (socket !== this.socket || this.currentState !== 'connected') return;
      this.log('warn', 'AMI keepalive failed; dropping the connection', { error: describe(err) });
      this.lastSocketError = err instanceof Error ? err : new Error(String(err));
      socket.destroy();
    }
  }

  // ---- actions --------------------------------------------------------------------------------------------

  private nextActionId(): string {
    this.actionCounter += 1;
    return `${this.opts.actionIdPrefix}-${this.actionCounter}`;
  }

  private checkCapacity(name: string): void {
    if (this.pendingCount >= this.opts.maxPendingActions) {
      throw new AmiConnectionError(`too many AMI actions in flight (${this.opts.maxPendingActions}); ${name} refused`);
    }
  }

  private send(
    name: string,
    fields: AmiActionFields,
    options: { timeoutMs: number; signal: AbortSignal | undefined; actionId?: string },
  ): Promise<AmiActionResult> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.reject(this.closedError(`${name} not sent`));
    if (options.signal?.aborted) return Promise.reject(abortReason(options.signal));
    const id = options.actionId ?? this.nextActionId();
    let bytes: Buffer;
    try {
      bytes = formatAction(name, fields, id);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<AmiActionResult>((resolve, reject) => {
      const timer = setTimeout(() => this.settle(id, new AmiTimeoutError(name, options.timeoutMs)), options.timeoutMs);
      const signal = options.signal;
      const detachSignal = onAbort(signal, () => this.settle(id, signal ? abortReason(signal) : undefined));
      this.pending.set(id, { name, resolve, reject, timer, detachSignal, listResponse: undefined, events: [] });
      socket.write(bytes, (err) => {
        if (err) this.settle(id, new AmiConnectionError(`writing ${name} failed: ${err.message}`, { cause: err }));
      });
    });
  }

  /** Removes a pending action and settles it: with an error, or with a result. */
  private settle(id: string, outcome: unknown, result?: AmiActionResult): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    entry.detachSignal();
    if (result) entry.resolve(result);
    else entry.reject(outcome);
  }

  private waitOriginateResponse(id: string, deadlineMs: number, signal?: AbortSignal): Promise<OriginateResponseEvent> {
    return new Promise<OriginateResponseEvent>((resolve, reject) => {
      const timer = setTimeout(
        () => this.settleOriginate(id, new AmiTimeoutError('Originate (OriginateResponse)', deadlineMs)),
        deadlineMs,
      );
      const detachSignal = onAbort(signal, () => this.settleOriginate(id, signal ? abortReason(signal) : undefined));
      this.originates.set(id, { resolve, reject, timer, detachSignal });
    });
  }

  private settleOriginate(id: string, outcome: unknown, event?: OriginateResponseEvent): void {
    const waiter = this.originates.get(id);
    if (!waiter) return;
    this.originates.delete(id);
    clearTimeout(waiter.timer);
    waiter.detachSignal();
    if (event) waiter.resolve(event);
    else waiter.reject(outcome);
  }

  private rejectAll(error: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, error);
    for (const id of [...this.originates.keys()]) this.settleOriginate(id, error);
  }

  // ---- incoming -------------------------------------------------------------------------------------------

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    let frames;
    try {
      frames = this.framer.push(chunk);
    } catch (err) {
      this.log('error', 'AMI framing failed; dropping the connection', { error: describe(err) });
      this.lastSocketError = err instanceof Error ? err : undefined;
      socket.destroy();
      return;
    }
    for (const frame of frames) {
      if (socket !== this.socket) return;
      if (frame.kind === 'banner') {
        this.onBanner(socket, frame.text);
        continue;
      }
      let message: AmiMessage;
      try {
        message = parseMessage(frame.text);
      } catch (err) {
        this.log('warn', 'AMI message ignored', { error: describe(err) });
        continue;
      }
      if (message.kind === 'response') this.onResponse(message);
      else this.onEvent(message);
    }
  }

  private onBanner(socket: net.Socket, text: string): void {
    if (!text.startsWith('Asterisk Call Manager/')) {
      this.lastSocketError = new AmiProtocolError(`not an Asterisk AMI banner: ${JSON.stringify(text.slice(0, 80))}`);
      socket.destroy();
      return;
    }
    this.bannerWaiter?.resolve(text);
    this.bannerWaiter = undefined;
  }

  private onResponse(message: AmiMessage): void {
    const id = message.actionId;
    const entry = id === undefined ? undefined : this.pending.get(id);
    if (id === undefined || !entry) {
      this.log('debug', 'AMI response without a pending action', { actionId: id, response: message.type });
      return;
    }
    if (message.type.toLowerCase() === 'error') {
      const text = message.get('Message') ?? 'Response: Error';
      this.settle(id, new AmiActionError(entry.name, text, message.toRecord()));
    } else if (message.eventList === 'start') {
      entry.listResponse = message;
    } else {
      this.settle(id, undefined, { response: message, events: [], complete: undefined });
    }
  }

  private onEvent(message: AmiMessage): void {
    const id = message.actionId;
    const entry = id === undefined ? undefined : this.pending.get(id);
    if (id !== undefined && entry?.listResponse) {
      const list = message.eventList;
      if (list === 'complete' || list === 'cancelled') {
        this.settle(id, undefined, { response: entry.listResponse, events: entry.events, complete: message });
      } else if (entry.events.length >= this.opts.maxListEvents) {
        this.settle(id, new AmiProtocolError(`${entry.name}: event list longer than ${this.opts.maxListEvents}`));
      } else {
        entry.events.push(message);
      }
      return;
    }
    if (message.type === 'OriginateResponse' && id !== undefined && this.originates.has(id)) {
      const event = decodeOriginateResponse(message);
      if (event.response === 'Success') this.settleOriginate(id, undefined, event);
      else this.settleOriginate(id, new AmiOriginateError(event, message.toRecord()));
    }
    this.safeEmit('event', message);
    const typed = decodeEvent(message);
    if (typed) this.safeEmit(typed.event, typed, message);
  }

  // ---- helpers --------------------------------------------------------------------------------------------

  /** A listener that throws must not break the read loop or the state machine. */
  private safeEmit(name: keyof AmiClientEventMap, ...args: unknown[]): void {
    try {
      (this.emit as (n: string, ...a: unknown[]) => boolean)(name, ...args);
    } catch (err) {
      this.log('error', 'AMI event listener threw', { event: name, error: describe(err) });
    }
  }

  private closedError(what: string): AmiConnectionError {
    const cause = this.lastSocketError;
    const detail = cause ? `: ${cause.message}` : '';
    return new AmiConnectionError(`AMI ${this.opts.host}:${this.opts.port} ${what}${detail}`, { cause });
  }

  private async withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(onTimeout()), ms);
    });
    try {
      return await Promise.race([p, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private log(level: AmiLogLevel, msg: string, fields?: Record<string, unknown>): void {
    try {
      this.opts.onLog(level, msg, { host: this.opts.host, port: this.opts.port, ...fields });
    } catch (err) {
      // diagnostics must never break the connection: a failing log callback is reported as a process warning
      process.emitWarning(err instanceof Error ? err : String(err));
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
