/**
 * AmiClient: one Asterisk Manager Interface connection to one PBX, and its life cycle.
 *
 * Owns the TCP socket (connect deadline, banner, Login), the Ping keepalive that detects a dead peer, and
 * reconnection with the service's backoff policy. ActionID correlation of actions, event lists and Originates
 * lives in ActionCorrelator; options and result types in client-options. A dropped connection rejects what was
 * pending at once. No config, logger or CRM imports: the composition root passes options and `onLog`.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { AmiActionError, AmiAuthError, AmiConnectionError, AmiProtocolError, AmiTimeoutError, AppError } from '../lib/errors.js';
import { waitAtMost, withTimeout } from '../lib/deadline.js';
import { ActionCorrelator, type SendOptions } from './action-correlator.js';
import {
  DEFAULT_RING_MS,
  originateFields,
  resolveClientOptions,
  type ActionOptions,
  type AmiActionResult,
  type AmiClientOptions,
  type AmiClientState,
  type AmiLogLevel,
  type OriginateOptions,
  type ResolvedClientOptions,
} from './client-options.js';
import { parseMessage, type AmiActionFields, type AmiMessage } from './codec.js';
import { AmiFramer } from './framer.js';
import { Keepalive } from './keepalive.js';
import { ReconnectSchedule } from './reconnect-schedule.js';
import { decodeEvent, type AmiTypedEventMap, type AmiTypedEventName, type OriginateResponseEvent } from './types.js';

type AmiClientEventMap = {
  state: [state: AmiClientState, previous: AmiClientState, cause: Error | undefined];
  event: [message: AmiMessage];
} & { [K in AmiTypedEventName]: [event: AmiTypedEventMap[K], message: AmiMessage] };

const noop = (): void => undefined;

export class AmiClient extends EventEmitter<AmiClientEventMap> {
  private readonly opts: ResolvedClientOptions;
  private readonly reconnects: ReconnectSchedule;
  private readonly keepalive: Keepalive;
  private readonly framer: AmiFramer;
  private currentState: AmiClientState = 'disconnected';
  private socket: net.Socket | undefined;
  private socketClosed: Promise<void> = Promise.resolve();
  private lastSocketError: Error | undefined;
  private bannerWaiter: { resolve: (b: string) => void; reject: (e: unknown) => void } | undefined;
  private readonly actions: ActionCorrelator;
  private autoReconnect = false;
  private inFlight: Promise<void> | undefined;
  private backgroundAttempt: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Text of the last banner (`Asterisk Call Manager/11.0.0`). */
  banner: string | undefined;

  constructor(options: AmiClientOptions) {
    super();
    this.opts = resolveClientOptions(options);
    this.reconnects = new ReconnectSchedule(options.reconnect, this.opts.authRetryDelayMs, this.opts.random);
    this.keepalive = new Keepalive(this.opts.keepaliveIntervalMs, () => this.probeConnection());
    this.actions = new ActionCorrelator({
      actionIdPrefix: this.opts.actionIdPrefix,
      maxPendingActions: this.opts.maxPendingActions,
      maxListEvents: this.opts.maxListEvents,
      onUnmatchedResponse: (actionId, response) => this.log('debug', 'AMI response without a pending action', { actionId, response }),
    });
    this.framer = new AmiFramer({ expectBanner: true, maxBufferBytes: this.opts.maxBufferBytes });
  }

  get state(): AmiClientState {
    return this.currentState;
  }

  /** Actions (and Originates) currently waiting for an answer. */
  get pendingCount(): number {
    return this.actions.size;
  }

  /**
   * Connects and logs in. Rejects (AmiConnectionError, AmiAuthError, AmiTimeoutError, AmiProtocolError) if this
   * first attempt fails, without retrying; once connected, later drops are reconnected in the background.
   */
  async connect(): Promise<void> {
    if (this.currentState === 'closed') throw new AmiConnectionError('AMI client is closed');
    if (this.currentState === 'connected') return;
    this.reconnects.cancel();
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
    if (this.currentState === 'connected' || this.inFlight || this.reconnects.scheduled) return;
    this.backgroundAttempt = this.runBackgroundAttempt();
  }

  /** Sends an action and resolves with its response (and list events). `Response: Error` → AmiActionError. */
  async action(name: string, fields: AmiActionFields = {}, options: ActionOptions = {}): Promise<AmiActionResult> {
    if (this.currentState !== 'connected') {
      throw new AmiConnectionError(`AMI not connected (${this.currentState}); ${name} not sent`);
    }
    this.actions.checkCapacity(name);
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
    this.actions.checkCapacity('Originate');
    const fields = originateFields(o);
    const deadlineMs = o.deadlineMs ?? (o.timeoutMs ?? DEFAULT_RING_MS) + this.opts.originateGraceMs;
    const actionId = this.actions.nextActionId();
    const final = this.actions.waitOriginateResponse(actionId, deadlineMs, o.signal);
    const queued = this.send('Originate', fields, { timeoutMs: this.opts.actionTimeoutMs, signal: o.signal, actionId });
    try {
      const [, event] = await Promise.all([queued, final]);
      return event;
    } catch (err) {
      this.actions.settleOriginate(actionId, err);
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
      this.log('warn', 'AMI connect failed', { error: describe(err), attempt: this.reconnects.attempts });
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
      await withTimeout(
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
      this.banner = await withTimeout(banner, this.opts.loginTimeoutMs, () => new AmiTimeoutError('banner', this.opts.loginTimeoutMs));
      await this.login();
      if (this.currentState === 'closed') throw new AmiConnectionError('AMI client closed while connecting');
      this.reconnects.reset();
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
    this.keepalive.stop();
    const error = this.closedError('connection closed');
    this.bannerWaiter?.reject(error);
    this.bannerWaiter = undefined;
    this.actions.rejectAll(error);
    const wasConnected = this.currentState === 'connected';
    if (this.currentState === 'closed') return;
    this.setState('disconnected', error);
    if (wasConnected) {
      this.log('warn', 'AMI connection lost', { error: error.message });
      if (this.autoReconnect) this.scheduleReconnect(false);
    }
  }

  private scheduleReconnect(authFailed: boolean): void {
    if (this.currentState === 'closed') return;
    const delay = this.reconnects.schedule(authFailed, () => {
      this.backgroundAttempt = this.runBackgroundAttempt();
    });
    if (delay !== undefined) this.log('info', 'AMI reconnect scheduled', { delayMs: delay, attempt: this.reconnects.attempts });
  }

  private async shutdown(): Promise<void> {
    const previous = this.currentState;
    this.setState('closed');
    this.reconnects.cancel();
    this.keepalive.stop();
    this.actions.rejectAll(new AmiConnectionError('AMI client closed'));
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
      const closed = this.socketClosed.then(() => undefined, () => undefined);
      if (!(await waitAtMost(closed, this.opts.logoffTimeoutMs)).settled) socket.destroy();
      await this.socketClosed;
    }
    await Promise.allSettled([this.inFlight, this.backgroundAttempt, this.keepalive.running]);
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
    if (this.currentState === 'connected') this.keepalive.schedule();
  }

  /** One Ping; no Pong within the deadline means the peer is gone even if TCP has not noticed. */
  private async probeConnection(): Promise<void> {
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

  private send(name: string, fields: AmiActionFields, options: SendOptions): Promise<AmiActionResult> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.reject(this.closedError(`${name} not sent`));
    return this.actions.send(socket, name, fields, options);
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
      if (message.kind === 'response') this.actions.onResponse(message);
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

  private onEvent(message: AmiMessage): void {
    if (this.actions.onEvent(message)) return;
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
