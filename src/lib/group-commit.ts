/**
 * Group commit: writes that arrive while a batch is being written wait and go together in the next batch (at most
 * `maxBatch`), so N concurrent callers cost one statement and one commit, not N. A lone call is written at once,
 * with no added wait: at one call at a time this is the plain write. The one mechanism for coalescing writes.
 */
export interface GroupCommitOptions {
  /** Most items in one batch; the rest go in the next. */
  readonly maxBatch?: number;
}

interface Waiter<I, O> {
  readonly item: I;
  readonly resolve: (out: O) => void;
  readonly reject: (err: unknown) => void;
}

export class GroupCommit<I, O> {
  private waiting: Waiter<I, O>[] = [];
  private running = false;

  /** `write` gets the batch and answers one output per item, in order; if it throws, every item of it rejects. */
  constructor(
    private readonly write: (items: readonly I[]) => Promise<readonly O[]>,
    private readonly opts: GroupCommitOptions = {},
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  /** Items waiting for the batch in flight (for tests and metrics). */
  get queued(): number {
    return this.waiting.length;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.length > 0) {
        const group = this.waiting.splice(0, this.opts.maxBatch ?? Number.POSITIVE_INFINITY);
        try {
          const out = await this.write(group.map((w) => w.item));
          if (out.length !== group.length) throw new Error(`group commit: ${out.length} results for ${group.length} items`);
          group.forEach((w, i) => w.resolve(out[i] as O));
        } catch (err) {
          for (const w of group) w.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
