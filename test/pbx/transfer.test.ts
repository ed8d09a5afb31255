/**
 * PBX tier, transfers on a real Asterisk 22 (BlindTransfer and Atxfer through the pbx's AMI, as a phone's
 * transfer key would): one history entry, credited to the target, and the target's RetailCRM shows the caller.
 */
import { expect } from 'chai';
import { waitFor } from '../helpers/async.js';
import { DID, MANAGERS, callEvents, uploadedCall, usePbxWorld, type PbxWorld } from './pbx-world.js';

describe('pbx: transfers on a real Asterisk 22', function () {
  this.timeout(120_000);
  let world: PbxWorld;
  usePbxWorld((w) => (world = w));

  async function answeredBy101(phone: string, talk101: number, talk102: number): Promise<string> {
    world.crm.addCustomer({ firstName: 'Trans', lastName: 'Ferred', phones: [phone], managerId: MANAGERS['101'] });
    await world.lab.setEndpoint('101', 'answer', { ring: 1, talk: talk101 });
    await world.lab.setEndpoint('102', 'answer', { ring: 1, talk: talk102 });
    await world.lab.callIn(DID, phone);
    let channel: string | undefined;
    await waitFor('101 to answer', async () => (channel = await world.lab.pbxChannelOf('101')) !== undefined, 30_000);
    return channel as string;
  }

  async function expectTransferredTo102(call: Record<string, unknown>): Promise<void> {
    expect(call).to.include({ type: 'in', result: 'answered', code: '102', userId: MANAGERS['102'] });
    const events = await callEvents(world, String(call['externalId']));
    const popups = events.filter((e) => e['type'] === 'in');
    expect(popups.map((e) => e['codes'])).to.deep.equal([['101'], ['102']]);
    const hangup = events.filter((e) => e['type'] === 'hangup');
    expect(hangup).to.have.length(1);
    expect(hangup[0]?.['codes']).to.have.members(['101', '102']);
    expect([...world.crm.account().calls.values()].filter((c) => (c as Record<string, unknown>)['phone'] === call['phone'])).to.have.length(1);
  }

  // GIVEN 101 talks to a customer WHEN 101 blind-transfers to 102 and 102 answers THEN one upload credited to
  // 102, with a popup for 102.
  it('blind transfer to 102', async () => {
    const phone = '+375291120001';
    const channel = await answeredBy101(phone, 60, 4);
    await world.lab.pbx.action('BlindTransfer', { Channel: channel, Context: 'from-internal', Exten: '102' });
    const call = await uploadedCall(world, (c) => c['phone'] === phone);
    await expectTransferredTo102(call);
    expect(call['duration']).to.be.within(5, 10);
  });

  // GIVEN 101 talks to a customer WHEN 101 consults 102 (Atxfer) and hangs up once 102 answered THEN the
  // transfer completes: one upload credited to 102, with a popup for 102.
  it('attended transfer to 102', async () => {
    const phone = '+375291120002';
    const channel = await answeredBy101(phone, 5, 9);
    await world.lab.pbx.action('Atxfer', { Channel: channel, Context: 'from-internal', Exten: '102' });
    const call = await uploadedCall(world, (c) => c['phone'] === phone);
    await expectTransferredTo102(call);
  });
});
