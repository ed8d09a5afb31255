/**
 * The service's Prometheus metrics on prom-client, in a registry of its own (several services in one test
 * process never share counters), with prom-client's default process metrics (event-loop lag, heap, GC, CPU,
 * file descriptors). The call path only increments counters; values that live elsewhere (the outbox table, AMI
 * connections, the history poller) are read at scrape time by collectors, each under a deadline so a slow
 * database cannot hang a scrape: a collector that misses it leaves its last values and counts
 * `rcrm_scrape_errors_total`. Metric names are a contract with dashboards and alerts (monitoring/).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { raceDeadline } from '../lib/deadline.js';

/** A value read at scrape time; runs under the scrape's deadline. */
export type ScrapeCollector = () => Promise<void> | void;

const SCRAPE_DEADLINE_MS = 2_000;

export class Metrics {
  readonly registry = new Registry();
  private readonly collectors = new Map<string, ScrapeCollector>();

  readonly agiSessions = this.counter('rcrm_agi_sessions_total', 'FastAGI sessions handled, by script and outcome', ['script', 'outcome']);
  readonly sessionSeconds = this.histogram('rcrm_agi_session_seconds', 'FastAGI session duration', ['script'],
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5]);
  readonly agiRefused = this.counter('rcrm_agi_sessions_refused_total',
    'FastAGI connections refused at accept (not_allowed, max_sessions, stopping) and sessions refused for an enterprise (enterprise_pbx)',
    ['reason', 'enterprise']);
  readonly httpAdminRefused = this.counter('rcrm_http_admin_refused_total',
    'Requests to /metrics, /ready or the dashboard from outside HTTP_ADMIN_ALLOW', []);
  readonly lookups = this.counter('rcrm_lookups_total',
    'Caller lookups on the call path, by source (cache, table, crm, stale, none) and result (FOUND, NOT_FOUND, TIMEOUT, ERROR)',
    ['source', 'result']);
  readonly crmRequests = this.counter('rcrm_crm_requests_total',
    'RetailCRM requests by endpoint and status (HTTP status, or timeout, network, error)', ['endpoint', 'status']);
  readonly crmRequestSeconds = this.histogram('rcrm_crm_request_seconds',
    'RetailCRM request latency (admission wait included), by endpoint', ['endpoint'], [0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10]);
  readonly popups = this.counter('rcrm_popups_total',
    'Popups RetailCRM accepted: sent (within 3 s of the call start), late (after), skipped (overloaded, never sent)', ['outcome']);
  /** Kept for dashboards made before rcrm_popups_total{outcome="skipped"}. */
  readonly notifySkipped = this.counter('rcrm_call_starts_skipped_total',
    'Call starts not recorded (no popup) because the service was overloaded', []);
  readonly outboxOutcomes = this.counter('rcrm_outbox_outcomes_total', 'Outbox job outcomes by kind', ['kind', 'outcome']);
  readonly outboxJobs = this.gauge('rcrm_outbox_jobs',
    'Outbox jobs by state (pending, failed) and enterprise, read from the database at scrape', ['state', 'enterprise']);
  readonly outboxOldestPending = this.gauge('rcrm_outbox_oldest_pending_seconds',
    'Age of the oldest pending outbox job, by enterprise (0: none pending)', ['enterprise']);
  readonly amiUp = this.gauge('rcrm_ami_up',
    '1 when the AMI connection to the enterprise PBX is up, 0 otherwise (only enterprises with a PBX)', ['enterprise']);
  readonly historyPollLag = this.gauge('rcrm_history_poll_lag_seconds',
    'Seconds since RetailCRM history was last read for the enterprise (by this instance, or found locked by another one reading it)',
    ['enterprise']);
  readonly liveCalls = this.gauge('rcrm_live_calls', 'FastAGI sessions in progress', []);
  readonly lookupCacheEntries = this.gauge('rcrm_lookup_cache_entries', 'Caller lookup cache entries', []);
  readonly recordingsConverted = this.counter('rcrm_recordings_converted_total',
    'Recordings this host converted to MP3 (mp3) or could not (failed: linked as WAV, with the reason logged)', ['outcome']);
  readonly recordingsAudioSeconds = this.counter('rcrm_recordings_converted_audio_seconds_total',
    'Seconds of audio converted to MP3 by this host', []);
  readonly recordingsExpired = this.counter('rcrm_recordings_expired_total',
    'Recordings deleted by retention on this host, by enterprise', ['enterprise']);
  readonly scrapeErrors = this.counter('rcrm_scrape_errors_total',
    'Scrape-time collectors that failed or missed their deadline, by collector', ['collector']);

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  private histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
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
