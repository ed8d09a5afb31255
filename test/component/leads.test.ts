/**
 * Leads end to end: three /incoming sessions at once for a number RetailCRM does not know (fake Asterisk replaying
 * a real Asterisk 22 session → the service → the fake RetailCRM) make one customer and one lead.
 */
import { expect } from 'chai';
import { loadAgiFlow } from '../fakes/agi-fixtures.js';
import { runAgiSession } from '../fakes/fake-asterisk.js';
import { waitFor } from '../helpers/async.js';
import { ENTERPRISE, startTestService, type TestService } from '../helpers/service.js';

const CALLER = '+375291234567';
const incomingFlow = loadAgiFlow('inbound_answered__incoming');

describe('leads for new callers (end to end)', function () {
  this.timeout(30_000);
  let t: TestService;
  afterEach(async () => {
    await t.stop();
  });

  async function start(leads: boolean): Promise<void> {
    t = await startTestService({
      enterprise: { settings: { leads: { enabled: leads, site: null, orderMethod: 'phone', status: null, periodHours: 24 } } },
      overrides: { outbox: { pollIntervalMs: 20, retryBaseMs: 10, retryCapMs: 50 } },
    });
    t.crm.account().scopes.push('order_write');
    t.crm.addUser({ id: 7, firstName: 'Anna' });
  }
  const incoming = () => runAgiSession({ port: t.service.agiPort, fixture: incomingFlow, script: 'incoming', query: { enterprise: ENTERPRISE } });

  // GIVEN leads on and a number RetailCRM does not know WHEN it calls three times at once THEN one customer and
  // one lead linked to it, and a fourth call the same day asks for nothing more
  it('three concurrent calls of a new number: one customer, one lead', async () => {
    await start(true);
    const results = await Promise.all([incoming(), incoming(), incoming()]);
    for (const r of results) expect(r.variables.get('RCRM_LOOKUP')).to.equal('NOT_FOUND');
    await t.service.drainBackground();
    await waitFor('the lead in RetailCRM', () => t.crm.account().orders.size === 1);
    const customers = [...t.crm.account().customers.values()].filter((c) => c.phones.includes(CALLER));
    expect(customers).to.have.length(1);
    const [order] = [...t.crm.account().orders.values()];
    expect(order).to.deep.include({ customerId: customers[0]?.id, orderMethod: 'phone', phone: CALLER });
    await waitFor('the lead stored', async () => (await t.db.pool.query('select 1 from crm_leads where crm_order_id is not null')).rowCount === 1);
    await incoming();
    await t.service.drainBackground();
    expect((await t.db.pool.query('select count(*)::int as n from crm_leads')).rows[0]).to.deep.equal({ n: 1 });
    expect(t.crm.requests({ path: '/api/v5/orders/create' })).to.have.length(1);
  });

  // GIVEN leads off (the default) WHEN a new number calls THEN no lead
  it('asks for no lead when leads are off', async () => {
    await start(false);
    await incoming();
    await t.service.drainBackground();
    await waitFor('the customer', () => t.crm.account().customers.size === 1);
    expect((await t.db.pool.query('select count(*)::int as n from crm_leads')).rows[0]).to.deep.equal({ n: 0 });
    expect(t.crm.account().orders.size).to.equal(0);
  });
});
