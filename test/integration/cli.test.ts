/** The command line against a real database: what an operator types, what they see, and the exit status. */
import { expect } from 'chai';
import { exitStatusFor, runCli } from '../../src/cli.js';
import { openCliDatabase } from '../../src/cli/cli-context.js';
import { loadConfig, SERVICE_ENV_FILE } from '../../src/config/config.js';
import { InputError } from '../../src/lib/errors.js';
import { rejection } from '../helpers/async.js';
import { runCliCapture } from '../helpers/cli-capture.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const SECRET = 'cli-test-secret-key-0123456789abcdefgh';

describe('retailcrm-agi command line', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db.drop();
  });

  const cli = (...argv: string[]) =>
    runCliCapture(argv, { DATABASE_URL: db.url, SECRET_KEY: SECRET, PUBLIC_URL: 'https://pbx.example.com', DATA_DIR: '/nonexistent-not-used' });

  // GIVEN a new enterprise WHEN added and shown THEN secrets are masked in text and complete in --json, with the URLs to paste
  it('adds, shows and changes an enterprise', async () => {
    const add = await cli('enterprise', 'add', '--number', '0367', '--crm-url', 'https://shop.retailcrm.ru/', '--api-key', 'abcdefghijkl12345', '--country', 'by', '--site', 'shop', '--skip-check');
    expect(add.code).to.equal(0);
    expect(add.out).to.contain('enterprise 0367 added');
    expect(add.out).to.not.contain('abcdefghijkl12345');
    const show = await cli('enterprise', 'show', '--number', '0367', '--json');
    expect(show.code).to.equal(0);
    const json = JSON.parse(show.out) as Record<string, unknown>;
    expect(json).to.deep.include({ number: '0367', crmUrl: 'https://shop.retailcrm.ru', apiKey: 'abcdefghijkl12345', country: 'BY', site: 'shop' });
    expect(String(json['clientId'])).to.have.length.greaterThan(15);
    expect((json['urls'] as Record<string, string>)['makeCallUrl']).to.equal('https://pbx.example.com/api/makecallexternal');
    expect((json['dialplan'] as Record<string, string>)['incoming']).to.contain('/incoming?enterprise=0367');
    const set = await cli('enterprise', 'set', '--number', '0367', '--auto-create-customers', 'off', '--timezone', 'Europe/Minsk');
    expect(set.code).to.equal(0);
    const again = JSON.parse((await cli('enterprise', 'show', '--number', '0367', '--json')).out) as Record<string, unknown>;
    expect(again).to.deep.include({ autoCreateCustomers: false, timezone: 'Europe/Minsk', apiKey: 'abcdefghijkl12345' });
    expect((await cli('enterprise', 'set', '--number', '0367', '--pbx-addresses', '192.0.2.10, 2001:db8::/48')).code).to.equal(0);
    const bound = JSON.parse((await cli('enterprise', 'show', '--number', '0367', '--json')).out) as Record<string, unknown>;
    expect(bound['pbxAddresses']).to.equal('192.0.2.10/32, 2001:db8::/48');
    expect(bound['saleStatuses']).to.equal('complete');
    expect((await cli('enterprise', 'set', '--number', '0367', '--sale-statuses', 'complete, paid')).code).to.equal(0);
    const sales = JSON.parse((await cli('enterprise', 'show', '--number', '0367', '--json')).out) as Record<string, unknown>;
    expect(sales['saleStatuses']).to.equal('complete, paid');
    const badSale = await cli('enterprise', 'set', '--number', '0367', '--sale-statuses', 'com plete');
    expect(badSale.code).to.not.equal(0);
    expect(badSale.err).to.contain('--sale-statuses');
    expect(bound['recordingRetentionDays']).to.equal('(kept forever)');
    expect((await cli('enterprise', 'set', '--number', '0367', '--recording-retention-days', '90')).code).to.equal(0);
    const retained = JSON.parse((await cli('enterprise', 'show', '--number', '0367', '--json')).out) as Record<string, unknown>;
    expect(retained['recordingRetentionDays']).to.equal(90);
    expect((await cli('enterprise', 'list')).out).to.contain('0367\thttps://shop.retailcrm.ru');
    expect((await cli('extension', 'set', '--enterprise', '0367', '--ext', '101', '--user-id', '7')).code).to.equal(0);
    expect((await cli('extension', 'list', '--enterprise', '0367')).out).to.equal('101\t7');
  });

  // GIVEN an enterprise WHEN call-back tasks and leads are turned on THEN show says so (off by default), flags
  // change one field at a time, and bad values are refused
  it('sets and shows call-back tasks and leads (off by default)', async () => {
    expect((await cli('enterprise', 'add', '--number', '0368', '--crm-url', 'https://shop.retailcrm.ru/', '--api-key', 'abcdefghijkl12345', '--site', 'shop', '--skip-check')).code).to.equal(0);
    const show = async (): Promise<Record<string, Record<string, unknown>>> =>
      JSON.parse((await cli('enterprise', 'show', '--number', '0368', '--json')).out) as Record<string, Record<string, unknown>>;
    expect((await show())['callbackTasks']).to.deep.equal({ enabled: 'off', defaultUserId: '(none: only callers with a manager get a task)', dueMinutes: 30 });
    expect((await show())['leads']).to.deep.include({ enabled: 'off', periodHours: 24, site: "(the enterprise's: shop)" });
    expect((await cli('enterprise', 'set', '--number', '0368', '--callback-tasks', 'on', '--callback-default-user', '9', '--callback-due-minutes', '45')).code).to.equal(0);
    expect((await cli('enterprise', 'set', '--number', '0368', '--leads', 'on', '--lead-order-method', 'phone', '--lead-status', 'new', '--lead-period-hours', '12')).code).to.equal(0);
    expect((await cli('enterprise', 'set', '--number', '0368', '--callback-due-minutes', '20')).code).to.equal(0);
    const after = await show();
    expect(after['callbackTasks']).to.deep.equal({ enabled: 'on', defaultUserId: 9, dueMinutes: 20 });
    expect(after['leads']).to.deep.include({ enabled: 'on', orderMethod: 'phone', status: 'new', periodHours: 12 });
    const text = await cli('enterprise', 'show', '--number', '0368');
    expect(text.out).to.match(/callbackTasks:\n {2}enabled: on/);
    const bad = await cli('enterprise', 'set', '--number', '0368', '--lead-period-hours', '0');
    expect(bad.code).to.not.equal(0);
    expect(bad.err).to.match(/lead-period-hours/);
    expect((await cli('enterprise', 'set', '--number', '0368', '--lead-status', 'a b')).err).to.match(/lead-status/);
  });

  const refusals: [string, string[], RegExp][] = [
    ['a malformed enterprise number', ['enterprise', 'add', '--number', 'a b', '--crm-url', 'https://x.retailcrm.ru', '--api-key', 'abcdefgh1'], /enterprise number/],
    ['an http CRM URL', ['enterprise', 'add', '--number', '9', '--crm-url', 'http://x.retailcrm.ru', '--api-key', 'abcdefgh1'], /https/],
    ['a CRM URL with a path', ['enterprise', 'add', '--number', '9', '--crm-url', 'https://x.retailcrm.ru/api/v5', '--api-key', 'abcdefgh1'], /account address only/],
    ['a short API key', ['enterprise', 'add', '--number', '9', '--crm-url', 'https://x.retailcrm.ru', '--api-key', 'k'], /api-key/],
    ['an unknown country', ['enterprise', 'add', '--number', '9', '--crm-url', 'https://x.retailcrm.ru', '--api-key', 'abcdefgh1', '--country', 'XX'], /country/],
    ['a missing flag', ['enterprise', 'add', '--number', '9'], /--crm-url is required/],
    ['an unknown flag', ['enterprise', 'list', '--bogus'], /bogus/],
    ['an unknown enterprise', ['enterprise', 'show', '--number', '4242'], /unknown enterprise/],
    ['an extension with a comma', ['extension', 'set', '--enterprise', '0367', '--ext', '10,1', '--user-id', '7'], /--ext/],
    ['a user id that is not a number', ['extension', 'set', '--enterprise', '0367', '--ext', '102', '--user-id', 'seven'], /user-id/],
    ['an unknown command', ['frobnicate'], /unknown command/],
    ['a PBX address that is not a CIDR', ['enterprise', 'set', '--number', '0367', '--pbx-addresses', 'pbx.example.com'], /--pbx-addresses/],
    ['a retention that is not a number of days', ['enterprise', 'set', '--number', '0367', '--recording-retention-days', '0'], /--recording-retention-days/],
  ];
  for (const [label, argv, message] of refusals) {
    // GIVEN bad input WHEN the command runs THEN it is refused with a clear message and exit status 2
    it(`refuses ${label}`, async () => {
      const r = await cli(...argv);
      expect(r.code).to.equal(2);
      expect(r.err).to.match(message);
    });
  }

  // GIVEN bad configuration WHEN any command runs THEN every problem is listed and the exit status is 2
  it('reports bad configuration', async () => {
    const err: string[] = [];
    const code = await runCli(['enterprise', 'list'], { DATABASE_URL: 'mysql://x', AGI_PORT: 'abc' }, { out: () => undefined, err: (l) => err.push(l) });
    expect(code).to.equal(2);
    expect(err.join('\n')).to.match(/DATABASE_URL/).and.match(/AGI_PORT/);
  });

  // GIVEN the service's environment file on the machine, not read WHEN a command would start an embedded PostgreSQL THEN refused (2)
  it('does not start an embedded PostgreSQL beside an unread service configuration', async () => {
    const lines: string[] = [];
    const io = { out: () => undefined, err: (l: string) => lines.push(l) };
    const config = loadConfig({ DATA_DIR: '/nonexistent-not-used' });
    const err = await rejection(openCliDatabase(config, io, { serviceEnvFileExists: () => true }));
    expect(err).to.be.instanceOf(InputError);
    expect(exitStatusFor(err)).to.equal(2);
    expect((err as Error).message).to.contain(`run with --env-file ${SERVICE_ENV_FILE}`).and.contain('--env-file /dev/null');
    expect(lines).to.deep.equal([]);
  });

  // GIVEN an enterprise with no calls WHEN the report runs THEN it prints zero figures instead of failing
  it('prints an empty report and the outbox state', async () => {
    const report = await cli('report', '--enterprise', '0367', '--from', '2026-11-01', '--to', '2026-12-01');
    expect(report.code, report.err).to.equal(0);
    expect(report.out).to.match(/0/);
    const outbox = await cli('outbox', 'list', '--failed');
    expect(outbox.code, outbox.err).to.equal(0);
  });
});
