/**
 * Public recording links: `${publicUrl}/recordings/<payload>.<keyId>.<signature><ext>`. The payload (base64url of
 * enterprise + relative path) is signed with the secret box's current key, whose id the link names
 * (`<payload>.<keyId>.<signature>.wav`), so links cannot be guessed or edited, and they stay valid for as long as
 * that key is in the keyring (RetailCRM's call history is permanent; `secret retire` ends them). Also decides, for the outbox,
 * whether a call's recording is ready to be published.
 */
import path from 'node:path';
import { PATHS } from '../http/public-paths.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { resolveRecordingPath } from './recording-path.js';
import { inspectRecording } from './recording-state.js';

const PURPOSE = 'recording';
const MAX_TOKEN_LENGTH = 2048;
// payload . [keyId .] signature [.ext]: links from before the keyring have no key id (the legacy key signed them).
const TOKEN_SHAPE = /^([A-Za-z0-9_-]+)\.((?:[0-9a-f]{12}\.)?[A-Za-z0-9_-]{32})(\.[A-Za-z0-9]{1,8})?$/;

export interface RecordingRef {
  readonly enterprise: string;
  /** POSIX path relative to RECORDINGS_DIR. */
  readonly relativePath: string;
}

export type RecordingLinkResult =
  | { readonly status: 'ready'; readonly url: string }
  | { readonly status: 'pending' }
  | { readonly status: 'none'; readonly reason: 'no-file' | 'outside' | 'empty' | 'missing' };

export interface RecordingLinks {
  urlFor(enterprise: string, relativePath: string): string;
  /** The link on another instance (its PUBLIC_URL) that holds the file: same signature, that host's base. */
  urlAt(publicUrl: string, enterprise: string, relativePath: string): string;
  /** The part of the URL path after `/recordings/` → what it points at; null when malformed or not ours. */
  parse(token: string): RecordingRef | null;
  /** What the outbox publishes as recordUrl for a call: `reported` is MIXMONITOR_FILENAME or CDR(recordingfile). */
  resolve(enterprise: string, reported: string | null | undefined, callEndedAt: Date | number): Promise<RecordingLinkResult>;
}

export interface RecordingLinksOptions {
  readonly publicUrl: string;
  readonly recordingsDir: string;
  readonly box: SecretBox;
  /** Non-WAV files count as complete after this long without changes (default 5 s). */
  readonly settleMs?: number;
  /** A file that does not exist yet is waited for this long after the call (default 60 s). */
  readonly missingGraceMs?: number;
  readonly now?: () => number;
}

/** `.wav` for `in-…-1795664342.0.wav`; '' when the name has no plain extension (it goes into the URL as is). */
export function recordingExtension(relativePath: string): string {
  const ext = path.posix.extname(relativePath);
  return /^\.[A-Za-z0-9]{1,8}$/.test(ext) ? ext : '';
}

function encodePayload(ref: RecordingRef): string {
  return Buffer.from(JSON.stringify([ref.enterprise, ref.relativePath]), 'utf8').toString('base64url');
}

function decodePayload(payload: string): RecordingRef | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) return null;
  const [enterprise, relativePath] = parsed as unknown[];
  if (typeof enterprise !== 'string' || typeof relativePath !== 'string' || relativePath === '') return null;
  return { enterprise, relativePath };
}

export function createRecordingLinks(opts: RecordingLinksOptions): RecordingLinks {
  const now = opts.now ?? Date.now;
  const settleMs = opts.settleMs ?? 5_000;

  const urlAt = (publicUrl: string, enterprise: string, relativePath: string): string => {
    const payload = encodePayload({ enterprise, relativePath });
    const base = `${publicUrl.replace(/\/+$/, '')}${PATHS.recordings}`;
    return `${base}${payload}.${opts.box.sign(PURPOSE, payload)}${recordingExtension(relativePath)}`;
  };
  const urlFor = (enterprise: string, relativePath: string): string => urlAt(opts.publicUrl, enterprise, relativePath);

  const parse = (token: string): RecordingRef | null => {
    if (token.length > MAX_TOKEN_LENGTH) return null;
    const m = TOKEN_SHAPE.exec(token);
    const payload = m?.[1];
    const signature = m?.[2];
    if (payload === undefined || signature === undefined) return null;
    if (!opts.box.verify(PURPOSE, payload, signature)) return null;
    const ref = decodePayload(payload);
    if (ref === null || (m?.[3] ?? '') !== recordingExtension(ref.relativePath)) return null;
    return ref;
  };

  const resolve = async (
    enterprise: string,
    reported: string | null | undefined,
    callEndedAt: Date | number,
  ): Promise<RecordingLinkResult> => {
    if (reported === null || reported === undefined || reported.trim() === '') return { status: 'none', reason: 'no-file' };
    const relativePath = await resolveRecordingPath(opts.recordingsDir, reported);
    if (relativePath === null) return { status: 'none', reason: 'outside' };
    const state = await inspectRecording(path.join(opts.recordingsDir, relativePath), {
      now: now(),
      endedAt: callEndedAt,
      settleMs,
      ...(opts.missingGraceMs === undefined ? {} : { missingGraceMs: opts.missingGraceMs }),
    });
    switch (state) {
      case 'ready':
        return { status: 'ready', url: urlFor(enterprise, relativePath) };
      case 'pending':
        return { status: 'pending' };
      case 'empty':
      case 'missing':
        return { status: 'none', reason: state };
    }
  };

  return { urlFor, urlAt, parse, resolve };
}
