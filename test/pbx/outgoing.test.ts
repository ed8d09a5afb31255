/**
 * PBX tier, outgoing calls and click-to-call on a real Asterisk 22 with the shipped dialplan: what the customer
 * saw as the calling number, and the history (result, manager, talk and waiting time) RetailCRM received.
 */
import { expect } from 'chai';
import { ENTERPRISE, MANAGERS, callEvents, uploadedCall, usePbxWorld, type PbxWorld } from './pbx-world.js';
import { cliOk } from './service-process.js';

const OUR_NUMBER = '+375171234567';
const CLIENT_ID = 'pbx-tier-client-id-0367';

describe('pbx: outgoing calls and click-to-call on a real Asterisk 22', function () {
  this.timeout(120_000);
  let world: PbxWorld;
  usePbxWorld((w) => (world = w), {
    enterpriseFlags: ['--external-phones', `shop1=${OUR_NUMBER}`, '--client-id', CLIENT_ID],
    setUp: async (w) => {
      await cliOk(['pbx', 'set', '--enterprise', ENTERPRISE, '--ami-host', '127.0.0.1', '--ami-port', String(w.lab.pbxAmiPort), '--ami-user', 'crm',
        '--ami-secret', 'crmsecret', '--channel', 'IAX2/{ext}/{ext}', '--context', 'rcrm-click-to-call', '--originate-timeout', '6',
        '--outbound-callerid', OUR_NUMBER], w.env);
    },
  });

  async function clickToCall(code: string, phone: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const url = new URL(`http://127.0.0.1:${world.service.httpPort}/api/makecallexternal`);
    url.search = new URLSearchParams({ clientId: CLIENT_ID, code, phone }).toString();
    const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  for (const [title, mode, result] of [
    ['answered', 'answer', 'answered'],
    ['not answered', 'noanswer', 'no answer'],
    ['busy', 'busy', 'busy'],
  ] as const) {
    // GIVEN phone 102 dials a customer WHEN the customer's side is <mode> THEN the history says <result>, by 102,
    // and the customer saw the enterprise's number.
    it(`outbound call, ${title}`, async () => {
      const phone = `+37529765${String(4320 + ['answer', 'noanswer', 'busy'].indexOf(mode))}`;
      world.crm.addCustomer({ firstName: 'Out', lastName: 'Going', phones: [phone] });
      await world.lab.setEndpoint('pstn', mode, { ring: 2, talk: 4 });
      const t0 = Date.now();
      await world.lab.dialOut('102', phone, { giveUpAfterMs: mode === 'noanswer' ? 5_000 : 60_000 });
      const call = await uploadedCall(world, (c) => c['phone'] === phone);
      expect(call).to.include({ type: 'out', result, code: '102', userId: MANAGERS['102'] });
      if (mode === 'answer') {
        expect(call['duration']).to.be.within(3, 5);
        expect(call['durationWaiting']).to.be.within(1, 4);
        expect(call['recordUrl']).to.be.a('string');
      } else expect(call['duration']).to.equal(0);
      const presented = world.lab.ringsSince(t0, 'pstn').map((r) => r.callerIdNum);
      if (mode !== 'busy') expect(presented).to.deep.equal([OUR_NUMBER]);
      // A busy customer ends the call within milliseconds: its popup may rightly never be shown.
      if (mode !== 'busy') {
        const events = await callEvents(world, String(call['externalId']));
        expect(events[0]).to.include({ type: 'out' });
        expect(events[0]?.['codes']).to.deep.equal(['102']);
      }
    });
  }

  // GIVEN a click in RetailCRM WHEN the manager answers, the customer rings 3 s and talks 5 s THEN the history
  // has talk 5 and waiting ~3 (the manager's own leg is not talk time).
  it('click-to-call answered: talk and waiting time of the customer\'s leg', async () => {
    const phone = '+375297650001';
    await world.lab.setEndpoint('101', 'answer', { ring: 1, talk: 60 });
    await world.lab.setEndpoint('pstn', 'answer', { ring: 3, talk: 5 });
    const r = await clickToCall('101', phone);
    expect(r.status).to.equal(200);
    const call = await uploadedCall(world, (c) => c['phone'] === phone);
    expect(call).to.include({ type: 'out', result: 'answered', code: '101' });
    expect(call['duration']).to.be.within(4, 6);
    expect(call['durationWaiting']).to.be.within(2, 5);
  });

  // GIVEN a click WHEN the manager's phone is busy / does not answer THEN RetailCRM hears why, and no call is
  // dialled to the customer.
  for (const [title, mode] of [['busy', 'busy'], ['does not answer', 'noanswer']] as const) {
    it(`click-to-call: the manager's phone ${title}`, async () => {
      const phone = `+37529765000${mode === 'busy' ? 2 : 3}`;
      await world.lab.setEndpoint('101', mode);
      const t0 = Date.now();
      const r = await clickToCall('101', phone);
      // Either the answer already knows (409), or it said "started" and the audit row tells later.
      expect([200, 409]).to.include(r.status);
      await world.lab.waitIdle();
      expect(world.lab.ringsSince(t0, 'pstn')).to.have.length(0);
      expect([...world.crm.account().calls.values()].filter((c) => (c as Record<string, unknown>)['phone'] === phone)).to.have.length(0);
    });
  }

  // GIVEN a click WHEN the manager answers and the customer is busy / does not answer THEN the history has that
  // result for the manager.
  for (const [title, mode, result] of [['busy', 'busy', 'busy'], ['does not answer', 'noanswer', 'no answer']] as const) {
    it(`click-to-call: the customer ${title}`, async () => {
      const phone = `+37529765000${mode === 'busy' ? 4 : 5}`;
      await world.lab.setEndpoint('101', 'answer', { ring: 1, talk: 8 });
      await world.lab.setEndpoint('pstn', mode);
      const r = await clickToCall('101', phone);
      expect(r.status).to.equal(200);
      const call = await uploadedCall(world, (c) => c['phone'] === phone);
      expect(call).to.include({ type: 'out', result, code: '101', duration: 0 });
    });
  }
});
