/**
 * ActionID correlation for one AMI connection: every action in flight waits here for its response (and, for an
 * event list, its events up to `…Complete`), every async Originate for its OriginateResponse. Each waiter is
 * bounded (`maxPending`, `maxListEvents`), has a deadline and honours its abort signal; `rejectAll` fails them
 * at once when the connection drops. Knows nothing of sockets beyond writing bytes.
 */
import { AmiActionError, AmiConnectionError, AmiProtocolError, AmiTimeoutError } from '../lib/errors.js';
import { AmiOriginateError, type AmiActionResult } from './client-options.js';
import { formatAction, type AmiActionFields, type AmiMessage } from './codec.js';
import { decodeOriginateResponse, type OriginateResponseEvent } from './types.js';

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

/** Where the bytes of an action go (the connection's socket). */
export interface ActionWriter {
  write(bytes: Buffer, done: (err?: Error | null) => void): unknown;
}

export interface SendOptions {
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly actionId?: string;
}

export interface ActionCorrelatorOptions {
  readonly actionIdPrefix: string;
  readonly maxPendingActions: number;
  readonly maxListEvents: number;
  readonly onUnmatchedResponse: (actionId: string | undefined, response: string) => void;
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

/** Removes the waiter for `id` and stops its deadline and abort listener; the caller settles it. */
function takeWaiter<W extends { readonly timer: NodeJS.Timeout; readonly detachSignal: () => void }>(
  waiters: Map<string, W>,
  id: string,
): W | undefined {
  const waiter = waiters.get(id);
  if (!waiter) return undefined;
  waiters.delete(id);
  clearTimeout(waiter.timer);
  waiter.detachSignal();
  return waiter;
}

export class ActionCorrelator {
  private readonly pending = new Map<string, PendingAction>();
  private readonly originates = new Map<string, OriginateWaiter>();
  private actionCounter = 0;

  constructor(private readonly opts: ActionCorrelatorOptions) {}

  /** Actions (and Originates) currently waiting for an answer. */
  get size(): number {
    return this.pending.size + this.originates.size;
  }

  nextActionId(): string {
    this.actionCounter += 1;
    return `${this.opts.actionIdPrefix}-${this.actionCounter}`;
  }

  checkCapacity(name: string): void {
    if (this.size >= this.opts.maxPendingActions) {
      throw new AmiConnectionError(`too many AMI actions in flight (${this.opts.maxPendingActions}); ${name} refused`);
    }
  }

  /** Writes the action and waits for its response (and list events) under its deadline and signal. */
  send(writer: ActionWriter, name: string, fields: AmiActionFields, options: SendOptions): Promise<AmiActionResult> {
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
      writer.write(bytes, (err) => {
        if (err) this.settle(id, new AmiConnectionError(`writing ${name} failed: ${err.message}`, { cause: err }));
      });
    });
  }

  /** Waits for the OriginateResponse carrying ActionID `id`, up to `deadlineMs`. */
  waitOriginateResponse(id: string, deadlineMs: number, signal?: AbortSignal): Promise<OriginateResponseEvent> {
    return new Promise<OriginateResponseEvent>((resolve, reject) => {
      const timer = setTimeout(
        () => this.settleOriginate(id, new AmiTimeoutError('Originate (OriginateResponse)', deadlineMs)),
        deadlineMs,
      );
      const detachSignal = onAbort(signal, () => this.settleOriginate(id, signal ? abortReason(signal) : undefined));
      this.originates.set(id, { resolve, reject, timer, detachSignal });
    });
  }

  /** Removes an Originate waiter and settles it: with an error, or with its event. */
  settleOriginate(id: string, outcome: unknown, event?: OriginateResponseEvent): void {
    const waiter = takeWaiter(this.originates, id);
    if (!waiter) return;
    if (event) waiter.resolve(event);
    else waiter.reject(outcome);
  }

  /** Fails everything in flight (the connection dropped or the client closes). */
  rejectAll(error: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, error);
    for (const id of [...this.originates.keys()]) this.settleOriginate(id, error);
  }

  onResponse(message: AmiMessage): void {
    const id = message.actionId;
    const entry = id === undefined ? undefined : this.pending.get(id);
    if (id === undefined || !entry) {
      this.opts.onUnmatchedResponse(id, message.type);
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

  /**
   * Takes the event when it belongs to an event list in flight (true: it is not for the listeners), and settles
   * an Originate waiter on its OriginateResponse (false: the listeners see it too).
   */
  onEvent(message: AmiMessage): boolean {
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
      return true;
    }
    if (message.type === 'OriginateResponse' && id !== undefined && this.originates.has(id)) {
      const event = decodeOriginateResponse(message);
      if (event.response === 'Success') this.settleOriginate(id, undefined, event);
      else this.settleOriginate(id, new AmiOriginateError(event, message.toRecord()));
    }
    return false;
  }

  /** Removes a pending action and settles it: with an error, or with a result. */
  private settle(id: string, outcome: unknown, result?: AmiActionResult): void {
    const entry = takeWaiter(this.pending, id);
    if (!entry) return;
    if (result) entry.resolve(result);
    else entry.reject(outcome);
  }
}
