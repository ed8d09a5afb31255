/** Component: RetailCRM trigger webhooks on the real HttpServer (port 0), fake RetailCRM, real PostgreSQL. */
import { expect } from 'chai';
import { HttpServer } from '../../src/http/http-server.js';
import { PATHS } from '../../src/http/public-paths.js';
import { registerWebhookRoutes, webhookTarget } from '../../src/sync/webhook-routes.js';
import { TaskTracker } from '../../src/lib/task-tracker.js';
import { editCustomer, editOrder } from '../fakes/fake-retailcrm-history.js';
import { createSyncFixture, customerRows, ENTERPRISE, orderRows, type SyncFixture } from '../helpers/sync-fixture.js';

describe('webhook parameters (pure)', () => {
  const target = (q: string) => webhookTarget(new URLSearchParams(q));
  // GIVEN the parameter spellings triggers use WHEN parsed THEN the right entity and id
  it('is liberal in names', () => {
    expect(target('event=customer.edit&id=5')).to.deep.include({ kind: 'customer', customerId: 5 });
    expect(target('customerId=6')).to.deep.include({ kind: 'customer', customerId: 6 });
    expect(target('customer=%7B%22id%22%3A7%7D')).to.deep.include({ kind: 'customer', customerId: 7 });
    expect(target('event=order.create&id=8&customer_id=3')).to.deep.include({ kind: 'order', orderId: 8 });
    expect(target('order[id]=9')).to.deep.include({ kind: 'order', orderId: 9 });
    expect(target('phone=%2B375291111111')).to.deep.equal({ kind: 'phone', phone: '+375291111111' });
  });
});

