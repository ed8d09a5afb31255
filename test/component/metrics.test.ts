/**
 * Every metric the operator's guide and monitoring/alerts.yml rely on moves, scraped from the real service's
 * /metrics; /health answers alive and /ready gives reasons per enterprise (RetailCRM, AMI, outbox).
 */
import { expect } from 'chai';
import { PbxStore } from '../../src/clicktocall/pbx-store.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { FakeAmi } from '../fakes/fake-ami.js';
import { loadAgiFlow } from '../fakes/agi-fixtures.js';
import { runAgiSession } from '../fakes/fake-asterisk.js';
import { waitFor } from '../helpers/async.js';
import { httpGet, metricValue } from '../helpers/http-get.js';
import { CLIENT_ID, ENTERPRISE, startTestService, TEST_SECRET, type TestService } from '../helpers/service.js';

const KNOWN = '+375291234567';
const incomingFlow = loadAgiFlow('inbound_answered__incoming');
type Readiness = { status: string; enterprises: Record<string, { ok: boolean; reasons: string[] }> };

describe('metrics, /health and /ready (component, real service)', function () {
  this.timeout(30_000);
  let t: TestService;
  let ami: FakeAmi;
  before(async () => {
    ami = await FakeAmi.start({ username: 'crm', secret: 'crmsecret' });
    t = await startTestService({
      env: { AGI_ALLOW: '127.0.0.1/32', SYNC_POLL_INTERVAL_MS: '200' },
      overrides: {
        outbox: { pollIntervalMs: 50, popupLateMs: 300 },
        notifier: { maxInFlight: 1, maxQueued: 0 },
        readiness: { crmDownAfterMs: 0, outboxStuckAfterSeconds: 1 },
      },
    });
    t.crm.addUser({ id: 7, firstName: 'Anna', lastName: 'Petrova' });
    t.crm.addCustomer({ firstName: 'Иван', phones: [KNOWN], managerId: 7 });
  });
  after(async () => {
    await t.stop();
    await ami.close();
  });

  const scrape = async (): Promise<string> => {
    const r = await httpGet(t.service.httpPort, '/metrics');
    expect(r.status).to.equal(200);
    return r.body;
  };
  const ready = async (): Promise<Readiness> => JSON.parse((await httpGet(t.service.httpPort, '/ready')).body) as Readiness;
  let call = 0;
  const incoming = (caller = KNOWN) =>
    runAgiSession({
      port: t.service.agiPort,
      fixture: incomingFlow,
      script: 'incoming',
      query: { enterprise: ENTERPRISE },
      envOverrides: { agi_callerid: caller },
      variables: { 'CHANNEL(linkedid)': `1795000000.${++call}` },
    });
  const moves = async (what: string, name: string, labels: Record<string, string>, at = 1): Promise<void> => {
    await waitFor(`${what}: ${name} ${JSON.stringify(labels)} ≥ ${at}`, async () => metricValue(await scrape(), name, labels) >= at);
  };

  // GIVEN a fresh service WHEN scraped THEN the default process metrics are there
  it('exposes prom-client default process metrics', async () => {
    const text = await scrape();
    for (const name of ['process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'process_start_time_seconds']) {
      expect(text).to.match(new RegExp(`^${name} `, 'm'));
    }
    expect((await httpGet(t.service.httpPort, '/health')).body).to.contain('"status":"ok"');
  });

  // Popups RetailCRM accepted: `sent`, or `late` past popupLateMs (300 ms here, which a loaded machine can pass).
  const delivered = async (at: number): Promise<void> => {
    await waitFor(`${at} popup(s) counted sent or late`, async () => {
      const text = await scrape();
      return metricValue(text, 'rcrm_popups_total', { outcome: 'sent' }) + metricValue(text, 'rcrm_popups_total', { outcome: 'late' }) >= at;
    });
  };

  // GIVEN a known caller WHEN they call twice THEN lookups count by source, RetailCRM requests by endpoint and status with latency, popups counted
  it('counts lookups, RetailCRM requests and popups', async () => {
    expect((await incoming()).variables.get('RCRM_LOOKUP')).to.equal('FOUND');
    await delivered(1);
    expect((await incoming()).variables.get('RCRM_LOOKUP')).to.equal('FOUND');
    const text = await scrape();
    expect(metricValue(text, 'rcrm_lookups_total', { source: 'crm', result: 'FOUND' })).to.equal(1);
    expect(metricValue(text, 'rcrm_lookups_total', { source: 'cache', result: 'FOUND' })).to.equal(1);
    expect(metricValue(text, 'rcrm_crm_requests_total', { endpoint: '/v5/telephony/manager', status: '200' })).to.equal(1);
    expect(metricValue(text, 'rcrm_crm_request_seconds_count', { endpoint: '/v5/telephony/call/event' })).to.be.at.least(1);
    expect(metricValue(text, 'rcrm_agi_sessions_total', { script: 'incoming', outcome: 'ok' })).to.equal(2);
    await delivered(2);
    const after = await scrape();
    expect(metricValue(after, 'rcrm_agi_session_seconds_count', { script: 'incoming' })).to.equal(2);
    expect(metricValue(after, 'rcrm_outbox_outcomes_total', { kind: 'call_event', outcome: 'done' })).to.be.at.least(2);
    expect(metricValue(after, 'rcrm_lookup_cache_entries')).to.be.at.least(1);
    expect(after).to.match(/^rcrm_live_calls 0$/m);
  });

  // GIVEN popups slower than POPUP_LATE_MS, one call start at a time WHEN two calls come at once THEN one popup late, one skipped
  it('counts late and skipped popups', async () => {
    const lateBefore = metricValue(await scrape(), 'rcrm_popups_total', { outcome: 'late' });
    t.crm.setLatency(500, '/api/v5/telephony/call/event');
    await Promise.all([incoming(), incoming()]);
    await moves('late popup', 'rcrm_popups_total', { outcome: 'late' }, lateBefore + 1);
    await moves('skipped popup', 'rcrm_popups_total', { outcome: 'skipped' });
    t.crm.setLatency(0, '/api/v5/telephony/call/event');
  });

  // GIVEN FastAGI from outside AGI_ALLOW WHEN it connects THEN it is counted
  it('counts refused FastAGI peers', async () => {
    await runAgiSession({ port: t.service.agiPort, localAddress: '127.0.0.2', fixture: incomingFlow, script: 'incoming' });
    await moves('refusal', 'rcrm_agi_sessions_refused_total', { reason: 'not_allowed' });
  });

  // GIVEN history polling every 200 ms THEN the lag gauge exists per enterprise and stays small
  it('reports history-poll lag per enterprise', async () => {
    await moves('poll', 'rcrm_crm_requests_total', { endpoint: '/v5/customers/history', status: '200' });
    await waitFor('lag gauge', async () => /^rcrm_history_poll_lag_seconds\{enterprise="0367"\} /m.test(await scrape()));
    expect(metricValue(await scrape(), 'rcrm_history_poll_lag_seconds', { enterprise: ENTERPRISE })).to.be.below(5);
  });

  // GIVEN RetailCRM down WHEN a popup is due THEN the outbox backlog shows in the gauges and /ready says why, per enterprise
  it('shows the outbox backlog and RetailCRM outage in gauges and /ready', async () => {
    await t.db.pool.query(
      `insert into outbox_jobs (enterprise, kind, payload, state, last_error) values ($1, 'call_event', '{}', 'failed', 'test')`,
      [ENTERPRISE],
    );
    t.crm.setMode('down');
    await incoming('+375290000001');
    await moves('pending job', 'rcrm_outbox_jobs', { state: 'pending', enterprise: ENTERPRISE });
    expect(metricValue(await scrape(), 'rcrm_outbox_jobs', { state: 'failed', enterprise: ENTERPRISE })).to.equal(1);
    await waitFor('oldest pending age', async () => metricValue(await scrape(), 'rcrm_outbox_oldest_pending_seconds', { enterprise: ENTERPRISE }) > 1);
    await moves('network failure counted', 'rcrm_crm_requests_total', { endpoint: '/v5/telephony/call/event', status: 'network' });
    const r = await ready();
    expect(r.status).to.equal('degraded');
    const reasons = r.enterprises[ENTERPRISE]?.reasons.join('; ') ?? '';
    expect(reasons).to.match(/RetailCRM unreachable since/);
    expect(reasons).to.match(/outbox stuck/);
    t.crm.setMode('normal');
    await t.db.pool.query("delete from outbox_jobs where state in ('pending', 'failed')");
  });

  // GIVEN a PBX for click-to-call WHEN its AMI connects and then goes away THEN rcrm_ami_up goes 1 then 0, and /ready says so
  it('reports the AMI connection per enterprise', async () => {
    await new PbxStore(t.db.pool, createSecretBox(TEST_SECRET)).save(ENTERPRISE, {
      host: '127.0.0.1', port: ami.port, username: 'crm', secret: 'crmsecret', context: 'rcrm-click-to-call',
    });
    const res = await fetch(`http://127.0.0.1:${t.service.httpPort}/api/makecallexternal`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ clientId: CLIENT_ID, code: '101', phone: '+375297654321', userId: '7' }),
    });
    expect(res.status).to.equal(200);
    await res.arrayBuffer();
    await waitFor('AMI up', async () => metricValue(await scrape(), 'rcrm_ami_up', { enterprise: ENTERPRISE }) === 1);
    await ami.close();
    await waitFor('AMI down', async () => /^rcrm_ami_up\{enterprise="0367"\} 0$/m.test(await scrape()));
    expect((await ready()).enterprises[ENTERPRISE]?.reasons.join('; ')).to.match(/AMI not connected/);
    ami = await FakeAmi.start({ username: 'crm', secret: 'crmsecret' });
  });
});
