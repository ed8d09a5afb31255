/**
 * PBX tier, calls the service never saw end: a real Asterisk 22 writes its CDRs into the service's database
 * (cdr_pgsql, table asterisk_cdr); the reconciler records every call /hangup did not, once, through the outbox.
 */
import { expect } from 'chai';
import { waitFor } from '../helpers/async.js';
import { freePort } from '../helpers/ports.js';
import { ServiceProcess } from './service-process.js';
import { DID, ENTERPRISE, MANAGERS, callEvents, settle, startPbxWorld, type PbxWorld } from './pbx-world.js';

const RECONCILE_ENV = { RECONCILE_GRACE_MS: '2000', RECONCILE_INTERVAL_MS: '1000' };

describe('pbx: calls reconciled from Asterisk CDRs', function () {
  this.timeout(180_000);
  let world: PbxWorld;

  before(async function () {
    this.timeout(240_000);
    world = await startPbxWorld(this, { env: { ...RECONCILE_ENV, OUTBOX_RETRY_CAP_MS: '1000' } });
    // the lab's modules.conf loads cdr_pgsql, connected to the world's database (cdr_pgsql.conf from lab.ts)
    expect(await world.lab.pbxInstance.cli('cdr show pgsql status')).to.match(/Connected to .* using table asterisk_cdr/);
  });
  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });
  afterEach(async function () {
    if (!world) return;
    if (!world.service.running) world.service = await ServiceProcess.start(world.env);
    await settle(world, this.currentTest?.title ?? '');
  });

  /** Every upload RetailCRM received for a phone (duplicates included: the fake keeps only the first per id). */
  function uploadsOf(phone: string): Record<string, unknown>[] {
    return world.crm
      .requests({ path: '/api/v5/telephony/calls/upload' })
      .flatMap((r) => (Array.isArray(r.form['calls']) ? (r.form['calls'] as Record<string, unknown>[]) : []))
      .filter((c) => c['phone'] === phone);
  }

  async function cdrLinkedids(): Promise<string[]> {
    const { rows } = await world.db.pool.query<{ linkedid: string }>('select distinct linkedid from asterisk_cdr');
    return rows.map((r) => r.linkedid);
  }

  async function callRows(linkedidOrPhone: string): Promise<{ linkedid: string; reconciled: boolean; ended: boolean }[]> {
    const { rows } = await world.db.pool.query<{ linkedid: string; reconciled: boolean; ended: boolean }>(
      'select linkedid, reconciled, ended_at is not null as ended from calls where linkedid = $1 or phone = $1',
      [linkedidOrPhone],
    );
    return rows;
  }

  async function metric(service: ServiceProcess, name: string): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${service.httpPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    return text
      .split('\n')
      .filter((l) => l.startsWith(name))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  }

  /** Waits until every CDR of a call is in PostgreSQL (cdr_pgsql writes them once the call's channels are gone). */
  async function waitForCdrs(before: number): Promise<void> {
    await waitFor('the CDRs of the call in asterisk_cdr', async () => {
      const calls = (await cdrLinkedids()).length;
      if (calls <= before) throw new Error(`CDRs of ${calls} calls, as before this one`);
      return true;
    }, 20_000);
  }

  /**
   * Asterisk's own record of the answer (it writes a call's CDRs together, once the caller's channel is gone): if
   * it never comes, the lab did not answer the call, and the CDRs are printed.
   */
  async function answeredCdr(phone: string): Promise<void> {
    await waitFor(`the ANSWERED CDR of ${phone}`, async () => {
      const { rows } = await world.db.pool.query(`select 1 from asterisk_cdr where src = $1 and disposition = 'ANSWERED'`, [phone]);
      return rows.length > 0;
    }, 20_000).catch(async (err: unknown) => {
      const { rows } = await world.db.pool.query('select src, channel, dstchannel, lastapp, disposition, billsec, "end" from asterisk_cdr where src = $1', [phone]);
      console.log(JSON.stringify(rows));
      throw err;
    });
  }

  // GIVEN the service stopped WHEN three calls are made (incoming answered by a queue member, incoming missed,
  // outgoing to a busy number) and the service starts again THEN each call appears once in RetailCRM with the
  // right result, manager, durations and recording, marked reconciled.
  it('service down during three calls: each appears once after the restart', async () => {
    const answeredPhone = '+375291140001';
    const missedPhone = '+375291140002';
    const busyPhone = '+375291140003';
    await world.service.stop();
    let cdrs = (await cdrLinkedids()).length;

    await world.lab.setEndpoint('101', 'answer', { ring: 1, talk: 3 });
    await world.lab.setEndpoint('102', 'noanswer');
    await world.lab.setEndpoint('103', 'noanswer');
    await world.lab.callIn(DID, answeredPhone);
    await world.lab.waitIdle();
    await waitForCdrs(cdrs);
    await answeredCdr(answeredPhone);
    cdrs = (await cdrLinkedids()).length;

    await world.lab.setEndpoint('101', 'noanswer');
    await world.lab.callIn(DID, missedPhone, { giveUpAfterMs: 3_000 });
    await world.lab.waitIdle();
    await waitForCdrs(cdrs);
    cdrs = (await cdrLinkedids()).length;

    await world.lab.setEndpoint('pstn', 'busy');
    await world.lab.dialOut('101', busyPhone);
    await world.lab.waitIdle();
    await waitForCdrs(cdrs);

    const restartedAt = Date.now();
    world.service = await ServiceProcess.start(world.env);
    await waitFor('the three reconciled calls in RetailCRM', () => [answeredPhone, missedPhone, busyPhone].every((p) => uploadsOf(p).length > 0), 60_000);
    const tookMs = Date.now() - restartedAt;
    console.log(`      restart -> last reconciled call in RetailCRM: ${tookMs} ms (grace ${RECONCILE_ENV.RECONCILE_GRACE_MS} ms)`);

    const [answered] = uploadsOf(answeredPhone);
    expect(answered).to.include({ type: 'in', result: 'answered', code: '101', userId: MANAGERS['101'] });
    expect(answered?.['duration']).to.be.within(2, 4);
    expect(answered?.['durationWaiting']).to.be.within(0, 4);
    expect(answered?.['recordUrl']).to.be.a('string');
    const [missed] = uploadsOf(missedPhone);
    expect(missed).to.include({ type: 'in', result: 'no answer', duration: 0 });
    expect(missed).to.not.have.property('code'); // it rang the whole queue: nobody's missed call
    expect(missed?.['durationWaiting']).to.be.within(2, 5);
    const [busy] = uploadsOf(busyPhone);
    expect(busy).to.include({ type: 'out', result: 'busy', code: '101', duration: 0 });
    for (const phone of [answeredPhone, missedPhone, busyPhone]) {
      expect(uploadsOf(phone), phone).to.have.length(1);
      expect(await callRows(phone), phone).to.deep.equal([{ linkedid: String(uploadsOf(phone)[0]?.['externalId']), reconciled: true, ended: true }]);
      // no popup for a call that is over
      const id = uploadsOf(phone)[0]?.['externalId'];
      expect(world.crm.account().events.filter((e) => (e as Record<string, unknown>)['callExternalId'] === id)).to.have.length(0);
    }
    expect(await metric(world.service, 'rcrm_reconciled_calls_total')).to.equal(3);
  });

  // GIVEN a call whose start the AGI recorded (popup shown) WHEN the service is killed (kill -9) before /hangup
  // and started again after the call ended THEN the call is completed from the CDRs, once, with its manager.
  it('a call half-recorded by the AGI is completed, not doubled', async () => {
    const phone = '+375291140004';
    world.crm.addCustomer({ firstName: 'Half', lastName: 'Done', phones: [phone], managerId: MANAGERS['101'] });
    await world.lab.setEndpoint('101', 'answer', { ring: 3, talk: 3 });
    const cdrs = (await cdrLinkedids()).length;
    await world.lab.callIn(DID, phone);
    await waitFor('the popup', () => world.crm.account().events.some((e) => (e as Record<string, unknown>)['phone'] === phone), 20_000);
    // ...and acknowledged: a popup RetailCRM got but whose job a kill -9 left unmarked counts as never shown (the
    // outbox's at-least-once edge), and no hangup event would close it.
    await waitFor('the popup job done', async () => {
      const { rows } = await world.db.pool.query(
        `select 1 from outbox_jobs where kind = 'call_event' and state = 'done' and payload->'event'->>'type' = 'in'
           and payload->'event'->>'phone' = $1`,
        [phone],
      );
      return rows.length > 0;
    }, 20_000);
    await world.service.kill();
    await world.lab.waitIdle();
    await waitForCdrs(cdrs);
    const halfRecorded = await callRows(phone);
    expect(halfRecorded).to.have.length(1);
    expect(halfRecorded[0]).to.include({ reconciled: false, ended: false });
    world.service = await ServiceProcess.start(world.env);
    await waitFor('the completed call in RetailCRM', () => uploadsOf(phone).length > 0, 60_000);
    const [call] = uploadsOf(phone);
    expect(call).to.include({ type: 'in', result: 'answered', code: '101' });
    expect(call?.['duration']).to.be.within(2, 4);
    expect(call?.['durationWaiting']).to.be.within(2, 5);
    expect(uploadsOf(phone)).to.have.length(1);
    expect(await callRows(phone)).to.deep.equal([{ linkedid: String(call?.['externalId']), reconciled: true, ended: true }]);
    // the popup the AGI opened is closed (callEvents waits for the hangup event, delivered beside the upload)
    expect((await callEvents(world, String(call?.['externalId']))).map((e) => e['type'])).to.deep.equal(['in', 'hangup']);
  });

  // GIVEN a call made while the service was down WHEN two instances start on the same database at once THEN the
  // call is recorded once: one reconciler per enterprise at a time, and the journal's linkedid is the last word.
  it('two instances reconciling at once: no duplicates', async () => {
    const phone = '+375291140005';
    await world.service.stop();
    const cdrs = (await cdrLinkedids()).length;
    await world.lab.setEndpoint('101', 'noanswer');
    await world.lab.setEndpoint('102', 'answer', { ring: 1, talk: 2 });
    await world.lab.setEndpoint('103', 'noanswer');
    await world.lab.callIn(DID, phone);
    await world.lab.waitIdle();
    await waitForCdrs(cdrs);
    await answeredCdr(phone);
    const secondHttp = await freePort();
    const secondEnv = { ...world.env, AGI_PORT: String(await freePort()), HTTP_PORT: String(secondHttp), PUBLIC_URL: `http://127.0.0.1:${secondHttp}` };
    const [first, second] = await Promise.all([ServiceProcess.start(world.env), ServiceProcess.start(secondEnv)]);
    world.service = first;
    try {
      await waitFor('the call in RetailCRM', () => uploadsOf(phone).length > 0, 60_000);
      // Both instances have passed over the enterprise since the call was recorded (done or locked out).
      const passes = async (): Promise<number[]> => Promise.all([first, second].map((s) => metric(s, 'rcrm_reconcile_passes_total')));
      const seen = await passes();
      await waitFor('two more passes on each instance', async () => (await passes()).every((n, i) => n >= (seen[i] ?? 0) + 2), 30_000);
      const reconciled = await Promise.all([first, second].map((s) => metric(s, 'rcrm_reconciled_calls_total')));
      expect(reconciled[0]! + reconciled[1]!).to.equal(1);
      expect(uploadsOf(phone)).to.have.length(1);
      expect(uploadsOf(phone)[0]).to.include({ result: 'answered', code: '102' });
      expect(await callRows(phone)).to.have.length(1);
    } finally {
      await second.stop();
    }
  });

  // GIVEN the dialplan names an enterprise the service does not know WHEN a call is made THEN its CDRs are
  // ignored with one log line (not one per pass), and nothing reaches RetailCRM.
  it('a CDR of an unknown enterprise is ignored with a log line', async () => {
    const phone = '+375291140006';
    await world.lab.pbx.action('Setvar', { Variable: 'RCRM_ENTERPRISE_NUMBER', Value: '9999' });
    try {
      const cdrs = (await cdrLinkedids()).length;
      await world.lab.setEndpoint('101', 'answer', { ring: 1, talk: 1 });
      await world.lab.callIn(DID, phone);
      await world.lab.waitIdle();
      await waitForCdrs(cdrs);
    } finally {
      await world.lab.pbx.action('Setvar', { Variable: 'RCRM_ENTERPRISE_NUMBER', Value: ENTERPRISE });
    }
    const ignored = (): unknown[] => world.service.logs.filter((l) => l.message === 'CDR of an unknown enterprise ignored' && l['enterprise'] === '9999');
    await waitFor('the log line', () => ignored().length > 0, 30_000);
    const seen = await metric(world.service, 'rcrm_reconcile_passes_total');
    await waitFor('three more passes', async () => (await metric(world.service, 'rcrm_reconcile_passes_total')) >= seen + 3, 30_000);
    expect(ignored()).to.have.length(1);
    expect(uploadsOf(phone)).to.have.length(0);
  });
});
