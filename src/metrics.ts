/**
 * In-process metrics in the Prometheus text format: counters and gauges keyed by labels, and fixed-bucket
 * histograms. Small on purpose: the call path only increments numbers in maps.
 */
type Labels = Readonly<Record<string, string>>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',');
}

class Counter {
  readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge') {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  set(labels: Labels, value: number): void {
    this.values.set(labelKey(labels), value);
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${v}`);
    return lines;
  }
}

class Histogram {
  private readonly counts = new Map<string, number[]>();
  private readonly sums = new Map<string, number>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}
  observe(labels: Labels, value: number): void {
    const k = labelKey(labels);
    let c = this.counts.get(k);
    if (!c) {
      c = new Array<number>(this.buckets.length + 1).fill(0);
      this.counts.set(k, c);
    }
    let i = 0;
    while (i < this.buckets.length && value > (this.buckets[i] ?? Infinity)) i++;
    c[i] = (c[i] ?? 0) + 1;
    this.sums.set(k, (this.sums.get(k) ?? 0) + value);
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, c] of this.counts) {
      let acc = 0;
      const sep = k ? `${k},` : '';
      this.buckets.forEach((b, i) => {
        acc += c[i] ?? 0;
        lines.push(`${this.name}_bucket{${sep}le="${b}"} ${acc}`);
      });
      acc += c[this.buckets.length] ?? 0;
      lines.push(`${this.name}_bucket{${sep}le="+Inf"} ${acc}`);
      lines.push(`${this.name}_sum${k ? `{${k}}` : ''} ${this.sums.get(k) ?? 0}`);
      lines.push(`${this.name}_count${k ? `{${k}}` : ''} ${acc}`);
    }
    return lines;
  }
}

export class Metrics {
  readonly agiSessions = new Counter('rcrm_agi_sessions_total', 'FastAGI sessions handled, by script and outcome', 'counter');
  readonly agiRefused = new Counter('rcrm_agi_sessions_refused_total', 'FastAGI connections and sessions refused, by reason', 'counter');
  readonly httpAdminRefused = new Counter('rcrm_http_admin_refused_total', 'Requests to /metrics, /ready or the dashboard from outside HTTP_ADMIN_ALLOW', 'counter');
  readonly lookups = new Counter('rcrm_lookups_total', 'Caller lookups by result and source', 'counter');
  readonly crmRequests = new Counter('rcrm_crm_requests_total', 'RetailCRM requests by method and outcome', 'counter');
  readonly notifySkipped = new Counter('rcrm_call_starts_skipped_total', 'Call starts not recorded (no popup) because the service was overloaded', 'counter');
  readonly liveCalls = new Counter('rcrm_live_calls', 'FastAGI sessions in progress', 'gauge');
  readonly outboxJobs = new Counter('rcrm_outbox_jobs', 'Outbox jobs by state', 'gauge');
  readonly sessionSeconds = new Histogram('rcrm_agi_session_seconds', 'FastAGI session duration', [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5,
  ]);

  private readonly extra: (() => string[])[] = [];

  /** Lets a component contribute lines computed at scrape time. */
  addCollector(fn: () => string[]): void {
    this.extra.push(fn);
  }

  render(): string {
    const lines = [
      ...this.agiSessions.render(),
      ...this.agiRefused.render(),
      ...this.httpAdminRefused.render(),
      ...this.lookups.render(),
      ...this.crmRequests.render(),
      ...this.notifySkipped.render(),
      ...this.liveCalls.render(),
      ...this.outboxJobs.render(),
      ...this.sessionSeconds.render(),
    ];
    for (const fn of this.extra) lines.push(...fn());
    return `${lines.join('\n')}\n`;
  }
}
