/**
 * The composition root: config → logger → database (embedded or DATABASE_URL) → migrations → stores →
 * RetailCRM client → call pipelines → FastAGI and HTTP servers. Nothing else creates long-lived objects.
 * `stop()` is the one graceful shutdown path (src/shutdown.ts calls it on signals).
 */
import type { Config } from './config/config.js';
import { AddressAllowList } from './lib/address-allow-list.js';
import { RefusalLogThrottle } from './access/refusal-log-throttle.js';
import { AuditLog } from './audit/audit-store.js';
import { createFastAgiServer } from './agi-listener.js';
import { createAgiRouter } from './calls/agi-router.js';
import { CallerLookup } from './customers/caller-lookup.js';
import { crmCallerLookup } from './customers/crm-caller-lookup.js';
import { EnterpriseDirectory } from './calls/enterprise-directory.js';
import { handleIncoming } from './calls/incoming-call.js';
import { LiveCalls } from './calls/live-calls.js';
import { handleOutgoing } from './calls/outgoing-call.js';
import { CallJournal } from './calls/call-journal.js';
import { createCrmNotifier } from './calls/crm-notifier.js';
import { handleRinging } from './calls/ringing-call.js';
import { handleHangup } from './calls/hangup-call.js';
import { createCrmHandlers } from './outbox/crm-handlers.js';
import { createWorkHandlers } from './work/work-handlers.js';
import { LeadRequests } from './work/leads.js';
import { OutboxWorker } from './outbox/worker.js';
import { jobStateByKey } from './outbox/outbox-store.js';
import { createRecordingLinks } from './recordings/recording-links.js';
import { expiryCheck } from './recordings/recording-expiry.js';
import { startRecordings } from './recordings-service.js';
import { addServiceCollectors } from './service-metrics.js';
import { TaskTracker } from './lib/task-tracker.js';
import os from 'node:os';
import { AmiPool } from './clicktocall/ami-pool.js';
import { ClickToCallAudit } from './clicktocall/audit-store.js';
import { ClickToCall } from './clicktocall/click-to-call.js';
import { ManagerStatusDirectory } from './integration/manager-status.js';
import { ManagerStatusSync } from './integration/manager-status-sync.js';
import { PbxStore } from './clicktocall/pbx-store.js';
import { InvalidationListener } from './sync/cache-invalidation.js';
import { CustomerRefresher } from './sync/customer-refresh.js';
import { HistoryPoller } from './sync/history-poller.js';
import { OrderRefresher } from './sync/order-refresh.js';
import { ReconcileMetrics } from './reconcile/reconcile-metrics.js';
import { Reconciler } from './reconcile/reconciler.js';
import { createAnalyticsQueries } from './analytics/analytics-store.js';
import { RetailCrmClient } from './crm/client.js';
import { RateLimiter } from './crm/rate-limiter.js';
import { openDatabase, type DatabaseHandle } from './db/connect.js';
import { CrmUserStore } from './db/crm-user-store.js';
import { CustomerStore } from './db/customer-store.js';
import { EnterpriseStore } from './db/enterprise-store.js';
import { ExtensionStore } from './db/extension-store.js';
import { migrate } from './db/migrate.js';
import { createPool, type Pool } from './db/pool.js';
import type { ReadinessThresholds } from './health/readiness.js';
import { HttpServer } from './http/http-server.js';
import { registerHttpApi } from './http-api.js';
import type { Logger } from './lib/logger.js';
import { endpointLabel, Metrics } from './metrics/metrics.js';
import { CrmReachability } from './crm/reachability.js';
import { keyCheckRecords } from './db/key-check-store.js';
import { openCheckedSecretBox } from './secrets/key-check.js';

export interface Service {
  readonly agiPort: number;
  readonly httpPort: number;
  readonly databaseUrl: string;
  readonly liveCalls: LiveCalls;
  readonly lookup: CallerLookup;
  readonly directory: EnterpriseDirectory;
  readonly metrics: Metrics;
  readonly outbox: OutboxWorker;
  /** Waits for background work started by calls (call records, popups, late lookups); for tests and benchmarks. */
  drainBackground(): Promise<void>;
  /** Stops accepting, drains live calls up to SHUTDOWN_DRAIN_MS, then closes everything. Idempotent. */
  stop(reason?: string): Promise<void>;
  /** For a forced exit: stops the embedded PostgreSQL this process started, without waiting. */
  forceStop(): void;
}

