/**
 * Refusals are counted every time but logged at most once a minute per peer: a port scanner or a misconfigured
 * PBX retrying every call must not flood the log. Bounded: the map is cleared when it grows past `maxPeers`.
 */
export class RefusalLogThrottle {
  private readonly lastLogged = new Map<string, number>();

  constructor(
    private readonly intervalMs = 60_000,
    private readonly maxPeers = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when this refusal should be logged (the first from this peer in intervalMs). */
  shouldLog(peer: string | undefined): boolean {
    const key = peer ?? 'unknown';
    const t = this.now();
    const last = this.lastLogged.get(key);
    if (last !== undefined && t - last < this.intervalMs) return false;
    if (this.lastLogged.size >= this.maxPeers) this.lastLogged.clear();
    this.lastLogged.set(key, t);
    return true;
  }
}
