/**
 * Dashboard users cannot make popups wait: analytics queries run on their own small pool (DB_ANALYTICS_POOL_MAX)
 * with a bound on requests at once. Analytics are held up on purpose (a lock on `extensions`, which the
 * dashboard's manager figures read and a call whose enterprise is cached does not) while a call comes in.
 */
import { expect } from 'chai';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { loadAgiFlow } from '../fakes/agi-fixtures.js';
import { runAgiSession } from '../fakes/fake-asterisk.js';
import { waitFor } from '../helpers/async.js';
import { httpGet } from '../helpers/http-get.js';
import { ENTERPRISE, startTestService, TEST_SECRET, type TestService } from '../helpers/service.js';

const flow = loadAgiFlow('inbound_answered__incoming');

describe('analytics apart from the call path (component, real service)', function () {
  this.timeout(30_000);
  let t: TestService;
  beforeEach(async () => {
    t = await startTestService({ env: { DB_ANALYTICS_POOL_MAX: '1', DB_POOL_MAX: '5' }, overrides: { outbox: { pollIntervalMs: 50 } } });
  });
  afterEach(async () => {
    await t.stop();
  });

  const call = (n: number) =>
    runAgiSession({
      port: t.service.agiPort, fixture: flow, script: 'incoming', query: { enterprise: ENTERPRISE },
      variables: { 'CHANNEL(linkedid)': `1796000000.${n}` },
    });
  const popups = (): number => t.crm.requests({ path: '/api/v5/telephony/call/event' }).length;

  // GIVEN the dashboard's queries stuck WHEN more dashboard requests and a call arrive THEN one analytics connection, 503 beyond the bound, popup delivered
  it('delivers popups while the dashboard is stuck, and refuses dashboard requests beyond its bound', async () => {
    await call(1);
    await waitFor('first popup', () => popups() === 1);

    const token = createSecretBox(TEST_SECRET).sign('dashboard', ENTERPRISE);
    const blocker = await t.db.pool.connect();
    try {
      await blocker.query('begin');
      await blocker.query('lock table extensions in access exclusive mode');
      const requests = Array.from({ length: 6 }, (_, i) =>
        httpGet(t.service.httpPort, `/api/analytics/managers?enterprise=${ENTERPRISE}&token=${token}&from=2026-0${i + 1}-01&to=2026-0${i + 1}-02`, { timeoutMs: 20_000 }),
      );
      await waitFor('an analytics query waiting on the lock', async () => {
        const { rows } = await t.db.pool.query<{ n: number }>(
          "select count(*)::int as n from pg_stat_activity where application_name = 'retailcrm-agi-analytics' and wait_event_type = 'Lock'",
        );
        return (rows[0]?.n ?? 0) >= 1;
      });
      const { rows } = await t.db.pool.query<{ n: number }>(
        "select count(*)::int as n from pg_stat_activity where application_name = 'retailcrm-agi-analytics'",
      );
      expect(rows[0]?.n).to.equal(1);

      // The call path is untouched: routed, and its popup delivered, while the dashboard waits.
      const routed = await call(2);
      expect(routed.variables.get('RCRM_LOOKUP')).to.be.oneOf(['FOUND', 'NOT_FOUND']);
      await waitFor('second popup during the stuck dashboard', () => popups() === 2, 5_000);

      await blocker.query('rollback');
      const statuses = (await Promise.all(requests)).map((r) => r.status).sort();
      // Two at once (2 × DB_ANALYTICS_POOL_MAX), the rest refused at once instead of queueing.
      expect(statuses).to.deep.equal([200, 200, 503, 503, 503, 503]);
    } finally {
      await blocker.query('rollback').catch(() => undefined);
      blocker.release();
    }
  });
});
