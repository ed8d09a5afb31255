/**
 * AMI framing: raw socket bytes → complete message blocks. Owns the receive buffer of one connection.
 *
 * Works on Buffers and decodes UTF-8 only once a whole block is present, so a multi-byte character split
 * across two TCP reads survives. A block ends at an empty line (`\r\n\r\n`; a bare `\n\n` is tolerated).
 * The first line of a server stream is the banner (`Asterisk Call Manager/11.0.0\r\n`), which has no blank
 * line after it. The buffer is capped: a peer that never ends a message gets a protocol error, not our memory.
 */
import { AmiProtocolError } from '../lib/errors.js';

export const DEFAULT_MAX_BUFFER_BYTES = 1024 * 1024;

export type AmiFrame =
  | { readonly kind: 'banner'; readonly text: string }
  | { readonly kind: 'block'; readonly text: string };

export interface AmiFramerOptions {
  /** True for the client side (Asterisk sends a banner line first); false when parsing what a client sends. */
  readonly expectBanner?: boolean;
  /** Most bytes held while waiting for the end of a message. */
  readonly maxBufferBytes?: number;
}

const LF = 0x0a;
const CR = 0x0d;

export class AmiFramer {
  private buffer: Buffer = Buffer.alloc(0);
  /** Where to resume looking for a line end, so a message arriving in many reads is not rescanned each time. */
  private scanFrom = 0;
  private awaitingBanner: boolean;
  private readonly maxBufferBytes: number;

  constructor(options: AmiFramerOptions = {}) {
    this.awaitingBanner = options.expectBanner ?? true;
    this.maxBufferBytes = options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
  }

  /** Bytes received but not yet part of a complete message. */
  get bufferedBytes(): number {
    return this.buffer.length;
  }

  /**
   * Adds bytes and returns every frame they complete, in order. Throws AmiProtocolError when the leftover would
   * exceed the cap; the connection should then be dropped (the framer's state is no longer meaningful).
   */
  push(chunk: Buffer): AmiFrame[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: AmiFrame[] = [];
    if (this.awaitingBanner && !this.takeBanner(frames)) {
      this.checkCap();
      return frames;
    }
    let start = 0;
    for (;;) {
      const end = this.findBlockEnd(start);
      if (end === undefined) break;
      const text = this.buffer.toString('utf8', start, end.contentEnd);
      start = end.next;
      this.scanFrom = start;
      // Extra blank lines between messages give empty blocks: not messages.
      if (text.trim() !== '') frames.push({ kind: 'block', text });
    }
    if (start > 0) {
      this.buffer = this.buffer.subarray(start);
      this.scanFrom = Math.max(0, this.scanFrom - start);
    }
    this.checkCap();
    return frames;
  }

  /** Forgets everything buffered; used when a new connection starts. */
  reset(expectBanner = true): void {
    this.buffer = Buffer.alloc(0);
    this.scanFrom = 0;
    this.awaitingBanner = expectBanner;
  }

  private takeBanner(frames: AmiFrame[]): boolean {
    const lf = this.buffer.indexOf(LF);
    if (lf < 0) return false;
    const text = this.buffer.toString('utf8', 0, lf).replace(/\r$/, '');
    frames.push({ kind: 'banner', text });
    this.buffer = this.buffer.subarray(lf + 1);
    this.scanFrom = 0;
    this.awaitingBanner = false;
    return true;
  }

  /**
   * Finds the empty line that ends the block starting at `start`: a LF followed by LF or CR LF.
   * Returns the end of the block's content (after its last line's LF) and where the next block starts.
   */
  private findBlockEnd(start: number): { contentEnd: number; next: number } | undefined {
    const buf = this.buffer;
    let i = Math.max(start, this.scanFrom);
    // A block may begin with the empty line itself (stray blank lines): treat position `start` as a line start.
    if (i === start) {
      if (buf[start] === LF) return { contentEnd: start, next: start + 1 };
      if (buf[start] === CR && buf[start + 1] === LF) return { contentEnd: start, next: start + 2 };
      if (buf[start] === CR && start + 1 >= buf.length) return undefined;
    }
    for (;;) {
      const lf = buf.indexOf(LF, i);
      if (lf < 0) {
        this.scanFrom = buf.length;
        return undefined;
      }
      const a = buf[lf + 1];
      if (a === undefined) {
        this.scanFrom = lf; // need the next byte to decide
        return undefined;
      }
      if (a === LF) return { contentEnd: lf + 1, next: lf + 2 };
      if (a === CR) {
        const b = buf[lf + 2];
        if (b === undefined) {
          this.scanFrom = lf;
          return undefined;
        }
        if (b === LF) return { contentEnd: lf + 1, next: lf + 3 };
      }
      i = lf + 1;
    }
  }

  private checkCap(): void {
    if (this.buffer.length > this.maxBufferBytes) {
      const size = this.buffer.length;
      this.buffer = Buffer.alloc(0);
      this.scanFrom = 0;
      throw new AmiProtocolError(
        `AMI message exceeds ${this.maxBufferBytes} bytes without an end (${size} bytes buffered)`,
      );
    }
  }
}
