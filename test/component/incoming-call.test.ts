/**
 * /incoming and /outgoing end to end: fake Asterisk (replaying real Asterisk 22 sessions) → FastAGI server →
 * lookup chain (cache, real PostgreSQL, fake RetailCRM) → channel variables.
 */
import { expect } from 'chai';
import { loadAgiFlow } from '../fakes/agi-fixtures.js';
import { runAgiSession } from '../fakes/fake-asterisk.js';
import { ENTERPRISE, startTestService, type TestService } from '../helpers/service.js';

const CUSTOMER_PHONE = '+375291234567';
const incomingFlow = loadAgiFlow('inbound_answered__incoming');
const outgoingFlow = loadAgiFlow('outbound_answered__outgoing');

describe('FastAGI /incoming and /outgoing (end to end)', () => {
  let t: TestService;
  beforeEach(async () => {
    t = await startTestService();
    t.crm.addUser({ id: 7, firstName: 'Anna', lastName: 'Petrova' });
    t.crm.addUser({ id: 99, firstName: 'No', lastName: 'Extension' });
  });
  afterEach(async () => {
    await t.stop();
  });

  const incoming = (opts: Partial<Parameters<typeof runAgiSession>[0]> = {}) =>
    runAgiSession({ port: t.service.agiPort, fixture: incomingFlow, script: 'incoming', query: { enterprise: ENTERPRISE }, ...opts });

  // GIVEN a known customer with a responsible manager on extension 101 WHEN they call THEN name, manager, id and FOUND are set
  it('names and routes a known customer', async () => {
    const c = t.crm.addCustomer({ firstName: 'Иван', lastName: 'Петров', phones: [CUSTOMER_PHONE], managerId: 7 });
    const r = await incoming();
    expect(r.variables.get('CALLERID(name)')).to.equal('Иван Петров');
    expect(r.variables.get('RCRM_MANAGER')).to.equal('101');
    expect(r.variables.get('RCRM_CUSTOMER_ID')).to.equal(String(c.id));
    expect(r.variables.get('RCRM_LOOKUP')).to.equal('FOUND');
    expect(r.closedBy).to.equal('server');
    const lookups = t.crm.requests({ path: '/api/v5/telephony/manager' });
    expect(lookups).to.have.length(1);
    expect(lookups[0]?.headers['x-api-key']).to.equal(t.crm.apiKey);
  });

  // GIVEN an unknown number WHEN it calls THEN NOT_FOUND, empty manager, and the name left as Asterisk had it
  it('leaves an unknown caller to the default route', async () => {
    const r = await incoming();
    expect(r.variables.get('RCRM_LOOKUP')).to.equal('NOT_FOUND');
    expect(r.variables.get('RCRM_MANAGER')).to.equal('');
    expect(r.variables.get('RCRM_CUSTOMER_ID')).to.equal('');
    expect(r.commands.some((c) => c.startsWith('SET VARIABLE CALLERID(name)'))).to.equal(false);
  });

  // GIVEN a corporate customer WHEN it calls THEN the company name is shown
  it('shows the company for a corporate customer', async () => {
    t.crm.addCustomer({ type: 'customer_corporate', nickName: 'ООО "Ромашка"', phones: [CUSTOMER_PHONE], managerId: 7 });
    const r = await incoming();
    expect(r.variables.get('CALLERID(name)')).to.equal('ООО "Ромашка"');
    expect(r.variables.get('RCRM_MANAGER')).to.equal('101');
  });

  // GIVEN a manager with no extension mapped WHEN the customer calls THEN FOUND with an empty RCRM_MANAGER
  it('finds the customer but routes by default when the manager has no extension', async () => {
    t.crm.addCustomer({ firstName: 'Иван', phones: [CUSTOMER_PHONE], managerId: 99 });
    const r = await incoming();
    expect(r.variables.get('RCRM_LOOKUP')).to.equal('FOUND');
    expect(r.variables.get('RCRM_MANAGER')).to.equal('');
    expect(r.variables.get('CALLERID(name)')).to.equal('Иван');
  });

  const hostileNames: [string, string][] = [
    ['comma', 'Petrov, Ivan'],
    ['quotes', 'Иван "Тест" Петров'],
    ['pipe and ampersand', 'A|B&PJSIP/999,20'],
    ['newline', 'Ivan\r\nSET VARIABLE RCRM_MANAGER 666'],
    ['emoji', '🚀 Ракета 👨‍👩‍👧'],
    ['backslash', 'C:\\Users\\"x"'],
    ['300 characters', 'Я'.repeat(300)],
  ];
  for (const [label, name] of hostileNames) {
    // GIVEN a customer name with hostile characters WHEN the customer calls THEN the name is safe and routing unchanged
    it(`keeps routing intact for a name with ${label}`, async () => {
      t.crm.addCustomer({ firstName: name, phones: [CUSTOMER_PHONE], managerId: 7 });
      const r = await incoming();
      const shown = r.variables.get('CALLERID(name)') ?? '';
      expect(shown).to.not.match(/[\r\n\u0000-\u001f]/);
      expect([...shown].length).to.be.at.most(64);
      expect(r.variables.get('RCRM_MANAGER')).to.equal('101');
      expect(r.variables.get('RCRM_LOOKUP')).to.equal('FOUND');
      expect(r.commands.every((c) => !c.includes('\r'))).to.equal(true);
      // Routing variables go in one EXEC MSet whose argument holds only validated values: no name text in it.
      const routing = r.commands.filter((c) => c.includes('RCRM_MANAGER') && !c.startsWith('SET VARIABLE CALLERID(name)'));
      expect(routing).to.deep.equal([`EXEC MSet "RCRM_MANAGER=101,RCRM_CUSTOMER_ID=${r.variables.get('RCRM_CUSTOMER_ID')},RCRM_LOOKUP=FOUND"`]);
      if (label === 'quotes' || label === 'comma' || label === 'emoji') expect(shown).to.equal(name.trim());
    });
  }

  for (const raw of ['+375291234567', '375291234567', '80291234567', '8 (029) 123-45-67']) {
    // GIVEN a caller id in international, national or local format WHEN it calls THEN the same customer is found
    it(`finds the customer for caller id ${raw}`, async () => {
      t.crm.addCustomer({ firstName: 'Иван', phones: ['+375 29 123-45-67'], managerId: 7 });
      const r = await incoming({ envOverrides: { agi_callerid: raw }, variables: { 'CALLERID(num)': raw } });
      expect(r.variables.get('RCRM_LOOKUP')).to.equal('FOUND');
      const sent = t.crm.requests({ path: '/api/v5/telephony/manager' })[0];
      expect(JSON.stringify(sent?.query)).to.contain(encodeURIComponent('+375291234567').replace('%2B', '+'));
    });
  }

  // GIVEN the second call from the same number WHEN it comes in THEN RetailCRM is not asked again
  it('serves repeat callers from the cache', async () => {
    t.crm.addCustomer({ firstName: 'Иван', phones: [CUSTOMER_PHONE], managerId: 7 });
    await incoming();
    const r = await incoming();
    expect(r.variables.get('RCRM_LOOKUP')).to.equal('FOUND');
    expect(t.crm.requests({ path: '/api/v5/telephony/manager' })).to.have.length(1);
  });

  describe('fails open', () => {
    const cases: [string, (t: TestService) => void, string[]][] = [
      ['RetailCRM slower than the budget', (s) => s.crm.setLatency(3_000), ['TIMEOUT']],
      ['RetailCRM down', (s) => s.crm.setMode('down'), ['ERROR', 'TIMEOUT']],
      ['RetailCRM never answering', (s) => s.crm.setMode('hang'), ['TIMEOUT']],
      ['RetailCRM rate-limiting (503)', (s) => s.crm.setMode('rateLimit'), ['ERROR', 'TIMEOUT']],
      ['RetailCRM answering HTML', (s) => s.crm.setMode('garbage', { garbage: 'html' }), ['ERROR']],
      ['RetailCRM answering truncated JSON', (s) => s.crm.setMode('garbage', { garbage: 'truncated' }), ['ERROR']],
      ['RetailCRM answering 500', (s) => s.crm.failNext(5, { status: 500 }), ['ERROR']],
    ];
    for (const [label, breakIt, statuses] of cases) {
      // GIVEN RetailCRM misbehaving WHEN a customer calls THEN the call is routed by default within the budget
      it(`routes within the budget when ${label}`, async () => {
        t.crm.addCustomer({ firstName: 'Иван', phones: [CUSTOMER_PHONE], managerId: 7 });
        breakIt(t);
        const started = Date.now();
        const r = await incoming();
        const elapsed = Date.now() - started;
        expect(statuses).to.include(r.variables.get('RCRM_LOOKUP'));
        expect(r.variables.get('RCRM_MANAGER')).to.equal('');
        expect(elapsed).to.be.below(300 + 1_000); // budget 300 ms; generous slack for a loaded machine
      });
    }

    // GIVEN a wrong API key WHEN a customer calls THEN ERROR and the default route
    it('routes by default with a wrong API key', async () => {
      await t.enterprises.update(ENTERPRISE, { apiKey: 'wrong-key-123' });
      t.service.directory.invalidate();
      const r = await incoming();
      expect(r.variables.get('RCRM_LOOKUP')).to.equal('ERROR');
      expect(r.variables.get('RCRM_MANAGER')).to.equal('');
    });

    // GIVEN a row in the table from an earlier call and RetailCRM down WHEN the customer calls again THEN the stale row names them
    it('uses a stale table row when RetailCRM is down', async () => {
      t.crm.addCustomer({ firstName: 'Иван', phones: [CUSTOMER_PHONE], managerId: 7 });
      await incoming();
      await t.service.lookup.drain();
      await t.db.pool.query("update retailcrm_customers set updated_at = now() - interval '2 days'");
      t.service.lookup.invalidate(ENTERPRISE);
      t.crm.setMode('down');
      const r = await incoming();
      expect(r.variables.get('CALLERID(name)')).to.equal('Иван');
      expect(r.variables.get('RCRM_MANAGER')).to.equal('101');
      expect(r.variables.get('RCRM_LOOKUP')).to.equal('FOUND');
    });

    // GIVEN no enterprise in the URL or channel WHEN a call comes in THEN ERROR and the default route
    it('routes by default when the enterprise is missing', async () => {
      const r = await incoming({ query: {} });
      expect(r.variables.get('RCRM_LOOKUP')).to.equal('ERROR');
      expect(r.variables.get('RCRM_MANAGER')).to.equal('');
    });

    // GIVEN an enterprise number nobody configured WHEN a call comes in THEN ERROR and the default route
    it('routes by default for an unknown enterprise', async () => {
      const r = await incoming({ query: { enterprise: '9999' } });
      expect(r.variables.get('RCRM_LOOKUP')).to.equal('ERROR');
      expect(t.crm.requests()).to.have.length(0);
    });

    // GIVEN the enterprise only in the channel variable RCRM_ENTERPRISE WHEN a call comes in THEN it is used
    it('takes the enterprise from RCRM_ENTERPRISE', async () => {
      t.crm.addCustomer({ firstName: 'Иван', phones: [CUSTOMER_PHONE], managerId: 7 });
      const r = await incoming({ query: {}, variables: { RCRM_ENTERPRISE: ENTERPRISE } });
      expect(r.variables.get('RCRM_LOOKUP')).to.equal('FOUND');
    });
  });

  // GIVEN a caller who hangs up while /incoming runs WHEN Asterisk sends HANGUP THEN the session ends cleanly and the server keeps serving
  it('survives a hangup mid-session', async () => {
    t.crm.setLatency(100);
    const r = await incoming({ hangupAfterCommands: 1 });
    expect(r.hangupSent).to.equal(true);
    t.crm.setLatency(0);
    t.crm.addCustomer({ firstName: 'Иван', phones: [CUSTOMER_PHONE], managerId: 7 });
    t.service.lookup.invalidate(ENTERPRISE);
    expect((await incoming()).variables.get('RCRM_LOOKUP')).to.equal('FOUND');
  });

  // GIVEN garbage instead of an AGI environment WHEN it arrives THEN the connection is closed and the next call works
  it('drops malformed AGI input and keeps serving', async () => {
    await runAgiSession({ port: t.service.agiPort, fixture: incomingFlow, garbage: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' }).catch(() => undefined);
    await runAgiSession({ port: t.service.agiPort, fixture: incomingFlow, garbage: Buffer.alloc(20_000, 0x41) }).catch(() => undefined);
    expect((await incoming()).variables.get('RCRM_LOOKUP')).to.equal('NOT_FOUND');
  });

  // GIVEN a manager dialing a known customer WHEN /outgoing runs THEN RCRM_CUSTOMER_ID and RCRM_LOOKUP are set
  it('looks up the dialed number on /outgoing', async () => {
    const c = t.crm.addCustomer({ firstName: 'Пётр', phones: ['+375297654321'], managerId: 8 });
    const r = await runAgiSession({ port: t.service.agiPort, fixture: outgoingFlow, script: 'outgoing', query: { enterprise: ENTERPRISE } });
    expect(r.variables.get('RCRM_CUSTOMER_ID')).to.equal(String(c.id));
    expect(r.variables.get('RCRM_LOOKUP')).to.equal('FOUND');
    expect(r.commands.some((x) => x.startsWith('SET VARIABLE CALLERID'))).to.equal(false);
  });
});
