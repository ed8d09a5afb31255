/**
 * The service's Prometheus metrics on prom-client, in a registry of its own (several services in one test
 * process never share counters), with prom-client's default process metrics (event-loop lag, heap, GC, CPU,
 * file descriptors). The call path only increments counters; values that live elsewhere (the outbox table, AMI
 * connections, the history poller) are read at scrape time by collectors, each under a deadline so a slow
 * database cannot hang a scrape: a collector that misses it leaves its last values and counts
 * `rcrm_scrape_errors_total`. Metric names are a contract with dashboards and alerts (monitoring/).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { raceDeadline } from './deadline.js';

/** A value read at scrape time; runs under the scrape's deadline. */
export type ScrapeCollector = () => Promise<void> | void;

const SCRAPE_DEADLINE_MS = 2_000;

export class Metrics {
  readonly registry = new Registry();
  private readonly collectors = new Map<string, ScrapeCollector>();

  readonly agiSessions = new Counter({
    name: 'rcrm_agi_sessions_total',
    help: 'FastAGI sessions handled, by script and outcome',
    labelNames: ['script', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly sessionSeconds = new Histogram({
    name: 'rcrm_agi_session_seconds',
    help: 'FastAGI session duration',
    labelNames: ['script'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly agiRefused = new Counter({
    name: 'rcrm_agi_sessions_refused_total',
    help: 'FastAGI connections refused at accept (not_allowed, max_sessions, stopping) and sessions refused for an enterprise (enterprise_pbx)',
    labelNames: ['reason', 'enterprise'] as const,
    registers: [this.registry],
  });
  readonly httpAdminRefused = new Counter({
    name: 'rcrm_http_admin_refused_total',
    help: 'Requests to /metrics, /ready or the dashboard from outside HTTP_ADMIN_ALLOW',
    registers: [this.registry],
  });
  readonly lookups = new Counter({
    name: 'rcrm_lookups_total',
    help: 'Caller lookups on the call path, by source (cache, table, crm, stale, none) and result (FOUND, NOT_FOUND, TIMEOUT, ERROR)',
    labelNames: ['source', 'result'] as const,
    registers: [this.registry],
  });
  readonly crmRequests = new Counter({
    name: 'rcrm_crm_requests_total',
    help: 'RetailCRM requests by endpoint and status (HTTP status, or timeout, network, rate_limited)',
    labelNames: ['endpoint', 'status'] as const,
    registers: [this.registry],
  });
  readonly crmRequestSeconds = new Histogram({
    name: 'rcrm_crm_request_seconds',
    help: 'RetailCRM request latency (admission wait included), by endpoint',
    labelNames: ['endpoint'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly popups = new Counter({
    name: 'rcrm_popups_total',
    help: 'Popups RetailCRM accepted: sent (within 3 s of the call start), late (after), skipped (overloaded, never sent)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  /** Kept for dashboards made before rcrm_popups_total{outcome="skipped"}. */
  readonly notifySkipped = new Counter({
    name: 'rcrm_call_starts_skipped_total',
    help: 'Call starts not recorded (no popup) because the service was overloaded',
    registers: [this.registry],
  });
  readonly outboxOutcomes = new Counter({
    name: 'rcrm_outbox_outcomes_total',
    help: 'Outbox job outcomes by kind',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly outboxJobs = new Gauge({
    name: 'rcrm_outbox_jobs',
    help: 'Outbox jobs by state (pending, failed) and enterprise, read from the database at scrape',
    labelNames: ['state', 'enterprise'] as const,
    registers: [this.registry],
  });
  readonly outboxOldestPending = new Gauge({
    name: 'rcrm_outbox_oldest_pending_seconds',
    help: 'Age of the oldest pending outbox job, by enterprise (0: none pending)',
    labelNames: ['enterprise'] as const,
    registers: [this.registry],
  });
  readonly amiUp = new Gauge({
    name: 'rcrm_ami_up',
    help: '1 when the AMI connection to the enterprise PBX is up, 0 otherwise (only enterprises with a PBX)',
    labelNames: ['enterprise'] as const,
    registers: [this.registry],
  });
  readonly historyPollLag = new Gauge({
    name: 'rcrm_history_poll_lag_seconds',
    help: 'Seconds since RetailCRM history was last read for the enterprise (by any instance)',
    labelNames: ['enterprise'] as const,
    registers: [this.registry],
  });
  readonly liveCalls = new Gauge({ name: 'rcrm_live_calls', help: 'FastAGI sessions in progress', registers: [this.registry] });
  readonly lookupCacheEntries = new Gauge({
    name: 'rcrm_lookup_cache_entries',
    help: 'Caller lookup cache entries',
    registers: [this.registry],
  });
  readonly scrapeErrors = new Counter({
    name: 'rcrm_scrape_errors_total',
    help: 'Scrape-time collectors that failed or missed their deadline, by collector',
    labelNames: ['collector'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Registers a collector run at each scrape (one per name; a second registration replaces the first). */
  addCollector(name: string, collect: ScrapeCollector): void {
    this.collectors.set(name, collect);
  }

  /** Runs the collectors (each under the scrape deadline), then renders the Prometheus text format. */
  async render(deadlineMs = SCRAPE_DEADLINE_MS): Promise<string> {
    const deadline = Date.now() + deadlineMs;
    await Promise.all(
      [...this.collectors].map(async ([name, collect]) => {
        try {
          await raceDeadline(Promise.resolve(collect()), deadline);
        } catch {
          this.scrapeErrors.inc({ collector: name });
        }
      }),
    );
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** `/api/v5/customers/123/edit` → `/api/v5/customers/:id/edit`: an endpoint label of bounded cardinality. */
export function endpointLabel(path: string): string {
  return (path.split('?')[0] ?? '')
    .split('/')
    .map((s) => (/^\d+$/.test(s) ? ':id' : s))
    .join('/');
}
