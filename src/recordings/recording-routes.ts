/**
 * `GET`/`HEAD /recordings/<token>`: serves a recording to a manager's browser (or RetailCRM's fetcher) with
 * Range support so players can seek. The signed token is the only credential: a bad one gets a bare 403.
 * Multiple ranges (`bytes=0-1,5-9`) are answered with the whole file (200), which RFC 9110 allows.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { json, type HttpReply, type HttpRequest, type HttpServer } from '../http/http-server.js';
import { PATHS } from '../http/public-paths.js';
import type { Logger } from '../lib/logger.js';
import { recordingContentType } from './recording-content-type.js';
import { goneBody, type ExpiryCheck } from './recording-expiry.js';
import type { RecordingLinks } from './recording-links.js';
import { resolveRecordingPath } from './recording-path.js';

export { recordingContentType };

export type ByteRange =
  | { readonly kind: 'whole' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable' };

/**
 * A Range header against a file of `size` bytes. Malformed headers, other units and multiple ranges are
 * ignored (whole file); `end` is inclusive and clamped to the file.
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return { kind: 'whole' };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  const first = m?.[1] ?? '';
  const last = m?.[2] ?? '';
  if (!m || (first === '' && last === '')) return { kind: 'whole' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return { kind: 'whole' }; // syntactically invalid: ignored
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}

const forbidden = (): HttpReply => json(403, { success: false, error: 'forbidden' });
const notFound = (): HttpReply => json(404, { success: false, error: 'recording not found' });

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

export interface RecordingRoutesDeps {
  readonly links: RecordingLinks;
  readonly recordingsDir: string;
  readonly logger: Logger;
  /** Retention: an expired recording answers 410 Gone. */
  readonly isExpired?: ExpiryCheck;
}

export function registerRecordingRoutes(http: HttpServer, deps: RecordingRoutesDeps): void {
  http.route(['GET', 'HEAD'], (pathname) => pathname.startsWith(PATHS.recordings), (req) => serveRecording(req, deps));
}

async function serveRecording(req: HttpRequest, deps: RecordingRoutesDeps): Promise<HttpReply> {
  const token = req.url.pathname.slice(PATHS.recordings.length);
  const ref = deps.links.parse(token);
  if (ref === null) {
    deps.logger.debug('recording link refused: bad token');
    return forbidden();
  }
  if (deps.isExpired !== undefined && (await deps.isExpired(ref))) return json(410, goneBody);
  const relativePath = await resolveRecordingPath(deps.recordingsDir, ref.relativePath);
  if (relativePath === null) {
    deps.logger.warn('recording link points outside the recordings directory', { enterprise: ref.enterprise });
    return forbidden();
  }

  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path.join(deps.recordingsDir, relativePath), 'r');
  } catch (err) {
    if (isGone(err)) return notFound();
    throw err;
  }
  let handedOver = false;
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return notFound();
    const reply = replyFor(req, handle, stat.size, recordingContentType(relativePath));
    handedOver = reply.body !== undefined;
    return reply;
  } finally {
    if (!handedOver) await handle.close();
  }
}

function replyFor(req: HttpRequest, handle: fs.FileHandle, size: number, contentType: string): HttpReply {
  const common = {
    'accept-ranges': 'bytes',
    'cache-control': 'private, max-age=3600',
    'x-content-type-options': 'nosniff',
  };
  const range = parseRange(req.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    return { status: 416, headers: { ...common, 'content-range': `bytes */${size}`, 'content-length': 0 } };
  }
  const start = range.kind === 'partial' ? range.start : 0;
  const end = range.kind === 'partial' ? range.end : size - 1;
  const headers: Record<string, string | number> = {
    ...common,
    'content-type': contentType,
    'content-length': end - start + 1,
  };
  if (range.kind === 'partial') headers['content-range'] = `bytes ${start}-${end}/${size}`;
  const status = range.kind === 'partial' ? 206 : 200;
  if (req.method === 'HEAD' || size === 0) return { status, headers };
  return { status, headers, body: streamFile(req, handle, start, end) };
}

/** Streams [start, end] from the open handle; the handle is closed when the stream ends or the client goes away. */
function streamFile(req: HttpRequest, handle: fs.FileHandle, start: number, end: number): NodeJS.ReadableStream {
  const stream = handle.createReadStream({ start, end, autoClose: true });
  // pipe() stops on a closed response but never destroys its source; without this the handle would stay open.
  const socket = req.raw.socket;
  const onClientGone = (): void => {
    stream.destroy();
  };
  if (socket.destroyed) {
    stream.destroy();
    return stream;
  }
  socket.once('close', onClientGone);
  stream.once('close', () => socket.off('close', onClientGone));
  return stream;
}
