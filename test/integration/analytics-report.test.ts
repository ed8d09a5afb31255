/**
 * Integration: the CLI report (buildReport + formatReport) on the hand-computed fixture
 * (test/helpers/analytics-fixture.ts): the same new figures as the dashboard, in words and human units.
 */
import { expect } from 'chai';
import { createAnalyticsQueries } from '../../src/analytics/analytics-store.js';
import { checkOptions } from '../../src/analytics/analytics-queries.js';
import { buildReport, formatReport } from '../../src/analytics/report.js';
import { FIXTURE, seedAnalyticsFixture } from '../helpers/analytics-fixture.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

describe('analytics report (PostgreSQL)', function () {
  this.timeout(60_000);
  let db: TestDatabase;

  before(async () => {
    db = await createTestDatabase();
    await seedAnalyticsFixture(db.pool);
  });
  after(async () => {
    await db.drop();
  });

  // GIVEN the fixture WHEN the report is printed THEN names, human units, sales, leads and open tasks are in it
  it('prints the new figures like the dashboard', async () => {
    const q = createAnalyticsQueries(db.pool, { timeoutMs: 10_000 });
    const period = { enterprise: FIXTURE.enterprise, from: FIXTURE.from, to: FIXTURE.to, timezone: FIXTURE.timezone };
    const report = await buildReport(q, period, checkOptions({ saleStatuses: ['complete', 'paid'] }), FIXTURE.crmUrl);
    expect(report.figures.summary.convertedToSale).to.equal(2);
    expect(report.callbackTasks).to.deep.equal({ open: 1, openWithTask: 1, completed: 2 });
    expect(report.leads.requested).to.equal(2);
    const text = formatReport(report);
    expect(text).to.match(/p90 wait\s+1 min 30 s/);
    expect(text).to.match(/calls followed by a sale \(complete, paid\) in 7 days\s+2/);
    expect(text).to.match(/sale conversion\s+16\.7%/);
    expect(text).to.match(/leads asked for \/ created\s+2 \/ 1/);
    expect(text).to.match(/call-back tasks open \(in RetailCRM\) \/ completed\s+1 \(1\) \/ 2/);
    expect(text).to.match(/^Anna Smirnova\s+101\s+11\s/m);
    expect(text).to.match(/^ext\. 103\s+103\s+13\s/m);
    expect(text).to.contain(`${FIXTURE.crmUrl}/tasks/${FIXTURE.waitingTaskId}`);
    expect(text).to.contain(`${FIXTURE.crmUrl}/orders/3/edit`);
    expect(text).to.match(/\d+ days/);
  });
});
