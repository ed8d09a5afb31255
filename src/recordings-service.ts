/**
 * The composition root's recordings: the store, the publisher that links each upload to the host holding the
 * file, the finisher (MP3 in worker threads) and the retention sweep, started together and stopped in reverse.
 */
import type { Config } from './config/config.js';
import type { EnterpriseStore } from './db/enterprise-store.js';
import type { Pool } from './db/pool.js';
import type { Logger } from './lib/logger.js';
import type { Metrics } from './metrics/metrics.js';
import { Mp3Converter } from './recordings/mp3-converter.js';
import { RecordingFinisher } from './recordings/recording-finisher.js';
import type { RecordingLinks } from './recordings/recording-links.js';
import { createRecordingPublisher, type RecordingPublisher } from './recordings/recording-publisher.js';
import { RecordingRetention } from './recordings/recording-retention.js';
import { RecordingStore } from './recordings/recording-store.js';

export interface RecordingsParts {
  readonly config: Config;
  readonly pool: Pool;
  readonly links: RecordingLinks;
  readonly enterprises: EnterpriseStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface RunningRecordings {
  readonly store: RecordingStore;
  readonly publisher: RecordingPublisher;
  readonly finisher: RecordingFinisher;
  stop(): Promise<void>;
}

export function startRecordings({ config, pool, links, enterprises, logger, metrics }: RecordingsParts): RunningRecordings {
  const stops: (() => Promise<void>)[] = [];
  const recordingStore = new RecordingStore(pool);
  const publisher = createRecordingPublisher({
    store: recordingStore,
    links,
    hostUrl: config.publicUrl,
    mp3WaitMs: config.recordings.mp3WaitMs,
  });
  const finisher = new RecordingFinisher({
    store: recordingStore,
    converter: config.recordings.mp3
      ? new Mp3Converter({ workers: config.recordings.mp3Workers, maxQueued: config.recordings.mp3MaxQueued, kbps: config.recordings.mp3Kbps, timeoutMs: 300_000 })
      : null,
    hostUrl: config.publicUrl,
    recordingsDir: config.recordingsDir,
    keepWav: config.recordings.keepWav,
    scanMs: config.recordings.scanMs,
    logger,
    onConverted: (outcome, audioSeconds) => {
      metrics.recordingsConverted.inc({ outcome });
      if (audioSeconds > 0) metrics.recordingsAudioSeconds.inc(audioSeconds);
    },
  });
  finisher.start();
  stops.push(() => finisher.stop());
  if (config.recordings.retentionIntervalMs > 0) {
    const retention = new RecordingRetention({
      store: recordingStore,
      enterprises,
      hostUrl: config.publicUrl,
      recordingsDir: config.recordingsDir,
      intervalMs: config.recordings.retentionIntervalMs,
      logger,
      onExpired: (enterprise, count) => metrics.recordingsExpired.inc({ enterprise }, count),
    });
    retention.start();
    stops.push(() => retention.stop());
  }
  const stop = async (): Promise<void> => {
    for (const fn of stops.reverse()) await fn();
  };
  return { store: recordingStore, publisher, finisher, stop };
}
