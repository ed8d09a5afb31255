/**
 * The live-call registry: every FastAGI session in progress, by uniqueid, with a count and an `idle` event.
 * Health, metrics and the shutdown drain read it.
 */
import { EventEmitter } from 'node:events';

export interface LiveCall {
  readonly uniqueid: string;
  readonly script: string;
  readonly enterprise: string | undefined;
  readonly startedAt: number;
}

export class LiveCalls extends EventEmitter {
  private readonly calls = new Map<symbol, LiveCall>();

  add(call: LiveCall): () => void {
    const id = Symbol(call.uniqueid);
    this.calls.set(id, call);
    return () => {
      if (this.calls.delete(id) && this.calls.size === 0) this.emit('idle');
    };
  }

  get count(): number {
    return this.calls.size;
  }

  byScript(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.calls.values()) out[c.script] = (out[c.script] ?? 0) + 1;
    return out;
  }

  /** Resolves when no call is live, or after timeoutMs; returns how many were still live. */
  async waitIdle(timeoutMs: number): Promise<number> {
    if (this.calls.size === 0) return 0;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.off('idle', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.once('idle', done);
    });
    return this.calls.size;
  }
}
