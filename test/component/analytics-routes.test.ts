/** Component: the analytics routes on the real HttpServer with in-process fake queries (no database). */
import { expect } from 'chai';
import type { AnalyticsQueries, CallFigures } from '../../src/analytics/analytics-queries.js';
import { analyticsPlugin } from '../../src/analytics/analytics-routes.js';
import { HttpServer } from '../../src/http/http-server.js';
import { createLogger } from '../../src/lib/logger.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';

const box = createSecretBox('d'.repeat(40));
const TOKEN = box.sign('dashboard', 'acme');
const HOSTILE_PHONE = '+375<script>alert(1)</script>';
const HOSTILE_NAME = 'Ivanov, "Vanya"\nthe 2nd';
const figures: CallFigures = {
  callsIn: 3, callsOut: 1, answeredIn: 2, answeredOut: 1, missed: 1, missedNotCalledBack: 1, avgWaitSec: 12.5,
  p90WaitSec: 20, avgTalkSec: 60, converted: 1, conversionRate: 0.3333, convertedToSale: 0, saleConversionRate: 0,
};
const HOSTILE_MANAGER = 'Ann <i>=Boss</i>';
const fakeQueries: AnalyticsQueries = {
  async figures() {
    return { summary: figures, managers: [{ managerCode: '10<b>1', managerUserId: 7, managerName: HOSTILE_MANAGER, ...figures }] };
  },
  async hourly() {
    return Array.from({ length: 24 }, (_, hour) => ({ hour, callsIn: hour, callsOut: 0, answered: hour, missed: 0 }));
  },
  async daily(p) {
    return [{ day: p.from, callsIn: 1, callsOut: 1, answered: 2, missed: 0 }];
  },
  async missedWaiting() {
    return { total: 1, items: [{ phone: HOSTILE_PHONE, customerId: 5, customerName: HOSTILE_NAME, lastMissedAt: '2025-03-11T20:30:00.000Z',
      attempts: 2, minutesAgo: 15, managerCode: '"><img src=x>', managerUserId: null, managerName: null, ringCodes: [],
      openTask: { crmTaskId: 55, missedCount: 2, firstMissedAt: '2025-03-11T20:00:00.000Z' } }] };
  },
  async callbackTasks() {
    return { open: 1, openWithTask: 1, completed: 0 };
  },
  async leads() {
    return { requested: 1, created: 1, items: [{ phone: '+375291234567', calledAt: '2025-03-10T10:00:00.000Z', crmOrderId: 8, customerId: null }] };
  },
};

