/**
 * Background work that must not be started and forgotten (STYLE.md §15): every task is tracked until it settles,
 * failures go to the given reporter, and `drain()` waits for what is still running (shutdown, tests).
 */
export class TaskTracker {
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly onError: (err: unknown) => void = () => undefined) {}

  track(task: Promise<unknown>): void {
    const settled = task.then(
      () => undefined,
      (err: unknown) => this.onError(err),
    );
    this.running.add(settled);
    void settled.finally(() => this.running.delete(settled));
  }

  get size(): number {
    return this.running.size;
  }

  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
