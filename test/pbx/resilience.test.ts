/**
 * PBX tier, when things go wrong around a real Asterisk 22: RetailCRM down or hanging during calls, the service
 * killed mid-call, a manager already on break when the service starts. Calls are always routed within the
 * budget, and history reaches RetailCRM once, later.
 */
import { expect } from 'chai';
import { waitFor } from '../helpers/async.js';
import { DID, ENTERPRISE, MANAGERS, callEvents, uploadedCall, usePbxWorld, type PbxWorld } from './pbx-world.js';

const BUDGET_MS = 1500;

describe('pbx: failures around a real Asterisk 22', function () {
  this.timeout(150_000);
  let world: PbxWorld;
  usePbxWorld((w) => (world = w), {
    env: { LOOKUP_BUDGET_MS: String(BUDGET_MS), CRM_TIMEOUT_MS: '3000', OUTBOX_RETRY_CAP_MS: '1000' },
    beforeSettle: (w) => w.crm.setMode('normal'),
  });

  function uploadsOf(phone: string): unknown[] {
    return [...world.crm.account().calls.values()].filter((c) => (c as Record<string, unknown>)['phone'] === phone);
  }

  for (const mode of ['down', 'hang'] as const) {
    // GIVEN RetailCRM <mode> WHEN a known customer calls THEN the call is routed within the budget (default route,
    // answered by the queue), and once RetailCRM is back its history arrives, once.
    it(`RetailCRM ${mode} during a call: routed within the budget, history later, once`, async () => {
      const phone = mode === 'down' ? '+375291130001' : '+375291130002';
      world.crm.addCustomer({ firstName: 'Out', lastName: 'Age', phones: [phone], managerId: MANAGERS['101'] });
      await world.lab.setEndpoint('101', 'noanswer');
      await world.lab.setEndpoint('102', 'answer', { ring: 1, talk: 3 });
      await world.lab.setEndpoint('103', 'noanswer');
      world.crm.setMode(mode);
      const t0 = Date.now();
      await world.lab.callIn(DID, phone);
      await world.lab.waitIdle();
      const times = world.lab.agiTimes('incoming', t0);
      expect(times).to.have.length(1);
      expect(times[0]).to.be.below(BUDGET_MS + 500);
      expect(uploadsOf(phone)).to.have.length(0);
      world.crm.setMode('normal');
      const call = await uploadedCall(world, (c) => c['phone'] === phone);
      expect(call).to.include({ type: 'in', result: 'answered', code: '102' });
      expect(uploadsOf(phone)).to.have.length(1);
    });
  }

  // GIVEN a call ringing 101 WHEN the service is killed (kill -9) and started again before the call ends THEN the
  // call goes on, and its history (answered by 101) arrives once from the restarted service.
  it('service killed mid-call: the call goes on, the restarted service records it once', async () => {
    const phone = '+375291130003';
    world.crm.addCustomer({ firstName: 'Kill', lastName: 'Nine', phones: [phone], managerId: MANAGERS['101'] });
    await world.lab.setEndpoint('101', 'answer', { ring: 4, talk: 3 });
    const t0 = Date.now();
    await world.lab.callIn(DID, phone);
    await uploadedOrPopup(phone);
    await world.restartService('kill');
    const call = await uploadedCall(world, (c) => c['phone'] === phone);
    expect(call).to.include({ type: 'in', result: 'answered', code: '101' });
    expect(call['duration']).to.be.within(2, 4);
    expect(uploadsOf(phone)).to.have.length(1);
    expect(world.lab.ringsSince(t0, '101').map((r) => r.callerIdName)).to.deep.equal(['Kill Nine']);
  });

  // GIVEN the service is down when a call arrives WHEN the dialplan's AGI fails THEN the call still rings the
  // default route and is answered.
  it('service down when the call arrives: routed by the dialplan\'s default route', async () => {
    const phone = '+375291130004';
    expect(await world.service.stop()).to.equal(0);
    try {
      await world.lab.setEndpoint('101', 'noanswer');
      await world.lab.setEndpoint('102', 'answer', { ring: 1, talk: 2 });
      await world.lab.setEndpoint('103', 'noanswer');
      const t0 = Date.now();
      await world.lab.callIn(DID, phone);
      await world.lab.waitIdle();
      const answered = world.lab.pbxEvents.filter((e) => e.get('Event') === 'BridgeEnter' && Number(e.get('Timestamp')) * 1000 >= t0);
      expect(answered.length).to.be.at.least(2);
    } finally {
      await world.restartService('term');
    }
  });

  // GIVEN manager 101 went on break in RetailCRM before the service started WHEN 101's customer calls THEN the
  // call goes straight to the queue (no ring time lost on 101), popups for the queue.
  it('manager on break in RetailCRM before start: not routed to', async () => {
    const phone = '+375291130005';
    world.crm.addCustomer({ firstName: 'On', lastName: 'Break', phones: [phone], managerId: MANAGERS['101'] });
    world.users['101'].status = 'break';
    try {
      await world.restartService('term');
      // The service reads the statuses when it starts, beside serving calls: a call before that read is routed
      // to 101 (fail open), which is not what this scenario is about.
      await waitFor('the service to have read that 101 is on break', async () => {
        const { rows } = await world.db.pool.query<{ status: string }>(
          'select status from manager_status where enterprise = $1 and user_id = $2', [ENTERPRISE, MANAGERS['101']]);
        return rows[0]?.status === 'break';
      }, 20_000);
      await world.lab.setEndpoint('101', 'noanswer');
      await world.lab.setEndpoint('102', 'answer', { ring: 1, talk: 2 });
      await world.lab.setEndpoint('103', 'noanswer');
      await world.lab.callIn(DID, phone);
      const call = await uploadedCall(world, (c) => c['phone'] === phone);
      expect(call).to.include({ result: 'answered', code: '102' });
      expect(call['durationWaiting']).to.be.below(5);
      const events = await callEvents(world, String(call['externalId']));
      expect(events[0]?.['codes']).to.have.members(['101', '102', '103']);
    } finally {
      world.users['101'].status = 'free';
    }
  });

  async function uploadedOrPopup(phone: string): Promise<void> {
    await waitFor('the popup', () => world.crm.account().events.some((e) => (e as Record<string, unknown>)['phone'] === phone), 20_000);
  }
});
