/**
 * FastAGI line framer: raw socket bytes → complete lines.
 *
 * Owns byte-level framing only. It works on Buffers so a UTF-8 character split across two TCP reads is
 * decoded whole; it splits on `\n` alone (Asterisk's own rule: a `\r` is data, `ANSWER\r` is another command);
 * it bounds a line so a peer cannot make us buffer without limit. Meaning of the lines is codec.ts's business.
 */
import { AgiProtocolError } from '../lib/errors.js';

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024;

const LF = 0x0a;
const EMPTY = Buffer.alloc(0);

export interface SplitLines {
  /** Complete lines, without their `\n`, decoded as UTF-8. */
  readonly lines: string[];
  /** Bytes after the last `\n` (the start of a line still to come). */
  readonly rest: Buffer;
}

/**
 * Pure split of one buffer. Throws AgiProtocolError when a complete line, or the unfinished rest, is longer
 * than `maxLineBytes` (the `\n` not counted).
 */
export function splitLines(buf: Buffer, maxLineBytes = DEFAULT_MAX_LINE_BYTES): SplitLines {
  const lines: string[] = [];
  let start = 0;
  let nl = buf.indexOf(LF, start);
  while (nl !== -1) {
    if (nl - start > maxLineBytes) throw overLong(maxLineBytes);
    lines.push(buf.toString('utf8', start, nl));
    start = nl + 1;
    nl = buf.indexOf(LF, start);
  }
  if (buf.length - start > maxLineBytes) throw overLong(maxLineBytes);
  return { lines, rest: start === buf.length ? EMPTY : buf.subarray(start) };
}

/** Stateful framer for one connection: feed chunks in arrival order, get complete lines back. */
export class LineFramer {
  readonly maxLineBytes: number;
  private pending: Buffer = EMPTY;

  constructor(maxLineBytes = DEFAULT_MAX_LINE_BYTES) {
    this.maxLineBytes = maxLineBytes;
  }

  /** Feeds one chunk; returns the lines it completed. Throws AgiProtocolError on an over-long line. */
  push(chunk: Buffer): string[] {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const { lines, rest } = splitLines(buf, this.maxLineBytes);
    // Copy the (small) rest so we do not pin a whole 64 KiB socket chunk in memory.
    this.pending = rest.length === 0 ? EMPTY : Buffer.from(rest);
    return lines;
  }

  /** Bytes received after the last complete line. */
  get leftover(): Buffer {
    return this.pending;
  }

  reset(): void {
    this.pending = EMPTY;
  }
}

function overLong(max: number): AgiProtocolError {
  return new AgiProtocolError(`AGI line longer than ${max} bytes`);
}
