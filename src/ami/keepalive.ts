/**
 * The keepalive timer of one AMI connection: one probe (a Ping) after each quiet interval; the probe itself
 * decides whether to schedule the next one or to drop the connection. `running` lets close() wait for it.
 */
export class Keepalive {
  private timer: NodeJS.Timeout | undefined;
  private task: Promise<void> | undefined;

  /** intervalMs <= 0 turns the keepalive off. */
  constructor(
    private readonly intervalMs: number,
    private readonly probe: () => Promise<void>,
  ) {}

  get running(): Promise<void> | undefined {
    return this.task;
  }

  schedule(): void {
    if (this.intervalMs <= 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.task = this.probe();
    }, this.intervalMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
