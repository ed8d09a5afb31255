/**
 * Browser: the dashboard in Debian's headless Chromium (playwright-core, executablePath /usr/bin/chromium) against
 * the hand-computed fixture served by the real HttpServer on port 0. Fails, never skips, when Chromium or
 * playwright-core is missing: CI must install them (apt-get install -y chromium; playwright-core in devDependencies).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import type { BrowserContext } from 'playwright-core';
import { createAnalyticsQueries } from '../../src/analytics/analytics-store.js';
import { analyticsPlugin } from '../../src/analytics/analytics-routes.js';
import { HttpServer } from '../../src/http/http-server.js';
import { createLogger } from '../../src/lib/logger.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { FIXTURE, seedAnalyticsFixture } from '../helpers/analytics-fixture.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const CHROMIUM = '/usr/bin/chromium';

/** A fresh profile directory per run: launchPersistentContext is how playwright takes --user-data-dir. */
async function launchChromium(userDataDir: string): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it with "apt-get install -y chromium"`);
  let pw: typeof import('playwright-core');
  try {
    pw = await import('playwright-core');
  } catch (err) {
    throw new Error(`playwright-core is not installed (npm install --save-dev playwright-core): ${String(err)}`);
  }
  return pw.chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    viewport: { width: 1100, height: 900 },
    headless: true,
    timeout: 30_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

describe('dashboard in Chromium', function () {
  this.timeout(90_000);
  let db: TestDatabase;
  let http: HttpServer;
  let browser: BrowserContext;
  let base: string;
  let dir: string;
  const box = createSecretBox('b'.repeat(40));

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-dash-'));
    db = await createTestDatabase();
    await seedAnalyticsFixture(db.pool);
    const logger = createLogger({ level: 'error', silent: true });
    http = new HttpServer({ logger });
    http.register(analyticsPlugin, {
      queries: createAnalyticsQueries(db.pool, { timeoutMs: 10_000 }), box, logger,
      enterprises: { find: async (n) => (n === FIXTURE.enterprise ? { number: n, crmUrl: FIXTURE.crmUrl, settings: { crmTimezone: FIXTURE.timezone } } : null) },
    });
    base = `http://127.0.0.1:${await http.listen(0, '127.0.0.1')}`;
    browser = await launchChromium(path.join(dir, 'profile'));
  });
  after(async () => {
    await browser?.close();
    await http?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  // GIVEN the seeded fixture WHEN the dashboard is opened with its token THEN figures, names, charts with legends, axes and
  // tooltips, the missed calls with their open task and the leads are right
  it('renders figures, charts and the missed-call list', async () => {
    const page = await browser.newPage();
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(base)) external.push(r.url());
    });
    const token = box.sign('dashboard', FIXTURE.enterprise);
    const res = await page.goto(`${base}/dashboard?enterprise=${FIXTURE.enterprise}&token=${token}&from=${FIXTURE.from}&to=${FIXTURE.to}`);
    expect(res?.status()).to.equal(200);
    const figure = (id: string): Promise<string | null> => page.textContent(`[data-figure="${id}"]`);
    expect(await figure('calls-in')).to.equal('13');
    expect(await figure('calls-out')).to.equal('3');
    expect(await figure('missed')).to.equal('3');
    expect(await figure('missed-not-called-back')).to.equal('2');
    expect(await figure('p90-wait')).to.equal('1 min 30 s');
    expect(await figure('avg-wait')).to.equal('55 s');
    expect(await figure('avg-talk')).to.equal('1 min 29 s');
    expect(await figure('conversion')).to.equal('2 (16.7%)');
    expect(await figure('sale-conversion')).to.equal('1 (8.3%)');
    expect(await figure('leads')).to.equal('1 / 2');
    expect(await figure('callback-open')).to.equal('1 (1)');
    expect(await page.textContent('#busiest')).to.contain('13:00 (6)');
    for (const [chart, bars] of [['#hourly-chart', 24], ['#daily-chart', 2]] as const) {
      const box = await page.locator(chart).boundingBox();
      expect(box?.width, chart).to.be.greaterThan(100);
      expect(box?.height, chart).to.be.greaterThan(50);
      expect(await page.locator(`${chart} rect.bar`).count(), chart).to.equal(bars);
    }
    const tallest = await page.locator('#hourly-chart rect.bar').nth(13).boundingBox();
    expect(tallest?.height).to.be.greaterThan(50);
    for (const chart of ['#hourly-chart', '#daily-chart']) {
      expect(await page.textContent(`${chart} .legend`), chart).to.equal('Calls (in + out)Missed inbound');
      expect(await page.textContent(`${chart} .y-label`), chart).to.equal('Calls');
      expect(await page.locator(`${chart} line.grid`).count(), chart).to.be.greaterThan(1);
      // a tooltip on every bar, all calls and missed alike
      const bars = await page.locator(`${chart} rect.bar, ${chart} rect.bar-missed`).count();
      expect(await page.locator(`${chart} rect.bar > title, ${chart} rect.bar-missed > title`).count(), chart).to.equal(bars);
    }
    expect(await page.textContent('#hourly-chart .x-label')).to.equal('Hour of day (local)');
    expect(await page.textContent('#daily-chart .x-label')).to.equal('Day');
    expect(await page.locator('#hourly-chart rect.bar').nth(13).locator('title').textContent())
      .to.equal('13:00–14:00: 6 calls (6 in, 0 out), 6 answered, 0 missed');
    expect(await page.locator('#daily-chart rect.bar').first().locator('title').textContent()).to.equal('2025-03-10: 14 calls (12 in, 2 out), 12 answered, 2 missed');
    expect(await page.locator('#managers tbody tr').count()).to.equal(3);
    expect(await page.locator('#managers td.manager').allTextContents()).to.deep.equal(['Anna Smirnova', 'Oleg <b>Petrov</b>', 'ext. 103']);
    expect(await page.locator('#managers b').count()).to.equal(0);
    const call = page.locator('#missed a.call');
    expect(await call.count()).to.equal(1);
    expect(await call.getAttribute('href')).to.equal(`tel:${FIXTURE.waitingPhone}`);
    expect(await page.locator('#missed a.crm').getAttribute('href'))
      .to.equal(`${FIXTURE.crmUrl}/customers?filters%5Bname%5D=%2B375295555555`);
    expect(await page.textContent('#missed')).to.contain('Ivanov, "Vanya"');
    // G ended 2025-03-11 20:31 UTC, long ago: whole days, not minutes
    expect(await page.textContent('#missed td.ago')).to.match(/^\d{3,} days$/);
    const task = page.locator('#missed td.open-task a.task');
    expect(await task.textContent()).to.equal(`task ${FIXTURE.waitingTaskId}`);
    expect(await task.getAttribute('href')).to.equal(`${FIXTURE.crmUrl}/tasks/${FIXTURE.waitingTaskId}`);
    expect(await page.locator('#leads tbody tr').count()).to.equal(2);
    expect(await page.locator('#leads a.order').getAttribute('href')).to.equal(`${FIXTURE.crmUrl}/orders/3/edit`);
    expect(await page.textContent('#leads')).to.contain('not created yet');
    const shot = process.env['DASHBOARD_SCREENSHOT'] ?? path.join(dir, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect((await stat(shot)).size).to.be.greaterThan(10_000);
    expect(external).to.deep.equal([]);
    await page.close();
  });

  // GIVEN no token WHEN the dashboard is opened THEN 403 and no figures
  it('shows nothing without the token', async () => {
    const page = await browser.newPage();
    const res = await page.goto(`${base}/dashboard?enterprise=${FIXTURE.enterprise}`);
    expect(res?.status()).to.equal(403);
    expect(await page.locator('[data-figure]').count()).to.equal(0);
    await page.close();
  });
});
