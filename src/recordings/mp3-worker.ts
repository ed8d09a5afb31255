/**
 * Worker thread (node:worker_threads) that turns one WAV into an MP3 with lamejs, so encoding never runs on the
 * event loop that serves calls. Reads the WAV, checks its format (wav-format.ts), encodes, writes `<mp3>.part`
 * and renames it into place, so a reader never sees half an MP3. Posts one Mp3WorkerResult and exits.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { Mp3Encoder } from '@breezystack/lamejs';
import { checkWav } from './wav-format.js';

export interface Mp3WorkerInput {
  readonly wavPath: string;
  readonly mp3Path: string;
  readonly kbps: number;
}

export type Mp3WorkerResult =
  | { readonly ok: true; readonly audioSeconds: number; readonly bytes: number }
  | { readonly ok: false; readonly reason: string };

/** lamejs takes 1152 samples per MPEG-1 frame; any multiple works, bigger chunks mean fewer calls. */
const CHUNK = 1152 * 16;

function convert(input: Mp3WorkerInput): Mp3WorkerResult {
  const bytes = readFileSync(input.wavPath);
  const check = checkWav(bytes);
  if (!check.ok) return check;
  const { sampleRate, channels, dataOffset, dataLength } = check.format;
  // Copy: the data chunk may start at an odd offset, and Int16Array needs an aligned buffer.
  const samples = new Int16Array(dataLength / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(dataOffset + i * 2);
  const frames = samples.length / channels;
  let left = samples;
  let right: Int16Array | undefined;
  if (channels === 2) {
    left = new Int16Array(frames);
    right = new Int16Array(frames);
    for (let i = 0; i < frames; i++) {
      left[i] = samples[2 * i] ?? 0;
      right[i] = samples[2 * i + 1] ?? 0;
    }
  }
  const encoder = new Mp3Encoder(channels, sampleRate, input.kbps);
  const parts: Buffer[] = [];
  for (let i = 0; i < frames; i += CHUNK) {
    const out = encoder.encodeBuffer(left.subarray(i, i + CHUNK), right?.subarray(i, i + CHUNK));
    if (out.length > 0) parts.push(Buffer.from(out));
  }
  const tail = encoder.flush();
  if (tail.length > 0) parts.push(Buffer.from(tail));
  const mp3 = Buffer.concat(parts);
  const part = `${input.mp3Path}.part`;
  try {
    writeFileSync(part, mp3);
    renameSync(part, input.mp3Path);
  } catch (err) {
    rmSync(part, { force: true });
    throw err;
  }
  return { ok: true, audioSeconds: frames / sampleRate, bytes: mp3.length };
}

let result: Mp3WorkerResult;
try {
  result = convert(workerData as Mp3WorkerInput);
} catch (err) {
  result = { ok: false, reason: `encoder failed: ${err instanceof Error ? err.message : String(err)}` };
}
parentPort?.postMessage(result);
