/**
 * The recordings plugin, `GET`/`HEAD /recordings/<token>`: serves a recording to a manager's browser (or RetailCRM's fetcher) with
 * Range support so players can seek. The signed token is the only credential: a bad one gets a bare 403.
 * Multiple ranges (`bytes=0-1,5-9`) are answered with the whole file (200), which RFC 9110 allows.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { errorBody } from '../http/http-server.js';
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

interface RecordingReply {
  readonly status: number;
  readonly headers: Record<string, string | number>;
  readonly body?: unknown;
}

const forbidden = (): RecordingReply => ({ status: 403, headers: {}, body: errorBody('forbidden') });
const notFound = (): RecordingReply => ({ status: 404, headers: {}, body: errorBody('recording not found') });
const gone = (): RecordingReply => ({ status: 410, headers: {}, body: errorBody(goneBody.error) });

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

export const recordingsPlugin: FastifyPluginAsync<RecordingRoutesDeps> = async (app, deps) => {
  app.route({
    method: ['GET', 'HEAD'],
    url: `${PATHS.recordings}*`,
    schema: {
      summary: 'A call recording through its signed link, with Range support',
      tags: ['recordings'],
      params: { type: 'object', properties: { '*': { type: 'string', maxLength: 2048, description: 'the signed token' } } },
      headers: { type: 'object', properties: { range: { type: 'string', maxLength: 200 } } },
    },
    handler: async (request, reply) => {
      // The token as signed: from the raw path, not the router's percent-decoded wildcard.
      const token = (request.url.split('?')[0] ?? '').slice(PATHS.recordings.length);
      const r = await serveRecording(request, token, deps);
      void reply.code(r.status).headers(r.headers);
      return reply.send(r.body);
    },
  });
};

async function serveRecording(request: FastifyRequest, token: string, deps: RecordingRoutesDeps): Promise<RecordingReply> {
  const ref = deps.links.parse(token);
  if (ref === null) {
    request.logger.debug('recording link refused: bad token');
    return forbidden();
  }
  if (deps.isExpired !== undefined && (await deps.isExpired(ref))) return gone();
  const relativePath = await resolveRecordingPath(deps.recordingsDir, ref.relativePath);
  if (relativePath === null) {
    request.logger.warn('recording link points outside the recordings directory', { enterprise: ref.enterprise });
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
    const reply = replyFor(request, handle, stat.size, recordingContentType(relativePath));
    handedOver = reply.body !== undefined;
    return reply;
  } finally {
    if (!handedOver) await handle.close();
  }
}

function replyFor(request: FastifyRequest, handle: fs.FileHandle, size: number, contentType: string): RecordingReply {
  const common = {
    'accept-ranges': 'bytes',
    'cache-control': 'private, max-age=3600',
    'x-content-type-options': 'nosniff',
  };
  const range = parseRange(request.headers.range, size);
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
  if (request.method === 'HEAD' || size === 0) return { status, headers };
  return { status, headers, body: streamFile(request, handle, start, end) };
}

/** Streams [start, end] from the open handle; the handle is closed when the stream ends or the client goes away. */
function streamFile(request: FastifyRequest, handle: fs.FileHandle, start: number, end: number): NodeJS.ReadableStream {
  const stream = handle.createReadStream({ start, end, autoClose: true });
  // A client gone mid-file must not leave the handle open, whatever the server does with the stream.
  const socket = request.raw.socket;
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
