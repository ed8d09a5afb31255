/**
 * PBX tier, incoming calls: a real Asterisk 22 runs the shipped dialplan; the sim plays the customer and the
 * phones; the real service process answers FastAGI; the fake RetailCRM records what it was told.
 */
import { expect } from 'chai';
import { DID, MANAGERS, callEvents, uploadedCall, usePbxWorld, type PbxWorld } from './pbx-world.js';

describe('pbx: incoming calls on a real Asterisk 22', function () {
  this.timeout(120_000);
  let world: PbxWorld;
  usePbxWorld((w) => (world = w));

  // GIVEN a known customer whose manager is 101 WHEN 101 answers THEN the phone showed the name, the call is
  // answered by 101 with the talk time, and the popups opened and closed for 101.
  it('known caller, answered by the responsible manager', async () => {
    const phone = '+375291110001';
    world.crm.addCustomer({ firstName: 'Ivan', lastName: 'Ivanov', phones: [phone], managerId: MANAGERS['101'] });
    await world.lab.setEndpoint('101', 'answer', { ring: 2, talk: 4 });
    const t0 = Date.now();
    await world.lab.callIn(DID, phone);
    const call = await uploadedCall(world, (c) => c['phone'] === phone);
    expect(call).to.include({ type: 'in', result: 'answered', code: '101', userId: MANAGERS['101'] });
    expect(call['duration']).to.be.within(3, 5);
    expect(call['durationWaiting']).to.be.within(1, 4);
    expect(call['recordUrl']).to.be.a('string');
    const ring = world.lab.ringsSince(t0, '101');
    expect(ring.map((r) => r.callerIdName)).to.deep.equal(['Ivan Ivanov']);
    const events = await callEvents(world, String(call['externalId']));
    expect(events.map((e) => [e['type'], e['codes']])).to.deep.equal([['in', ['101']], ['hangup', ['101']]]);
    // The dialplan passed the linkedid and ring codes in the URL: /incoming asked Asterisk nothing, it only set the
    // name and the routing variables (two commands, each a round trip Asterisk answers one at a time).
    const commands = world.lab.agiCommands('incoming', t0);
    expect(commands).to.have.length(1);
    expect(commands[0]?.map((c) => c.split(' ').slice(0, 2).join(' '))).to.deep.equal(['SET VARIABLE', 'EXEC MSet']);
  });

  // GIVEN a known customer of 101 WHEN 101 rings and the customer gives up THEN a missed call of 101 (cancel).
  it('known caller, missed: the customer hangs up while the manager rings', async () => {
    const phone = '+375291110002';
    world.crm.addCustomer({ firstName: 'Petr', lastName: 'Missed', phones: [phone], managerId: MANAGERS['101'] });
    await world.lab.setEndpoint('101', 'noanswer');
    await world.lab.callIn(DID, phone, { giveUpAfterMs: 3_000 });
    const call = await uploadedCall(world, (c) => c['phone'] === phone);
    expect(call).to.include({ type: 'in', result: 'no answer', code: '101', duration: 0 });
    expect(call).to.not.have.property('recordUrl');
    const events = await callEvents(world, String(call['externalId']));
    expect(events.map((e) => [e['type'], e['hangupStatus'] ?? null])).to.deep.equal([['in', null], ['hangup', 'cancel']]);
  });

  // GIVEN 101 busy and nobody in the queue answering WHEN the queue times out THEN a missed call of 101, popups
  // for the queue's members too, all of them closed.
  it('known caller, manager busy and the queue does not answer: missed, every popup closed', async () => {
    const phone = '+375291110003';
    world.crm.addCustomer({ firstName: 'Olga', lastName: 'Busy', phones: [phone], managerId: MANAGERS['101'] });
    await world.lab.setEndpoint('101', 'busy');
    await world.lab.setEndpoint('102', 'noanswer');
    await world.lab.setEndpoint('103', 'noanswer');
    await world.lab.callIn(DID, phone);
    const call = await uploadedCall(world, (c) => c['phone'] === phone);
    expect(call).to.include({ type: 'in', result: 'no answer', code: '101', duration: 0 });
    const events = await callEvents(world, String(call['externalId']));
    expect(events.map((e) => e['type'])).to.deep.equal(['in', 'in', 'hangup']);
    expect(events[1]?.['codes']).to.have.members(['102', '103']);
    expect(events[2]?.['codes']).to.have.members(['101', '102', '103']);
  });

  // GIVEN the manager does not answer WHEN a queue member answers THEN answered by that member, with talk time
  // and recording (last time it was filed as missed: DIALSTATUS=NOANSWER is left from the first Dial).
  it('manager no answer, then the queue: answered by the member who took it', async () => {
    const phone = '+375291110004';
    world.crm.addCustomer({ firstName: 'Queue', lastName: 'Fallback', phones: [phone], managerId: MANAGERS['101'] });
    await world.lab.setEndpoint('101', 'noanswer');
    await world.lab.setEndpoint('102', 'answer', { ring: 1, talk: 5 });
    await world.lab.setEndpoint('103', 'noanswer');
    const t0 = Date.now();
    await world.lab.callIn(DID, phone);
    const call = await uploadedCall(world, (c) => c['phone'] === phone);
    expect(call).to.include({ type: 'in', result: 'answered', code: '102', userId: MANAGERS['102'] });
    expect(call['duration']).to.be.within(4, 6);
    expect(call['durationWaiting']).to.be.at.least(6);
    expect(call['recordUrl']).to.be.a('string');
    expect(world.lab.ringsSince(t0, '102').map((r) => r.callerIdName)).to.deep.equal(['Queue Fallback']);
    const events = await callEvents(world, String(call['externalId']));
    expect(events.map((e) => e['type'])).to.deep.equal(['in', 'in', 'hangup']);
    expect(events[2]).to.include({ hangupStatus: 'answered' });
  });

  // GIVEN the manager is busy WHEN a queue member answers THEN answered by the member.
  it('manager busy, then the queue: answered by the member', async () => {
    const phone = '+375291110005';
    world.crm.addCustomer({ firstName: 'Busy', lastName: 'Manager', phones: [phone], managerId: MANAGERS['101'] });
    await world.lab.setEndpoint('101', 'busy');
    await world.lab.setEndpoint('102', 'noanswer');
    await world.lab.setEndpoint('103', 'answer', { ring: 1, talk: 3 });
    await world.lab.callIn(DID, phone);
    const call = await uploadedCall(world, (c) => c['phone'] === phone);
    expect(call).to.include({ type: 'in', result: 'answered', code: '103', userId: MANAGERS['103'] });
    expect(call['duration']).to.be.within(2, 4);
  });

  // GIVEN a number RetailCRM does not know, calling twice at once WHEN the queue answers THEN one customer
  // (with no made-up name), popups for the queue's members, and the phone shows the bare number.
  it('unknown number calling twice at once: one customer, popups for the queue, no fake name', async () => {
    const phone = '+375291110006';
    await world.lab.setEndpoint('101', 'answer', { ring: 1, talk: 3 });
    await world.lab.setEndpoint('102', 'answer', { ring: 1, talk: 3 });
    await world.lab.setEndpoint('103', 'answer', { ring: 1, talk: 3 });
    const t0 = Date.now();
    await Promise.all([world.lab.callIn(DID, phone), world.lab.callIn(DID, phone)]);
    await uploadedCall(world, (c) => c['phone'] === phone);
    const calls = [...world.crm.account().calls.values()].filter((c) => (c as Record<string, unknown>)['phone'] === phone);
    await world.lab.waitIdle();
    const created = [...world.crm.account().customers.values()].filter((c) => c.phones.includes(phone));
    expect(created).to.have.length(1);
    expect(created[0]?.firstName ?? null).to.equal(null);
    expect(calls.length).to.be.at.least(1);
    // The queue answered: a member took it.
    for (const c of calls) expect((c as Record<string, unknown>)['code']).to.be.oneOf(['101', '102', '103']);
    const first = await callEvents(world, String((calls[0] as Record<string, unknown>)['externalId']));
    expect(first[0]?.['codes']).to.have.members(['101', '102', '103']);
    // The sim shows an empty name as <unknown>.
    for (const r of world.lab.ringsSince(t0)) expect(r.callerIdName).to.be.oneOf(['', '<unknown>', phone]);
  });

  // GIVEN a customer whose name has commas, quotes, a newline and emoji WHEN they call THEN the phone shows the
  // cleaned name and the call is routed and recorded as usual.
  it('hostile customer name: shown cleaned, routing unaffected', async () => {
    const phone = '+375291110007';
    world.crm.addCustomer({ firstName: 'Ivan, "the \'Boss\'"', lastName: 'Smith\nDial(evil) 😀', phones: [phone], managerId: MANAGERS['101'] });
    await world.lab.setEndpoint('101', 'answer', { ring: 1, talk: 2 });
    const t0 = Date.now();
    await world.lab.callIn(DID, phone);
    const call = await uploadedCall(world, (c) => c['phone'] === phone);
    expect(call).to.include({ result: 'answered', code: '101' });
    const shown = world.lab.ringsSince(t0, '101').map((r) => r.callerIdName);
    expect(shown).to.have.length(1);
    expect(shown[0]).to.equal(`Ivan, "the 'Boss'" Smith Dial(evil) 😀`);
    expect(shown[0]).to.not.match(/[\r\n]/);
  });
});
