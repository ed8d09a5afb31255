/**
 * One background job run now and then again `intervalMs` after each run ends, until stop() (the history poller,
 * the reconciler, the manager status sync). Every run is tracked (STYLE.md §15); a failing run is reported and the
 * next one still comes; stop() clears the timer and waits for the run in progress. intervalMs <= 0: one run only.
 */
import { TaskTracker } from './task-tracker.js';

export class PeriodicTask {
  private readonly tasks: TaskTracker;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopRequested = false;

  constructor(
    private readonly run: () => Promise<unknown>,
    private readonly intervalMs: number,
    onError: (err: unknown) => void,
  ) {
    this.tasks = new TaskTracker(onError);
  }

  /** True once stop() was called: a run in progress should end early. */
  get stopped(): boolean {
    return this.stopRequested;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopRequested = false;
    this.tasks.track(this.runAndReschedule());
  }

  async stop(): Promise<void> {
    this.stopRequested = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.tasks.drain();
    this.started = false;
  }

  private async runAndReschedule(): Promise<void> {
    try {
      await this.run();
    } finally {
      if (!this.stopRequested && this.intervalMs > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.tasks.track(this.runAndReschedule());
        }, this.intervalMs);
      }
    }
  }
}
