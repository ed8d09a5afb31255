/**
 * Whether a recording can be published yet. MixMonitor keeps the file open for about a second after /hangup
 * (RIFF and data sizes are 0 until it closes), and with option `b` an unanswered call leaves a 44-byte file.
 * Reads only the header, never the whole file.
 */
import { promises as fs } from 'node:fs';

export type RecordingState = 'ready' | 'pending' | 'empty' | 'missing';

export interface InspectOptions {
  /** Current time (ms since epoch, or a Date). */
  readonly now: number | Date;
  /** When the call ended. */
  readonly endedAt: number | Date;
  /** How long a non-WAV file must stay unmodified (and the call be over) before it counts as complete. */
  readonly settleMs: number;
  /** A missing file is `pending` for this long after the call ended (default 60 s), then `missing`. */
  readonly missingGraceMs?: number;
  /**
   * A WAV whose header was never finalised (Asterisk died before closing it) is judged by its size once it has
   * not changed for this long after the call (default 15 min): header only → `empty`, audio → `ready`.
   */
  readonly abandonedMs?: number;
}

const HEADER_BYTES = 4096;
const WAV_HEADER = 44;
const DEFAULT_MISSING_GRACE_MS = 60_000;
const DEFAULT_ABANDONED_MS = 15 * 60_000;

interface WavHeader {
  readonly riffSize: number;
  /** Offset of the first audio byte and the data chunk's declared size; null when no data chunk was found. */
  readonly data: { readonly offset: number; readonly size: number } | null;
}

/** RIFF/WAVE header → sizes; null when the bytes are not a RIFF/WAVE file. Walks chunks (fmt, fact, LIST…). */
export function parseWavHeader(head: Buffer): WavHeader | null {
  if (head.length < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') {
    return null;
  }
  const riffSize = head.readUInt32LE(4);
  let pos = 12;
  while (pos + 8 <= head.length) {
    const id = head.toString('latin1', pos, pos + 4);
    const size = head.readUInt32LE(pos + 4);
    if (id === 'data') return { riffSize, data: { offset: pos + 8, size } };
    pos += 8 + size + (size & 1);
  }
  return { riffSize, data: null };
}

function ms(t: number | Date): number {
  return typeof t === 'number' ? t : t.getTime();
}

/** Sizes filled in and matching the file, the way Asterisk's wav writer finalises on close. */
function isFinalised(wav: WavHeader, fileSize: number): boolean {
  if (wav.riffSize === 0 || wav.data === null) return false;
  const declaredEnd = wav.riffSize + 8;
  // A trailing pad byte is allowed either way; anything else means the file is still being written (or cut).
  if (declaredEnd !== fileSize && declaredEnd + 1 !== fileSize && declaredEnd !== fileSize + 1) return false;
  return wav.data.offset + wav.data.size <= declaredEnd;
}

export async function inspectRecording(absPath: string, opts: InspectOptions): Promise<RecordingState> {
  const now = ms(opts.now);
  const sinceEnd = now - ms(opts.endedAt);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(absPath, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    return sinceEnd < (opts.missingGraceMs ?? DEFAULT_MISSING_GRACE_MS) ? 'pending' : 'missing';
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return 'missing';
    const head = Buffer.alloc(Math.min(HEADER_BYTES, stat.size));
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const quietFor = Math.min(now - stat.mtimeMs, sinceEnd);
    const wav = parseWavHeader(head.subarray(0, bytesRead));

    if (wav !== null) {
      if (isFinalised(wav, stat.size)) return (wav.data?.size ?? 0) === 0 ? 'empty' : 'ready';
      // Header only and nothing written since the call ended: an unanswered call recorded with option `b`.
      if (stat.size <= WAV_HEADER && quietFor >= opts.settleMs) return 'empty';
      if (quietFor < (opts.abandonedMs ?? DEFAULT_ABANDONED_MS)) return 'pending';
      return stat.size <= WAV_HEADER ? 'empty' : 'ready';
    }
    // mp3, gsm, ogg (or a WAV whose header is not written yet): complete once nothing has touched it for settleMs.
    // ≤ 44 bytes is under ~30 ms of audio in any of these formats: nothing worth a link.
    if (quietFor < opts.settleMs) return 'pending';
    return stat.size <= WAV_HEADER ? 'empty' : 'ready';
  } finally {
    await handle.close();
  }
}