describe('analytics routes over HTTP', () => {
  let http: HttpServer;
  let base: string;

  before(async () => {
    http = new HttpServer({ logger: createLogger({ level: 'error', silent: true }) });
    http.register(analyticsPlugin, {
      queries: fakeQueries, box, logger: createLogger({ level: 'error', silent: true }),
      enterprises: { find: async (n) => (n === 'acme' ? { number: 'acme', crmUrl: 'https://acme.retailcrm.ru', settings: { crmTimezone: 'Europe/Minsk' } } : null) },
    });
    base = `http://127.0.0.1:${await http.listen(0, '127.0.0.1')}`;
  });
  after(async () => {
    await http.close();
  });

  const get = (path: string, headers: Record<string, string> = {}): Promise<Response> => fetch(`${base}${path}`, { headers });
  const range = 'from=2025-03-10&to=2025-03-12';

  // GIVEN no token, a wrong token or another enterprise's token WHEN any analytics URL is asked THEN a bare 403
  it('refuses without the dashboard token', async () => {
    const other = box.sign('dashboard', 'other');
    for (const path of [`/api/analytics/summary?enterprise=acme&${range}`, `/api/analytics/summary?enterprise=acme&token=nope&${range}`,
      `/dashboard?enterprise=acme&token=${other}`, `/api/analytics/missed.csv?enterprise=other&token=${other}`, `/dashboard`]) {
      const res = await get(path);
      expect(res.status, path).to.equal(403);
      expect(await res.json()).to.deep.equal({ success: false, error: 'forbidden' });
    }
  });

  // GIVEN a bearer token WHEN summary is asked THEN 200 with the summary, period and busiest hours
  it('accepts a bearer token and answers JSON', async () => {
    const res = await get(`/api/analytics/summary?enterprise=acme&${range}`, { authorization: `Bearer ${TOKEN}` });
    expect(res.status).to.equal(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body['summary']).to.deep.equal(figures);
    expect(body['period']).to.deep.equal({ enterprise: 'acme', from: '2025-03-10', to: '2025-03-12', timezone: 'Europe/Minsk' });
    expect(body['busiestHours']).to.deep.equal([{ hour: 23, calls: 23 }, { hour: 22, calls: 22 }, { hour: 21, calls: 21 }]);
    for (const name of ['managers', 'hourly', 'daily', 'missed']) {
      const r = await get(`/api/analytics/${name}?enterprise=acme&token=${TOKEN}&${range}`);
      expect(r.status, name).to.equal(200);
      expect(Object.keys((await r.json()) as object), name).to.include('success');
    }
  });

  // GIVEN bad dates or ranges WHEN asked THEN 400 with a message naming the problem
  it('refuses bad dates with 400', async () => {
    const cases: [string, RegExp][] = [
      ['from=2025-02-30&to=2025-03-01', /from must be a date/],
      ['from=2025-03-10&to=2025-03-10', /to must be after from/],
      ['from=2024-01-01&to=2025-03-01', /at most 366 days/],
      ['from=yesterday&to=2025-03-01', /from must be a date/],
      [`${range}&callbackMinutes=0`, /callbackMinutes/],
    ];
    for (const [qs, message] of cases) {
      const res = await get(`/api/analytics/summary?enterprise=acme&token=${TOKEN}&${qs}`);
      expect(res.status, qs).to.equal(400);
      expect(((await res.json()) as { error: string }).error, qs).to.match(message);
    }
  });

  // GIVEN a customer name with a comma, a quote and a newline WHEN missed.csv is exported THEN it is one quoted cell
  it('quotes CSV cells', async () => {
    const res = await get(`/api/analytics/missed.csv?enterprise=acme&token=${TOKEN}&${range}`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/csv; charset=utf-8');
    const text = (await res.text()).replace(/^\ufeff/, '');
    const [header, row] = text.split('\r\n');
    expect(header).to.equal('phone,customer_name,customer_id,last_missed_at,attempts,minutes_ago,manager_code,manager_user_id,' +
      'manager_name,ago,crm_task_id,task_url');
    expect(row).to.equal(`${HOSTILE_PHONE},"Ivanov, ""Vanya""\nthe 2nd",5,2025-03-11T20:30:00.000Z,2,15,"""><img src=x>",,` +
      `"ext. ""><img src=x>",15 min,55,https://acme.retailcrm.ru/tasks/55`);
    const managers = await (await get(`/api/analytics/managers.csv?enterprise=acme&token=${TOKEN}&${range}`)).text();
    expect(managers.split('\r\n')[1]).to.equal('10<b>1,7,3,1,2,1,1,1,12.5,20,60,1,0.3333,Ann <i>=Boss</i>,0,0');
  });

  // GIVEN a hostile phone and extension WHEN the dashboard is rendered THEN they appear escaped, never as markup
  it('escapes untrusted values in the dashboard', async () => {
    const res = await get(`/dashboard?enterprise=acme&token=${TOKEN}&${range}`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('referrer-policy')).to.equal('no-referrer');
    expect(res.headers.get('content-security-policy')).to.contain("default-src 'none'");
    const html = await res.text();
    expect(html).to.not.contain('<script>alert(1)');
    expect(html).to.not.contain('<img src=x>');
    expect(html).to.not.contain('10<b>1');
    expect(html).to.not.contain('<i>=Boss');
    expect(html).to.contain('Ann &#60;i&#62;=Boss&#60;/i&#62;');
    expect(html).to.contain('+375&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(html).to.contain('&#34;&#62;&#60;img src=x&#62;');
    expect(html).to.contain('href="tel:+3751"');
    expect((html.match(/<rect class="bar"/g) ?? []).length).to.equal(24 + 1);
  });
});
