/**
 * Leads and call-back tasks (src/work/) through the real call journal, a real outbox worker and PostgreSQL against
 * the fake RetailCRM: one task per number however many misses, completed by the call-back; idempotent retries
 * after a lost answer; scope refusals as failed jobs; one lead per number and period under concurrency.
 */
import { expect } from 'chai';
import { CallJournal, type CallEnd } from '../../src/calls/call-journal.js';
import { RetailCrmClient } from '../../src/crm/client.js';
import { RateLimiter } from '../../src/crm/rate-limiter.js';
import { CustomerStore } from '../../src/db/customer-store.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { createLogger } from '../../src/lib/logger.js';
import { createCrmHandlers } from '../../src/outbox/crm-handlers.js';
import { enqueueJob } from '../../src/outbox/enqueue.js';
import { OutboxWorker } from '../../src/outbox/worker.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { callbackSummary, findCallbackTask } from '../../src/work/callback-task-store.js';
import { leadExternalId, leadPeriodStart, leadSummary } from '../../src/work/lead-store.js';
import { LeadRequests } from '../../src/work/leads.js';
import { createWorkHandlers, taskReference } from '../../src/work/work-handlers.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { waitFor } from '../helpers/async.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const logger = createLogger({ level: 'error', silent: true });
const ENT = '0367';
const SCOPES = ['telephony_read', 'telephony_write', 'customer_read', 'customer_write', 'order_read', 'order_write', 'task_read', 'task_write'];

