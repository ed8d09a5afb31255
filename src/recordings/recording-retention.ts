/**
 * Retention: per enterprise (`recordingRetentionDays`, `enterprise set --recording-retention-days`), this host's
 * recordings older than that are deleted (WAV and MP3) and their rows marked expired, so their links answer
 * 410 Gone; the call's history row stays. Each instance sweeps only the files it holds (host_url = its
 * PUBLIC_URL), and claims rows with `FOR UPDATE SKIP LOCKED`, so instances sharing a host never fight.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Enterprise } from '../domain/enterprise.js';
import type { Logger } from '../lib/logger.js';
import { PeriodicTask } from '../lib/periodic-task.js';
import { resolveRecordingPath } from './recording-path.js';
import type { RecordingRow, RecordingStore } from './recording-store.js';

export interface RecordingRetentionOptions {
  readonly store: RecordingStore;
  readonly enterprises: { list(): Promise<readonly Enterprise[]> };
  readonly hostUrl: string;
  readonly recordingsDir: string;
  readonly intervalMs: number;
  readonly logger: Logger;
  readonly batchSize?: number;
  readonly onExpired?: (enterprise: string, count: number) => void;
}

export class RecordingRetention {
  private readonly task: PeriodicTask;
  private firstRun: NodeJS.Timeout | undefined;

  constructor(private readonly opts: RecordingRetentionOptions) {
    this.task = new PeriodicTask(() => this.sweep(), opts.intervalMs, (err) => opts.logger.error('recording retention sweep failed', { err }));
  }

  /** The first sweep comes one interval (at most a minute) after start, not amid the start-up's own queries. */
  start(): void {
    this.firstRun ??= setTimeout(() => this.task.start(), Math.min(this.opts.intervalMs, 60_000));
  }

  stop(): Promise<void> {
    clearTimeout(this.firstRun);
    return this.task.stop();
  }

  /** One sweep over every enterprise with a retention period; returns how many recordings expired. */
  async sweep(): Promise<number> {
    let total = 0;
    for (const e of await this.opts.enterprises.list()) {
      const days = e.settings.recordingRetentionDays;
      if (days === null) continue;
      let n: number;
      do {
        if (this.task.stopped) return total;
        n = await this.opts.store.expireBatch(this.opts.hostUrl, e.number, days, this.opts.batchSize ?? 100, (row) => this.deleteFiles(row));
        total += n;
        if (n > 0) {
          this.opts.onExpired?.(e.number, n);
          this.opts.logger.info('recordings expired', { enterprise: e.number, count: n, retentionDays: days });
        }
      } while (n === (this.opts.batchSize ?? 100));
    }
    return total;
  }

  private async deleteFiles(row: RecordingRow): Promise<void> {
    for (const file of [row.wavFile, row.mp3File]) {
      if (file === null) continue;
      const safe = await resolveRecordingPath(this.opts.recordingsDir, file);
      if (safe !== null) await fs.rm(path.join(this.opts.recordingsDir, safe), { force: true });
    }
  }
}
