/** Integration: `register`/`unregister`/`users sync` against a fake RetailCRM and a real test database. */
import os from 'node:os';
import { expect } from 'chai';
import { AuditLog } from '../../src/audit/audit-store.js';
import { registerCommand, unregisterCommand, usersCommand, pbxCommand } from '../../src/cli/clicktocall-commands.js';
import type { CliContext } from '../../src/cli/cli-context.js';
import { PbxStore } from '../../src/clicktocall/pbx-store.js';
import { LOGO_SVG, logoPlugin } from '../../src/integration/registration.js';
import { loadConfig } from '../../src/config/config.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { ExtensionStore } from '../../src/db/extension-store.js';
import { InputError } from '../../src/lib/errors.js';
import { HttpServer } from '../../src/http/http-server.js';
import { createLogger } from '../../src/lib/logger.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { FakeAmi } from '../fakes/fake-ami.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const SECRET = 'test-secret-key-0123456789-abcdefghij';
const CLIENT_ID = 'client-id-for-tests-0367';

describe('registration and users sync', function () {
  this.timeout(20_000);
  let db: TestDatabase;
  let crm: FakeRetailCrm;
  let ctx: CliContext;
  let out: string[];
  let err: string[];

  beforeEach(async () => {
    db = await createTestDatabase();
    crm = await FakeRetailCrm.start();
    const box = createSecretBox(SECRET);
    const config = loadConfig({
      DATABASE_URL: db.url,
      DATA_DIR: os.tmpdir(),
      SECRET_KEY: SECRET,
      PUBLIC_URL: 'https://pbx.example.com',
      CRM_TIMEOUT_MS: '2000',
      LOG_LEVEL: 'error',
    });
    out = [];
    err = [];
    ctx = {
      config,
      pool: db.pool,
      box,
      enterprises: new EnterpriseStore(db.pool, box),
      extensions: new ExtensionStore(db.pool),
      io: { out: (l) => out.push(l), err: (l) => err.push(l) },
      audit: new AuditLog(db.pool),
      recordChange: async (entry) => {
        await new AuditLog(db.pool).append({ ...entry, source: 'cli', actor: 'test' });
      },
    };
    await ctx.enterprises.create({
      number: '0367',
      crmUrl: crm.url,
      apiKey: crm.apiKey,
      clientId: CLIENT_ID,
      country: 'BY',
      site: 'shop1',
      settings: { externalPhones: [{ siteCode: 'shop1', externalPhone: '+375171234567' }] },
    });
    crm.addUser({ id: 7, firstName: 'Anna', lastName: 'Smirnova', email: 'anna@example.com' });
    crm.addUser({ id: 8, firstName: 'Oleg', lastName: 'Ivanov', email: 'oleg@example.com' });
    await ctx.extensions.set('0367', '101', 7);
    await ctx.extensions.set('0367', '102', 8);
  });

  afterEach(async () => {
    await crm.close();
    await db.drop();
  });

  const edits = (): ReturnType<FakeRetailCrm['requests']> =>
    crm.requests().filter((r) => r.method === 'POST' && r.path === '/api/v5/integration-modules/retailcrm-agi-0367/edit');

  const expectedModule = (active: boolean): Record<string, unknown> => ({
    code: 'retailcrm-agi-0367',
    integrationCode: 'retailcrm-agi',
    active,
    name: 'Asterisk (retailcrm-agi)',
    logo: 'https://pbx.example.com/logo.svg',
    baseUrl: 'https://pbx.example.com',
    clientId: CLIENT_ID,
    accountUrl: 'https://pbx.example.com/dashboard',
    integrations: {
      telephony: {
        makeCallUrl: 'https://pbx.example.com/api/makecallexternal',
        changeUserStatusUrl: 'https://pbx.example.com/api/changeuserstatus',
        allowEdit: false,
        inputEventSupported: true,
        outputEventSupported: true,
        hangupEventSupported: true,
        additionalCodes: [
          { userId: 7, code: '101' },
          { userId: 8, code: '102' },
        ],
        externalPhones: [{ siteCode: 'shop1', externalPhone: '+375171234567' }],
      },
    },
  });

  // GIVEN an enterprise with a mapping WHEN register --dry-run THEN the exact request is printed, secrets masked, nothing sent
  it('prints the request on a dry run', async () => {
    await registerCommand(ctx, ['--enterprise', '0367', '--dry-run']);
    expect(edits()).to.have.length(0);
    const text = out.join('\n');
    expect(text).to.contain(`POST ${crm.url}/api/v5/integration-modules/retailcrm-agi-0367/edit`);
    expect(text).to.contain('X-API-KEY: test…****');
    expect(text).not.to.contain(crm.apiKey);
    expect(text).not.to.contain(CLIENT_ID);
    const json = text.slice(text.indexOf('integrationModule=\n') + 'integrationModule=\n'.length);
    const printed = JSON.parse(json) as Record<string, unknown>;
    expect(printed).to.deep.equal({ ...expectedModule(true), clientId: 'clie…****' });
    expect(json).to.contain('\n  "code"'); // pretty-printed
  });

  // GIVEN an enterprise with a mapping WHEN register THEN RetailCRM receives exactly this integrationModule
  it('sends the integrationModule', async () => {
    await registerCommand(ctx, ['--enterprise', '0367']);
    const sent = edits();
    expect(sent).to.have.length(1);
    expect(sent[0]?.headers['x-api-key']).to.equal(crm.apiKey);
    expect(sent[0]?.form['integrationModule']).to.deep.equal(expectedModule(true));
    expect(out.join('\n')).to.contain('registered');
    expect(err).to.deep.equal([]);
  });

  // GIVEN a registered module WHEN register runs again THEN the same body is sent and nothing else changes
  it('is safe to re-run, and reports users RetailCRM does not know', async () => {
    await registerCommand(ctx, ['--enterprise', '0367']);
    await ctx.extensions.set('0367', '103', 99);
    await registerCommand(ctx, ['--enterprise', '0367']);
    const sent = edits();
    expect(sent).to.have.length(2);
    const second = sent[1]?.form['integrationModule'] as { integrations: { telephony: { additionalCodes: unknown[] } } };
    expect(second.integrations.telephony.additionalCodes).to.deep.equal([
      { userId: 7, code: '101' },
      { userId: 8, code: '102' },
      { userId: 99, code: '103' },
    ]);
    expect(err.join('\n')).to.contain('no users 99');
    expect((await ctx.enterprises.get('0367')).clientId).to.equal(CLIENT_ID);
  });

  // GIVEN an enterprise whose clientId is too short WHEN register THEN a random one is generated, stored and sent
  it('generates a clientId when absent', async () => {
    await ctx.enterprises.update('0367', { clientId: 'short' });
    await registerCommand(ctx, ['--enterprise', '0367']);
    const stored = (await ctx.enterprises.get('0367')).clientId;
    expect(stored).to.have.length.above(16);
    expect((edits()[0]?.form['integrationModule'] as { clientId: string }).clientId).to.equal(stored);
    expect((await ctx.enterprises.findByClientId(stored))?.number).to.equal('0367');
  });

  // GIVEN a registered module WHEN unregister THEN the module is sent with active:false
  it('deactivates on unregister', async () => {
    await registerCommand(ctx, ['--enterprise', '0367']);
    await unregisterCommand(ctx, ['--enterprise', '0367']);
    const last = edits().at(-1)?.form['integrationModule'];
    expect(last).to.deep.equal(expectedModule(false));
    expect(out.join('\n')).to.contain('deactivated');
  });

  // GIVEN RetailCRM knows codes for users WHEN users sync THEN shown; --apply fills only the missing ones; --force overwrites
  it('syncs users into the mapping', async () => {
    crm.addUser({ id: 9, firstName: 'Ivan', lastName: 'Petrov' });
    for (let id = 100; id < 230; id++) crm.addUser({ id, firstName: `User${id}` }); // more than one page
    await registerCommand(ctx, ['--enterprise', '0367']);
    // RetailCRM's side now knows 103 for user 9 and 105 for user 8 (e.g. edited in another module instance).
    const module = crm.account().modules.get('retailcrm-agi-0367') as { integrations: { telephony: { additionalCodes: unknown[] } } };
    module.integrations.telephony.additionalCodes = [
      { userId: 7, code: '101' },
      { userId: 8, code: '105' },
      { userId: 9, code: '103' },
    ];
    out = [];
    await usersCommand(ctx, 'sync', ['--enterprise', '0367']);
    const listed = out.join('\n');
    expect(listed).to.match(/^9\t-\t103\tset\t/m);
    expect(listed).to.match(/^8\t102\t105\tkept\t/m);
    expect(listed).to.match(/^7\t101\t101\tunchanged\t/m);
    expect(listed).to.match(/^229\t-\t-\tnone\t/m);
    expect(await ctx.extensions.list('0367')).to.have.length(2);
    const pages = crm.requests().filter((r) => r.path === '/api/v5/users');
    expect(pages.map((r) => r.query['limit'])).to.deep.equal(['100', '100']);

    await usersCommand(ctx, 'sync', ['--enterprise', '0367', '--apply']);
    expect(await ctx.extensions.list('0367')).to.deep.equal([
      { ext: '101', userId: 7 },
      { ext: '102', userId: 8 },
      { ext: '103', userId: 9 },
    ]);
    await usersCommand(ctx, 'sync', ['--enterprise', '0367', '--apply', '--force']);
    expect(await ctx.extensions.list('0367')).to.deep.equal([
      { ext: '101', userId: 7 },
      { ext: '103', userId: 9 },
      { ext: '105', userId: 8 },
    ]);
  });

  // GIVEN pbx set WHEN shown THEN the secret is masked and stored sealed; bad values are refused
  it('stores the PBX with the secret sealed', async () => {
    await pbxCommand(ctx, 'set', ['--enterprise', '0367', '--ami-host', 'pbx.local', '--ami-user', 'crm', '--ami-secret', 'supersecret', '--channel', 'Local/{ext}@from-internal', '--outbound-callerid', '+375171234567']);
    out = [];
    await pbxCommand(ctx, 'show', ['--enterprise', '0367']);
    expect(out.join('\n')).to.contain('amiSecret: su…****').and.contain('channel: Local/{ext}@from-internal').and.contain('amiPort: 5038');
    expect(out.join('\n')).not.to.contain('supersecret');
    const { rows } = await db.pool.query<{ ami_secret_enc: string }>('select ami_secret_enc from pbx_connections');
    expect(rows[0]?.ami_secret_enc).to.match(/^v2:[0-9a-f]{12}:/).and.not.contain('supersecret');
    expect((await new PbxStore(db.pool, ctx.box).find('0367'))?.secret).to.equal('supersecret');
    for (const bad of [['--channel', 'PJSIP/{ext}&PJSIP/999'], ['--context', 'a,b'], ['--ami-secret', 'x\r\ny'], ['--originate-timeout', '500']]) {
      let caught: unknown;
      await pbxCommand(ctx, 'set', ['--enterprise', '0367', ...bad]).catch((e: unknown) => (caught = e));
      expect(caught, bad.join(' ')).to.be.instanceOf(InputError);
    }
  });

  // GIVEN a PBX WHEN pbx test THEN login and Ping succeed (and a wrong secret fails)
  it('tests the PBX connection', async () => {
    const ami = await FakeAmi.start({ username: 'crm', secret: 'crmsecret', authFailureDelayMs: 10 });
    try {
      await pbxCommand(ctx, 'set', ['--enterprise', '0367', '--ami-host', '127.0.0.1', '--ami-port', String(ami.port), '--ami-user', 'crm', '--ami-secret', 'crmsecret']);
      out = [];
      await pbxCommand(ctx, 'test', ['--enterprise', '0367']);
      expect(out.join('\n')).to.contain('logged in as crm').and.contain('Ping → Pong');
      await pbxCommand(ctx, 'set', ['--enterprise', '0367', '--ami-secret', 'wrong']);
      let caught: unknown;
      await pbxCommand(ctx, 'test', ['--enterprise', '0367']).catch((e: unknown) => (caught = e));
      expect(caught).to.have.property('code', 'AMI_AUTH');
    } finally {
      await ami.close();
    }
  });

  // GIVEN the logo route WHEN fetched THEN an SVG
  it('serves the logo', async () => {
    const http = new HttpServer({ logger: createLogger({ level: 'error', silent: true }) });
    http.register(logoPlugin, {});
    try {
      const port = await http.listen(0, '127.0.0.1');
      const res = await fetch(`http://127.0.0.1:${port}/logo.svg`);
      expect(res.headers.get('content-type')).to.equal('image/svg+xml');
      expect(await res.text()).to.equal(LOGO_SVG);
    } finally {
      await http.close();
    }
  });
});