describe('leads and call-back tasks (real PostgreSQL, fake RetailCRM)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let fake: FakeRetailCrm;
  let client: RetailCrmClient;
  let store: EnterpriseStore;
  let journal: CallJournal;
  const workers: OutboxWorker[] = [];
  let seq = 0;

  function worker(): OutboxWorker {
    const jobState = async (key: string): Promise<string | null> =>
      (await db.pool.query<{ state: string }>('select state from outbox_jobs where job_key = $1', [key])).rows[0]?.state ?? null;
    const crm = createCrmHandlers({
      client, enterprises: store, customers: new CustomerStore(db.pool), recordings: { resolve: async () => ({ status: 'none' }) },
      jobState, logger, requestTimeoutMs: 2_000,
    });
    const work = createWorkHandlers({ client, enterprises: store, pool: db.pool, jobState, logger, requestTimeoutMs: 2_000, customerWaitMs: 20 });
    const w = new OutboxWorker({
      pool: db.pool, handlers: { ...crm, ...work }, workerId: `w${workers.length + 1}`, concurrency: 2, pollIntervalMs: 20,
      lockTimeoutMs: 5_000, maxAttempts: 20, retryBaseMs: 10, retryCapMs: 50, logger,
    });
    workers.push(w);
    return w;
  }

  /** A finished call as /hangup records it. */
  function ended(phone: string, over: Partial<CallEnd> = {}): CallEnd {
    const linkedid = `${1_790_000_000 + seq++}.1`;
    const startedAt = new Date(Date.now() - 20_000);
    return {
      enterprise: ENT, linkedid, direction: 'in', phone, externalPhone: null, site: null, startedAt, endedAt: new Date(),
      answered: false, result: 'no answer', hangupStatus: 'cancel', managerCode: '101', managerUserId: 7, ringCodes: ['101'],
      durationSec: 0, waitingSec: 20, recordingFile: null, dialStatus: 'NOANSWER',
      upload: { date: '2026-01-01 10:00:00', type: 'in', phone, result: 'no answer', externalId: linkedid },
      hangupEvent: { phone, type: 'hangup', hangupStatus: 'cancel' }, deliverToCrm: false, callbackTasks: true,
      ...over,
    };
  }

  async function jobs(kind?: string): Promise<{ kind: string; state: string; attempts: number; last_error: string | null }[]> {
    return (await db.pool.query('select kind, state, attempts, last_error from outbox_jobs where $1::text is null or kind = $1 order by id', [kind ?? null])).rows;
  }
  const settled = async (): Promise<boolean> => (await jobs()).every((j) => j.state !== 'pending');

  before(async () => {
    db = await createTestDatabase();
    fake = await FakeRetailCrm.start();
    store = new EnterpriseStore(db.pool, createSecretBox('s'.repeat(40)));
    await store.create({
      number: ENT, crmUrl: fake.url, apiKey: fake.apiKey, clientId: 'client-id-0123456789', country: 'BY', site: 'shop1',
      settings: {
        crmTimezone: 'Europe/Minsk',
        callbackTasks: { enabled: true, defaultUserId: 9, dueMinutes: 15 },
        leads: { enabled: true, site: null, orderMethod: 'phone', status: 'new', periodHours: 24 },
      },
    });
    journal = new CallJournal(db.pool);
  });
  after(async () => {
    await fake.close();
    await db.drop();
  });
  beforeEach(async () => {
    client = new RetailCrmClient({ limiter: new RateLimiter(), defaultTimeoutMs: 2_000 });
    fake.reset();
    fake.account().scopes = [...SCOPES];
    fake.addUser({ id: 7, firstName: 'Anna' });
    fake.addUser({ id: 9, firstName: 'Default' });
    await db.pool.query('delete from outbox_jobs');
    await db.pool.query('delete from callback_tasks');
    await db.pool.query('delete from crm_leads');
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop({ drainMs: 2_000 });
    client.close();
  });

  // GIVEN a known customer of manager 7 WHEN they miss us twice, then we call back and they answer THEN one task for
  // manager 7 linked to the customer, due 15 min after the last miss, completed by the call-back.
  it('two missed calls make one task; the answered call-back completes it', async () => {
    const phone = '+375291230001';
    const c = fake.addCustomer({ firstName: 'Ivan', lastName: 'Ivanov', phones: [phone], managerId: 7 });
    const first = await journal.recordEnd(ended(phone));
    expect(first.callback).to.deep.include({ kind: 'opened' });
    const second = await journal.recordEnd(ended(phone));
    expect(second.callback).to.deep.equal({ kind: 'counted', taskId: first.callback?.taskId });
    const w = worker();
    w.start();
    await waitFor('the task in RetailCRM', () => fake.account().tasks.size === 1);
    const [task] = [...fake.account().tasks.values()];
    expect(task).to.deep.include({ performerId: 7, customerId: c.id, complete: false, phone });
    expect(task?.text).to.match(/^Call back \+375291230001 \(Ivan Ivanov\), missed at \d\d:\d\d, 2 missed calls \[agi-cb 0367-\d+\]$/);
    expect(task?.datetime).to.match(/^\d{4}-\d\d-\d\d \d\d:\d\d$/);
    await waitFor('the row to know its task', async () => (await findCallbackTask(db.pool, first.callback?.taskId ?? 0))?.crmTaskId === task?.id);

    const back = await journal.recordEnd(ended(phone, { direction: 'out', answered: true, result: 'answered', hangupStatus: 'answered' }));
    expect(back.callback).to.deep.equal({ kind: 'completed', taskId: first.callback?.taskId });
    await waitFor('the task completed', () => task?.complete === true);
    // The row notes it once RetailCRM has answered.
    await waitFor('the row to know', async () => (await findCallbackTask(db.pool, first.callback?.taskId ?? 0))?.crmCompletedAt != null);
    expect(fake.requests({ path: '/api/v5/tasks/create' })).to.have.length(1);
    const row = await findCallbackTask(db.pool, first.callback?.taskId ?? 0);
    expect(row).to.deep.include({ state: 'completed', missedCount: 2, crmTaskId: task?.id });
    expect(row?.crmCompletedAt).to.be.instanceOf(Date);
    // A later miss opens a new task (the worker stopped first, so its RetailCRM task is not made yet).
    await w.stop({ drainMs: 2_000 });
    expect((await journal.recordEnd(ended(phone))).callback).to.deep.include({ kind: 'opened' });
    const summary = await callbackSummary(db.pool, ENT, new Date(0), new Date(Date.now() + 60_000));
    expect(summary).to.deep.equal({ open: 1, openWithTask: 0, completed: 1 });
  });

  // GIVEN the form encoding of the contract (§1.3) WHEN a task is created THEN `task` is one JSON field, `site` plain
  it('sends tasks/create as task=<json> with the site', async () => {
    const phone = '+375291230002';
    fake.addCustomer({ phones: [phone], managerId: 7 });
    await journal.recordEnd(ended(phone));
    worker().start();
    await waitFor('tasks/create', () => fake.requests({ path: '/api/v5/tasks/create' }).length === 1);
    const [req] = fake.requests({ path: '/api/v5/tasks/create' });
    expect(req?.contentType).to.match(/^application\/x-www-form-urlencoded/);
    const raw = new URLSearchParams(req?.rawBody ?? '');
    expect(raw.get('site')).to.equal('shop1');
    expect(JSON.parse(raw.get('task') ?? 'null')).to.include({ performerId: 7, phone });
  });

  // GIVEN a caller with no manager WHEN the missed call had no manager either THEN the default user gets the task
  it('gives the task to the default user when nobody else is responsible', async () => {
    const phone = '+375291230003';
    await journal.recordEnd(ended(phone, { managerCode: null, managerUserId: null }));
    worker().start();
    await waitFor('the task', () => fake.account().tasks.size === 1);
    expect([...fake.account().tasks.values()][0]).to.deep.include({ performerId: 9, phone });
    expect([...fake.account().tasks.values()][0]?.text).to.match(/^Call back \+375291230003, missed at/);
  });

  // GIVEN an answered call, an unanswered outbound call, a hidden number WHEN recorded THEN no task
  it('opens nothing for answered, outbound or hidden-number calls, nor when the setting is off', async () => {
    expect((await journal.recordEnd(ended('+375291230004', { answered: true, result: 'answered' }))).callback).to.equal(null);
    expect((await journal.recordEnd(ended('+375291230004', { direction: 'out' }))).callback).to.equal(null);
    expect((await journal.recordEnd(ended('anonymous'))).callback).to.equal(null);
    expect((await journal.recordEnd(ended('+375291230004', { callbackTasks: false }))).callback).to.equal(null);
    expect(await jobs()).to.have.length(0);
  });

  // GIVEN tasks/create reached RetailCRM but the answer was lost (a 502 after the fact) WHEN retried THEN the task is
  // found by its reference and no second task is created.
  it('does not create a second task when a lost answer is retried', async () => {
    const phone = '+375291230005';
    fake.addCustomer({ phones: [phone], managerId: 7 });
    const { callback } = await journal.recordEnd(ended(phone));
    // Simulate the lost answer: the task exists in RetailCRM and the row says a creation was sent.
    fake.account().tasks.set(5000, {
      id: 5000, text: `Call back ${phone}, missed at 10:00 ${taskReference(ENT, callback?.taskId ?? 0)}`, performerId: 7, complete: false, createdAt: '2026-01-01 10:00:00',
    });
    await db.pool.query('update callback_tasks set create_sent_at = now() where id = $1', [callback?.taskId]);
    worker().start();
    await waitFor('the job done', settled);
    expect(fake.requests({ path: '/api/v5/tasks/create' })).to.have.length(0);
    expect(fake.account().tasks.size).to.equal(1);
    expect((await findCallbackTask(db.pool, callback?.taskId ?? 0))?.crmTaskId).to.equal(5000);
  });

  // GIVEN RetailCRM answers 502 once WHEN the task is created THEN it is retried and made once
  it('retries a 5xx and creates the task once', async () => {
    const phone = '+375291230006';
    fake.addCustomer({ phones: [phone], managerId: 7 });
    fake.failNext(1, { status: 502, route: '/api/v5/tasks/create' });
    await journal.recordEnd(ended(phone));
    worker().start();
    await waitFor('the task', () => fake.account().tasks.size === 1);
    await waitFor('the job done', settled);
    expect((await jobs('callback_task_create'))[0]).to.deep.include({ state: 'done', attempts: 1 });
    expect(fake.account().tasks.size).to.equal(1);
  });

  // GIVEN a new number whose customer creation RetailCRM refuses twice (502) WHEN its missed call's task runs THEN
  // it waits (not an attempt) and is linked to the customer once that is made
  it('waits for the customer creation and links the task to the new customer', async () => {
    const phone = '+375291230012';
    const day = new Date().toISOString().slice(0, 10);
    await enqueueJob(db.pool, { enterprise: ENT, kind: 'customer_create', jobKey: `customer_create:${ENT}:${phone}:${day}`, payload: { phone, customer: { phones: [{ number: phone }] } } });
    fake.failNext(2, { status: 502, route: '/api/v5/customers/create' });
    await journal.recordEnd(ended(phone));
    worker().start();
    await waitFor('the task', () => fake.account().tasks.size === 1);
    await waitFor('the jobs to end', settled);
    const customer = [...fake.account().customers.values()].find((c) => c.phones.includes(phone));
    expect([...fake.account().tasks.values()][0]).to.deep.include({ customerId: customer?.id, performerId: 7 });
    const rows = (await db.pool.query('select kind, attempts, deferrals from outbox_jobs order by id')).rows;
    expect(rows[0]).to.deep.include({ kind: 'customer_create', attempts: 2 });
    expect(rows[1]).to.deep.include({ kind: 'callback_task_create', attempts: 0 });
    expect(rows[1]?.deferrals).to.be.at.least(1);
  });

  // GIVEN a key without task_write WHEN the task is created THEN the job fails at once with the reason, not retried
  it('fails the job with the reason when the key lacks task_write', async () => {
    fake.account().scopes = SCOPES.filter((s) => s !== 'task_write');
    await journal.recordEnd(ended('+375291230007'));
    worker().start();
    await waitFor('the job to end', settled);
    const [job] = await jobs('callback_task_create');
    expect(job).to.deep.include({ state: 'failed', attempts: 1 });
    expect(job?.last_error).to.match(/lacks the scope task_write.*Access denied/);
    expect(fake.requests({ path: '/api/v5/tasks/create' })).to.have.length(1);
  });

  // GIVEN the caller is reached before the task job ran WHEN the jobs run THEN no task is created at all
  it('creates no task when the caller was reached before the task job ran', async () => {
    const phone = '+375291230008';
    await journal.recordEnd(ended(phone));
    await journal.recordEnd(ended(phone, { answered: true, result: 'answered' }));
    worker().start();
    await waitFor('the jobs to end', settled);
    expect(fake.account().tasks.size).to.equal(0);
    expect((await jobs()).map((j) => [j.kind, j.state])).to.deep.equal([['callback_task_create', 'dropped'], ['callback_task_complete', 'dropped']]);
  });

  // GIVEN a new number whose customer is being created WHEN three calls ask for a lead at once THEN one customer,
  // one lead (order) linked to it, with the enterprise's order method and status and the call's time.
  it('one customer and one lead for three concurrent calls of a new number', async () => {
    const phone = '+375291230009';
    const leads = new LeadRequests(db.pool);
    const calledAt = new Date();
    const day = new Date().toISOString().slice(0, 10);
    const ids = await Promise.all([0, 1, 2].map(async (i) => {
      await enqueueJob(db.pool, { enterprise: ENT, kind: 'customer_create', jobKey: `customer_create:${ENT}:${phone}:${day}`, payload: { phone, customer: { phones: [{ number: phone }] } } });
      return leads.request({ enterprise: ENT, phone, linkedid: `l${i}`, calledAt, periodHours: 24 });
    }));
    expect(ids.filter((id) => id !== null)).to.have.length(1);
    worker().start();
    await waitFor('the lead', () => fake.account().orders.size === 1);
    await waitFor('the jobs to end', settled);
    const customers = [...fake.account().customers.values()].filter((c) => c.phones.includes(phone));
    expect(customers).to.have.length(1);
    const [order] = [...fake.account().orders.values()];
    const period = leadPeriodStart(calledAt, 24);
    expect(order).to.deep.include({ customerId: customers[0]?.id, orderMethod: 'phone', status: 'new', phone, site: 'shop1', externalId: leadExternalId(ENT, phone, period) });
    expect(order?.createdAt).to.match(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    // The order came after the customer.
    const paths = fake.requests({ method: 'POST' }).map((r) => r.path);
    expect(paths.indexOf('/api/v5/customers/create')).to.be.lessThan(paths.indexOf('/api/v5/orders/create'));
    expect(await leadSummary(db.pool, ENT, new Date(0), new Date(Date.now() + 60_000))).to.deep.equal({ requested: 1, created: 1 });
    // Another call within the period asks for nothing.
    expect(await leads.request({ enterprise: ENT, phone, linkedid: 'l4', calledAt: new Date(), periodHours: 24 })).to.equal(null);
  });

  // GIVEN orders/create reached RetailCRM but the answer was lost WHEN retried THEN the order is found by externalId
  it('finds the lead by its externalId instead of creating a twin', async () => {
    const phone = '+375291230010';
    const id = await new LeadRequests(db.pool).request({ enterprise: ENT, phone, linkedid: 'x', calledAt: new Date(), periodHours: 24 });
    const { rows } = await db.pool.query<{ external_id: string }>('select external_id from crm_leads where id = $1', [id]);
    const existing = fake.addOrder({ externalId: rows[0]?.external_id ?? '', phone });
    worker().start();
    await waitFor('the job done', settled);
    expect(fake.requests({ path: '/api/v5/orders/create' })).to.have.length(0);
    const lead = await db.pool.query('select crm_order_id from crm_leads where id = $1', [id]);
    expect(lead.rows[0]).to.deep.equal({ crm_order_id: existing.id });
  });

  // GIVEN a key without order_write WHEN the lead is created THEN the job fails with the reason, not retried
  it('fails the lead with the reason when the key lacks order_write', async () => {
    fake.account().scopes = SCOPES.filter((s) => s !== 'order_write');
    await new LeadRequests(db.pool).request({ enterprise: ENT, phone: '+375291230011', linkedid: 'y', calledAt: new Date(), periodHours: 24 });
    worker().start();
    await waitFor('the job to end', settled);
    const [job] = await jobs('lead_create');
    expect(job).to.deep.include({ state: 'failed', attempts: 1 });
    expect(job?.last_error).to.match(/lacks the scope order_write/);
  });
});
