/**
 * The outbox's numbers: outcomes counted as they are recorded (kept in process for tests and the CLI, and sent to
 * /metrics when there is one), and the backlog gauges refreshed from the database at each scrape.
 */
import type { Metrics } from '../metrics/metrics.js';
import type { OutboxBacklog } from './outbox-admin-store.js';

export class OutcomeCounter {
  private readonly outcomes = new Map<string, number>();

  constructor(private readonly metrics: Metrics | undefined) {}

  count(kind: string, outcome: string): void {
    const key = `${kind}\u0000${outcome}`;
    this.outcomes.set(key, (this.outcomes.get(key) ?? 0) + 1);
    this.metrics?.outboxOutcomes.inc({ kind, outcome });
  }

  /** Outcomes so far as "kind:outcome" → count. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of this.outcomes) out[k.replace('\u0000', ':')] = v;
    return out;
  }
}

/** Registers the backlog gauges (pending, failed, oldest pending) with the scrape. */
export function collectBacklogGauges(metrics: Metrics, backlog: () => Promise<OutboxBacklog[]>): void {
  metrics.addCollector('outbox', async () => {
    const rows = await backlog();
    metrics.outboxJobs.reset();
    metrics.outboxOldestPending.reset();
    for (const r of rows) {
      metrics.outboxJobs.set({ state: 'pending', enterprise: r.enterprise }, r.pending);
      metrics.outboxJobs.set({ state: 'failed', enterprise: r.enterprise }, r.failed);
      metrics.outboxOldestPending.set({ enterprise: r.enterprise }, r.oldestPendingSeconds);
    }
  });
}