export interface ServiceOverrides {
  /** Tests point the whole service at a fake RetailCRM with faster limits. */
  readonly crmRates?: { telephony: number; general: number };
  /** Outbox tuning for tests (faster polling and retries). */
  readonly outbox?: {
    pollIntervalMs?: number;
    retryBaseMs?: number;
    retryCapMs?: number;
    recordingRecheckMs?: number;
    popupLateMs?: number;
  };
  /** Call-start bounds (tests make them tiny to see a popup skipped). */
  readonly notifier?: { maxInFlight?: number; maxQueued?: number };
  /** /ready thresholds (tests shorten them). */
  readonly readiness?: ReadinessThresholds;
  /** The clock /hangup measures call durations with (tests pin it; default the real clock). */
  readonly now?: () => number;
}

export async function startService(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<Service> {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => logger.error('cleanup failed', { err }));
  };
  try {
    const db: DatabaseHandle = await openDatabase(config, {
      owner: true,
      onLog: (m) => logger.debug('embedded postgres', { message: m.trim() }),
      onUnexpectedExit: (reason) => logger.error('the embedded PostgreSQL stopped on its own', { reason }),
    });
    cleanups.push(() => db.release());
    logger.info('database', { database: db.description, embedded: db.embedded, envFile: config.envFile });

    const pool: Pool = createPool({ connectionString: db.url, max: config.dbPoolMax, logger });
    cleanups.push(() => pool.end());
    const applied = await migrate(pool);
    if (applied.length > 0) logger.info('database migrated', { applied });

    const box = await openCheckedSecretBox(keyCheckRecords(pool), config, (file) =>
      logger.warn('SECRET_KEY is not set: generated one; back it up or set SECRET_KEY, or stored API keys become unreadable', { file }),
    );
    const metrics = new Metrics();
    const liveCalls = new LiveCalls();
    const enterprises = new EnterpriseStore(pool, box);
    const extensions = new ExtensionStore(pool);
    const customers = new CustomerStore(pool);
    // The live call path reads through its own small pool, so deliveries and syncs can never starve a lookup.
    const callPool: Pool = createPool({ connectionString: db.url, max: config.dbCallPoolMax, applicationName: 'retailcrm-agi-calls', logger });
    cleanups.push(() => callPool.end());
    const directory = new EnterpriseDirectory(new EnterpriseStore(callPool, box), new ExtensionStore(callPool));

    const limiter = new RateLimiter({
      ratesPerSecond: overrides.crmRates ?? { telephony: 40, general: 10 },
      maxInFlightPerAccount: config.crmMaxInFlight,
    });
    const reachability = new CrmReachability();
    const crm = new RetailCrmClient({
      limiter,
      defaultTimeoutMs: config.crmTimeoutMs,
      userAgent: 'retailcrm-agi',
      onRequest: (o) => {
        const endpoint = endpointLabel(o.path);
        metrics.crmRequests.inc({ endpoint, status: o.status });
        metrics.crmRequestSeconds.observe({ endpoint }, o.seconds);
        reachability.observe(o);
      },
    });
    cleanups.push(async () => crm.close());

    const lookup = new CallerLookup({
      customers: new CustomerStore(callPool),
      crmLookup: crmCallerLookup(crm),
      cacheTtlMs: config.lookupCacheTtlMs,
      cacheMax: config.lookupCacheMax,
      freshMs: config.customerFreshMs,
      crmTimeoutMs: config.crmTimeoutMs,
      logger,
      onResult: (r) => metrics.lookups.inc({ source: r.source, result: r.status }),
    });
    cleanups.push(() => lookup.drain());

    const links = createRecordingLinks({ publicUrl: config.publicUrl, recordingsDir: config.recordingsDir, box });
    const jobState = async (jobKey: string): Promise<string | null> => (await jobStateByKey(pool, jobKey))?.state ?? null;
    const { store: recordingStore, publisher, finisher, stop: stopRecordings } = startRecordings({ config, pool, links, enterprises, logger, metrics });
    cleanups.push(stopRecordings);
    const crmHandlers = createCrmHandlers({
      client: crm,
      enterprises,
      customers,
      recordings: {
        resolve: (enterprise, file, callEndedAt, _signal, host) => publisher.resolve(enterprise, file, callEndedAt, host),
      },
      onCustomerKnown: (enterprise, phone, info) => lookup.remember(enterprise, phone, info),
      jobState,
      logger,
      requestTimeoutMs: config.crmTimeoutMs,
      // Serial uploads wait behind an open recording: look again soon (MixMonitor closes ~1 s after /hangup).
      recordingRecheckMs: overrides.outbox?.recordingRecheckMs ?? 2_000,
      recordingWaitMs: 120_000,
      onPopup: (outcome) => metrics.popups.inc({ outcome }),
      ...(overrides.outbox?.popupLateMs !== undefined ? { popupLateMs: overrides.outbox.popupLateMs } : {}),
    });
    const workHandlers = createWorkHandlers({ client: crm, enterprises, pool, jobState, logger, requestTimeoutMs: config.crmTimeoutMs });
    const outbox = new OutboxWorker({
      pool,
      handlers: { ...crmHandlers, ...workHandlers },
      workerId: `${os.hostname()}:${process.pid}`,
      concurrency: config.outbox.concurrency,
      pollIntervalMs: overrides.outbox?.pollIntervalMs ?? config.outbox.pollIntervalMs,
      lockTimeoutMs: config.outbox.lockTimeoutMs,
      // A batch's deadline stays below the lock timeout, and above one RetailCRM request's.
      handlerTimeoutMs: Math.min(Math.floor(config.outbox.lockTimeoutMs * 0.8), config.crmTimeoutMs * 3),
      maxAttempts: config.outbox.maxAttempts,
      giveUpAfterMs: config.outbox.giveUpAfterMs,
      logger,
      metrics,
      retryCapMs: overrides.outbox?.retryCapMs ?? config.outbox.retryCapMs,
      ...(overrides.outbox?.retryBaseMs !== undefined ? { retryBaseMs: overrides.outbox.retryBaseMs } : {}),
    });
    outbox.start();
    cleanups.push(async () => {
      await outbox.stop({ drainMs: config.shutdownDrainMs });
    });

    // Changes from RetailCRM: webhooks and history polling rewrite the phone→customer table; every instance
    // drops its cached entries through LISTEN/NOTIFY.
    const customerRefresher = new CustomerRefresher({
      pool,
      crm,
      crmTimeoutMs: config.crmTimeoutMs,
      logger,
      onChanged: (e, phones) => phones.forEach((p) => lookup.invalidate(e, p)),
    });
    const orderRefresher = new OrderRefresher({ pool, crm, crmTimeoutMs: config.crmTimeoutMs });
    const invalidation = new InvalidationListener({
      pool,
      logger,
      onInvalidate: (e, phones) => (phones === 'all' ? lookup.invalidate(e) : phones.forEach((p) => lookup.invalidate(e, p))),
      onMissed: () => lookup.invalidateAll(),
    });
    await invalidation.start();
    cleanups.push(() => invalidation.stop());
    const poller = new HistoryPoller({
      pool,
      crm,
      enterprises,
      customers: customerRefresher,
      orders: orderRefresher,
      logger,
      intervalMs: config.syncPollIntervalMs,
    });

    const managerStatus = new ManagerStatusDirectory({ pool });
    const pbxStore = new PbxStore(pool, box);
    const amiPool = new AmiPool({ pbx: pbxStore, logger });
    cleanups.push(() => amiPool.close());
    const clickToCall = new ClickToCall({ audit: new ClickToCallAudit(pool), extensions, pbx: amiPool, lookup, logger });
    cleanups.push(() => clickToCall.close());

    const background = new TaskTracker((err) => logger.error('background task failed', { err }));
    cleanups.push(() => background.drain());
    const journal = new CallJournal(pool);
    const notify = createCrmNotifier({
      journal,
      leads: new LeadRequests(pool),
      deliverNow: (id) => outbox.deliverNow(id),
      reserveDelivery: () => outbox.reserveImmediate(),
      tasks: background,
      logger,
      ...overrides.notifier,
      onSkipped: () => {
        metrics.notifySkipped.inc();
        metrics.popups.inc({ outcome: 'skipped' });
      },
    });
    const onPeerRefused = (enterprise: string): void => metrics.agiRefused.inc({ reason: 'enterprise_pbx', enterprise });
    const callDeps = { logger, liveCalls, lookupBudgetMs: config.lookupBudgetMs, directory, lookup, notify, managerStatus, onPeerRefused };
    const router = createAgiRouter(
      {
        incoming: (s) => handleIncoming(s, callDeps),
        outgoing: (s) => handleOutgoing(s, callDeps),
        hangup: (s) => handleHangup(s, {
          ...callDeps, journal, recordingsDir: config.recordingsDir, now: overrides.now,
          publicUrl: config.publicUrl, onRecording: () => finisher.kick(),
        }),
        ringing: (s) => handleRinging(s, { ...callDeps, journal, deliverNow: (id) => outbox.deliverNow(id), tasks: background }),
      },
      { logger, metrics },
    );

    const refusalLog = new RefusalLogThrottle();
    const agi = createFastAgiServer({ config, logger, metrics, router, refusalLog });
    const { port: agiPort } = await agi.listen(config.agiPort, config.agiHost);
    cleanups.push(() => agi.close({ drainMs: 0 }));

    const adminAllow = new AddressAllowList(config.httpAdminAllow);
    const http = new HttpServer({
      logger,
      adminAllow: (address) => adminAllow.allows(address),
      onAdminRefused: (peer, pathname) => {
        metrics.httpAdminRefused.inc();
        if (refusalLog.shouldLog(`http:${peer ?? ''}`)) {
          logger.warn('HTTP request refused: address not in HTTP_ADMIN_ALLOW (logged once a minute per peer)', { peer, path: pathname });
        }
      },
    });
    // Dashboard queries get a small pool of their own and a bound on requests at once: a few dashboard users can
    // never hold the connections that deliver popups and record calls.
    const analyticsPool: Pool = createPool({
      connectionString: db.url,
      max: config.dbAnalyticsPoolMax,
      applicationName: 'retailcrm-agi-analytics',
      statementTimeoutMs: 35_000,
      logger,
    });
    cleanups.push(() => analyticsPool.end());
    const audit = new AuditLog(pool);
    const webhookTasks = new TaskTracker((err) => logger.error('webhook refresh failed', { err }));
    cleanups.push(() => webhookTasks.drain());
    registerHttpApi(http, {
      health: {
        pool,
        liveCalls,
        metrics,
        agi,
        enterpriseNumbers: () => enterprises.numbers(),
        reachability,
        amiStates: () => amiPool.states(),
        outboxBacklog: () => outbox.backlog(),
        ...(overrides.readiness ? { thresholds: overrides.readiness } : {}),
      },
      recordings: { links, recordingsDir: config.recordingsDir, logger, isExpired: expiryCheck(recordingStore, config.publicUrl) },
      clickToCall: {
        enterprises,
        clickToCall,
        logger,
        rateLimit: { max: config.makeCallRatePerMinute, windowMs: 60_000 },
      },
      userStatus: {
        enterprises,
        extensions,
        statuses: managerStatus,
        logger,
        recordChange: (entry) => audit.append({ ...entry, source: 'http' }),
      },
      analytics: {
        queries: createAnalyticsQueries(analyticsPool, { timeoutMs: 30_000 }),
        enterprises,
        box,
        logger,
        maxConcurrent: config.dbAnalyticsPoolMax * 2,
      },
      webhooks: { pool, enterprises, box, customers: customerRefresher, orders: orderRefresher, tasks: webhookTasks, logger },
    });
    const httpPort = await http.listen(config.httpPort, config.httpHost);
    cleanups.push(() => http.close());
    addServiceCollectors(metrics, { lookup, amiPool, poller });

    if (config.syncPollIntervalMs > 0) {
      poller.start();
      cleanups.push(() => poller.stop());
    }
    if (config.reconcile.intervalMs > 0) {
      const reconcileMetrics = new ReconcileMetrics(metrics.registry);
      const reconciler = new Reconciler({
        pool,
        enterprises,
        directory: new EnterpriseDirectory(enterprises, extensions),
        journal,
        customers,
        recordingsDir: config.recordingsDir,
        logger,
        ...config.reconcile,
        metrics: reconcileMetrics,
      });
      reconciler.start();
      cleanups.push(() => reconciler.stop());
    }
    if (config.managerStatusSyncMs > 0) {
      const statusSync = new ManagerStatusSync({ crm, enterprises, statuses: managerStatus, names: new CrmUserStore(pool), logger, intervalMs: config.managerStatusSyncMs });
      statusSync.start();
      cleanups.push(() => statusSync.stop());
    }
    background.track(
      amiPool.startAll().catch((err: unknown) => logger.warn('cannot connect to a PBX at start; will retry on use', { err })),
    );

    logger.info('retailcrm-agi started', { agiPort, httpPort, publicUrl: config.publicUrl });

    let stopping: Promise<void> | undefined;
    const stop = (reason = 'stop'): Promise<void> => {
      stopping ??= (async () => {
        logger.info('shutting down: no new calls; draining live calls', { reason, live: liveCalls.count });
        agi.stopAccepting();
        http.startDraining();
        await agi.close({ drainMs: config.shutdownDrainMs });
        await cleanup();
        logger.info('stopped');
      })();
      return stopping;
    };

    const drainBackground = async (): Promise<void> => {
      await background.drain();
      await lookup.drain();
    };
    return {
      agiPort, httpPort, databaseUrl: db.url, liveCalls, lookup, directory, metrics, outbox, drainBackground, stop,
      forceStop: () => db.kill(),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
