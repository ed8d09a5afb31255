/** Gauges read at scrape time from the running parts (lookup cache, AMI connections, history-poll lag). */
import type { AmiPool } from './clicktocall/ami-pool.js';
import type { CallerLookup } from './customers/caller-lookup.js';
import type { Metrics } from './metrics/metrics.js';
import type { HistoryPoller } from './sync/history-poller.js';

export function addServiceCollectors(
  metrics: Metrics,
  parts: { readonly lookup: CallerLookup; readonly amiPool: AmiPool; readonly poller: HistoryPoller },
): void {
  const { lookup, amiPool, poller } = parts;
  metrics.addCollector('lookup-cache', () => metrics.lookupCacheEntries.set(lookup.cacheSize));
  metrics.addCollector('ami', () => {
    metrics.amiUp.reset();
    for (const [enterprise, state] of Object.entries(amiPool.states())) metrics.amiUp.set({ enterprise }, state === 'connected' ? 1 : 0);
  });
  metrics.addCollector('history-poll', () => {
    metrics.historyPollLag.reset();
    for (const [enterprise, lag] of poller.lagSeconds()) metrics.historyPollLag.set({ enterprise }, lag);
  });
}
