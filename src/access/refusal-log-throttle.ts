/**
 * Refusals are counted every time but logged at most once a minute per peer: a port scanner or a misconfigured
 * PBX retrying every call must not flood the log. Bounded: past `maxPeers` peers the least recently logged is
 * forgotten (it costs at most one more log line).
 */
import { LRUCache } from 'lru-cache';

export class RefusalLogThrottle {
  /** When each peer was last logged. The interval is checked here, not with lru-cache's ttl, for two reasons:
   * a refusal exactly `intervalMs` after the last log is logged again (lru-cache keeps an entry while age <= ttl),
   * and an injected clock may start at 0 (lru-cache never expires an entry stored at time 0). */
  private readonly lastLogged: LRUCache<string, number>;

  constructor(
    private readonly intervalMs = 60_000,
    maxPeers = 10_000,
    private readonly now: () => number = Date.now,
  ) {
    this.lastLogged = new LRUCache<string, number>({ max: maxPeers });
  }

  /** True when this refusal should be logged (the first from this peer in intervalMs). */
  shouldLog(peer: string | undefined): boolean {
    const key = peer ?? 'unknown';
    const t = this.now();
    const last = this.lastLogged.get(key);
    if (last !== undefined && t - last < this.intervalMs) return false;
    this.lastLogged.set(key, t);
    return true;
  }
}
