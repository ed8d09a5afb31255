/**
 * When an AmiClient tries to connect again after a failed attempt or a lost connection: the reconnect policy
 * (the service's backoff, jittered so PBX restarts don't sync clients), at least `authRetryDelayMs` after a
 * refused login (a wrong secret won't fix itself quickly), and one timer at a time.
 */
import { backoffDelay, type BackoffPolicy } from '../lib/backoff.js';
import { DEFAULT_RECONNECT_POLICY, reconnectBackoff, type ReconnectPolicy } from './client-options.js';

export class ReconnectSchedule {
  private readonly backoff: BackoffPolicy | false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    policy: Partial<ReconnectPolicy> | false | undefined,
    private readonly authRetryDelayMs: number,
    private readonly random: () => number,
  ) {
    this.backoff = policy === false ? false : reconnectBackoff({ ...DEFAULT_RECONNECT_POLICY, ...policy });
  }

  /** Reconnects scheduled since the last good connection. */
  get attempts(): number {
    return this.attempt;
  }

  get scheduled(): boolean {
    return this.timer !== undefined;
  }

  /** A connection succeeded: the next failure starts from the initial delay again. */
  reset(): void {
    this.attempt = 0;
  }

  /** Runs `run` after the next delay and returns that delay; undefined when reconnecting is off or already due. */
  schedule(authFailed: boolean, run: () => void): number | undefined {
    if (this.backoff === false || this.timer) return undefined;
    let delay = backoffDelay(this.attempt, this.backoff, this.random);
    if (authFailed) delay = Math.max(delay, this.authRetryDelayMs);
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      run();
    }, delay);
    return delay;
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
