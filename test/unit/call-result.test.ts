import { expect } from 'chai';
import {
  callOutcome,
  DIAL_STATUS_TABLE,
  endpointOf,
  epochOfUniqueid,
  parseRingCodes,
  QUEUE_STATUS_TABLE,
  talkedLast,
  type HangupVariables,
} from '../../src/calls/call-result.js';
import { CALL_RESULTS, HANGUP_STATUSES } from '../../src/crm/types.js';
import { listAgiFlows, loadAgiFlow } from '../fakes/agi-fixtures.js';

const none: HangupVariables = {
  dialStatus: undefined,
  answeredTime: undefined,
  dialedPeerNumber: undefined,
  memberInterface: undefined,
  queueStatus: undefined,
  cdrDisposition: undefined,
  cdrDstChannel: undefined,
};

describe('call result mapping', () => {
  // GIVEN each Dial status WHEN mapped THEN both RetailCRM enums get their exact spelling
  it('maps DIALSTATUS to the upload result and the event hangupStatus', () => {
    expect(DIAL_STATUS_TABLE).to.deep.equal({
      ANSWER: ['answered', 'answered'],
      BUSY: ['busy', 'busy'],
      NOANSWER: ['no answer', 'no answered'],
      CANCEL: ['no answer', 'cancel'],
      CHANUNAVAIL: ['failed', 'failed'],
      CONGESTION: ['failed', 'failed'],
      INVALIDARGS: ['failed', 'failed'],
      DONTCALL: ['not allowed', 'failed'],
      TORTURE: ['not allowed', 'failed'],
    });
    for (const [result, status] of [...Object.values(DIAL_STATUS_TABLE), ...Object.values(QUEUE_STATUS_TABLE)]) {
      expect(CALL_RESULTS).to.include(result);
      expect(HANGUP_STATUSES).to.include(status);
    }
  });

  // GIVEN the real /hangup values of every captured flow WHEN mapped THEN answered calls are exactly those with talk time or a transfer
  it('classifies every captured /hangup session', () => {
    const seen: Record<string, string> = {};
    for (const name of listAgiFlows().filter((f) => f.endsWith('__hangup'))) {
      const hv = loadAgiFlow(name).hangupValues;
      const get = (k: string) => hv.get(k)?.get ?? undefined;
      const o = callOutcome({
        dialStatus: get('DIALSTATUS'),
        answeredTime: get('ANSWEREDTIME'),
        answeredTimeMs: get('ANSWEREDTIME_MS'),
        dialedPeerNumber: get('DIALEDPEERNUMBER'),
        memberInterface: get('MEMBERINTERFACE'),
        queueStatus: get('QUEUESTATUS'),
        cdrDisposition: get('CDR(disposition)'),
        cdrDstChannel: get('CDR(dstchannel)'),
      });
      seen[name.replace('__hangup', '')] = `${o.result}/${o.hangupStatus}/${o.talkSeconds}`;
    }
    expect(seen).to.deep.include({
      inbound_answered: 'answered/answered/10',
      inbound_missed: 'no answer/cancel/0',
      inbound_noanswer_timeout: 'no answer/no answered/0',
      inbound_busy: 'busy/busy/0',
      inbound_rejected: 'failed/failed/0',
      queue_answered: 'answered/answered/10',
      queue_abandoned: 'no answer/cancel/0',
      queue_timeout: 'no answer/no answered/0',
      attended_transfer: 'answered/answered/27',
      agi_hangup_during_incoming: 'no answer/cancel/0',
      agi_slow_incoming: 'answered/answered/4',
    });
  });

  // GIVEN no status at all WHEN the caller hung up in an IVR or during /incoming THEN it is a missed call
  // GIVEN "Dial, then Queue" as the shipped dialplan does it (values seen on a real Asterisk 22) WHEN the queue
  // answered THEN the stale DIALSTATUS of the first Dial does not decide, and the member is credited.
  it('decides from the last application: Dial not answered, then a queue member answered', () => {
    const v = { ...none, dialStatus: 'NOANSWER', answeredTime: '5', answeredTimeMs: '5012', memberInterface: 'IAX2/102/102', dialedPeerNumber: '101/101' };
    const o = callOutcome(v);
    expect(o).to.deep.equal({ answered: true, result: 'answered', hangupStatus: 'answered', talkSeconds: 5, answeredBy: 'queue' });
    expect(talkedLast(v, (c) => ['101', '102'].includes(c), o.answeredBy)).to.equal('102');
    // Busy manager, then the queue: the same.
    expect(callOutcome({ ...v, dialStatus: 'BUSY' }).answered).to.equal(true);
    // A plain Dial answer with a stale member of an earlier queue: the Dial's peer talked last.
    const dial = { ...none, dialStatus: 'ANSWER', answeredTime: '7', answeredTimeMs: '7000', memberInterface: 'IAX2/103/103', dialedPeerNumber: '101/101' };
    expect(talkedLast(dial, () => true, callOutcome(dial).answeredBy)).to.equal('101');
  });

  // GIVEN "Dial, then Queue" WHEN nobody in the queue answered THEN the queue's outcome counts, not the Dial's.
  it('decides from the last application: Dial not answered, then a queue nobody answered', () => {
    expect(callOutcome({ ...none, dialStatus: 'BUSY', answeredTime: '0', answeredTimeMs: '0', queueStatus: 'TIMEOUT' })).to.include({ answered: false, result: 'no answer', hangupStatus: 'no answered' });
    expect(callOutcome({ ...none, dialStatus: 'NOANSWER', answeredTime: '0', answeredTimeMs: '0' })).to.include({ answered: false, result: 'no answer', hangupStatus: 'cancel' });
    // A member answered, but Queue wrote its 0 before its bridge callback set the talk time (a real race).
    expect(callOutcome({ ...none, dialStatus: 'NOANSWER', answeredTime: '0', answeredTimeMs: '0', memberInterface: 'IAX2/102/102' })).to.include({ answered: true, answeredBy: 'queue' });
    // A Dial answered for 0.3 s on an Asterisk without ANSWEREDTIME_MS.
    expect(callOutcome({ ...none, dialStatus: 'ANSWER', answeredTime: '0' })).to.include({ answered: true, talkSeconds: 0 });
  });

  it('treats a call with no Dial or Queue as missed', () => {
    expect(callOutcome(none)).to.deep.equal({ answered: false, result: 'no answer', hangupStatus: 'cancel', talkSeconds: 0 });
    expect(callOutcome({ ...none, dialStatus: 'WEIRD' }).result).to.equal('unknown');
  });

  it('names endpoints of channels, interfaces and dial strings', () => {
    expect(endpointOf('PJSIP/101-0000001a', 'channel')).to.equal('101');
    expect(endpointOf('IAX2/101-4749', 'channel')).to.equal('101');
    expect(endpointOf('SIP/acme-101-00000abc', 'channel')).to.equal('acme-101');
    expect(endpointOf('Local/101@from-internal-00000001;1', 'channel')).to.equal('101');
    expect(endpointOf('IAX2/102/102', 'interface')).to.equal('102');
    expect(endpointOf('PJSIP/102', 'interface')).to.equal('102');
    expect(endpointOf('101/101', 'peer')).to.equal('101');
    expect(endpointOf('trunk/+375297654321', 'peer')).to.equal('trunk');
    expect(endpointOf('', 'peer')).to.equal(undefined);
  });

  // GIVEN an attended transfer WHEN attributing THEN the last answered segment wins over the first agent
  it('attributes the call to whoever talked last', () => {
    const known = (c: string) => ['101', '102', '103'].includes(c);
    expect(talkedLast({ ...none, dialedPeerNumber: '101/101', cdrDisposition: 'ANSWERED', cdrDstChannel: 'IAX2/102-3416' }, known)).to.equal('102');
    expect(talkedLast({ ...none, cdrDisposition: 'BUSY', cdrDstChannel: 'IAX2/103-941' }, known)).to.equal(undefined);
    expect(talkedLast({ ...none, memberInterface: 'IAX2/102/102', cdrDisposition: 'NO ANSWER', cdrDstChannel: 'IAX2/103-1' }, known)).to.equal('102');
    expect(talkedLast({ ...none, dialedPeerNumber: 'trunk/+375297654321', cdrDisposition: 'ANSWERED', cdrDstChannel: 'IAX2/trunk-1' }, known)).to.equal(undefined);
  });

  it('reads call start from uniqueids and ring codes from the dialplan', () => {
    expect(epochOfUniqueid('1795666576.152')).to.equal(1795666576);
    expect(epochOfUniqueid('pbx1-1795666576.152')).to.equal(1795666576);
    expect(epochOfUniqueid('garbage')).to.equal(undefined);
    const valid = (c: string) => /^[0-9]+$/.test(c);
    expect(parseRingCodes('101&102', valid)).to.deep.equal(['101', '102']);
    expect(parseRingCodes('PJSIP/101&PJSIP/102,101', valid)).to.deep.equal(['101', '102']);
    expect(parseRingCodes('101&evil;rm', valid)).to.deep.equal(['101']);
    expect(parseRingCodes(undefined, valid)).to.deep.equal([]);
  });
});
