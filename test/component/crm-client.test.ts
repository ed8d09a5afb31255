/** Component: the real RetailCrmClient over HTTP against the in-process fake RetailCRM. */
import { expect } from 'chai';
import { freePort } from '../helpers/ports.js';
import {
  CrmAuthError,
  CrmBadResponseError,
  CrmHttpError,
  CrmNetworkError,
  CrmOverloadedError,
  CrmRateLimitedError,
  CrmTimeoutError,
  InputError,
} from '../../src/lib/errors.js';
import { RetailCrmClient } from '../../src/crm/client.js';
import { RateLimiter } from '../../src/crm/rate-limiter.js';
import type { CallEvent, UploadCall } from '../../src/crm/types.js';
import type { CrmAccount } from '../../src/domain/crm-account.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { rejection, waitFor } from '../helpers/async.js';


function call(externalId: string, extra: Partial<UploadCall> = {}): UploadCall {
  return { date: '2024-05-01 10:00:00', type: 'in', phone: '79001234567', result: 'answered', duration: 30, externalId, ...extra };
}

describe('crm client against the fake RetailCRM', function () {
  this.timeout(15_000);
  let fake: FakeRetailCrm;
  let client: RetailCrmClient;
  let limiter: RateLimiter;
  let account: CrmAccount;

  before(async () => {
    fake = await FakeRetailCrm.start();
  });

  after(async () => {
    await fake.close();
  });

  beforeEach(() => {
    fake.reset();
    limiter = new RateLimiter();
    client = new RetailCrmClient({ limiter, defaultTimeoutMs: 3000, userAgent: 'retailcrm-agi-test' });
    account = { key: '100', url: fake.url, apiKey: fake.apiKey };
  });

  afterEach(() => {
    client.close();
    limiter.close();
  });

  describe('telephony/manager', () => {
    it('finds the customer and responsible manager by phone, matching digits only', async () => {
      // GIVEN a customer "+7 (900) 123-45-67" managed by user 16 (ext 101) WHEN looked up as 79001234567 THEN both come back
      fake.addUser({ id: 16, firstName: 'Анна', lastName: 'Петрова', code: '101' });
      fake.addCustomer({ id: 7, firstName: 'Иван', lastName: 'Иванов', phones: ['+7 (900) 123-45-67'], managerId: 16 });
      const lookup = await client.telephonyManager(account, '79001234567');
      expect(lookup.manager?.id).to.equal(16);
      expect(lookup.manager?.code).to.equal('101');
      expect(lookup.customer?.id).to.equal(7);
      expect(lookup.customer?.displayName).to.equal('Иван Иванов');
      expect(lookup.links?.customerLink).to.match(/\/customers\/7$/);
    });

    it('sends GET with phone, details=1, ignoreStatus=1, the key header and Accept JSON', async () => {
      // GIVEN any lookup WHEN sent THEN the recorded request follows the contract's encoding
      await client.telephonyManager(account, '+7 900 123');
      const [req] = fake.requests({ path: '/api/v5/telephony/manager' });
      expect(req?.method).to.equal('GET');
      expect(req?.query).to.deep.equal({ phone: '+7 900 123', details: '1', ignoreStatus: '1' });
      expect(req?.headers['x-api-key']).to.equal(fake.apiKey);
      expect(req?.headers.accept).to.equal('application/json');
      expect(req?.headers['user-agent']).to.equal('retailcrm-agi-test');
      expect(req?.rawQuery).to.not.include('apiKey');
    });

    it('returns neither manager nor customer for an unknown phone', async () => {
      // GIVEN no customer with that phone WHEN looked up THEN success with nothing
      const lookup = await client.telephonyManager(account, '70000000000');
      expect(lookup.manager).to.equal(undefined);
      expect(lookup.customer).to.equal(undefined);
    });

    it('shows a corporate customer by its company name', async () => {
      // GIVEN a corporate customer WHEN looked up THEN type corporate and displayName = company
      fake.addCustomer({ id: 9, type: 'customer_corporate', nickName: 'ООО Ромашка', phones: ['8 800 555-35-35'] });
      const lookup = await client.telephonyManager(account, '88005553535');
      expect(lookup.customer?.type).to.equal('customer_corporate');
      expect(lookup.customer?.displayName).to.equal('ООО Ромашка');
      expect(lookup.manager).to.equal(undefined);
    });

    it('omits a busy manager when ignoreStatus is false', async () => {
      // GIVEN the manager is on a break WHEN looked up with ignoreStatus false THEN no manager
      fake.addUser({ id: 16, status: 'break', code: '101' });
      fake.addCustomer({ id: 7, phones: ['111'], managerId: 16 });
      const lookup = await client.telephonyManager(account, '111', { ignoreStatus: false });
      expect(lookup.manager).to.equal(undefined);
      expect(lookup.customer?.id).to.equal(7);
      expect(fake.requests()[0]?.query.ignoreStatus).to.equal('0');
    });
  });

  describe('errors', () => {
    it('wrong API key → CrmAuthError (not retryable)', async () => {
      // GIVEN a key the fake does not know WHEN a request is made THEN CrmAuthError with RetailCRM's message
      const err = await rejection(client.telephonyManager({ ...account, apiKey: 'nope' }, '1'));
      expect(err).to.be.instanceOf(CrmAuthError);
      expect((err as CrmAuthError).status).to.equal(403);
      expect((err as CrmAuthError).errorMsg).to.equal('Wrong "apiKey" value.');
      expect((err as CrmAuthError).retryable).to.equal(false);
    });

    it('403 Access denied (missing scope) → CrmAuthError', async () => {
      // GIVEN the key lacks the scope WHEN called THEN CrmAuthError
      fake.failNext(1, { status: 403, body: '{"success":false,"errorMsg":"Access denied."}' });
      expect(await rejection(client.credentials(account))).to.be.instanceOf(CrmAuthError);
    });

    it('HTML 404 "Account does not exist" → CrmAuthError', async () => {
      // GIVEN a wrong account URL (HTML page) WHEN called THEN CrmAuthError
      fake.failNext(1, { status: 404, contentType: 'text/html', body: '<html><body>Account does not exist</body></html>' });
      const err = await rejection(client.users(account));
      expect(err).to.be.instanceOf(CrmAuthError);
      expect((err as CrmAuthError).errorMsg).to.equal('Account does not exist.');
    });

    it('HTML 405 on POST → CrmAuthError', async () => {
      // GIVEN a missing account answering 405 HTML to a POST WHEN posting THEN CrmAuthError
      fake.failNext(1, { status: 405, contentType: 'text/html', body: '<html>Method Not Allowed</html>' });
      expect(await rejection(client.callEvent(account, { phone: '1', type: 'in' }))).to.be.instanceOf(CrmAuthError);
    });

    it('503 with Retry-After → CrmRateLimitedError carrying the delay', async () => {
      // GIVEN RetailCRM's 503 (HTML body) with Retry-After: 2 WHEN called THEN CrmRateLimitedError, retryAfterMs 2000
      fake.failNext(1, { status: 503, contentType: 'text/html', body: '<html>503 Service Temporarily Unavailable</html>', retryAfter: 2 });
      const err = await rejection(client.telephonyManager(account, '1'));
      expect(err).to.be.instanceOf(CrmRateLimitedError);
      expect((err as CrmRateLimitedError).retryAfterMs).to.equal(2000);
      expect((err as CrmRateLimitedError).status).to.equal(503);
    });

    it('503 without Retry-After (rateLimit mode) → CrmRateLimitedError, no delay', async () => {
      // GIVEN the fake in rateLimit mode WHEN called THEN CrmRateLimitedError with retryAfterMs undefined
      fake.setMode('rateLimit');
      const err = await rejection(client.users(account));
      expect(err).to.be.instanceOf(CrmRateLimitedError);
      expect((err as CrmRateLimitedError).retryAfterMs).to.equal(undefined);
    });

    it('429 → CrmRateLimitedError', async () => {
      // GIVEN a 429 WHEN called THEN treated like 503
      fake.failNext(1, { status: 429, body: '{}' });
      expect(await rejection(client.users(account))).to.be.instanceOf(CrmRateLimitedError);
    });

    it('500 → retryable CrmHttpError with errorMsg', async () => {
      // GIVEN a 500 with an error body WHEN called THEN CrmHttpError, retryable
      fake.failNext(1, { status: 500, body: '{"success":false,"errorMsg":"Internal error"}' });
      const err = await rejection(client.telephonyManager(account, '1'));
      expect(err).to.be.instanceOf(CrmHttpError);
      expect((err as CrmHttpError).status).to.equal(500);
      expect((err as CrmHttpError).errorMsg).to.equal('Internal error');
      expect((err as CrmHttpError).retryable).to.equal(true);
    });

    it('502 with an HTML body → retryable CrmHttpError', async () => {
      // GIVEN a proxy's HTML 502 WHEN called THEN CrmHttpError 502, retryable, no errorMsg
      fake.failNext(1, { status: 502, contentType: 'text/html', body: '<html>Bad Gateway</html>' });
      const err = await rejection(client.users(account));
      expect(err).to.be.instanceOf(CrmHttpError);
      expect((err as CrmHttpError).retryable).to.equal(true);
      expect((err as CrmHttpError).errorMsg).to.equal(undefined);
    });

    it('400 validation → permanent CrmHttpError with errors', async () => {
      // GIVEN an invalid hangupStatus WHEN sent THEN 400 "Errors in the entity format" with the field
      const event = { phone: '1', type: 'hangup', hangupStatus: 'no answer' } as unknown as CallEvent;
      const err = await rejection(client.callEvent(account, event));
      expect(err).to.be.instanceOf(CrmHttpError);
      expect((err as CrmHttpError).status).to.equal(400);
      expect((err as CrmHttpError).retryable).to.equal(false);
      expect((err as CrmHttpError).errorMsg).to.equal('Errors in the entity format');
      expect((err as CrmHttpError).errors).to.have.property('hangupStatus');
    });

    it('200 with HTML → CrmBadResponseError', async () => {
      // GIVEN a maintenance page with status 200 WHEN called THEN CrmBadResponseError
      fake.setMode('garbage', { garbage: 'html' });
      const err = await rejection(client.telephonyManager(account, '1'));
      expect(err).to.be.instanceOf(CrmBadResponseError);
      expect((err as CrmBadResponseError).message).to.include('HTML');
    });

    it('200 with truncated JSON → CrmBadResponseError', async () => {
      // GIVEN a body cut mid-string WHEN called THEN CrmBadResponseError
      fake.setMode('garbage', { garbage: 'truncated' });
      expect(await rejection(client.telephonyManager(account, '1'))).to.be.instanceOf(CrmBadResponseError);
    });

    it('200 with success:false → CrmHttpError', async () => {
      // GIVEN a 200 that says success:false WHEN called THEN CrmHttpError (not silently "not found")
      fake.failNext(1, { status: 200, body: '{"success":false,"errorMsg":"Telephony not enabled"}' });
      const err = await rejection(client.callEvent(account, { phone: '1', type: 'in' }));
      expect(err).to.be.instanceOf(CrmHttpError);
      expect((err as CrmHttpError).errorMsg).to.equal('Telephony not enabled');
    });

    it('slow beyond the deadline → CrmTimeoutError near the deadline', async () => {
      // GIVEN 5 s latency WHEN called with a 200 ms deadline THEN CrmTimeoutError well before the answer
      fake.setLatency(5000);
      const started = Date.now();
      const err = await rejection(client.telephonyManager(account, '1', { timeoutMs: 200 }));
      expect(err).to.be.instanceOf(CrmTimeoutError);
      expect(Date.now() - started).to.be.below(2000);
    });

    it('a hanging server → CrmTimeoutError (default deadline applies)', async () => {
      // GIVEN the fake never answers WHEN called with no timeout THEN the client's default deadline fires
      fake.setMode('hang');
      const quick = new RetailCrmClient({ limiter, defaultTimeoutMs: 300 });
      try {
        expect(await rejection(quick.users(account))).to.be.instanceOf(CrmTimeoutError);
      } finally {
        quick.close();
      }
    });

    it('connection refused → CrmNetworkError', async () => {
      // GIVEN a port nobody listens on WHEN called THEN CrmNetworkError (retryable)
      const port = await freePort();
      const err = await rejection(client.users({ ...account, url: `http://127.0.0.1:${port}` }));
      expect(err).to.be.instanceOf(CrmNetworkError);
      expect((err as CrmNetworkError).retryable).to.equal(true);
    });

    it('connection destroyed mid-request → CrmNetworkError', async () => {
      // GIVEN the fake drops connections WHEN called THEN CrmNetworkError
      fake.setMode('down');
      expect(await rejection(client.users(account))).to.be.instanceOf(CrmNetworkError);
    });

    it("caller's signal aborts → CrmTimeoutError promptly", async () => {
      // GIVEN a slow answer WHEN the caller aborts once the request is at RetailCRM THEN CrmTimeoutError long before the answer
      fake.setLatency(5000);
      const controller = new AbortController();
      const started = Date.now();
      const pending = rejection(client.telephonyManager(account, '1', { signal: controller.signal }));
      await waitFor('the request at RetailCRM', () => fake.requests().length === 1);
      controller.abort();
      expect(await pending).to.be.instanceOf(CrmTimeoutError);
      expect(Date.now() - started).to.be.below(5000);
    });

    it('an already-aborted signal never reaches the server', async () => {
      // GIVEN an aborted signal WHEN called THEN CrmTimeoutError and no request recorded
      const controller = new AbortController();
      controller.abort();
      expect(await rejection(client.users(account, {}, { signal: controller.signal }))).to.be.instanceOf(CrmTimeoutError);
      expect(fake.requests()).to.have.length(0);
    });

    it('over the in-flight and waiter bounds → CrmOverloadedError', async () => {
      // GIVEN 1 in flight allowed and no waiting WHEN two requests run at once THEN the second is refused
      const tight = new RateLimiter({ maxInFlightPerAccount: 1, maxWaitersPerAccount: 0 });
      const tightClient = new RetailCrmClient({ limiter: tight, defaultTimeoutMs: 3000 });
      fake.setLatency(200);
      try {
        const first = tightClient.users(account);
        const err = await rejection(tightClient.users(account));
        expect(err).to.be.instanceOf(CrmOverloadedError);
        await first;
      } finally {
        tightClient.close();
        tight.close();
      }
    });
  });

  describe('telephony writes', () => {
    it('call event goes as form-urlencoded with `event` as a JSON string', async () => {
      // GIVEN an incoming-call event WHEN sent THEN the fake decodes event JSON and reports unknown codes
      fake.addUser({ id: 16, code: '101' });
      const result = await client.callEvent(account, {
        phone: '+79001234567', type: 'in', codes: ['101', '999'], userIds: [16, 77], callExternalId: 'L1', externalPhone: '74950000000',
      });
      expect(result).to.deep.equal({ notExistCodes: ['999'], notExistUsers: [77] });
      const [req] = fake.requests({ path: '/api/v5/telephony/call/event' });
      expect(req?.method).to.equal('POST');
      expect(req?.contentType).to.match(/^application\/x-www-form-urlencoded/);
      expect(req?.rawBody).to.match(/^event=%7B/);
      expect(req?.form.event).to.deep.include({ phone: '+79001234567', type: 'in', callExternalId: 'L1' });
      expect(fake.account().events).to.have.length(1);
    });

    it('calls upload reports duplicates by externalId', async () => {
      // GIVEN two calls uploaded WHEN one of them is uploaded again with a new one THEN it is in duplicateCalls
      const first = await client.callsUpload(account, [call('a'), call('b', { result: 'no answer', type: 'out' })]);
      expect(first).to.deep.equal({ processedCallsCount: 2, duplicateCalls: [] });
      const second = await client.callsUpload(account, [call('b'), call('c')]);
      expect(second).to.deep.equal({ processedCallsCount: 1, duplicateCalls: ['b'] });
      const [req] = fake.requests({ path: '/api/v5/telephony/calls/upload' });
      expect(req?.form.calls).to.be.an('array').with.length(2);
      expect([...new URLSearchParams(req?.rawBody).keys()]).to.deep.equal(['calls']);
    });

    it('more than 50 calls are refused before any request', async () => {
      // GIVEN 51 calls WHEN uploaded THEN InputError and nothing sent
      const calls = Array.from({ length: 51 }, (_, i) => call(`x${i}`));
      expect(await rejection(client.callsUpload(account, calls))).to.be.instanceOf(InputError);
      expect(fake.requests()).to.have.length(0);
      expect((await client.callsUpload(account, calls.slice(0, 50))).processedCallsCount).to.equal(50);
    });

    it('an empty upload sends nothing', async () => {
      // GIVEN no calls WHEN uploaded THEN zero processed and no request
      expect(await client.callsUpload(account, [])).to.deep.equal({ processedCallsCount: 0, duplicateCalls: [] });
      expect(fake.requests()).to.have.length(0);
    });

    it('an invalid upload result enum is rejected by the fake as RetailCRM would', async () => {
      // GIVEN result "no answered" (the hangupStatus spelling) WHEN uploaded THEN 400
      const bad = call('z', { result: 'no answered' as unknown as UploadCall['result'] });
      const err = await rejection(client.callsUpload(account, [bad]));
      expect((err as CrmHttpError).status).to.equal(400);
    });
  });

  describe('customers, users, module, history', () => {
    it('creates a customer (201 + id) with site as a plain field, then reads it back', async () => {
      // GIVEN a new caller WHEN created THEN the id comes back, and GET customers/{id}?by=id finds it
      const id = await client.customersCreate(account, { firstName: '79001234567', phones: [{ number: '+79001234567' }], managerId: 16 }, 'shop1');
      const [req] = fake.requests({ path: '/api/v5/customers/create' });
      expect(req?.form.site).to.equal('shop1');
      expect(req?.form.customer).to.deep.include({ firstName: '79001234567' });
      const customer = await client.customerGet(account, id);
      expect(customer?.id).to.equal(id);
      expect(customer?.phones).to.deep.equal(['+79001234567']);
      expect(customer?.managerId).to.equal(16);
      expect(fake.requests({ method: 'GET' })[0]?.query).to.deep.equal({ by: 'id' });
    });

    it('customerGet returns null for a missing customer', async () => {
      // GIVEN no such id WHEN read THEN null (404 Not found)
      expect(await client.customerGet(account, 424242)).to.equal(null);
    });

    it('customersList sends filter[name] and pages', async () => {
      // GIVEN two matching customers WHEN listed with limit 20 THEN both, with bracket-notation query
      fake.addCustomer({ firstName: 'Ann', phones: ['1'] });
      fake.addCustomer({ firstName: 'Annette', phones: ['2'] });
      fake.addCustomer({ firstName: 'Bob', phones: ['3'] });
      const page = await client.customersList(account, { name: 'ann' }, { limit: 20, page: 1 });
      expect(page.items.map((c) => c.firstName)).to.deep.equal(['Ann', 'Annette']);
      expect(page.pagination.totalCount).to.equal(2);
      expect(fake.requests()[0]?.rawQuery).to.equal('filter[name]=ann&page=1&limit=20');
    });

    it('users, user status and the integration module round-trip', async () => {
      // GIVEN users WHEN listed, status changed and the module registered THEN each call works end to end
      fake.addUser({ id: 16, firstName: 'Анна' });
      const users = await client.users(account, { page: 1, limit: 50 });
      expect(users.items.map((u) => u.id)).to.deep.equal([16]);
      await client.userStatus(account, 16, 'dinner');
      expect(fake.account().users.get(16)?.status).to.equal('dinner');
      expect(fake.requests({ path: '/api/v5/users/16/status' })[0]?.rawBody).to.equal('status=dinner');

      expect(await client.integrationModuleGet(account, 'pbx-100')).to.equal(null);
      const info = await client.integrationModuleEdit(account, 'pbx-100', {
        code: 'pbx-100', active: true, name: 'PBX', clientId: 'secret',
        integrations: { telephony: { makeCallUrl: 'https://svc/mc', additionalCodes: [{ userId: 16, code: '101' }, { userId: 99, code: '199' }] } },
      });
      expect(info.notExistUsersIds).to.deep.equal([99]);
      const module = await client.integrationModuleGet(account, 'pbx-100');
      expect(module?.active).to.equal(true);
      expect(module?.integrations?.telephony?.additionalCodes).to.deep.equal([{ userId: 16, code: '101' }, { userId: 99, code: '199' }]);
      expect(await rejection(client.integrationModuleEdit(account, 'other', { code: 'pbx-100' }))).to.be.instanceOf(InputError);
    });

    it('credentials uses /api/credentials without a version', async () => {
      // GIVEN a valid key WHEN credentials are checked THEN scopes come back from the unversioned path
      const creds = await client.credentials({ ...account, url: `${fake.url}/` });
      expect(creds.scopes).to.include('telephony_write');
      expect(fake.requests()[0]?.path).to.equal('/api/credentials');
    });

    it('customers history pages by sinceId until empty', async () => {
      // GIVEN 5 customers (5 history entries) WHEN read 2 at a time… by sinceId THEN all 5 ids, then an empty page
      for (let i = 0; i < 5; i++) fake.addCustomer({ firstName: `c${i}` });
      const seen: number[] = [];
      let sinceId: number | undefined;
      for (let guard = 0; guard < 10; guard++) {
        const page = await client.customersHistory(account, sinceId === undefined ? { startDate: '2000-01-01 00:00:00', limit: 20 } : { sinceId, limit: 20 });
        if (page.entries.length === 0) break;
        seen.push(...page.entries.map((e) => e.customer?.id ?? -1));
        sinceId = page.entries[page.entries.length - 1]?.id;
      }
      expect(seen).to.have.length(5);
      const queries = fake.requests().map((r) => r.rawQuery);
      expect(queries[0]).to.equal('filter[startDate]=2000-01-01%2000%3A00%3A00&limit=20&page=1');
      expect(queries[1]).to.match(/^filter\[sinceId\]=\d+&limit=20&page=1$/);
    });

    it('orders list by customer and orders history', async () => {
      // GIVEN orders of two customers WHEN listed for one THEN only its orders; history shows both
      fake.addOrder({ id: 501, customerId: 7 });
      fake.addOrder({ id: 502, customerId: 8 });
      const page = await client.ordersList(account, { customerId: 7 }, { limit: 20 });
      expect(page.items.map((o) => o.id)).to.deep.equal([501]);
      expect(page.items[0]?.customerId).to.equal(7);
      const history = await client.ordersHistory(account, { sinceId: 0, limit: 100 });
      expect(history.entries.map((e) => e.order?.id)).to.deep.equal([501, 502]);
    });
  });

  describe('rate limits', () => {
    it('the limiter keeps 25 general requests under the fake’s real 10 rps limit', async () => {
      // GIVEN RetailCRM enforcing 10 rps per key WHEN 25 requests are fired at once THEN none gets 503
      fake.setRateLimit({ perSecond: 10 });
      const results = await Promise.allSettled(Array.from({ length: 25 }, () => client.users(account, {}, { timeoutMs: 10_000 })));
      expect(results.filter((r) => r.status === 'rejected')).to.have.length(0);
    });

    it('without our limiter the fake does answer 503 above 10 rps', async () => {
      // GIVEN a permissive limiter WHEN 25 requests go at once THEN some are rate-limited (proves the fake enforces)
      fake.setRateLimit({ perSecond: 10 });
      const loose = new RateLimiter({ ratesPerSecond: { general: 1000 }, maxInFlightPerAccount: 100 });
      const looseClient = new RetailCrmClient({ limiter: loose, defaultTimeoutMs: 5000 });
      try {
        const results = await Promise.allSettled(Array.from({ length: 25 }, () => looseClient.users(account)));
        const limited = results.filter((r) => r.status === 'rejected' && r.reason instanceof CrmRateLimitedError);
        expect(limited.length).to.be.greaterThan(0);
      } finally {
        looseClient.close();
        loose.close();
      }
    });
  });
});
