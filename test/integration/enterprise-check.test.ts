/**
 * `enterprise add` checks the RetailCRM key before saving (GET /api/credentials, /api/v5/settings,
 * /api/v5/reference/sites) against the fake RetailCRM: a wrong key or a missing required scope is refused with
 * the reason and nothing is saved; optional scopes only warn; the timezone and the only site come from RetailCRM;
 * `enterprise check` repeats it.
 */
import { expect } from 'chai';
import os from 'node:os';
import { assessCredentials } from '../../src/crm/account-check.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { runCliCapture } from '../helpers/cli-capture.js';
import { runCliProcess } from '../helpers/cli-exec.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const SECRET = 'check-test-secret-key-0123456789abcdef';
const ALL = ['telephony_read', 'telephony_write', 'customer_read', 'customer_write', 'user_read', 'user_write', 'order_read',
  'integration_read', 'integration_write', 'reference_read'];

describe('enterprise add / check against RetailCRM', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let crm: FakeRetailCrm;
  before(async () => {
    db = await createTestDatabase();
    crm = await FakeRetailCrm.start();
  });
  after(async () => {
    await crm.close();
    await db.drop();
  });

  const env = (): Record<string, string> => ({ DATABASE_URL: db.url, SECRET_KEY: SECRET, DATA_DIR: os.tmpdir(), CRM_TIMEOUT_MS: '3000' });
  const cli = (...argv: string[]) => runCliCapture(argv, env());
  const add = (number: string, key: string, ...extra: string[]) =>
    cli('enterprise', 'add', '--number', number, '--crm-url', crm.url, '--api-key', key, '--country', 'BY', ...extra);
  const exists = async (number: string): Promise<boolean> =>
    (await db.pool.query('select 1 from enterprises where number = $1', [number])).rowCount === 1;

  // GIVEN a key RetailCRM does not know WHEN added (real CLI process) THEN refused with the reason, exit 1, nothing saved
  it('refuses a wrong key', async () => {
    const r = await runCliProcess(['enterprise', 'add', '--number', 'bad1', '--crm-url', crm.url, '--api-key', 'not-a-real-key-123'], env());
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('RetailCRM refuses the API key');
    expect(await exists('bad1')).to.equal(false);
    expect(crm.requests({ path: '/api/credentials' }).length).to.be.at.least(1);
  });

  // GIVEN a key without telephony_write WHEN added with popups on THEN refused naming the scope; with popups off THEN accepted
  it('refuses a key without a scope a feature needs, and accepts it when the feature is off', async () => {
    crm.addAccount('key-no-telephony-write', { scopes: ALL.filter((s) => s !== 'telephony_write') });
    const refused = await add('0401', 'key-no-telephony-write');
    expect(refused.code).to.equal(1);
    expect(refused.err).to.match(/lacks the scope telephony_write, needed for popups/);
    expect(await exists('0401')).to.equal(false);
    const accepted = await add('0401', 'key-no-telephony-write', '--telephony-events', 'off');
    expect(accepted.code, accepted.err).to.equal(0);
  });

  // GIVEN a key without optional scopes, in an account in Europe/Minsk with one site WHEN added THEN saved with warnings, RetailCRM's timezone and site
  it('warns for optional scopes and takes the timezone and site from RetailCRM', async () => {
    crm.addAccount('key-minimal', {
      scopes: ['telephony_read', 'telephony_write', 'customer_read', 'customer_write'], timezone: 'Europe/Minsk', sites: ['minsk-shop'],
    });
    const r = await add('0402', 'key-minimal');
    expect(r.code, r.err).to.equal(0);
    expect(r.err).to.match(/warning: the key lacks integration_write: no register/);
    expect(r.err).to.match(/warning: the key lacks user_read: no users sync/);
    const shown = JSON.parse((await cli('enterprise', 'show', '--number', '0402', '--json')).out) as Record<string, unknown>;
    expect(shown).to.deep.include({ timezone: 'Europe/Minsk', site: 'minsk-shop' });
  });

  // GIVEN a key limited to some sites WHEN added for another site THEN refused naming the sites it may use
  it('refuses a site the key may not use', async () => {
    crm.addAccount('key-selective', { scopes: ALL, siteAccess: 'access_selective', sites: ['a-shop', 'b-shop'] });
    const r = await add('0403', 'key-selective', '--site', 'c-shop');
    expect(r.code).to.equal(1);
    expect(r.err).to.contain('may not use site c-shop (it may use: a-shop, b-shop)');
    expect((await add('0403', 'key-selective', '--site', 'b-shop')).code).to.equal(0);
  });

  // GIVEN a saved enterprise whose key is later revoked and whose timezone differs WHEN checked THEN the reason, exit 1; the mismatch warned
  it('enterprise check repeats the check', async () => {
    crm.addAccount('key-later-revoked', { scopes: ALL, timezone: 'Asia/Almaty' });
    expect((await add('0404', 'key-later-revoked', '--timezone', 'Europe/Moscow')).err).to.contain('differs from RetailCRM');
    const ok = await cli('enterprise', 'check', '--number', '0404');
    expect(ok.code, ok.err).to.equal(0);
    expect(ok.err).to.contain('--timezone Asia/Almaty');
    crm.account('key-later-revoked').scopes = ['telephony_read'];
    const bad = await cli('enterprise', 'check', '--number', '0404');
    expect(bad.code).to.equal(1);
    expect(bad.err).to.contain('customer_read');
  });

  it('decides scopes as a table', () => {
    const needs = { telephonyEvents: true, autoCreateCustomers: false, site: null };
    const creds = (scopes: string[]) => ({ scopes, siteAccess: 'access_full', sitesAvailable: [] });
    expect(assessCredentials(creds(ALL), needs, null)).to.deep.equal({ problems: [], warnings: [] });
    expect(assessCredentials(creds(['telephony_read', 'customer_read']), needs, null).problems).to.have.length(1);
    expect(assessCredentials(creds(ALL), { ...needs, site: 'x' }, ['y', 'z']).problems[0]).to.contain('has no site x');
    expect(assessCredentials(creds(ALL), needs, ['y', 'z']).warnings[0]).to.contain('several sites');
    // Call-back tasks and leads need their scopes only when turned on.
    expect(assessCredentials(creds(ALL), { ...needs, callbackTasks: false, leads: false }, null).problems).to.deep.equal([]);
    expect(assessCredentials(creds(ALL), { ...needs, callbackTasks: true }, null).problems).to.deep.equal([
      'the key lacks the scope task_read, needed for call-back tasks (--callback-tasks on)',
      'the key lacks the scope task_write, needed for call-back tasks (--callback-tasks on)',
    ]);
    expect(assessCredentials(creds(ALL), { ...needs, leads: true }, null).problems).to.deep.equal([
      'the key lacks the scope order_write, needed for leads for new callers (--leads on)',
    ]);
    expect(assessCredentials(creds([...ALL, 'task_read', 'task_write', 'order_write']), { ...needs, callbackTasks: true, leads: true }, null).problems).to.deep.equal([]);
  });

  // GIVEN call-back tasks turned on WHEN the key lacks task_write THEN enterprise check refuses it, naming the scope
  it('enterprise check asks for the task scopes once call-back tasks are on', async () => {
    crm.addAccount('tasks-key-0123456789', { scopes: ALL });
    expect((await add('0405', 'tasks-key-0123456789')).code).to.equal(0);
    expect((await cli('enterprise', 'set', '--number', '0405', '--callback-tasks', 'on')).code).to.equal(0);
    const bad = await cli('enterprise', 'check', '--number', '0405');
    expect(bad.code).to.not.equal(0);
    expect(bad.err).to.contain('task_write');
    crm.account('tasks-key-0123456789').scopes = [...ALL, 'task_read', 'task_write'];
    expect((await cli('enterprise', 'check', '--number', '0405')).code).to.equal(0);
  });
});
