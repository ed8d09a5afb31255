/**
 * Which WAV files the MP3 converter accepts: what MixMonitor writes for `.wav` (RIFF, PCM 16-bit, mono, 8 or
 * 16 kHz; `wav16` is 16 kHz). Asterisk's `.WAV` (WAV49) is GSM 6.10 inside RIFF: refused with a clear reason,
 * like anything else that is not 16-bit PCM at a rate MP3 can carry. Pure: works on the file's bytes.
 */

export interface PcmFormat {
  readonly sampleRate: number;
  readonly channels: number;
  /** Offset and length of the samples (the data chunk, clamped to the bytes present). */
  readonly dataOffset: number;
  readonly dataLength: number;
}

export type WavCheck = { readonly ok: true; readonly format: PcmFormat } | { readonly ok: false; readonly reason: string };

/** Sample rates lamejs encodes (MPEG 1, 2 and 2.5). */
const MP3_RATES = new Set([8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000]);

const FORMAT_NAMES: Readonly<Record<number, string>> = {
  0x0001: 'PCM',
  0x0003: 'IEEE float',
  0x0006: 'A-law',
  0x0007: 'µ-law',
  0x0031: 'GSM 6.10 (Asterisk WAV49, the .WAV format)',
  0xfffe: 'WAVE_FORMAT_EXTENSIBLE',
};

export function checkWav(bytes: Buffer): WavCheck {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WAVE') {
    return { ok: false, reason: 'not a RIFF/WAVE file' };
  }
  let fmt: { tag: number; channels: number; rate: number; bits: number } | null = null;
  let pos = 12;
  while (pos + 8 <= bytes.length) {
    const id = bytes.toString('latin1', pos, pos + 4);
    const size = bytes.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > bytes.length) return { ok: false, reason: 'truncated fmt chunk' };
      fmt = { tag: bytes.readUInt16LE(body), channels: bytes.readUInt16LE(body + 2), rate: bytes.readUInt32LE(body + 4), bits: bytes.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (fmt === null) return { ok: false, reason: 'data chunk before fmt chunk' };
      if (fmt.tag !== 1) return { ok: false, reason: `unsupported WAV encoding: ${FORMAT_NAMES[fmt.tag] ?? `format tag 0x${fmt.tag.toString(16)}`} (only 16-bit PCM)` };
      if (fmt.bits !== 16) return { ok: false, reason: `unsupported WAV sample size: ${fmt.bits}-bit (only 16-bit PCM)` };
      if (fmt.channels !== 1 && fmt.channels !== 2) return { ok: false, reason: `unsupported channel count: ${fmt.channels}` };
      if (!MP3_RATES.has(fmt.rate)) return { ok: false, reason: `unsupported sample rate for MP3: ${fmt.rate} Hz` };
      // A header left unfinalised (0) or larger than the file: take what is there, whole frames only.
      const available = bytes.length - body;
      const declared = size === 0 || size > available ? available : size;
      const frame = 2 * fmt.channels;
      return { ok: true, format: { sampleRate: fmt.rate, channels: fmt.channels, dataOffset: body, dataLength: declared - (declared % frame) } };
    }
    pos = body + size + (size & 1);
  }
  return { ok: false, reason: fmt === null ? 'no fmt chunk' : 'no data chunk' };
}

/** The MP3 that goes with a recording: same directory and name, `.mp3` (`a/in-1.0.wav` → `a/in-1.0.mp3`). */
export function mp3PathFor(relativePath: string): string {
  const dot = relativePath.lastIndexOf('.');
  const slash = relativePath.lastIndexOf('/');
  return `${dot > slash ? relativePath.slice(0, dot) : relativePath}.mp3`;
}

/** Only MixMonitor's `.wav` is converted (`.WAV` is WAV49/GSM, checkWav says why if it is ever tried). */
export function isConvertible(relativePath: string): boolean {
  return relativePath.endsWith('.wav');
}
