/**
 * The reconciler's /metrics counters, in the service's prom-client registry: calls recorded from Asterisk's CDRs,
 * and passes run (`done`) or left to another instance (`locked`), per enterprise. Kept apart from src/metrics/metrics.ts
 * so the reconciler depends only on these two methods.
 */
import { Counter, type Registry } from 'prom-client';

export class ReconcileMetrics {
  private readonly reconciled: Counter<'enterprise'>;
  private readonly passes: Counter<'enterprise' | 'outcome'>;

  constructor(registry: Registry) {
    this.reconciled = new Counter({
      name: 'rcrm_reconciled_calls_total',
      help: 'Calls recorded from Asterisk CDRs because /hangup never recorded them, by enterprise',
      labelNames: ['enterprise'],
      registers: [registry],
    });
    this.passes = new Counter({
      name: 'rcrm_reconcile_passes_total',
      help: 'Reconciler passes by enterprise: done, or locked (another instance was running it)',
      labelNames: ['enterprise', 'outcome'],
      registers: [registry],
    });
  }

  inc(enterprise: string): void {
    this.reconciled.inc({ enterprise });
  }

  pass(enterprise: string, outcome: 'done' | 'locked'): void {
    this.passes.inc({ enterprise, outcome });
  }
}
