/**
 * The RetailCRM outbox handlers through a real worker and database against the fake RetailCRM: validation errors,
 * malformed payloads, recordings still being written, batching of uploads, duplicates, customer creation.
 */
import { expect } from 'chai';
import type { CallerInfo } from '../../src/domain/caller-info.js';
import { RetailCrmClient } from '../../src/crm/client.js';
import { RateLimiter } from '../../src/crm/rate-limiter.js';
import type { UploadCall } from '../../src/crm/types.js';
import { CustomerStore } from '../../src/db/customer-store.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { createLogger } from '../../src/lib/logger.js';
import { createCrmHandlers, type CrmHandlerDeps, type RecordingStatus } from '../../src/outbox/crm-handlers.js';
import { enqueueJob } from '../../src/outbox/enqueue.js';
import { OutboxWorker } from '../../src/outbox/worker.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { waitFor } from '../helpers/async.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const logger = createLogger({ level: 'error', silent: true });
const ENT = '0367';
const UPLOAD = '/api/v5/telephony/calls/upload';

function call(i: number, extra: Partial<UploadCall> = {}): UploadCall {
  return { externalId: `call-${i}`, date: '2024-05-01 10:00:00', type: 'in', phone: '+375291234567', result: 'answered', ...extra };
}

describe('outbox RetailCRM handlers (real PostgreSQL, fake RetailCRM)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let fake: FakeRetailCrm;
  let client: RetailCrmClient;
  let store: EnterpriseStore;
  let recordings: Map<string, RecordingStatus>;
  let known: { phone: string; info: CallerInfo }[];
  const workers: OutboxWorker[] = [];

  function worker(deps: Partial<CrmHandlerDeps> = {}): OutboxWorker {
    const w = new OutboxWorker({
      pool: db.pool,
      handlers: createCrmHandlers({
        client,
        enterprises: store,
        customers: new CustomerStore(db.pool),
        recordings: { resolve: async (_e, file) => recordings.get(file) ?? { status: 'none' } },
        onCustomerKnown: (_e, phone, info) => known.push({ phone, info }),
        logger,
        requestTimeoutMs: 2_000,
        recordingRecheckMs: 20,
        ...deps,
      }),
      workerId: `h${workers.length + 1}`,
      concurrency: 1,
      pollIntervalMs: 30,
      lockTimeoutMs: 5_000,
      maxAttempts: 20,
      retryBaseMs: 10,
      retryCapMs: 100,
      logger,
    });
    workers.push(w);
    return w;
  }

  const enqueueUpload = (c: UploadCall, extra: { recordingFile?: string; endedAgoMs?: number } = {}): Promise<number | null> =>
    enqueueJob(db.pool, {
      enterprise: ENT,
      kind: 'call_upload',
      jobKey: `call_upload:${ENT}:${c.externalId}`,
      payload: {
        call: c,
        recordingFile: extra.recordingFile ?? null,
        callEndedAt: new Date(Date.now() - (extra.endedAgoMs ?? 0)).toISOString(),
      },
    });

  async function states(): Promise<{ id: number; state: string; attempts: number; deferrals: number; last_error: string | null }[]> {
    return (await db.pool.query('select id, state, attempts, deferrals, last_error from outbox_jobs order by id')).rows;
  }

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
    client = new RetailCrmClient({ limiter: new RateLimiter(), defaultTimeoutMs: 2_000 });
    fake.reset();
    recordings = new Map();
    known = [];
    await db.pool.query('delete from outbox_jobs');
    await db.pool.query('delete from retailcrm_customers');
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop({ drainMs: 2_000 });
    client.close();
  });

  // GIVEN a popup RetailCRM refuses as invalid (400) WHEN delivered THEN the job fails with the CRM's errors kept
  it('fails a job on a validation error', async () => {
    await enqueueJob(db.pool, {
      enterprise: ENT, kind: 'call_event', payload: { event: { phone: '+375291234567', type: 'hangup', hangupStatus: 'bogus' } },
    });
    await worker().runOnce();
    const [row] = await states();
    expect(row).to.deep.include({ state: 'failed', attempts: 1 });
    expect(row?.last_error).to.match(/400.*hangupStatus/);
  });

  // GIVEN payloads we cannot read WHEN delivered THEN they fail without any request
  it('fails malformed payloads without calling RetailCRM', async () => {
    await enqueueJob(db.pool, { enterprise: ENT, kind: 'call_event', payload: { nope: true } });
    await enqueueJob(db.pool, { enterprise: ENT, kind: 'call_upload', payload: { call: { phone: 1 } } });
    await enqueueJob(db.pool, { enterprise: ENT, kind: 'customer_create', payload: 'x' });
    await worker().runOnce();
    expect((await states()).map((r) => [r.state, r.last_error])).to.deep.equal([
      ['failed', 'malformed payload'], ['failed', 'malformed payload'], ['failed', 'malformed payload'],
    ]);
    expect(fake.requests()).to.have.length(0);
  });

  // GIVEN credentials the store no longer knows WHEN a job runs THEN it fails as unknown enterprise
  it('fails jobs of an unknown enterprise', async () => {
    await enqueueUpload(call(1));
    await worker({ enterprises: { find: async () => null } }).runOnce();
    expect((await states())[0]).to.deep.include({ state: 'failed', last_error: `unknown enterprise ${ENT}` });
  });

  // GIVEN a recording still being written WHEN the upload runs THEN it waits (not an attempt), then uploads once with the link
  it('waits for an open recording, then uploads with its link', async () => {
    recordings.set('2024/05/01/a.wav', { status: 'pending' });
    await enqueueUpload(call(1), { recordingFile: '2024/05/01/a.wav' });
    const w = worker();
    await w.runOnce();
    expect((await states())[0]).to.deep.include({ state: 'pending', attempts: 0, deferrals: 1 });
    expect(fake.requests({ path: UPLOAD })).to.have.length(0);
    recordings.set('2024/05/01/a.wav', { status: 'ready', url: 'https://pbx.example/rec/a.mp3' });
    w.start();
    await waitFor('upload', async () => (await states())[0]?.state === 'done');
    expect(fake.requests({ path: UPLOAD })).to.have.length(1);
    expect(fake.account().calls.get('call-1')).to.deep.include({ recordUrl: 'https://pbx.example/rec/a.mp3' });
  });

  // GIVEN a recording never finished WHEN the wait cap has passed THEN the call is uploaded without a link
  it('uploads without a link once the recording wait is over', async () => {
    recordings.set('b.wav', { status: 'pending' });
    await enqueueUpload(call(2, { recordUrl: 'https://stale.example/x.mp3' }), { recordingFile: 'b.wav', endedAgoMs: 60_000 });
    await worker({ recordingWaitMs: 30_000 }).runOnce();
    expect((await states())[0]?.state).to.equal('done');
    expect(fake.account().calls.get('call-2')).to.not.have.property('recordUrl');
  });

  // GIVEN 120 finished calls WHEN uploaded THEN 3 requests of at most 50, in id order
  it('batches uploads by 50 in id order', async () => {
    for (let i = 0; i < 120; i++) await enqueueUpload(call(i));
    await worker().runOnce();
    const sent = fake.requests({ path: UPLOAD }).map((r) => (r.form['calls'] as { externalId: string }[]).map((c) => c.externalId));
    expect(sent.map((s) => s.length)).to.deep.equal([50, 50, 20]);
    expect(sent.flat()).to.deep.equal(Array.from({ length: 120 }, (_, i) => `call-${i}`));
    expect((await states()).every((r) => r.state === 'done')).to.equal(true);
  });

  // GIVEN a call RetailCRM already has WHEN uploaded again THEN duplicateCalls counts as delivered
  it('treats duplicateCalls as delivered', async () => {
    fake.account().calls.set('call-7', { externalId: 'call-7' });
    await enqueueUpload(call(7));
    await worker().runOnce();
    expect((await states())[0]?.state).to.equal('done');
    expect(fake.account().calls.size).to.equal(1);
  });

  // GIVEN one invalid call among three WHEN the batch is refused THEN only that one fails and the others are stored
  it('isolates an invalid call in a batch', async () => {
    await enqueueUpload(call(1));
    await enqueueUpload(call(2, { result: 'weird' as UploadCall['result'] }));
    await enqueueUpload(call(3));
    await worker().runOnce();
    expect((await states()).map((r) => r.state)).to.deep.equal(['done', 'failed', 'done']);
    expect([...fake.account().calls.keys()].sort()).to.deep.equal(['call-1', 'call-3']);
  });

  // GIVEN customer_create for one phone enqueued 5 times WHEN two workers run THEN RetailCRM ends up with exactly one customer
  it('creates a caller once however often it is asked', async () => {
    for (let i = 0; i < 5; i++) {
      await enqueueJob(db.pool, {
        enterprise: ENT, kind: 'customer_create', jobKey: `customer_create:${ENT}:+375291112233:${i}`,
        payload: { phone: '+375291112233', customer: { firstName: 'Новый', phones: [{ number: '+375291112233' }] } },
      });
    }
    worker().start();
    worker().start();
    await waitFor('all done', async () => (await states()).every((r) => r.state === 'done'));
    expect(fake.account().customers.size).to.equal(1);
    expect(fake.requests({ path: '/api/v5/customers/create' })).to.have.length(1);
    const customer = [...fake.account().customers.values()][0];
    const { rows } = await db.pool.query('select customer_id, customer_name from retailcrm_customers where phone = $1', ['+375291112233']);
    expect(rows).to.deep.equal([{ customer_id: customer?.id, customer_name: 'Новый' }]);
    expect(known).to.have.length(5);
    expect(known.every((k) => k.info.customerId === customer?.id)).to.equal(true);
  });

  // GIVEN a caller a person already created in the CRM WHEN customer_create runs THEN nothing is created
  it('does not create a caller RetailCRM already knows', async () => {
    const existing = fake.addCustomer({ firstName: 'Иван', lastName: 'Петров', phones: ['+375291112244'] });
    await enqueueJob(db.pool, {
      enterprise: ENT, kind: 'customer_create',
      payload: { phone: '+375291112244', customer: { firstName: '+375291112244' } },
    });
    await worker().runOnce();
    expect(fake.requests({ path: '/api/v5/customers/create' })).to.have.length(0);
    expect(known[0]?.info).to.deep.include({ customerId: existing.id, name: 'Иван Петров' });
  });
});
