/** Unit: a call from its Asterisk CDRs (src/reconcile/cdr-call.ts), as tables of rows like the PBX tier's. */
import { expect } from 'chai';
import type { StoredCall } from '../../src/calls/call-journal.js';
import type { EnterpriseView } from '../../src/calls/enterprise-directory.js';
import { DEFAULT_CALLBACK_TASKS, DEFAULT_LEADS, type Enterprise } from '../../src/domain/enterprise.js';
import { callFromCdrs, DISPOSITION_TABLE, recordingOf, type CdrRow } from '../../src/reconcile/cdr-call.js';
import { parseSince } from '../../src/cli/calls-commands.js';

const enterprise: Enterprise = {
  number: '0367',
  crmUrl: 'https://shop.retailcrm.ru',
  apiKey: 'k',
  clientId: 'c',
  country: 'BY',
  site: 'shop1',
  settings: {
    autoCreateCustomers: true, telephonyEvents: true, skipManagerOnBreak: true, crmTimezone: 'UTC', externalPhones: [], pbxAddresses: [],
    tokenGenerations: { webhook: 1, dashboard: 1 }, callbackTasks: DEFAULT_CALLBACK_TASKS, leads: DEFAULT_LEADS, recordingRetentionDays: null, saleStatuses: ['complete'], extra: {},
  },
  createdAt: new Date(0),
  updatedAt: new Date(0),
};
const view: EnterpriseView = {
  enterprise,
  extensionByUser: new Map([[11, '101'], [12, '102'], [13, '103']]),
  userByExtension: new Map([['101', 11], ['102', 12], ['103', 13]]),
};
const T = 1_765_000_000;
const LINKEDID = `${T}.42`;

function row(partial: Partial<CdrRow>): CdrRow {
  return {
    src: '375291234567',
    dst: '17175550100',
    channel: 'IAX2/trunk-1',
    dstchannel: '',
    lastapp: 'Queue',
    start: T,
    answer: 0,
    end: T + 10,
    duration: 10,
    billsec: 0,
    disposition: 'NO ANSWER',
    sequence: 1,
    recordingfile: '',
    direction: 'in',
    ...partial,
  };
}

const call = (rows: CdrRow[], start: StoredCall | null = null, recordingFile: string | null = null) =>
  callFromCdrs({ view, linkedid: LINKEDID, rows, start, recordingFile });

