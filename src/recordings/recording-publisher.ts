/**
 * What the history upload links for a call's recording (the outbox's RecordingResolver). A call recorded by
 * /hangup names the host that holds its file (recordingHost, that instance's PUBLIC_URL) and has a `recordings`
 * row that host keeps up to date; the link is built from the row, on whichever instance runs the upload, and
 * points at that host. The MP3 is linked once made; the upload waits for it at most RECORDING_MP3_WAIT_MS after
 * the WAV was final, then settles on the WAV. Calls without a host (recorded before this, or by the reconciler
 * from CDRs) are judged from this instance's own RECORDINGS_DIR, as before.
 */
import type { RecordingLinks } from './recording-links.js';
import { hostIdentity, type RecordingStore } from './recording-store.js';

export type PublishedRecording = { status: 'ready'; url: string } | { status: 'pending' } | { status: 'none' };

export interface RecordingPublisherOptions {
  readonly store: RecordingStore;
  readonly links: RecordingLinks;
  readonly hostUrl: string;
  readonly mp3WaitMs: number;
  readonly now?: () => number;
}

export interface RecordingPublisher {
  resolve(enterprise: string, file: string, callEndedAt: Date, host?: string | null): Promise<PublishedRecording>;
}

export function createRecordingPublisher(opts: RecordingPublisherOptions): RecordingPublisher {
  const now = opts.now ?? Date.now;
  const self = hostIdentity(opts.hostUrl);

  async function local(enterprise: string, file: string, callEndedAt: Date): Promise<PublishedRecording> {
    const r = await opts.links.resolve(enterprise, file, callEndedAt);
    return r.status === 'none' ? { status: 'none' } : r;
  }

  return {
    async resolve(enterprise, file, callEndedAt, host) {
      if (host === undefined || host === null || host === '') return local(enterprise, file, callEndedAt);
      let row = await opts.store.find(enterprise, host, file);
      if (row === null) return hostIdentity(host) === self ? local(enterprise, file, callEndedAt) : { status: 'none' };
      if (row.state === 'converting' && row.wavReadyAt !== null && now() - row.wavReadyAt.getTime() >= opts.mp3WaitMs) {
        await opts.store.settleOnWav(row.id);
        row = (await opts.store.find(enterprise, host, file)) ?? row;
      }
      switch (row.state) {
        case 'recording':
        case 'converting':
          return { status: 'pending' };
        case 'none':
        case 'expired':
          return { status: 'none' };
        case 'ready':
          return { status: 'ready', url: opts.links.urlAt(row.hostUrl, enterprise, row.mp3File ?? row.wavFile) };
      }
    },
  };
}
