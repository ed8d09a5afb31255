/**
 * Issue 4 through the whole service: RetailCRM's makeCallUrl and changeUserStatusUrl requests → HTTP server →
 * AMI Originate on the fake Asterisk Manager → the originated call's /outgoing popup; and a manager on break
 * skipped by /incoming.
 */
import { expect } from 'chai';
import { PbxStore } from '../../src/clicktocall/pbx-store.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { loadAgiFlow } from '../fakes/agi-fixtures.js';
import { runAgiSession } from '../fakes/fake-asterisk.js';
import { FakeAmi } from '../fakes/fake-ami.js';
import { waitFor } from '../helpers/async.js';
import { CLIENT_ID, ENTERPRISE, startTestService, TEST_SECRET, type TestService } from '../helpers/service.js';

type Json = Record<string, unknown>;

describe('click-to-call and manager status through the service', () => {
  let t: TestService;
  let ami: FakeAmi;
  beforeEach(async () => {
    ami = await FakeAmi.start({ username: 'crm', secret: 'crmsecret' });
    t = await startTestService({ overrides: { outbox: { pollIntervalMs: 20 } } });
    await new PbxStore(t.db.pool, createSecretBox(TEST_SECRET)).save(ENTERPRISE, {
      host: '127.0.0.1',
      port: ami.port,
      username: 'crm',
      secret: 'crmsecret',
      context: 'rcrm-click-to-call',
      outboundCallerId: '+375171234567',
    });
  });
  afterEach(async () => {
    await t.stop();
    await ami.close();
  });

  const http = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${t.service.httpPort}${path}`, init);

  // GIVEN a manager clicking a customer's number in RetailCRM WHEN RetailCRM calls makeCallUrl THEN the PBX rings the manager, then the customer
  it('originates a call from a makeCallUrl request and pops up the outgoing call', async () => {
    t.crm.addCustomer({ firstName: 'Пётр', lastName: 'Сидоров', phones: ['+375297654321'] });
    const res = await http('/api/makecallexternal', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ clientId: CLIENT_ID, code: '101', phone: '+375 (29) 765-43-21', userId: '7' }),
    });
    const body = (await res.json()) as Json;
    expect(res.status).to.equal(200);
    expect(body).to.deep.include({ success: true, status: 'started' });
    const originate = ami.actionsNamed('Originate')[0];
    expect(originate?.fields['channel']).to.equal('PJSIP/101');
    expect(originate?.fields['context']).to.equal('rcrm-click-to-call');
    expect(originate?.fields['exten']).to.equal('+375297654321');
    const variables = originate?.lines.filter((l) => l.key.toLowerCase() === 'variable').map((l) => l.value) ?? [];
    const crmCallId = variables.map((v) => /^CRM_CALL_ID=(.+)$/.exec(v)?.[1]).find(Boolean);
    expect(crmCallId).to.match(/^c2c-\d+$/);
    expect(variables).to.include('RCRM_OUTBOUND_CID=+375171234567');
    // The manager answered: the dialplan runs /outgoing on the manager's channel, as in the real capture.
    await runAgiSession({
      port: t.service.agiPort,
      fixture: loadAgiFlow('click_to_call__outgoing'),
      script: 'outgoing',
      query: { enterprise: ENTERPRISE },
      variables: { CRM_CALL_ID: String(crmCallId) },
    });
    await t.service.drainBackground();
    const popup = await waitFor('out popup', () => (t.crm.account().events as Json[]).find((e) => e['type'] === 'out'));
    expect(popup).to.deep.include({ phone: '+375297654321', codes: ['101'] });
    const audit = await t.db.pool.query('select ext, phone, outcome from click_to_call_audit');
    expect(audit.rows[0]).to.deep.include({ ext: '101', phone: '+375297654321' });
  });

  // GIVEN injection attempts in the number WHEN RetailCRM calls makeCallUrl THEN 400 with a clear error and no AMI action
  it('refuses numbers that could inject into a dial string', async () => {
    for (const phone of ['123&PJSIP/999', '+7916/x', '1,2', 'a@b', '+79161234567\r\nAction: Command']) {
      const res = await http(`/api/makecallexternal?${new URLSearchParams({ clientId: CLIENT_ID, code: '101', phone })}`);
      expect(res.status).to.equal(400);
      expect(((await res.json()) as Json)['success']).to.equal(false);
    }
    expect(ami.actionsNamed('Originate')).to.deep.equal([]);
  });

  // GIVEN a wrong clientId WHEN any callback arrives THEN 403 with no detail
  it('refuses a wrong clientId', async () => {
    for (const path of ['/api/makecallexternal?clientId=nope&code=101&phone=%2B375297654321', '/api/changeuserstatus?clientId=nope&userId=7&status=break']) {
      const res = await http(path);
      expect(res.status).to.equal(403);
      expect(await res.json()).to.deep.equal({ success: false });
    }
  });

  // GIVEN the responsible manager set "break" in RetailCRM WHEN their customer calls THEN the call goes to the default route
  it('skips a manager on break and routes to them again when free', async () => {
    t.crm.addCustomer({ firstName: 'Иван', phones: ['+375291234567'], managerId: 7 });
    const flow = loadAgiFlow('inbound_answered__incoming');
    const status = (s: string) => http(`/api/changeuserstatus?${new URLSearchParams({ clientId: CLIENT_ID, userId: '7', code: '101', status: s })}`);
    expect((await status('break')).status).to.equal(200);
    const onBreak = await runAgiSession({ port: t.service.agiPort, fixture: flow, script: 'incoming', query: { enterprise: ENTERPRISE } });
    expect(onBreak.variables.get('RCRM_MANAGER')).to.equal('');
    expect(onBreak.variables.get('RCRM_MANAGER_STATUS')).to.equal('break');
    expect(onBreak.variables.get('RCRM_LOOKUP')).to.equal('FOUND');
    expect((await status('free')).status).to.equal(200);
    const free = await runAgiSession({ port: t.service.agiPort, fixture: flow, script: 'incoming', query: { enterprise: ENTERPRISE } });
    expect(free.variables.get('RCRM_MANAGER')).to.equal('101');
  });
});
