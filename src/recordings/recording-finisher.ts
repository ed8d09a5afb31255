/**
 * This host's side of each recording, after the call: watches the rows whose host_url is our PUBLIC_URL until
 * MixMonitor has finished the WAV (recording-state.ts), then has the MP3 made in a worker thread
 * (mp3-converter.ts) and settles the row, so any instance can publish the link. Deletes the WAV after a
 * successful conversion when RECORDING_KEEP_WAV is off (never when the WAV link was already published).
 * It looks only while there is something to look for: once `scanMs` after start (what a previous run left), and
 * after each /hangup here that registered a recording (kick()), every `scanMs` until no row is open; an idle
 * instance sends no queries. A restart loses nothing: unfinished rows are picked up again (a conversion cut short
 * once it is stale).
 * Instances that share a PUBLIC_URL must share RECORDINGS_DIR (docs/recordings.md): they see the same rows.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../lib/logger.js';
import { TaskTracker } from '../lib/task-tracker.js';
import { ConverterBusyError, type Mp3Converter } from './mp3-converter.js';
import type { Mp3WorkerResult } from './mp3-worker.js';
import { resolveRecordingPath } from './recording-path.js';
import { inspectRecording } from './recording-state.js';
import type { RecordingRow, RecordingStore } from './recording-store.js';
import { isConvertible, mp3PathFor } from './wav-format.js';

export interface RecordingFinisherOptions {
  readonly store: RecordingStore;
  /** Null: MP3 off, a final WAV is published as is. */
  readonly converter: Mp3Converter | null;
  readonly hostUrl: string;
  readonly recordingsDir: string;
  readonly keepWav: boolean;
  readonly scanMs: number;
  readonly logger: Logger;
  /** Non-WAV files count as complete after this long unmodified (recording-state.ts); default 5 s. */
  readonly settleMs?: number;
  /** A conversion `converting` this long is taken over (default 10 min, above the converter's deadline). */
  readonly staleMs?: number;
  /** First look for what a previous run left, after start (default 15 s). */
  readonly startDelayMs?: number;
  readonly onConverted?: (outcome: 'mp3' | 'failed', audioSeconds: number) => void;
}

export class RecordingFinisher {
  private readonly runs: TaskTracker;
  private readonly conversions: TaskTracker;
  private readonly inFlight = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private startTimer: NodeJS.Timeout | undefined;
  private running = false;
  private kicked = false;
  private stopRequested = false;

  constructor(private readonly opts: RecordingFinisherOptions) {
    this.runs = new TaskTracker((err) => opts.logger.error('recording scan failed', { err }));
    this.conversions = new TaskTracker((err) => opts.logger.error('recording conversion failed', { err }));
  }

  /** Leftovers of a previous run are looked for startDelayMs after start, clear of the start-up's own queries. */
  start(): void {
    this.stopRequested = false;
    this.startTimer ??= setTimeout(() => {
      this.startTimer = undefined;
      this.kick();
    }, this.opts.startDelayMs ?? 15_000);
  }

  /** A recording was registered here (/hangup): look for it soon, and keep looking until it is settled. */
  kick(): void {
    this.kicked = true;
    if (!this.running) this.schedule();
  }

  async stop(): Promise<void> {
    this.stopRequested = true;
    clearTimeout(this.startTimer);
    this.startTimer = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.runs.drain();
    await this.opts.converter?.close();
    await this.conversions.drain();
  }

  private schedule(): void {
    if (this.stopRequested || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.runs.track(this.run());
    }, this.opts.scanMs);
  }

  private async run(): Promise<void> {
    this.running = true;
    this.kicked = false;
    let more = true; // a failed scan is tried again
    try {
      more = await this.scan();
    } finally {
      this.running = false;
      if (more || this.kicked || this.inFlight.size > 0) this.schedule();
    }
  }

  /** One pass over this host's unfinished recordings; true when some are still open. */
  async scan(): Promise<boolean> {
    const rows = await this.opts.store.open(this.opts.hostUrl, 50);
    for (const row of rows) {
      if (this.stopRequested) break;
      if (this.inFlight.has(row.id)) continue;
      if (row.state === 'converting') {
        // Left by a stopped or dead instance (a live one has it in flight and keeps it fresh enough).
        if (this.opts.converter?.hasRoom && (await this.opts.store.claimStale(row.id, this.opts.staleMs ?? 10 * 60_000))) this.startConversion(row);
        continue;
      }
      await this.checkRecording(row);
    }
    return rows.length > 0;
  }

  private async absolute(relative: string): Promise<string | null> {
    const safe = await resolveRecordingPath(this.opts.recordingsDir, relative);
    return safe === null ? null : path.join(this.opts.recordingsDir, safe);
  }

  private async checkRecording(row: RecordingRow): Promise<void> {
    const abs = await this.absolute(row.wavFile);
    if (abs === null) return this.opts.store.markNone(row.id, 'outside RECORDINGS_DIR');
    const state = await inspectRecording(abs, {
      now: Date.now(),
      endedAt: row.createdAt,
      settleMs: this.opts.settleMs ?? 5_000,
    });
    if (state === 'pending') return;
    if (state === 'empty' || state === 'missing') return this.opts.store.markNone(row.id, state);
    const converter = this.opts.converter;
    if (converter === null || !isConvertible(row.wavFile)) {
      await this.opts.store.markReady(row.id, 'recording');
      return;
    }
    if (!converter.hasRoom) return; // next scan
    if (await this.opts.store.markConverting(row.id)) this.startConversion(row);
  }

  private startConversion(row: RecordingRow): void {
    this.inFlight.add(row.id);
    this.conversions.track(this.convert(row).finally(() => this.inFlight.delete(row.id)));
  }

  private async convert(row: RecordingRow): Promise<void> {
    const converter = this.opts.converter;
    const wav = await this.absolute(row.wavFile);
    const mp3File = mp3PathFor(row.wavFile);
    const mp3 = await this.absolute(mp3File);
    if (converter === null || wav === null || mp3 === null) return;
    let result: Mp3WorkerResult;
    try {
      result = await converter.convert(wav, mp3);
    } catch (err) {
      if (err instanceof ConverterBusyError || this.stopRequested) return; // stays `converting`: the next scan retries
      throw err;
    }
    if (this.stopRequested && !result.ok) return; // shutdown ended the thread: the next start converts it again
    const log = { enterprise: row.enterprise, call: row.linkedid, file: row.wavFile };
    if (!result.ok) {
      this.opts.logger.warn('recording not converted to MP3: the WAV is linked', { ...log, reason: result.reason });
      this.opts.onConverted?.('failed', 0);
      await this.opts.store.markReady(row.id, 'converting', { error: result.reason });
      return;
    }
    this.opts.onConverted?.('mp3', result.audioSeconds);
    if (!(await this.opts.store.markReady(row.id, 'converting', { mp3File }))) {
      // The upload stopped waiting and published the WAV link: the WAV stays, the late MP3 goes.
      await fs.rm(mp3, { force: true });
      return;
    }
    if (!this.opts.keepWav) {
      await fs.rm(wav, { force: true });
      await this.opts.store.markWavDeleted(row.id);
    }
  }
}
