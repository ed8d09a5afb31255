/**
 * Whether a recording link is gone for good: retention (recording-retention.ts) deleted its files and marked
 * the row expired, so the route answers 410 Gone rather than 404 (the link was valid; it will not come back).
 */
import type { RecordingRef } from './recording-links.js';
import type { RecordingStore } from './recording-store.js';

export type ExpiryCheck = (ref: RecordingRef) => Promise<boolean>;

export function expiryCheck(store: Pick<RecordingStore, 'isExpired'>, hostUrl: string): ExpiryCheck {
  return (ref) => store.isExpired(ref.enterprise, hostUrl, ref.relativePath);
}

export const goneBody = { success: false, error: 'recording expired (retention period passed)' } as const;
