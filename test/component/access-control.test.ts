/**
 * Who may connect, through the real service: FastAGI peers outside AGI_ALLOW are closed before anything is read,
 * a PBX outside an enterprise's PBX addresses cannot run that enterprise's calls, and /metrics, /ready and the
 * dashboard answer only HTTP_ADMIN_ALLOW while RetailCRM's callbacks stay open. Non-loopback peers are simulated
 * with other 127.0.0.0/8 source addresses (all loopback on Linux).
 */
import { expect } from 'chai';
import { loadAgiFlow } from '../fakes/agi-fixtures.js';
import { runAgiSession } from '../fakes/fake-asterisk.js';
import { httpGet, metricValue } from '../helpers/http-get.js';
import { ENTERPRISE, startTestService, type TestService } from '../helpers/service.js';

const CUSTOMER_PHONE = '+375291234567';
const incomingFlow = loadAgiFlow('inbound_answered__incoming');

describe('access control (component, real service)', function () {
  this.timeout(20_000);
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  const metrics = async (s: TestService): Promise<string> => (await httpGet(s.service.httpPort, '/metrics')).body;

  // GIVEN AGI_ALLOW=127.0.0.1/32 WHEN 127.0.0.2 connects THEN it is closed without a command, counted, and RetailCRM is never asked
  it('closes a FastAGI peer outside AGI_ALLOW at accept', async () => {
    t = await startTestService({ env: { AGI_ALLOW: '127.0.0.1/32' } });
    t.crm.addCustomer({ firstName: 'Иван', phones: [CUSTOMER_PHONE], managerId: 7 });
    const refused = await runAgiSession({
      port: t.service.agiPort, localAddress: '127.0.0.2', fixture: incomingFlow, script: 'incoming', query: { enterprise: ENTERPRISE },
    });
    expect(refused.commands).to.deep.equal([]);
    expect(refused.variables.get('RCRM_LOOKUP')).to.equal(undefined);
    expect(t.crm.requests({ path: '/api/v5/telephony/manager' })).to.have.length(0);
    expect(metricValue(await metrics(t), 'rcrm_agi_sessions_refused_total', { reason: 'not_allowed' })).to.equal(1);

    // The allowed PBX is served as usual.
    const served = await runAgiSession({
      port: t.service.agiPort, localAddress: '127.0.0.1', fixture: incomingFlow, script: 'incoming', query: { enterprise: ENTERPRISE },
    });
    expect(served.variables.get('RCRM_LOOKUP')).to.equal('FOUND');
  });

  // GIVEN enterprise A bound to PBX 127.0.0.2 and B bound to 127.0.0.3 WHEN B's PBX runs a call for A THEN it fails open, unanswered
  it('refuses a session for enterprise A from enterprise B’s PBX', async () => {
    t = await startTestService({ enterprise: { settings: { pbxAddresses: ['127.0.0.2/32'] } } });
    await t.enterprises.create({
      number: 'B-corp', crmUrl: t.crm.url, apiKey: t.crm.apiKey, clientId: 'client-b', country: 'BY', site: null,
      settings: { pbxAddresses: ['127.0.0.3/32'] },
    });
    t.crm.addCustomer({ firstName: 'Иван', lastName: 'Петров', phones: [CUSTOMER_PHONE], managerId: 7 });

    const crossTenant = await runAgiSession({
      port: t.service.agiPort, localAddress: '127.0.0.3', fixture: incomingFlow, script: 'incoming', query: { enterprise: ENTERPRISE },
    });
    expect(crossTenant.closedBy).to.equal('server');
    expect(crossTenant.variables.get('RCRM_LOOKUP')).to.equal('ERROR');
    expect(crossTenant.variables.get('RCRM_CUSTOMER_ID') ?? '').to.equal('');
    expect(crossTenant.variables.has('CALLERID(name)') && crossTenant.variables.get('CALLERID(name)') === 'Иван Петров').to.equal(false);
    expect(t.crm.requests({ path: '/api/v5/telephony/manager' })).to.have.length(0);
    const text = await metrics(t);
    expect(metricValue(text, 'rcrm_agi_sessions_refused_total', { reason: 'enterprise_pbx', enterprise: ENTERPRISE })).to.equal(1);

    const own = await runAgiSession({
      port: t.service.agiPort, localAddress: '127.0.0.2', fixture: incomingFlow, script: 'incoming', query: { enterprise: ENTERPRISE },
    });
    expect(own.variables.get('RCRM_LOOKUP')).to.equal('FOUND');
    expect(own.variables.get('CALLERID(name)')).to.equal('Иван Петров');
  });

  // GIVEN HTTP_ADMIN_ALLOW=127.0.0.1/32 WHEN 127.0.0.2 asks for /metrics or the dashboard THEN 403; /health and callbacks stay open
  it('keeps /metrics and the dashboard to HTTP_ADMIN_ALLOW and RetailCRM callbacks open', async () => {
    t = await startTestService({ env: { HTTP_ADMIN_ALLOW: '127.0.0.1/32' } });
    const port = t.service.httpPort;
    const outsider = { localAddress: '127.0.0.2' };
    expect((await httpGet(port, '/metrics', outsider)).status).to.equal(403);
    expect((await httpGet(port, `/dashboard?enterprise=${ENTERPRISE}&token=x`, outsider)).status).to.equal(403);
    expect((await httpGet(port, `/api/analytics/summary?enterprise=${ENTERPRISE}&token=x`, outsider)).status).to.equal(403);
    expect((await httpGet(port, '/health', outsider)).status).to.equal(200);
    // The callbacks answer on their own terms (a bad token is 403 from the route, not from the allow-list).
    const callback = await httpGet(port, '/api/makecallexternal?clientId=wrong&code=101&phone=1', outsider);
    expect(callback.body).not.to.contain('HTTP_ADMIN_ALLOW');
    const inside = await httpGet(port, '/metrics', { localAddress: '127.0.0.1' });
    expect(inside.status).to.equal(200);
    expect(metricValue(inside.body, 'rcrm_http_admin_refused_total')).to.equal(3);
  });
});
