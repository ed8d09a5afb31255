/**
 * The MP3 conversion pool: at most `workers` conversions at once, each in its own worker thread (mp3-worker.ts;
 * a fresh thread per file, so a crash or a runaway encode costs one file and is ended by terminate()), and at
 * most `maxQueued` waiting. Beyond that convert() refuses at once (STYLE.md §13): the caller tries again later.
 * Nothing here runs on the call path; the event loop only waits for a message.
 */
import { Worker } from 'node:worker_threads';
import type { Mp3WorkerInput, Mp3WorkerResult } from './mp3-worker.js';

export interface Mp3ConverterOptions {
  readonly workers: number;
  readonly maxQueued: number;
  readonly kbps: number;
  /** One file's deadline; the thread is terminated past it. */
  readonly timeoutMs: number;
}

export class ConverterBusyError extends Error {
  readonly code = 'RECORDING_CONVERTER_BUSY';
  constructor() {
    super('MP3 converter queue is full');
  }
}

const WORKER_URL = new URL('./mp3-worker.js', import.meta.url);

export class Mp3Converter {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  private readonly live = new Set<Worker>();
  private closed = false;

  constructor(private readonly opts: Mp3ConverterOptions) {}

  /** Conversions running plus waiting. */
  get load(): number {
    return this.running + this.queue.length;
  }

  get hasRoom(): boolean {
    return !this.closed && (this.running < this.opts.workers || this.queue.length < this.opts.maxQueued);
  }

  async convert(wavPath: string, mp3Path: string): Promise<Mp3WorkerResult> {
    if (this.closed) throw new Error('MP3 converter closed');
    if (this.running >= this.opts.workers) {
      if (this.queue.length >= this.opts.maxQueued) throw new ConverterBusyError();
      await new Promise<void>((resolve) => this.queue.push(resolve));
      if (this.closed) throw new Error('MP3 converter closed');
    }
    this.running++;
    try {
      return await this.runWorker({ wavPath, mp3Path, kbps: this.opts.kbps });
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }

  private runWorker(input: Mp3WorkerInput): Promise<Mp3WorkerResult> {
    return new Promise((resolve) => {
      const worker = new Worker(WORKER_URL, { workerData: input });
      this.live.add(worker);
      let settled: Mp3WorkerResult | undefined;
      const timer = setTimeout(() => {
        settled ??= { ok: false, reason: `encoder took longer than ${this.opts.timeoutMs} ms` };
        void worker.terminate();
      }, this.opts.timeoutMs);
      worker.once('message', (m: Mp3WorkerResult) => (settled ??= m));
      worker.once('error', (err) => (settled ??= { ok: false, reason: `encoder thread failed: ${err.message}` }));
      worker.once('exit', (code) => {
        clearTimeout(timer);
        this.live.delete(worker);
        resolve(settled ?? { ok: false, reason: `encoder thread exited with code ${code}` });
      });
    });
  }

  /** Refuses new work, releases the waiting callers and ends running threads; resolves once all have exited. */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.queue.splice(0)) wake();
    await Promise.all([...this.live].map((w) => w.terminate()));
  }
}
