/**
 * The reconciler's /metrics lines: calls recorded from Asterisk's CDRs, and passes run (`done`) or left to
 * another instance (`locked`), per enterprise, since the process started. Kept apart from src/metrics.ts (added
 * with Metrics.addCollector) so it moves easily to another metrics library.
 */
type PassOutcome = 'done' | 'locked';

const label = (value: string): string => value.replace(/["\\\n]/g, '_');

export class ReconcileMetrics {
  private readonly reconciled = new Map<string, number>();
  private readonly passes = new Map<string, number>();

  inc(enterprise: string): void {
    this.reconciled.set(enterprise, (this.reconciled.get(enterprise) ?? 0) + 1);
  }

  pass(enterprise: string, outcome: PassOutcome): void {
    const key = `enterprise="${label(enterprise)}",outcome="${outcome}"`;
    this.passes.set(key, (this.passes.get(key) ?? 0) + 1);
  }

  lines(): string[] {
    return [
      '# HELP rcrm_reconciled_calls_total Calls recorded from Asterisk CDRs because /hangup never recorded them',
      '# TYPE rcrm_reconciled_calls_total counter',
      ...[...this.reconciled].map(([e, n]) => `rcrm_reconciled_calls_total{enterprise="${label(e)}"} ${n}`),
      '# HELP rcrm_reconcile_passes_total Reconciler passes per enterprise: done, or locked (another instance ran it)',
      '# TYPE rcrm_reconcile_passes_total counter',
      ...[...this.passes].map(([k, n]) => `rcrm_reconcile_passes_total{${k}} ${n}`),
    ];
  }
}
