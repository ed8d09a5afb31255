/**
 * Component: makeCallUrl and changeUserStatusUrl over the real HttpServer (port 0), the fake AMI server, a fake
 * RetailCRM and a real test database: from the HTTP request to the Originate the PBX sees and the audit row.
 */
import net from 'node:net';
import { expect } from 'chai';
import { CallerLookup } from '../../src/customers/caller-lookup.js';
import { AmiPool } from '../../src/clicktocall/ami-pool.js';
import { ClickToCallAudit, type AuditRow } from '../../src/clicktocall/audit-store.js';
import { registerClickToCallRoutes } from '../../src/clicktocall/click-to-call-routes.js';
import { ClickToCall } from '../../src/clicktocall/click-to-call.js';
import { ManagerStatusDirectory } from '../../src/integration/manager-status.js';
import { PbxStore } from '../../src/clicktocall/pbx-store.js';
import { registerUserStatusRoutes } from '../../src/integration/user-status-routes.js';
import { CustomerStore } from '../../src/db/customer-store.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { ExtensionStore } from '../../src/db/extension-store.js';
import { HttpServer } from '../../src/http/http-server.js';
import { PATHS } from '../../src/http/public-paths.js';
import { createLogger } from '../../src/lib/logger.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { FakeAmi } from '../fakes/fake-ami.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const logger = createLogger({ level: 'error', silent: true });
const SECRET = 'test-secret-key-0123456789-abcdefghij';
const CLIENT = { ok: 'client-id-0367-for-tests-xyz', down: 'client-id-0368-pbx-down-xyz', auth: 'client-id-0369-wrong-login', none: 'client-id-0370-no-pbx-at-all' };
const CUSTOMER = '+375297654321';

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('click-to-call routes', function () {
  this.timeout(20_000);
  let db: TestDatabase;
  let crm: FakeRetailCrm;
  let ami: FakeAmi;
  let http: HttpServer;
  let pool: AmiPool;
  let c2c: ClickToCall;
  let lookup: CallerLookup;
  let audit: ClickToCallAudit;
  let statuses: ManagerStatusDirectory;
  let base: string;

  before(async () => {
    db = await createTestDatabase();
    crm = await FakeRetailCrm.start();
    ami = await FakeAmi.start({ username: 'crm', secret: 'crmsecret', authFailureDelayMs: 20 });
    const box = createSecretBox(SECRET);
    const enterprises = new EnterpriseStore(db.pool, box);
    const extensions = new ExtensionStore(db.pool);
    const pbx = new PbxStore(db.pool, box);
    const numbers = { ok: '0367', down: '0368', auth: '0369', none: '0370' } as const;
    for (const [k, number] of Object.entries(numbers)) {
      await enterprises.create({ number, crmUrl: crm.url, apiKey: crm.apiKey, clientId: CLIENT[k as keyof typeof CLIENT], country: 'BY', site: 'shop1' });
      await extensions.set(number, '101', 7);
      await extensions.set(number, '102', 8);
    }
    const common = { channelTemplate: 'IAX2/{ext}/{ext}', context: 'rcrm-click-to-call', outboundCallerId: '+375171234567', originateTimeoutS: 15 };
    await pbx.save('0367', { host: '127.0.0.1', port: ami.port, username: 'crm', secret: 'crmsecret', ...common });
    await pbx.save('0368', { host: '127.0.0.1', port: await closedPort(), username: 'crm', secret: 'crmsecret', ...common });
    await pbx.save('0369', { host: '127.0.0.1', port: ami.port, username: 'crm', secret: 'wrong', ...common });
    const customers = new CustomerStore(db.pool);
    await customers.upsert({ enterprise: '0367', phone: CUSTOMER, customerId: 42, name: 'Иван Петров', isCorporate: false, managerUserId: 7 });
    lookup = new CallerLookup({
      customers,
      crmLookup: async () => null,
      cacheTtlMs: 60_000,
      cacheMax: 100,
      freshMs: 3_600_000,
      crmTimeoutMs: 500,
      logger,
    });
    pool = new AmiPool({ pbx, logger, client: { reconnect: { initialDelayMs: 50, maxDelayMs: 200 }, keepaliveIntervalMs: 0, authRetryDelayMs: 100 } });
    audit = new ClickToCallAudit(db.pool);
    c2c = new ClickToCall({ audit, extensions, pbx: pool, lookup, logger });
    statuses = new ManagerStatusDirectory({ pool: db.pool, ttlMs: 1_000 });
    http = new HttpServer({ logger });
    registerClickToCallRoutes(http, { enterprises, clickToCall: c2c, logger });
    registerUserStatusRoutes(http, { enterprises, extensions, statuses, logger });
    base = `http://127.0.0.1:${await http.listen(0, '127.0.0.1')}`;
  });

  after(async () => {
    await http.close();
    await c2c.close();
    await pool.close();
    await lookup.drain();
    await ami.close();
    await crm.close();
    await db.drop();
  });

  beforeEach(() => {
    ami.originateScenario = 'success';
  });

  async function post(path: string, fields: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; ms: number }> {
    const started = Date.now();
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, ms: Date.now() - started };
  }

  async function get(path: string, fields: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
    const res = await fetch(`${base}${path}?${new URLSearchParams(fields).toString()}`);
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, text };
  }

  async function auditOf(callId: unknown): Promise<AuditRow> {
    await c2c.drain();
    const row = await audit.get(Number(String(callId).replace('c2c-', '')));
    if (!row) throw new Error(`no audit row ${String(callId)}`);
    return row;
  }

  const originates = (): number => ami.actionsNamed('Originate').length;

  // GIVEN a mapped extension and a known customer WHEN RetailCRM posts makeCallUrl THEN the manager is rung with the customer's name and the answer is prompt
  it('originates the call and answers started', async () => {
    const before = originates();
    const r = await post(PATHS.makeCall, { clientId: CLIENT.ok, code: '101', userId: '7', phone: '+375 (29) 765-43-21' });
    expect(r.status).to.equal(200);
    expect(r.body).to.include({ success: true, status: 'started' });
    expect(r.ms).to.be.below(1_500);
    expect(originates()).to.equal(before + 1);
    const action = ami.actionsNamed('Originate').at(-1);
    expect(action?.fields).to.include({
      channel: 'IAX2/101/101',
      context: 'rcrm-click-to-call',
      exten: CUSTOMER,
      callerid: `"Иван Петров" <${CUSTOMER}>`,
      async: 'true',
      timeout: '15000',
    });
    const variables = action?.lines.filter((l) => l.key.toLowerCase() === 'variable').map((l) => l.value);
    expect(variables).to.have.members([
      `CRM_CALL_ID=${String(r.body['callId'])}`,
      'RCRM_ENTERPRISE=0367',
      'RCRM_C2C_EXT=101',
      'RCRM_OUTBOUND_CID=+375171234567',
    ]);
    const row = await auditOf(r.body['callId']);
    expect(row).to.include({ enterprise: '0367', userId: 7, ext: '101', phone: CUSTOMER, outcome: 'answered' });
    expect(row.linkedid).to.be.a('string').and.not.equal('');
    expect(row.finishedAt).to.be.instanceOf(Date);
  });

  // GIVEN only a userId WHEN RetailCRM sends makeCallUrl by GET THEN that user's extension is rung
  it('resolves the extension from userId over GET', async () => {
    const r = await get(PATHS.makeCall, { clientId: CLIENT.ok, userId: '8', phone: '80297654321' });
    expect(r.status).to.equal(200);
    expect(r.body['status']).to.equal('started');
    expect(ami.actionsNamed('Originate').at(-1)?.fields['channel']).to.equal('IAX2/102/102');
    expect(ami.actionsNamed('Originate').at(-1)?.fields['exten']).to.equal(CUSTOMER);
  });

  // GIVEN the manager's phone is busy (Reason 5) WHEN clicked THEN failed/busy in the answer and the audit
  it('reports a busy manager', async () => {
    ami.originateScenario = 'agentBusy';
    const r = await post(PATHS.makeCall, { clientId: CLIENT.ok, code: '101', phone: CUSTOMER });
    expect(r.status).to.equal(409);
    expect(r.body).to.include({ success: false, status: 'failed' });
    expect(String(r.body['reason'])).to.contain('busy');
    expect((await auditOf(r.body['callId'])).outcome).to.equal('busy');
  });

  // GIVEN the manager does not answer (Reason 3) WHEN clicked THEN failed/no answer
  it('reports a manager who does not answer', async () => {
    ami.originateScenario = 'agentNoAnswer';
    const r = await post(PATHS.makeCall, { clientId: CLIENT.ok, code: '101', phone: CUSTOMER });
    expect(r.status).to.equal(409);
    expect(String(r.body['reason'])).to.contain('did not answer');
    expect((await auditOf(r.body['callId'])).outcome).to.equal('no_answer');
  });

  // GIVEN a channel the PBX cannot dial (Reason 0) WHEN clicked THEN failed with the reason
  it('reports an Originate failure', async () => {
    ami.originateScenario = 'badChannel';
    const r = await post(PATHS.makeCall, { clientId: CLIENT.ok, code: '101', phone: CUSTOMER });
    expect(r.status).to.equal(502);
    expect((await auditOf(r.body['callId'])).outcome).to.equal('failed');
  });

  // GIVEN the manager does not answer within the early window WHEN clicked THEN "started" at once and the final outcome lands in the audit later
  it('does not hold the request for the whole call', async () => {
    ami.originateScenario = 'agentNoAnswer';
    const endTheCall = ami.holdOriginateEvents();
    let r: Awaited<ReturnType<typeof post>>;
    try {
      r = await post(PATHS.makeCall, { clientId: CLIENT.ok, code: '101', phone: CUSTOMER });
      // The PBX has not told the outcome yet, so this answer cannot have waited for the whole call.
      expect(r.body['status']).to.equal('started');
    } finally {
      endTheCall();
    }
    expect((await auditOf(r.body['callId'])).outcome).to.equal('no_answer');
  });

  // GIVEN the PBX refuses TCP connections WHEN clicked THEN failed, pbx_unreachable
  it('reports a PBX that is down', async () => {
    const r = await post(PATHS.makeCall, { clientId: CLIENT.down, code: '101', phone: CUSTOMER });
    expect(r.status).to.equal(503);
    expect(r.body).to.include({ success: false, status: 'failed' });
    expect(String(r.body['reason'])).to.contain('unreachable');
    expect((await auditOf(r.body['callId'])).outcome).to.equal('pbx_unreachable');
  });

  // GIVEN a wrong AMI secret WHEN clicked THEN failed, AMI login refused, and no Originate reaches the PBX
  it('reports a refused AMI login', async () => {
    const before = originates();
    const r = await post(PATHS.makeCall, { clientId: CLIENT.auth, code: '101', phone: CUSTOMER });
    expect(r.status).to.equal(502);
    expect(String(r.body['reason'])).to.contain('refused the AMI login');
    expect(originates()).to.equal(before);
    expect((await auditOf(r.body['callId'])).outcome).to.equal('pbx_auth_failed');
  });

  // GIVEN an enterprise without a PBX WHEN clicked THEN failed, not configured
  it('reports an enterprise without a PBX', async () => {
    const r = await post(PATHS.makeCall, { clientId: CLIENT.none, code: '101', phone: CUSTOMER });
    expect(r.status).to.equal(503);
    expect((await auditOf(r.body['callId'])).outcome).to.equal('not_configured');
  });

  // GIVEN a connected PBX that restarts (all connections dropped) WHEN the next click comes THEN it goes through
  it('reconnects after the PBX restarts', async () => {
    const first = await post(PATHS.makeCall, { clientId: CLIENT.ok, code: '101', phone: CUSTOMER });
    expect(first.body['status']).to.equal('started');
    const connections = ami.connectionCount;
    await ami.dropAll();
    const before = originates();
    const r = await post(PATHS.makeCall, { clientId: CLIENT.ok, code: '102', phone: CUSTOMER });
    expect(r.status).to.equal(200);
    expect(r.body['status']).to.equal('started');
    expect(originates()).to.equal(before + 1);
    expect(ami.connectionCount).to.be.above(connections);
    expect((await auditOf(r.body['callId'])).outcome).to.equal('answered');
  });

  // GIVEN a wrong, missing or other enterprise's-looking clientId WHEN called THEN 403 with no detail
  it('refuses an unknown clientId without detail', async () => {
    const before = originates();
    for (const clientId of ['nope', '', `${CLIENT.ok}x`, CLIENT.ok.toUpperCase()]) {
      const r = await get(PATHS.makeCall, { clientId, code: '101', phone: CUSTOMER });
      expect(r.status).to.equal(403);
      expect(r.text).to.equal('{"success":false}');
    }
    const r = await get(PATHS.makeCall, { code: '101', phone: CUSTOMER });
    expect(r.status).to.equal(403);
    expect(r.text).to.equal('{"success":false}');
    expect(originates()).to.equal(before);
  });

  // GIVEN a code or userId that is not mapped WHEN clicked THEN 400 and nothing sent to the PBX
  it('refuses an unknown code or userId', async () => {
    const before = originates();
    const cases: Record<string, string>[] = [{ code: '999' }, { userId: '99' }, { userId: 'abc' }, {}];
    for (const fields of cases) {
      const r = await post(PATHS.makeCall, { clientId: CLIENT.ok, phone: CUSTOMER, ...fields });
      expect(r.status).to.equal(400);
      expect(r.body).to.include({ success: false, status: 'failed' });
      expect(r.body['error']).to.be.a('string');
    }
    expect(originates()).to.equal(before);
  });

  // GIVEN injection attempts in phone WHEN clicked THEN 400 with a clear JSON error and no AMI action at all
  it('refuses injection attempts in phone', async () => {
    const actions = ami.actions.length;
    for (const phone of ['123&PJSIP/999', '+7916/x', '1,2', 'a@b', '\r\nAction: Command', '+375297654321\r\nAction: Originate']) {
      const r = await post(PATHS.makeCall, { clientId: CLIENT.ok, code: '101', phone });
      expect(r.status, phone).to.equal(400);
      expect(r.body['field']).to.equal('phone');
      expect(String(r.body['error'])).to.match(/^phone contains/);
    }
    const short = await post(PATHS.makeCall, { clientId: CLIENT.ok, code: '101', phone: '12' });
    expect(short.status).to.equal(400);
    expect(String(short.body['error'])).to.contain('not a dialable number');
    expect(ami.actions.length).to.equal(actions);
  });

  // GIVEN RetailCRM reports a status WHEN changeUserStatusUrl is called THEN it is stored and read back by the directory
  it('stores manager status callbacks', async () => {
    const r = await post(PATHS.userStatus, { clientId: CLIENT.ok, userId: '7', code: '101', status: 'break' });
    expect(r.status).to.equal(200);
    expect(r.body).to.deep.equal({ success: true });
    expect(await statuses.statusOf('0367', 7)).to.equal('break');
    const byCode = await get(PATHS.userStatus, { clientId: CLIENT.ok, code: '102', status: 'dinner' });
    expect(byCode.status).to.equal(200);
    const fresh = new ManagerStatusDirectory({ pool: db.pool });
    expect(await fresh.statusOf('0367', 8)).to.equal('dinner');
    expect(await fresh.statusOf('0368', 8)).to.equal(null);
  });

  // GIVEN a bad status, unknown manager or wrong clientId WHEN changeUserStatusUrl is called THEN 400 / 403
  it('refuses bad status callbacks', async () => {
    expect((await post(PATHS.userStatus, { clientId: CLIENT.ok, userId: '7', status: 'lunch' })).status).to.equal(400);
    expect((await post(PATHS.userStatus, { clientId: CLIENT.ok, code: '999', status: 'free' })).status).to.equal(400);
    expect((await post(PATHS.userStatus, { clientId: CLIENT.ok, status: 'free' })).status).to.equal(400);
    const forbidden = await get(PATHS.userStatus, { clientId: 'nope', userId: '7', status: 'free' });
    expect(forbidden.status).to.equal(403);
    expect(forbidden.text).to.equal('{"success":false}');
  });
});
