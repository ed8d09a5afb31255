/**
 * The one timer of an AGI session's current wait (for the environment, or for a command's answer): it expires
 * at the wait's deadline, or earlier when Asterisk stays silent for `idleMs` while we wait. Bytes received push
 * the idle limit back (e.g. the first half of a 520 answer).
 */
import { performance } from 'node:perf_hooks';
import { AgiTimeoutError } from '../lib/errors.js';

const TIMER_SLACK_MS = 1;

export class AnswerWait {
  private timer: NodeJS.Timeout | undefined;
  private what = '';
  private ms = 0;
  private start = 0;
  private deadline = 0;
  private lastRxAt = 0;

  constructor(
    private readonly idleMs: number,
    private readonly onExpired: (err: AgiTimeoutError) => void,
  ) {}

  /** Asterisk sent bytes. */
  received(): void {
    this.lastRxAt = performance.now();
  }

  arm(ms: number, what: string): void {
    const now = performance.now();
    this.what = what;
    this.ms = ms;
    this.start = now;
    this.deadline = now + ms;
    this.timer = setTimeout(() => this.onTimer(), Math.min(ms, this.idleMs));
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onTimer(): void {
    this.timer = undefined;
    const now = performance.now();
    if (now + TIMER_SLACK_MS >= this.deadline) {
      this.onExpired(new AgiTimeoutError(`no ${this.what} within ${this.ms} ms`));
      return;
    }
    const idleDue = Math.max(this.lastRxAt, this.start) + this.idleMs;
    if (now + TIMER_SLACK_MS >= idleDue) {
      this.onExpired(new AgiTimeoutError(`Asterisk silent for ${this.idleMs} ms while waiting for ${this.what}`));
      return;
    }
    // Bytes arrived: wait for the rest up to the nearer limit.
    this.timer = setTimeout(() => this.onTimer(), Math.min(this.deadline, idleDue) - now);
  }
}
