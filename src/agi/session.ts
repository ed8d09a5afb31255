/**
 * One FastAGI connection: reads the environment block, then runs commands strictly one at a time.
 *
 * Owns the request/response state of a socket: the env deadline, one deadline per command (plus an idle
 * limit while we wait on Asterisk), the queue that keeps a second command from being pipelined (real Asterisk
 * stalls on that), unsolicited `HANGUP` lines, and the close handshake (FIN, then ignore Asterisk's last
 * `HANGUP` and EPIPE/ECONNRESET). Framing is framer.ts's job, text ↔ values codec.ts's, the wait's timer
 * answer-wait.ts's.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { AgiClosedError, AgiCommandError, AgiProtocolError } from '../lib/errors.js';
import { AnswerWait } from './answer-wait.js';
import {
  assertCommandText,
  formatCommand,
  MAX_ENV_LINES,
  parseEnvironment,
  parseResponse,
  ResponseAssembler,
  scriptOfEnvironment,
  type AgiEnvironment,
  type AgiResponse,
} from './codec.js';
import { DEFAULT_MAX_LINE_BYTES, LineFramer } from './framer.js';
import { answerError, commandName, type AgiSessionOptions, type CommandOptions, type PendingCommand } from './session-options.js';

export type { AgiSessionOptions, CommandOptions } from './session-options.js';

type State = 'env' | 'ready' | 'closing' | 'closed';

const DEFAULT_CLOSE_TIMEOUT_MS = 1000;
const DEFAULT_MAX_QUEUED = 16;

export interface AgiSessionEvents {
  hangup: [];
  close: [];
}

export class AgiSession extends EventEmitter<AgiSessionEvents> {
  readonly remoteAddress: string | undefined;
  /** Resolves once the environment is read; rejects (socket destroyed) on garbage, timeout or close. */
  readonly ready: Promise<void>;
  /** Resolves when the socket is fully closed. Never rejects. */
  readonly closed: Promise<void>;
  /** Asterisk reported a hangup (`HANGUP` line or a 511 answer). GET/SET VARIABLE still work after it. */
  hungUp = false;

  private readonly socket: Socket;
  private readonly opts: Required<AgiSessionOptions>;
  private readonly framer: LineFramer;
  private readonly assembler = new ResponseAssembler();
  private readonly abortController = new AbortController();
  private signalHandedOut = false;
  private state: State = 'env';
  private envLines: string[] = [];
  private environment: AgiEnvironment | undefined;
  private scriptName = '';
  private scriptQuery: URLSearchParams = new URLSearchParams();
  private readonly queue: PendingCommand[] = [];
  private inflight: PendingCommand | undefined;
  private failure: Error | undefined;
  private socketError: Error | undefined;
  private resolveReady!: () => void;
  private rejectReady!: (err: unknown) => void;
  private resolveClosed!: () => void;
  private readonly wait: AnswerWait;
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, options: AgiSessionOptions) {
    super();
    this.socket = socket;
    this.opts = {
      closeTimeoutMs: DEFAULT_CLOSE_TIMEOUT_MS,
      maxLineBytes: DEFAULT_MAX_LINE_BYTES,
      maxQueuedCommands: DEFAULT_MAX_QUEUED,
      ...options,
    };
    this.framer = new LineFramer(this.opts.maxLineBytes);
    this.wait = new AnswerWait(this.opts.idleTimeoutMs, (err) => this.fail(err));
    this.remoteAddress = socket.remoteAddress;
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // The server awaits `ready`; this only keeps an unobserved failure from becoming an unhandled rejection.
    this.ready.catch(() => undefined);
    this.closed = new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err) => this.onSocketError(err));
    socket.on('close', () => this.onClose());
    this.wait.arm(this.opts.envTimeoutMs, 'AGI environment');
  }

  // ---- public surface ----------------------------------------------------------------------------------

  get env(): AgiEnvironment {
    if (this.environment === undefined) throw new AgiProtocolError('AGI environment not read yet');
    return this.environment;
  }

  /** Script path without query, e.g. `incoming` ('' before the environment is read or when there is none). */
  get script(): string {
    return this.scriptName;
  }

  get query(): URLSearchParams {
    return this.scriptQuery;
  }

  /** Aborts when the connection closes (or the session is closing): stop waiting on the CRM then. */
  get signal(): AbortSignal {
    this.signalHandedOut = true;
    return this.abortController.signal;
  }

  get isClosed(): boolean {
    return this.state === 'closing' || this.state === 'closed';
  }

  /**
   * Sends one raw command line (no `\n`). Concurrent calls queue behind the one in flight. Resolves with a
   * 200 answer; rejects AgiHangupError on 511, AgiCommandError on 510/520/other, AgiTimeoutError past the
   * deadline (the connection is then dropped: a late answer would be taken for the next command's),
   * AgiClosedError when the connection goes away, and the signal's reason when aborted.
   */
  command(line: string, options: CommandOptions = {}): Promise<AgiResponse> {
    if (this.state === 'closing' || this.state === 'closed') {
      return Promise.reject(this.failure ?? new AgiClosedError('AGI session is closed'));
    }
    try {
      assertCommandText(line);
    } catch (err) {
      return Promise.reject(err);
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.queue.length >= this.opts.maxQueuedCommands) {
      return Promise.reject(new AgiProtocolError(`more than ${this.opts.maxQueuedCommands} AGI commands queued`));
    }
    return new Promise<AgiResponse>((resolve, reject) => {
      const cmd: PendingCommand = {
        line: `${line}\n`,
        timeoutMs: options.timeoutMs ?? this.opts.commandTimeoutMs,
        resolve,
        reject,
        signal,
        onAbort: undefined,
        settled: false,
      };
      if (signal !== undefined) {
        cmd.onAbort = () => this.abortCommand(cmd);
        signal.addEventListener('abort', cmd.onAbort, { once: true });
      }
      this.queue.push(cmd);
      this.pump();
    });
  }

  /** `GET VARIABLE name` → the value, or undefined for `200 result=0` (not set). */
  async getVariable(name: string, options?: CommandOptions): Promise<string | undefined> {
    const r = await this.command(formatCommand('GET VARIABLE', [{ name }]), options);
    return r.result === '1' ? (r.value ?? '') : undefined;
  }

  /** `GET FULL VARIABLE expr` → the evaluated expression ('' for unset variables), undefined for result=0. */
  async getFullVariable(expression: string, options?: CommandOptions): Promise<string | undefined> {
    const r = await this.command(formatCommand('GET FULL VARIABLE', [{ name: expression }]), options);
    return r.result === '1' ? (r.value ?? '') : undefined;
  }

  /** `SET VARIABLE name "value"`; the value is always quoted and sanitised by the codec. */
  async setVariable(name: string, value: string, options?: CommandOptions): Promise<void> {
    await this.command(formatCommand('SET VARIABLE', [{ name }, value]), options);
  }

  /**
   * Runs a dialplan application (`EXEC MSet "A=1,B=2"`). Asterisk answers `200 result=-2` when the application
   * does not exist: that rejects with AgiCommandError.
   */
  async exec(application: string, options: string, commandOptions?: CommandOptions): Promise<string> {
    const response = await this.command(formatCommand('EXEC', [{ name: application }, options]), commandOptions);
    if (response.result === '-2') {
      throw new AgiCommandError(response.code, `EXEC ${application}: no such application`);
    }
    return response.result;
  }

  async verbose(message: string, level = 1, options?: CommandOptions): Promise<void> {
    await this.command(formatCommand('VERBOSE', [message, level]), options);
  }

  /**
   * Ends the session: rejects queued commands, half-closes (FIN), ignores whatever Asterisk still sends
   * (it always answers our FIN with `HANGUP`), resolves when the socket is closed or after closeTimeoutMs,
   * when it is destroyed. Idempotent.
   */
  close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return this.closed;
    this.state = 'closing';
    this.wait.clear();
    // Building an error captures a stack: only when someone can observe it (the common close has no waiter).
    if (this.queue.length > 0 || this.inflight !== undefined || this.environment === undefined || this.signalHandedOut) {
      const err = new AgiClosedError('AGI session closed');
      this.rejectAll(err);
      this.rejectReady(err);
      this.abortController.abort(err);
    }
    if (this.socket.destroyed) return this.closed;
    this.socket.end();
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.opts.closeTimeoutMs);
    return this.closed;
  }

  /** Drops the connection at once (no FIN handshake); pending commands reject with `err` or AgiClosedError. */
  destroy(err?: Error): void {
    this.fail(err ?? new AgiClosedError('AGI session destroyed'));
  }

  // ---- socket events -----------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.wait.received();
    let lines: string[];
    try {
      lines = this.framer.push(chunk);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    for (const line of lines) {
      if (this.state === 'env') this.onEnvLine(line);
      else if (this.state === 'ready') this.onReadyLine(line);
      else return;
    }
  }

  private onEnvLine(line: string): void {
    if (line === '') {
      this.finishEnvironment();
      return;
    }
    // Reject garbage on its first line rather than waiting for an empty line that may never come.
    if (!line.startsWith('agi_')) {
      this.fail(new AgiProtocolError(`expected an AGI environment line, got ${JSON.stringify(line.slice(0, 80))}`));
      return;
    }
    if (this.envLines.length >= MAX_ENV_LINES) {
      this.fail(new AgiProtocolError(`AGI environment longer than ${MAX_ENV_LINES} lines`));
      return;
    }
    this.envLines.push(line);
  }

  private finishEnvironment(): void {
    try {
      this.environment = parseEnvironment(this.envLines);
      const { script, query } = scriptOfEnvironment(this.environment);
      this.scriptName = script;
      this.scriptQuery = query;
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    this.envLines = [];
    this.state = 'ready';
    this.wait.clear();
    this.resolveReady();
    this.pump();
  }

  private onReadyLine(line: string): void {
    // Unsolicited: between commands or before the answer to the one in flight. Never an answer.
    if (line === 'HANGUP') {
      this.markHungUp();
      return;
    }
    const cmd = this.inflight;
    if (cmd === undefined) {
      this.fail(new AgiProtocolError(`unexpected line from Asterisk: ${JSON.stringify(line.slice(0, 80))}`));
      return;
    }
    let lines: string[] | undefined;
    try {
      lines = this.assembler.push(line);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (lines === undefined) return;
    this.inflight = undefined;
    this.wait.clear();
    this.settleAnswer(cmd, lines);
    this.pump();
  }

  private settleAnswer(cmd: PendingCommand, lines: string[]): void {
    const response = parseResponse(lines);
    if (response.code === 511) this.markHungUp();
    if (cmd.settled) return;
    this.settle(cmd);
    if (response.code === 200) cmd.resolve(response);
    else cmd.reject(answerError(cmd.line, response));
  }

  private onEnd(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    // Asterisk closed its side: nothing more will be answered. Node ends ours (allowHalfOpen is off).
    this.fail(new AgiClosedError(this.state === 'env' ? 'Asterisk closed before the environment was complete' : 'Asterisk closed the AGI connection'));
  }

  private onSocketError(err: Error): void {
    // After we chose to close, EPIPE/ECONNRESET from Asterisk's last HANGUP write are normal.
    if (this.state === 'closing' || this.state === 'closed') return;
    this.socketError = err;
    this.fail(new AgiClosedError(`AGI connection failed: ${err.message}`, { cause: err }));
  }

  private onClose(): void {
    this.wait.clear();
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    const observed = this.queue.length > 0 || this.inflight !== undefined || this.environment === undefined || this.signalHandedOut;
    this.state = 'closed';
    if (observed && !this.abortController.signal.aborted) {
      const err = this.failure ?? new AgiClosedError('AGI connection closed', { cause: this.socketError });
      this.rejectAll(err);
      this.rejectReady(err);
      this.abortController.abort(err);
    }
    this.resolveClosed();
    this.emit('close');
  }

  // ---- command flow ------------------------------------------------------------------------------------

  private pump(): void {
    if (this.inflight !== undefined || this.state !== 'ready') return;
    const cmd = this.queue.shift();
    if (cmd === undefined) return;
    this.inflight = cmd;
    this.socket.write(cmd.line);
    this.wait.arm(cmd.timeoutMs, `answer to ${commandName(cmd.line)}`);
  }

  private abortCommand(cmd: PendingCommand): void {
    if (cmd.settled) return;
    const at = this.queue.indexOf(cmd);
    if (at !== -1) this.queue.splice(at, 1);
    // If it is in flight it stays there: its answer must still be read before the next command goes out.
    this.settle(cmd);
    cmd.reject(cmd.signal?.reason);
  }

  private settle(cmd: PendingCommand): void {
    cmd.settled = true;
    if (cmd.onAbort !== undefined) cmd.signal?.removeEventListener('abort', cmd.onAbort);
    cmd.onAbort = undefined;
  }

  private rejectAll(err: Error): void {
    const inflight = this.inflight;
    this.inflight = undefined;
    if (inflight !== undefined && !inflight.settled) {
      this.settle(inflight);
      inflight.reject(err);
    }
    for (const cmd of this.queue.splice(0)) {
      if (cmd.settled) continue;
      this.settle(cmd);
      cmd.reject(err);
    }
  }

  private markHungUp(): void {
    if (this.hungUp) return;
    this.hungUp = true;
    this.emit('hangup');
  }

  /** Protocol error, timeout, peer close: reject everything with `err` and destroy the socket. */
  private fail(err: Error): void {
    if (this.state === 'closed') return;
    this.failure ??= err;
    this.state = 'closed';
    this.wait.clear();
    this.rejectAll(err);
    this.rejectReady(err);
    this.abortController.abort(err);
    this.socket.destroy();
  }
}