describe('webhook routes over HTTP', function () {
  this.timeout(10_000);
  let f: SyncFixture;
  let http: HttpServer;
  let tasks: TaskTracker;
  let base: string;

  before(async () => {
    f = await createSyncFixture();
    tasks = new TaskTracker();
    http = new HttpServer({ logger: f.logger });
    registerWebhookRoutes(http, {
      pool: f.db.pool,
      enterprises: f.enterprises,
      box: f.box,
      customers: f.customers,
      orders: f.orders,
      tasks,
      logger: f.logger,
      answerWithinMs: 300,
    });
    base = `http://127.0.0.1:${await http.listen(0, '127.0.0.1')}`;
  });
  after(async () => {
    await http.close();
    await tasks.drain();
    await f.close();
  });
  beforeEach(async () => {
    await f.reset();
  });

  const hook = (enterprise = ENTERPRISE, token = f.box.sign('webhook', enterprise)): string =>
    `${base}${PATHS.webhookPrefix}${encodeURIComponent(enterprise)}/${token}`;
  const post = async (url: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(url, { method: 'POST', body: new URLSearchParams(form), signal: AbortSignal.timeout(5_000) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  // GIVEN a wrong token, a missing token or an unknown enterprise WHEN called THEN the same bare 403 and no RetailCRM request
  it('answers 403 to bad credentials, indistinguishably', async () => {
    const c = f.fake.addCustomer({ firstName: 'X', phones: ['+375291111111'] });
    const answers = [
      await post(hook(ENTERPRISE, 'wrong-token-wrong-token-wrong-tok'), { customer_id: String(c.id) }),
      await post(hook('9999'), { customer_id: String(c.id) }),
      await post(`${base}${PATHS.webhookPrefix}${ENTERPRISE}`, { customer_id: String(c.id) }),
      await post(hook(ENTERPRISE, f.box.sign('webhook', '9999')), { customer_id: String(c.id) }),
    ];
    for (const a of answers) expect(a).to.deep.equal({ status: 403, body: { success: false, error: 'forbidden' } });
    expect(f.fake.requests({ path: /\/customers\// })).to.have.length(0);
    expect(await customerRows(f)).to.deep.equal([]);
  });

  // GIVEN a customer.create trigger (GET, customer_id) WHEN called THEN the customer's phones are in the table at once
  it('customer.create: writes the new customer’s rows', async () => {
    const c = f.fake.addCustomer({ firstName: 'Новый', phones: ['+375291111111'], managerId: 7 });
    const res = await fetch(`${hook()}?event=customer.create&customer_id=${c.id}`, { signal: AbortSignal.timeout(5_000) });
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ success: true, kind: 'customer', customerId: c.id, phones: 1 });
    expect((await customerRows(f)).map((r) => [r.phone, r.customer_name, r.manager_user_id])).to.deep.equal([['+375291111111', 'Новый', 7]]);
    expect(f.changed).to.deep.equal([{ enterprise: ENTERPRISE, phones: ['+375291111111'] }]);
  });

  // GIVEN a stored customer renamed and re-phoned WHEN customer.edit arrives (POST form, event + id) THEN its rows are rewritten
  it('customer.edit: rewrites name, phones and manager', async () => {
    const c = f.fake.addCustomer({ firstName: 'Old', phones: ['+375291111111'], managerId: 7 });
    await f.customers.refresh(f.enterprise, c.id);
    editCustomer(f.fake, c.id, { firstName: 'New', phones: ['+375292222222'], managerId: 8 });
    const res = await post(hook(), { event: 'customer.edit', id: String(c.id) });
    expect(res.status).to.equal(200);
    expect((await customerRows(f)).map((r) => [r.phone, r.customer_name, r.manager_user_id])).to.deep.equal([['+375292222222', 'New', 8]]);
  });

  // GIVEN a JSON body with a nested customer WHEN posted THEN it is understood too
  it('accepts JSON bodies', async () => {
    const c = f.fake.addCustomer({ firstName: 'Json', phones: ['+375291111111'] });
    const res = await fetch(hook(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'customer.edit', customer: { id: c.id } }),
      signal: AbortSignal.timeout(5_000),
    });
    expect(res.status).to.equal(200);
    expect(await customerRows(f)).to.have.length(1);
  });

  // GIVEN an order.create then order.edit trigger WHEN called THEN retailcrm_orders and the customer's rows follow
  it('order.create / order.edit: stores the order and refreshes its customer', async () => {
    const c = f.fake.addCustomer({ firstName: 'Buyer', phones: ['+375291111111'] });
    const o = f.fake.addOrder({ customerId: c.id, managerId: 7, phone: '+375291111111', createdAt: '2026-03-01 12:30:00' });
    const created = await post(hook(), { event: 'order.create', order_id: String(o.id) });
    expect(created.body).to.deep.equal({ success: true, kind: 'order', orderId: o.id, customerId: c.id, phones: 1 });
    expect((await orderRows(f)).map((r) => [r.order_id, r.customer_id, r.status, r.manager_user_id])).to.deep.equal([[o.id, c.id, 'new', 7]]);
    expect(await customerRows(f)).to.have.length(1);
    editOrder(f.fake, o.id, { status: 'complete' });
    await post(hook(), { event: 'order.edit', id: String(o.id) });
    expect((await orderRows(f)).map((r) => r.status)).to.deep.equal(['complete']);
  });

  // GIVEN a customer deleted in RetailCRM WHEN its trigger arrives THEN its rows are removed
  it('removes rows of a customer RetailCRM no longer has', async () => {
    const c = f.fake.addCustomer({ firstName: 'Gone', phones: ['+375291111111'] });
    await f.customers.refresh(f.enterprise, c.id);
    f.fake.account().customers.delete(c.id);
    const res = await post(hook(), { customer_id: String(c.id) });
    expect(res.body).to.deep.include({ success: true, phones: 1 });
    expect(await customerRows(f)).to.deep.equal([]);
  });

  // GIVEN payloads with no usable id WHEN posted THEN 400 with a clear error and nothing read
  it('answers 400 to a payload without a usable id', async () => {
    for (const form of <Record<string, string>[]>[{}, { event: 'customer.edit' }, { id: '12' }, { customer_id: 'abc' }, { phone: 'anonymous' }]) {
      const res = await post(hook(), form);
      expect(res.status, JSON.stringify(form)).to.equal(400);
      expect(res.body['success']).to.equal(false);
      expect(res.body['error']).to.be.a('string').and.not.equal('');
    }
    expect(f.fake.requests({ path: /\/api\/v5\// })).to.have.length(0);
  });

  // GIVEN RetailCRM that has not answered by the answer deadline WHEN a trigger arrives THEN 202 without waiting for
  // RetailCRM, and the rows appear once it answers
  it('answers 202 and finishes in the background when RetailCRM is slow', async () => {
    const c = f.fake.addCustomer({ firstName: 'Slow', phones: ['+375291111111'] });
    const answerRetailCrm = f.fake.holdAnswers();
    try {
      const res = await post(hook(), { customer_id: String(c.id) });
      // RetailCRM has not answered yet, so this answer cannot have waited for the refresh.
      expect(res).to.deep.equal({ status: 202, body: { success: true, accepted: true } });
      expect(await customerRows(f)).to.deep.equal([]);
    } finally {
      answerRetailCrm();
    }
    await tasks.drain();
    expect(await customerRows(f)).to.have.length(1);
  });

  // GIVEN RetailCRM failing WHEN a trigger arrives THEN 502 saying polling will catch up, and the table is untouched
  it('answers 502 when RetailCRM cannot be read', async () => {
    const c = f.fake.addCustomer({ firstName: 'Down', phones: ['+375291111111'] });
    f.fake.failNext(1, { status: 500 });
    const res = await post(hook(), { customer_id: String(c.id) });
    expect(res.status).to.equal(502);
    expect(await customerRows(f)).to.deep.equal([]);
  });

  // GIVEN only a phone WHEN posted THEN that phone's row is dropped so the next call asks RetailCRM
  it('forgets a phone named alone', async () => {
    const c = f.fake.addCustomer({ firstName: 'P', phones: ['+375291111111'] });
    await f.customers.refresh(f.enterprise, c.id);
    const res = await post(hook(), { phone: '80291111111' });
    expect(res.body).to.deep.equal({ success: true, kind: 'phone', phones: 1 });
    expect(await customerRows(f)).to.deep.equal([]);
  });
});
