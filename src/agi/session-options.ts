/**
 * The vocabulary of AgiSession: its options, the options of one command, a command waiting in its queue, and
 * how an answer's text is named in errors.
 */
import { AgiCommandError, AgiHangupError } from '../lib/errors.js';
import type { AgiResponse } from './codec.js';

export interface AgiSessionOptions {
  /** Deadline for the whole environment block, from accept. */
  readonly envTimeoutMs: number;
  /** Default deadline for one command's answer, from the moment it is written. */
  readonly commandTimeoutMs: number;
  /** Asterisk silent this long while we wait on it (env or an answer): the connection is dropped. */
  readonly idleTimeoutMs: number;
  /** After our FIN, how long to wait for Asterisk to close before destroying the socket. Default 1000. */
  readonly closeTimeoutMs?: number;
  readonly maxLineBytes?: number;
  /** Commands waiting behind the one in flight; more are rejected, never queued without bound. Default 16. */
  readonly maxQueuedCommands?: number;
}

export interface CommandOptions {
  readonly signal?: AbortSignal;
  /** Overrides commandTimeoutMs for this command. */
  readonly timeoutMs?: number;
}

export interface PendingCommand {
  readonly line: string;
  readonly timeoutMs: number;
  readonly resolve: (r: AgiResponse) => void;
  readonly reject: (err: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** The caller already got an answer (abort); an in-flight answer is still consumed, then dropped. */
  settled: boolean;
}

/** The command's name for messages: `GET VARIABLE`, `EXEC`, … (at most 40 characters). */
export function commandName(line: string): string {
  const end = line.indexOf(' ', line.startsWith('GET ') || line.startsWith('SET ') ? 4 : 0);
  return (end === -1 ? line.trimEnd() : line.slice(0, end)).slice(0, 40);
}

export function firstLine(s: string): string {
  const nl = s.indexOf('\n');
  return nl === -1 ? s : s.slice(0, nl);
}

/** The error of a non-200 answer to `line`: AgiHangupError on 511 (the channel hung up), else AgiCommandError. */
export function answerError(line: string, response: AgiResponse): Error {
  if (response.code === 511) return new AgiHangupError(`${commandName(line)}: ${response.data}`);
  return new AgiCommandError(response.code, `${commandName(line)}: ${response.code} ${firstLine(response.data)}`);
}
