/** The Content-Type a recording is served with, by its extension (`.mp3` → audio/mpeg). */
import path from 'node:path';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.wav': 'audio/wav',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.gsm': 'audio/gsm',
};

export function recordingContentType(relativePath: string): string {
  return CONTENT_TYPES[path.posix.extname(relativePath).toLowerCase()] ?? 'application/octet-stream';
}
