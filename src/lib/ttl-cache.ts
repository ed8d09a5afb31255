/**
 * The one in-memory cache: lru-cache, bounded by `max`, entries expiring after a time to live. Here an entry is
 * served while it is younger than its ttl (lru-cache itself keeps it while age <= ttl, hence the `- 1`), and the
 * clock may be injected for tests.
 */
import { LRUCache } from 'lru-cache';

export interface TtlCacheOptions {
  /** Entries kept at most; past it the least recently used goes. */
  readonly max: number;
  /** Default time to live of an entry (positive). */
  readonly ttlMs: number;
  readonly now?: () => number;
}

export function ttlCache<K extends {}, V extends {}>(o: TtlCacheOptions): LRUCache<K, V> {
  const now = o.now;
  return new LRUCache<K, V>({
    max: o.max,
    ttl: liveFor(o.ttlMs),
    ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
  });
}

/** The lru-cache ttl for "served while younger than ttlMs" (for a per-entry `set(k, v, { ttl })`). */
export function liveFor(ttlMs: number): number {
  return Math.max(1, ttlMs - 1);
}