describe('a call from its CDRs (reconciler)', () => {
  // GIVEN a queue that rang 101-103 and 101 answered WHEN mapped THEN answered by 101, talk = billsec, waiting the rest
  it('incoming answered by a queue member', () => {
    const end = call([
      row({ dstchannel: 'IAX2/101-7', disposition: 'ANSWERED', answer: T + 2, end: T + 6, duration: 6, billsec: 4, sequence: 2, recordingfile: 'in-x.wav' }),
      row({ dstchannel: 'IAX2/102-8', end: T + 2, duration: 2, sequence: 3 }),
      row({ dstchannel: 'IAX2/103-9', end: T + 2, duration: 2, sequence: 4 }),
    ], null, 'in-x.wav');
    expect(end).to.deep.include({
      direction: 'in', phone: '+375291234567', externalPhone: '17175550100', answered: true, result: 'answered',
      hangupStatus: 'answered', managerCode: '101', managerUserId: 11, durationSec: 4, waitingSec: 2, recordingFile: 'in-x.wav',
      reconciled: true, deliverToCrm: true,
    });
    expect(end?.upload).to.deep.include({ type: 'in', result: 'answered', duration: 4, durationWaiting: 2, code: '101', userId: 11, externalId: LINKEDID, site: 'shop1' });
    expect(end?.startedAt).to.deep.equal(new Date(T * 1000));
    expect(end?.endedAt).to.deep.equal(new Date((T + 6) * 1000));
  });

  // GIVEN a queue nobody answered WHEN mapped THEN no answer, nobody's (a group rang), no recording
  it('incoming missed in the queue: nobody\'s call', () => {
    const end = call([row({ dstchannel: 'IAX2/101-1' }), row({ dstchannel: 'IAX2/102-2' }), row({ dstchannel: 'IAX2/103-3' })], null, 'in-y.wav');
    expect(end).to.deep.include({ answered: false, result: 'no answer', hangupStatus: 'no answered', managerCode: null, durationSec: 0, waitingSec: 10, recordingFile: null });
    expect(end?.upload).to.not.have.property('code');
  });

  // GIVEN the routed manager was dialled first, then the queue WHEN nobody answered THEN the manager's missed call
  it('incoming missed after the responsible manager\'s Dial: the manager\'s call', () => {
    const end = call([
      row({ lastapp: 'Dial', dstchannel: 'IAX2/102-1', end: T + 4, disposition: 'BUSY' }),
      row({ dstchannel: 'IAX2/101-2', start: T + 4, end: T + 12 }),
      row({ dstchannel: 'IAX2/103-3', start: T + 4, end: T + 12 }),
    ]);
    expect(end).to.deep.include({ result: 'no answer', managerCode: '102', waitingSec: 12 });
  });

  // GIVEN a desk phone dialling a busy number WHEN mapped THEN outgoing, busy, the caller's extension
  it('outgoing to a busy number', () => {
    const end = call([row({ src: '101', dst: '+375291234568', channel: 'IAX2/101-5', dstchannel: 'IAX2/trunk-6', lastapp: 'Dial', disposition: 'BUSY', direction: 'out' })]);
    expect(end).to.deep.include({ direction: 'out', phone: '+375291234568', externalPhone: null, result: 'busy', hangupStatus: 'busy', managerCode: '101' });
  });

  // GIVEN no direction variable (an older dialplan) WHEN the source is an extension THEN outgoing
  it('direction from the caller when the dialplan did not say', () => {
    expect(call([row({ src: '103', dst: '80291234567', direction: '', disposition: 'FAILED' })])).to.deep.include({ direction: 'out', managerCode: '103', result: 'failed', phone: '+375291234567' });
    expect(call([row({ direction: '' })])).to.deep.include({ direction: 'in' });
  });

  // GIVEN an attended transfer (101 answered, then 102 took over) WHEN mapped THEN credited to 102, talk summed
  it('transfer: whoever talked last', () => {
    const end = call([
      row({ dstchannel: 'IAX2/101-1', disposition: 'ANSWERED', answer: T + 1, end: T + 5, billsec: 4 }),
      row({ channel: 'IAX2/102-3', dstchannel: 'IAX2/trunk-1', disposition: 'ANSWERED', start: T + 5, answer: T + 5, end: T + 9, billsec: 4, direction: '' }),
    ]);
    expect(end).to.deep.include({ managerCode: '102', durationSec: 8, waitingSec: 1 });
  });

  // GIVEN the AGI recorded the start (popup for 101) WHEN completed from the CDRs THEN its direction, phone, DID
  // and start are kept, and the hangup event closes 101's popup
  it('a call half-recorded by the AGI keeps what /incoming recorded', () => {
    const start: StoredCall = {
      direction: 'in', phone: '+375291234567', externalPhone: '17175550100', site: 'shop2', customerId: 5, ringCodes: ['101'],
      startedAt: new Date((T - 1) * 1000), endedAt: null,
    };
    const end = call([row({ lastapp: 'Dial', dstchannel: 'IAX2/101-1', disposition: 'ANSWERED', answer: T + 3, end: T + 8, billsec: 5 })], start);
    expect(end).to.deep.include({ startedAt: start.startedAt, site: 'shop2', managerCode: '101', durationSec: 5, waitingSec: 4 });
    expect(end?.hangupEvent).to.deep.include({ type: 'hangup', codes: ['101'], hangupStatus: 'answered' });
  });

  // GIVEN each disposition WHEN nobody talked THEN RetailCRM's result and hangup status (docs/call-results.md)
  it('maps every disposition', () => {
    const table = Object.fromEntries(Object.entries(DISPOSITION_TABLE).map(([d, [result, hangupStatus]]) => [d, { result, hangupStatus }]));
    expect(table).to.deep.equal({
      'NO ANSWER': { result: 'no answer', hangupStatus: 'no answered' },
      BUSY: { result: 'busy', hangupStatus: 'busy' },
      FAILED: { result: 'failed', hangupStatus: 'failed' },
      CONGESTION: { result: 'failed', hangupStatus: 'failed' },
      // ANSWERED with no second party: the PBX answered itself (an IVR), nobody talked
      ANSWERED: { result: 'no answer', hangupStatus: 'cancel' },
    });
    for (const [disposition, expected] of Object.entries(table)) expect(call([row({ disposition })]), disposition).to.deep.include({ answered: false, ...expected });
    expect(call([row({ disposition: 'WEIRD' })])).to.deep.include({ result: 'unknown', hangupStatus: 'failed' });
    expect(call([])).to.equal(null);
  });

  it('names the recording from the first CDR that has one', () => {
    expect(recordingOf([row({ start: T + 1, recordingfile: 'b.wav' }), row({ recordingfile: '' }), row({ start: T + 2, recordingfile: 'c.wav' })])).to.equal('b.wav');
    expect(recordingOf([row({})])).to.equal(undefined);
  });

  // GIVEN --since values WHEN parsed THEN durations back from now and ISO dates; the rest refused
  it('parses --since', () => {
    const now = Date.parse('2026-12-06T12:00:00Z');
    expect(parseSince('2h', now)).to.equal(now - 7_200_000);
    expect(parseSince('30m', now)).to.equal(now - 1_800_000);
    expect(parseSince('1d', now)).to.equal(now - 86_400_000);
    expect(parseSince('2026-12-06T10:00:00Z', now)).to.equal(Date.parse('2026-12-06T10:00:00Z'));
    for (const bad of ['yesterday', '2x', '', '2027-01-01']) expect(() => parseSince(bad, now), bad).to.throw(/--since/);
  });
});
