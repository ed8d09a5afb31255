/**
 * The outbox worker against real PostgreSQL and the fake RetailCRM: delivery, dedup, retries and backoff, rate
 * limits, permanent failures fixed by hand, expiry, ordering through an outage, several workers, stale locks, drain.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { metricValue } from '../helpers/http-get.js';
import { RetailCrmClient } from '../../src/crm/client.js';
import { RateLimiter } from '../../src/crm/rate-limiter.js';
import type { CallEvent } from '../../src/crm/types.js';
import { CustomerStore } from '../../src/db/customer-store.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { createPool, inTransaction, type Pool } from '../../src/db/pool.js';
import { createLogger } from '../../src/lib/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { createCrmHandlers, type CrmHandlerDeps } from '../../src/outbox/crm-handlers.js';
import type { JobHandler } from '../../src/outbox/job-types.js';
import { dropPendingJobs, enqueueJob, notifyOutbox, outboxJobKey } from '../../src/outbox/enqueue.js';
import { OutboxWorker, type OutboxWorkerOptions } from '../../src/outbox/worker.js';
import { outboxCommand } from '../../src/cli/outbox-commands.js';
import type { CliContext } from '../../src/cli/cli-context.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { waitFor } from '../helpers/async.js';
import { projectRoot } from '../helpers/paths.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const logger = createLogger({ level: 'error', silent: true });
const ENT = '0367';

function event(i: number, type: CallEvent['type'] = 'in'): CallEvent {
  return { phone: `+37529${String(1_000_000 + i)}`, type, codes: ['101'], callExternalId: `call-${i}` };
}

describe('outbox worker (real PostgreSQL, fake RetailCRM)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let fake: FakeRetailCrm;
  let client: RetailCrmClient;
  let store: EnterpriseStore;
  const workers: OutboxWorker[] = [];
  const pools: Pool[] = [];

  function handlers(overrides: Partial<CrmHandlerDeps> = {}): ReturnType<typeof createCrmHandlers> {
    return createCrmHandlers({
      client,
      enterprises: store,
      customers: new CustomerStore(db.pool),
      recordings: { resolve: async () => ({ status: 'none' }) },
      logger,
      requestTimeoutMs: 2_000,
      enterpriseCacheMs: 0,
      ...overrides,
    });
  }

  function worker(opts: Partial<OutboxWorkerOptions> = {}): OutboxWorker {
    const w = new OutboxWorker({
      pool: db.pool,
      handlers: handlers(),
      workerId: `w${workers.length + 1}`,
      concurrency: 2,
      pollIntervalMs: 30,
      lockTimeoutMs: 5_000,
      maxAttempts: 50,
      retryBaseMs: 10,
      retryCapMs: 100,
      logger,
      ...opts,
    });
    workers.push(w);
    return w;
  }

  async function jobs(): Promise<{ id: number; state: string; attempts: number; last_error: string | null; locked_at: Date | null; run_at: Date; kind: string }[]> {
    return (await db.pool.query('select id, kind, state, attempts, last_error, locked_at, run_at from outbox_jobs order by id')).rows;
  }

  const enqueueEvent = (i: number, extra: { expiresAt?: Date; key?: string } = {}): Promise<number | null> =>
    enqueueJob(db.pool, {
      enterprise: ENT,
      kind: 'call_event',
      jobKey: extra.key ?? outboxJobKey('call_event', ENT, `call-${i}`, 'in'),
      payload: { event: event(i) },
      expiresAt: extra.expiresAt ?? null,
    });

  before(async () => {
    db = await createTestDatabase();
    fake = await FakeRetailCrm.start();
    store = new EnterpriseStore(db.pool, createSecretBox('s'.repeat(40)));
    await store.create({
      number: ENT, crmUrl: fake.url, apiKey: fake.apiKey, clientId: 'client-id-0123456789', country: 'BY', site: null,
    });
  });
  after(async () => {
    await fake.close();
    await db.drop();
  });
  beforeEach(async () => {
    // A fresh limiter per test: a Retry-After penalty must not leak into the next test.
    client = new RetailCrmClient({ limiter: new RateLimiter(), defaultTimeoutMs: 2_000 });
    fake.reset();
    await db.pool.query('delete from outbox_jobs');
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop({ drainMs: 2_000 });
    for (const p of pools.splice(0)) await p.end();
    client.close();
  });

  // GIVEN a job inserted with its NOTIFY in one transaction WHEN a started worker hears it THEN RetailCRM gets the popup once
  it('delivers a job woken by LISTEN/NOTIFY', async () => {
    const metrics = new Metrics();
    const w = worker({ pollIntervalMs: 60_000, metrics });
    w.start();
    await waitFor('the worker to LISTEN', () => w.listening); // polling (60 s) is too slow to deliver it instead
    await inTransaction(db.pool, async (tx) => {
      await enqueueEvent(1);
      await notifyOutbox(tx, ENT);
    });
    await waitFor('the popup', () => fake.account().events.length === 1);
    await waitFor('job done', async () => (await jobs())[0]?.state === 'done');
    expect(fake.account().events[0]).to.deep.include({ phone: event(1).phone, type: 'in' });
    const text = await metrics.render();
    expect(metricValue(text, 'rcrm_outbox_outcomes_total', { kind: 'call_event', outcome: 'done' })).to.equal(1);
    expect(metricValue(text, 'rcrm_outbox_jobs', { state: 'pending' })).to.equal(0);
  });

  // GIVEN the same job key enqueued twice WHEN the worker runs THEN one row, one request
  it('deduplicates by job key', async () => {
    expect(await enqueueEvent(1)).to.be.a('number');
    expect(await enqueueEvent(1)).to.equal(null);
    await worker().runOnce();
    expect(fake.requests({ path: '/api/v5/telephony/call/event' })).to.have.length(1);
    expect(await jobs()).to.have.length(1);
  });

  // GIVEN RetailCRM answers 500 then garbage WHEN the worker runs THEN it retries with backoff and delivers on the third try
  it('retries after 500 and garbage', async () => {
    fake.failNext(1, { status: 500 });
    fake.failNext(1, { status: 200, body: '<html>maintenance</html>', contentType: 'text/html' });
    await enqueueEvent(1);
    const w = worker();
    await w.runOnce();
    const [afterFirst] = await jobs();
    expect(afterFirst).to.deep.include({ state: 'pending', attempts: 1 });
    expect(afterFirst?.last_error).to.match(/500/);
    w.start();
    await waitFor('delivery', async () => (await jobs())[0]?.state === 'done');
    expect((await jobs())[0]?.attempts).to.equal(2);
    expect(fake.requests({ path: '/api/v5/telephony/call/event' })).to.have.length(3);
    expect(fake.account().events).to.have.length(1);
  });

  // GIVEN a 503 with Retry-After: 2 WHEN one job hits it THEN every due job of the enterprise waits ~2 s without losing attempts
  it('holds the whole enterprise back on a rate limit', async () => {
    fake.failNext(1, { status: 503, retryAfter: 2 });
    await enqueueEvent(1);
    for (let i = 0; i < 3; i++) {
      await enqueueJob(db.pool, {
        enterprise: ENT, kind: 'call_upload', jobKey: `up-${i}`,
        payload: { call: { externalId: `c${i}`, date: '2024-01-01 10:00:00', type: 'in', phone: '+375291234567', result: 'answered' }, callEndedAt: new Date().toISOString() },
      });
    }
    await worker({ concurrency: 1, retryCapMs: 30_000 }).runOnce();
    expect(fake.requests()).to.have.length(1);
    const rows = await jobs();
    const { rows: [clock] } = await db.pool.query<{ now: Date }>('select now()');
    for (const r of rows) {
      expect(r.state).to.equal('pending');
      expect(r.run_at.getTime() - (clock?.now.getTime() ?? 0)).to.be.greaterThan(1_000);
    }
    expect(rows.map((r) => r.attempts)).to.deep.equal([1, 0, 0, 0]);
    worker().start();
    await waitFor('all delivered after the pause', async () => (await jobs()).every((r) => r.state === 'done'));
    expect(fake.account().calls.size).to.equal(3);
  });

  // GIVEN a wrong API key WHEN a job runs THEN it fails, stays visible with its error, and goes through after the fix and a manual retry
  it('keeps a job that failed on a wrong key and delivers it after "outbox retry"', async () => {
    await store.update(ENT, { apiKey: 'wrong-key-123456' });
    try {
      await enqueueEvent(1);
      const w = worker();
      await w.runOnce();
      const [failed] = await jobs();
      expect(failed).to.deep.include({ state: 'failed', attempts: 1 });
      expect(failed?.last_error).to.match(/CRM_AUTH/);
      const out: string[] = [];
      const changes: unknown[] = [];
      const ctx = {
        pool: db.pool,
        io: { out: (l: string) => out.push(l), err: (l: string) => out.push(l) },
        recordChange: async (entry: unknown) => {
          changes.push(entry);
        },
      } as unknown as CliContext;
      await outboxCommand(ctx, 'list', ['--failed']);
      expect(out.join('\n')).to.match(new RegExp(`${failed?.id}\\t${ENT}\\tcall_event\\tfailed\\t1\\t.*CRM_AUTH`));
      await store.update(ENT, { apiKey: fake.apiKey });
      await outboxCommand(ctx, 'retry', ['--id', String(failed?.id)]);
      expect((await jobs())[0]).to.deep.include({ state: 'pending', attempts: 0 });
      expect(changes).to.deep.equal([
        { action: 'outbox.retry', enterprise: ENT, before: { state: 'failed', jobs: [failed?.id] }, after: { state: 'pending', jobs: [failed?.id] } },
      ]);
      await w.runOnce();
      expect((await jobs())[0]?.state).to.equal('done');
      expect(fake.account().events).to.have.length(1);
      out.length = 0;
      await outboxCommand(ctx, 'stats', []);
      expect(out.join('\n')).to.match(/call_event\tdone\t1/);
    } finally {
      await store.update(ENT, { apiKey: fake.apiKey });
    }
  });

  // GIVEN a popup past its expiry WHEN a worker looks THEN it is dropped and never sent, by the loop or by deliverNow
  it('drops an expired popup', async () => {
    const id = await enqueueEvent(1, { expiresAt: new Date(Date.now() - 1_000) });
    const w = worker();
    expect(await w.deliverNow(id ?? 0)).to.equal(null);
    await w.runOnce();
    expect((await jobs())[0]?.state).to.equal('dropped');
    expect(fake.requests()).to.have.length(0);
  });

  // GIVEN two popups of a call and one of another WHEN the call ends THEN its undelivered popups are dropped, never sent
  it('drops the undelivered popups of an ended call', async () => {
    await enqueueJob(db.pool, { enterprise: ENT, kind: 'call_event', jobKey: outboxJobKey('call_event', ENT, 'L1', 'in'), payload: { event: event(1) } });
    await enqueueJob(db.pool, { enterprise: ENT, kind: 'call_event', jobKey: outboxJobKey('call_event', ENT, 'L1', 'in2'), payload: { event: event(2) } });
    await enqueueJob(db.pool, { enterprise: ENT, kind: 'call_event', jobKey: outboxJobKey('call_event', ENT, 'L10', 'in'), payload: { event: event(3) } });
    expect(await dropPendingJobs(db.pool, { enterprise: ENT, kind: 'call_event', callId: 'L1' })).to.equal(2);
    await worker().runOnce();
    expect((await jobs()).map((r) => r.state)).to.deep.equal(['dropped', 'dropped', 'done']);
    expect(fake.account().events.map((e) => e['callExternalId'])).to.deep.equal(['call-3']);
  });

  // GIVEN a pending job WHEN deliverNow is called twice THEN it is sent at once, and the second call finds nothing to do
  it('delivers one job in-process with deliverNow, once', async () => {
    const id = (await enqueueEvent(1)) ?? 0;
    const w = worker();
    const [a, b] = await Promise.all([w.deliverNow(id), worker().deliverNow(id)]);
    expect([a, b].filter((x) => x === 'done')).to.have.length(1);
    expect(await w.deliverNow(id)).to.equal(null);
    expect(fake.account().events).to.have.length(1);
  });

  /** The same handlers with events made an ordered (serial) kind, as uploads are: tests the ordering machinery. */
  function orderedEvents(): ReturnType<typeof createCrmHandlers> {
    const h = handlers();
    return { ...h, call_event: { ...h.call_event, serial: true } };
  }

  // GIVEN an ordered kind and RetailCRM down WHEN 20 jobs queue up and it comes back THEN each arrives exactly once, in order
  it('delivers everything exactly once and in order after an outage', async () => {
    fake.setMode('down');
    for (let i = 0; i < 20; i++) await enqueueEvent(i);
    worker({ concurrency: 3, handlers: orderedEvents() }).start();
    await waitFor('several failed tries', () => fake.requests().length >= 5);
    fake.setMode('normal');
    await waitFor('all delivered', async () => (await jobs()).every((r) => r.state === 'done'), 20_000);
    const ids = fake.account().events.map((e) => e['callExternalId']);
    expect(ids).to.deep.equal(Array.from({ length: 20 }, (_, i) => `call-${i}`));
  });

  // GIVEN an ordered kind and two workers on separate pools WHEN 200 jobs are queued THEN each is sent once, none missing, in order
  it('shares 200 jobs between two workers without duplicates', async () => {
    for (let i = 0; i < 200; i++) await enqueueEvent(i);
    const other = createPool({ connectionString: db.url, max: 4 });
    pools.push(other);
    worker({ concurrency: 3, handlers: orderedEvents() }).start();
    worker({ concurrency: 3, pool: other, workerId: 'other', handlers: orderedEvents() }).start();
    await waitFor('all delivered', async () => (await jobs()).every((r) => r.state === 'done'), 30_000);
    const ids = fake.account().events.map((e) => e['callExternalId']);
    expect(ids).to.have.length(200);
    expect(new Set(ids).size).to.equal(200);
    expect(ids).to.deep.equal(Array.from({ length: 200 }, (_, i) => `call-${i}`));
  });

  // GIVEN one call's popup waiting for a retry WHEN another call's popup is delivered at once THEN it does not wait behind it
  it('does not hold one call\'s popup behind another call\'s retry', async () => {
    fake.failNext(1, { status: 500 });
    const first = await enqueueEvent(1);
    const w = worker();
    expect(await w.deliverNow(first as number)).to.equal('retry');
    const second = await enqueueEvent(2);
    expect(await w.deliverNow(second as number)).to.equal('done');
    expect(fake.account().events.map((e) => e['callExternalId'])).to.deep.equal(['call-2']);
  });

  // GIVEN a job locked by a worker that died WHEN the lock goes stale THEN another worker delivers it
  it('takes over a stale lock', async () => {
    const id = await enqueueEvent(1);
    await db.pool.query("update outbox_jobs set locked_at = now(), locked_by = 'dead#1' where id = $1", [id]);
    const w = worker({ lockTimeoutMs: 400 });
    await w.runOnce();
    expect(fake.requests()).to.have.length(0);
    await waitFor('takeover', async () => {
      await w.runOnce();
      return (await jobs())[0]?.state === 'done';
    });
    expect(fake.account().events).to.have.length(1);
  });

  // GIVEN RetailCRM hanging WHEN the worker stops with a short drain THEN the job is put back unlocked with no attempt counted
  it('releases unfinished work on stop', async () => {
    fake.setMode('hang');
    await enqueueEvent(1);
    const w = worker({ lockTimeoutMs: 5_000 });
    w.start();
    await waitFor('request on the wire', () => fake.requests().length === 1);
    await w.stop({ drainMs: 100 });
    expect((await jobs())[0]).to.deep.include({ state: 'pending', attempts: 0, locked_at: null });
  });
  // GIVEN RetailCRM answering WHEN the worker stops with time to spare THEN stop() says it drained
  it('reports a drain that finished in time', async () => {
    await enqueueEvent(1);
    const w = worker();
    w.start();
    await waitFor('job done', async () => (await jobs())[0]?.state === 'done');
    expect(await w.stop({ drainMs: 2_000 })).to.equal(true);
  });

  // GIVEN RetailCRM hanging WHEN the drain deadline passes THEN stop() says it did not drain
  it('reports a drain that timed out', async () => {
    fake.setMode('hang');
    await enqueueEvent(1);
    const w = worker();
    w.start();
    await waitFor('request on the wire', () => fake.requests().length === 1);
    expect(await w.stop({ drainMs: 100 })).to.equal(false);
  });

  // GIVEN old done and dropped rows and a worker without metrics WHEN it starts THEN they are pruned, recent ones kept
  it('prunes finished rows without metrics', async () => {
    const old = await enqueueEvent(1);
    const recent = await enqueueEvent(2);
    await db.pool.query("update outbox_jobs set state = 'done', updated_at = now() - interval '8 days' where id = $1", [old]);
    await db.pool.query("update outbox_jobs set state = 'done' where id = $1", [recent]);
    const w = worker({ pruneIntervalMs: 20 });
    w.start();
    await waitFor('old row pruned', async () => (await jobs()).every((j) => j.id !== old));
    expect((await jobs()).map((j) => j.id)).to.deep.equal([recent]);
  });

  // GIVEN a handler that never answers within the batch deadline WHEN the claim is made THEN the attempt is on record before it ends
  it('counts the attempt when the job is claimed', async () => {
    await enqueueEvent(1);
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const hanging: JobHandler = {
      handle: async (_e, batch) => {
        await blocked;
        return batch.map(() => ({ kind: 'done' as const }));
      },
    };
    const w = worker({ handlers: { call_event: hanging } });
    const run = w.runOnce();
    await waitFor('claimed', async () => (await jobs())[0]?.locked_at != null);
    expect((await jobs())[0]).to.deep.include({ state: 'pending', attempts: 1 });
    release();
    await run;
    // A delivery is not a failed attempt: the count goes back once the outcome is written.
    expect((await jobs())[0]).to.deep.include({ state: 'done', attempts: 0 });
  });

  // GIVEN an ordered queue whose first job kills its worker (a real process, SIGKILL) WHEN the attempts reach the limit
  // THEN that job fails with the reason and the job behind it is delivered
  it('fails a job that kills its worker and moves the ordered queue on', async () => {
    const first = await enqueueJob(db.pool, { enterprise: ENT, kind: 'crash', payload: {} });
    const second = await enqueueJob(db.pool, { enterprise: ENT, kind: 'crash', payload: {} });
    for (let crash = 1; crash <= 2; crash++) {
      // Each crash leaves the job locked: age the lock so the next process takes it over at once.
      await db.pool.query("update outbox_jobs set locked_at = now() - interval '1 hour' where locked_at is not null");
      const child = spawn(process.execPath, [path.join(projectRoot, 'dist/test/helpers/outbox-crash-child.js'), db.url], {
        stdio: 'ignore',
      });
      const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
      expect(signal).to.equal('SIGKILL');
      expect((await jobs()).find((j) => j.id === first)).to.deep.include({ state: 'pending', attempts: crash });
    }
    const delivered: number[] = [];
    const survivor: JobHandler = {
      serial: true,
      handle: async (_e, batch) => {
        delivered.push(...batch.map((j) => j.id));
        return batch.map(() => ({ kind: 'done' as const }));
      },
    };
    const w = worker({ handlers: { crash: survivor }, maxAttempts: 2, lockTimeoutMs: 300 });
    await waitFor('queue moved on', async () => {
      await w.runOnce();
      return (await jobs()).find((j) => j.id === second)?.state === 'done';
    });
    const failed = (await jobs()).find((j) => j.id === first);
    expect(failed).to.deep.include({ state: 'failed', attempts: 2, locked_at: null });
    expect(failed?.last_error).to.match(/abandoned mid-delivery 2 time\(s\)/);
    expect(delivered).to.deep.equal([second]);
    expect(w.outcomeCounts()).to.include({ 'crash:failed': 1, 'crash:done': 1 });
  });
});
