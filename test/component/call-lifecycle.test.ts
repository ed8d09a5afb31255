/**
 * Every call in RetailCRM (issue 3), end to end: the real Asterisk 22 sessions of each call flow (/incoming or
 * /outgoing, then /hangup, replayed by the fake Asterisk) → the service → what the fake RetailCRM received:
 * popups, hangup events, the history upload with result, durations, manager and recording link.
 */
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { loadAgiFlow } from '../fakes/agi-fixtures.js';
import { runAgiSession } from '../fakes/fake-asterisk.js';
import { waitFor } from '../helpers/async.js';
import { ENTERPRISE, startTestService, waitForOutboxSettled, type TestService } from '../helpers/service.js';
import { fixturePath } from '../helpers/paths.js';

type Json = Record<string, unknown>;

describe('call lifecycle: popups, results and history (end to end)', () => {
  let t: TestService;
  /** The time /hangup sees: pinned by playCall, so durations do not depend on how long the machine took to get there. */
  let hangupAt: number | undefined;
  beforeEach(async () => {
    hangupAt = undefined;
    t = await startTestService({
      env: { RECORDING_SCAN_MS: '50' },
      overrides: {
        outbox: { pollIntervalMs: 20, retryBaseMs: 10, retryCapMs: 50, recordingRecheckMs: 50 },
        now: () => hangupAt ?? Date.now(),
      },
    });
    t.crm.addUser({ id: 7, firstName: 'Anna' });
    t.crm.addUser({ id: 8, firstName: 'Boris' });
    t.crm.addUser({ id: 9, firstName: 'Vera' });
  });
  afterEach(async () => {
    await t.stop();
  });

  const events = (): Json[] => t.crm.account().events as Json[];
  const uploads = (): Json[] => [...t.crm.account().calls.values()] as Json[];
  const linkedidOf = (flow: string): string => loadAgiFlow(flow).hangupValues.get('CHANNEL(linkedid)')?.get ?? '';

  /**
   * Runs the scenario's start script, then its /hangup session at `endedAt` (default now), the call having started
   * `ageSeconds` before that.
   */
  async function playCall(scenario: string, opts: { ageSeconds?: number; endedAt?: number; hangupVariables?: Record<string, string> } = {}) {
    const startScript = scenario.startsWith('outbound') || scenario.startsWith('click_to_call') ? 'outgoing' : 'incoming';
    const start = await runAgiSession({
      port: t.service.agiPort,
      fixture: loadAgiFlow(`${scenario}__${startScript}`),
      script: startScript,
      query: { enterprise: ENTERPRISE },
    });
    await t.service.drainBackground();
    const linkedid = linkedidOf(`${scenario}__hangup`);
    hangupAt = opts.endedAt ?? Date.now();
    const startedAt = new Date(hangupAt - (opts.ageSeconds ?? 16) * 1000);
    await t.db.pool.query(`update calls set started_at = $2 where linkedid = $1`, [linkedid, startedAt]);
    const hangupFlow = loadAgiFlow(`${scenario}__hangup`);
    const hangup = await runAgiSession({
      port: t.service.agiPort,
      fixture: hangupFlow,
      script: 'hangup',
      query: { enterprise: ENTERPRISE },
      deadChannel: true,
      ...(opts.hangupVariables ? { variables: opts.hangupVariables } : {}),
    });
    await t.service.drainBackground();
    return { start, hangup, linkedid };
  }

  async function uploadOf(linkedid: string, timeoutMs = 10_000): Promise<Json> {
    return waitFor(`upload of ${linkedid}`, () => uploads().find((c) => c['externalId'] === linkedid), timeoutMs);
  }

  // GIVEN a customer calling the DID of 101 WHEN 101 answers and talks 10 s THEN popup, hangup event and an answered upload
  it('inbound answered: popup to the ringing manager, answered upload with talk and wait times', async () => {
    t.crm.addCustomer({ firstName: 'Иван', phones: ['+375291234567'], managerId: 7 });
    const { linkedid, start } = await playCall('inbound_answered');
    expect(start.variables.get('RCRM_MANAGER')).to.equal('101');
    const call = await uploadOf(linkedid);
    expect(call).to.deep.include({
      type: 'in',
      phone: '+375291234567',
      result: 'answered',
      code: '101',
      userId: 7,
      duration: 10,
      durationWaiting: 6,
      externalId: linkedid,
      externalPhone: '17175550100',
      site: 'shop1',
    });
    expect(String(call['date'])).to.match(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    const popup = events().find((e) => e['type'] === 'in');
    expect(popup).to.deep.include({ phone: '+375291234567', codes: ['101'], callExternalId: linkedid, externalPhone: '17175550100' });
    const hangup = await waitFor('hangup event', () => events().find((e) => e['type'] === 'hangup'));
    expect(hangup).to.deep.include({ hangupStatus: 'answered', callExternalId: linkedid, codes: ['101'] });
  });

  const table: [scenario: string, result: string, hangupStatus: string, code: string | undefined, duration: number][] = [
    ['inbound_answered_customer_hangup', 'answered', 'answered', '101', 8],
    ['inbound_missed', 'no answer', 'cancel', '101', 0],
    ['inbound_noanswer_timeout', 'no answer', 'no answered', '101', 0],
    ['inbound_busy', 'busy', 'busy', '101', 0],
    ['inbound_rejected', 'failed', 'failed', '101', 0],
    ['queue_answered_interfacevar', 'answered', 'answered', '102', 10],
    ['queue_answered', 'answered', 'answered', undefined, 10],
    ['queue_abandoned', 'no answer', 'cancel', '101', 0],
    ['queue_timeout', 'no answer', 'no answered', '101', 0],
    ['attended_transfer', 'answered', 'answered', '102', 27],
    ['hh_blind_transfer', 'answered', 'answered', '102', 18],
    ['hh_blind_transfer_noanswer', 'answered', 'answered', '101', 0],
    ['hh_inbound_missed', 'no answer', 'cancel', '101', 0],
    ['outbound_answered', 'answered', 'answered', '102', 10],
    ['outbound_noanswer', 'no answer', 'cancel', '102', 0],
    ['outbound_busy', 'busy', 'busy', '102', 0],
    ['click_to_call', 'answered', 'answered', '101', 15],
  ];
  for (const [scenario, result, hangupStatus, code, duration] of table) {
    // GIVEN the real Asterisk sessions of a call flow WHEN it ends THEN RetailCRM gets the right result, manager and events
    it(`${scenario}: ${result} / ${hangupStatus}${code ? `, attributed to ${code}` : ', no manager'}`, async () => {
      const { linkedid } = await playCall(scenario, { ageSeconds: 40 });
      const call = await uploadOf(linkedid);
      expect(call['result']).to.equal(result);
      expect(call['code']).to.equal(code);
      expect(call['duration']).to.equal(duration);
      expect(call['durationWaiting']).to.equal(40 - duration);
      expect(call['type']).to.equal(scenario.startsWith('outbound') || scenario.startsWith('click') ? 'out' : 'in');
      const hangup = await waitFor('hangup event', () => events().find((e) => e['type'] === 'hangup'));
      expect(hangup['hangupStatus']).to.equal(hangupStatus);
      const row = await t.db.pool.query('select result, hangup_status, manager_code from calls where linkedid = $1', [linkedid]);
      expect(row.rows[0]).to.deep.equal({ result, hangup_status: hangupStatus, manager_code: code ?? null });
    });
  }

  // GIVEN an answered call with a MixMonitor recording WHEN uploaded THEN recordUrl is a signed link to its MP3 that plays with Range support
  it('links a playable MP3 of the recording once the file is complete', async () => {
    const file = 'in-20261126-033902-+375291234567-1795664342.0.wav';
    await copyFile(fixturePath('recordings', file), path.join(t.recordingsDir, file));
    const { linkedid } = await playCall('inbound_answered', { hangupVariables: { MIXMONITOR_FILENAME: path.join(t.recordingsDir, file) } });
    const call = await uploadOf(linkedid, 20_000);
    const url = String(call['recordUrl']);
    expect(url).to.match(/^https:\/\/pbx\.example\.com\/recordings\/.*\.mp3$/);
    const local = url.replace('https://pbx.example.com', `http://127.0.0.1:${t.service.httpPort}`);
    const res = await fetch(local, { headers: { range: 'bytes=0-2' } });
    expect(res.status).to.equal(206);
    expect(res.headers.get('content-type')).to.equal('audio/mpeg');
    expect(res.headers.get('content-range')).to.match(/^bytes 0-2\/\d+$/);
    const head = Buffer.from(await res.arrayBuffer());
    expect(head[0] === 0xff || head.toString('latin1') === 'ID3', 'an MPEG frame or ID3 tag').to.equal(true);
    const tampered = await fetch(local.replace(/.(\.mp3)$/, 'x$1'));
    expect(tampered.status).to.equal(403);
    await tampered.arrayBuffer();
    const wav = await fetch(local.replace(/\.mp3$/, '.wav'));
    expect(wav.status, 'the MP3 link is signed for the MP3 only').to.equal(403);
    await wav.arrayBuffer();
  });

  // GIVEN a missed call WHEN it is uploaded THEN no recording link is published (the 44-byte file is not a recording)
  it('publishes no recording for an unanswered call', async () => {
    const { linkedid } = await playCall('inbound_missed');
    expect((await uploadOf(linkedid))['recordUrl']).to.equal(undefined);
  });

  // GIVEN RetailCRM down while a call rings WHEN the call ends THEN the popup is dropped, never shown late, and the history still arrives
  it('drops a popup that could not be delivered before the call ended', async () => {
    t.crm.setMode('down');
    const { linkedid } = await playCall('inbound_answered');
    t.crm.setMode('normal');
    await uploadOf(linkedid);
    // The popup may have been mid-delivery at hangup: then a hangup event waits for it, and is dropped with it.
    const states = await waitFor('popup jobs settled', async () => {
      const jobs = await t.db.pool.query<{ state: string }>("select state from outbox_jobs where kind = 'call_event' order by id");
      const s = jobs.rows.map((r) => r.state);
      return s.includes('pending') ? undefined : s;
    });
    expect(states[0]).to.equal('dropped');
    expect(states.every((x) => x === 'dropped')).to.equal(true);
    expect(events()).to.deep.equal([]);
  });

  // GIVEN both the h-extension and a hangup handler run /hangup WHEN the second one arrives THEN nothing is sent twice
  it('records a call once when /hangup runs twice', async () => {
    const { linkedid } = await playCall('inbound_answered');
    await runAgiSession({
      port: t.service.agiPort,
      fixture: loadAgiFlow('inbound_answered__hangup'),
      script: 'hangup',
      query: { enterprise: ENTERPRISE },
      deadChannel: true,
    });
    await t.service.drainBackground();
    await uploadOf(linkedid);
    await waitForOutboxSettled(t);
    expect(t.crm.requests({ path: '/api/v5/telephony/calls/upload' })).to.have.length(1);
    expect(events().filter((e) => e['type'] === 'hangup')).to.have.length(1);
  });

  // GIVEN a number RetailCRM does not know WHEN three calls come from it at once THEN exactly one customer is created and remembered
  it('creates exactly one customer for a new number', async () => {
    const flow = loadAgiFlow('inbound_missed__incoming');
    await Promise.all(
      [1, 2, 3].map((i) =>
        runAgiSession({
          port: t.service.agiPort,
          fixture: flow,
          script: 'incoming',
          query: { enterprise: ENTERPRISE },
          variables: { 'CHANNEL(linkedid)': `1795669999.${i}` },
        }),
      ),
    );
    await t.service.drainBackground();
    const created = await waitFor('customer creation', () => {
      const c = [...t.crm.account().customers.values()];
      return c.length > 0 ? c : undefined;
    });
    await waitForOutboxSettled(t);
    expect([...t.crm.account().customers.values()]).to.have.length(1);
    expect(created[0]?.phones).to.deep.equal(['+375291234567']);
    // No made-up name: the phone shows the number until a person names the customer.
    expect(created[0]?.firstName ?? null).to.equal(null);
    const row = await waitFor('row', async () => (await t.db.pool.query('select customer_id from retailcrm_customers')).rows[0] as Json | undefined);
    expect(row['customer_id']).to.equal(created[0]?.id);
    const lookupsBefore = t.crm.requests({ path: '/api/v5/telephony/manager' }).length;
    const again = await runAgiSession({ port: t.service.agiPort, fixture: flow, script: 'incoming', query: { enterprise: ENTERPRISE } });
    expect(again.variables.get('RCRM_LOOKUP')).to.equal('FOUND');
    expect(t.crm.requests({ path: '/api/v5/telephony/manager' }).length).to.equal(lookupsBefore);
  });

  // GIVEN an enterprise with telephony events off WHEN a call happens THEN it is routed and recorded locally, RetailCRM gets no events
  it('sends nothing but the lookup when telephony events are off', async () => {
    await t.enterprises.update(ENTERPRISE, { settings: { telephonyEvents: false, autoCreateCustomers: false } });
    t.service.directory.invalidate();
    const { linkedid } = await playCall('inbound_answered');
    const row = await t.db.pool.query('select result from calls where linkedid = $1', [linkedid]);
    expect(row.rows[0]).to.deep.equal({ result: 'answered' });
    await waitForOutboxSettled(t);
    expect(t.crm.requests({ method: 'POST' })).to.deep.equal([]);
  });

  // GIVEN the shipped dialplan's "Dial the manager, then the queue" WHEN a member answers after the manager did
  // not (DIALSTATUS=NOANSWER is left from the Dial, as a real Asterisk 22 shows) THEN answered by the member.
  it('manager no answer, then a queue member answered: answered by the member, with the recording', async () => {
    const { linkedid } = await playCall('hh_queue_answered', {
      ageSeconds: 40,
      hangupVariables: { DIALSTATUS: 'NOANSWER', DIALEDPEERNUMBER: '101/101', RCRM_MANAGER: '101' },
    });
    const call = await uploadOf(linkedid);
    expect(call).to.include({ result: 'answered', code: '102', duration: 10, durationWaiting: 30 });
  });

  // GIVEN click-to-call, whose manager leg was up before the customer was dialled WHEN the dialplan marked the
  // customer's answer 10 s before the end THEN talk is 10 s and the rest is waiting (not ANSWEREDTIME's 15).
  it('click-to-call: talk counted from the customer\'s answer', async () => {
    const endedAt = Date.now();
    const answeredAt = ((endedAt - 10_000) / 1000).toFixed(3);
    const { linkedid } = await playCall('click_to_call', { ageSeconds: 18, endedAt, hangupVariables: { RCRM_ANSWERED_AT: answeredAt } });
    const call = await uploadOf(linkedid);
    expect(call).to.include({ result: 'answered', code: '101', duration: 10, durationWaiting: 8 });
  });

  // GIVEN the shipped dialplan's URL (linkedid and URI-encoded ring codes in it) WHEN an unknown caller is routed by
  // default THEN the popup is keyed on the URL's linkedid and goes to the URL's ring codes, and the session asks
  // Asterisk nothing: two commands (name is unchanged for an unknown caller: only the routing variables are set)
  it("the shipped dialplan's URL: linkedid and ring codes without a round trip", async () => {
    const linkedid = 'pbx-1+a&b.42';
    const start = await runAgiSession({
      port: t.service.agiPort,
      fixture: loadAgiFlow('queue_abandoned__incoming'),
      script: 'incoming',
      query: { enterprise: ENTERPRISE, linkedid, ring: 'PJSIP/102,PJSIP/103' },
    });
    expect(start.commands.filter((c) => c.startsWith('GET'))).to.deep.equal([]);
    expect(start.variables.get('RCRM_LOOKUP')).to.equal('NOT_FOUND');
    const popup = await waitFor('the popup', () => events().find((e) => e['type'] === 'in' && e['callExternalId'] === linkedid));
    expect(popup['codes']).to.have.members(['102', '103']);
  });

  // GIVEN a caller routed to no manager and no RCRM_RING_CODES WHEN the popup went to every mapped extension THEN
  // the hangup event closes it on every one of them (it used to carry no codes, leaving the popups open).
  it('default route: the hangup event closes the popup on every extension that got it', async () => {
    const { linkedid } = await playCall('queue_abandoned', { hangupVariables: { RCRM_MANAGER: '' } });
    const popup = events().find((e) => e['type'] === 'in' && e['callExternalId'] === linkedid);
    expect(popup?.['codes']).to.have.members(['101', '102', '103']);
    const hangup = await waitFor('hangup event', () => events().find((e) => e['type'] === 'hangup'));
    expect(hangup['codes']).to.have.members(['101', '102', '103']);
    const call = await uploadOf(linkedid);
    expect(call['code']).to.equal(undefined);
  });
});
