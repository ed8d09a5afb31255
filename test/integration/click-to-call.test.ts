/** Integration: the click-to-call stores (PBX, audit, manager status) and the AMI pool on a real database. */
import { expect } from 'chai';
import { AmiPool } from '../../src/clicktocall/ami-pool.js';
import { ClickToCallAudit } from '../../src/clicktocall/audit-store.js';
import { isAway, ManagerStatusDirectory } from '../../src/integration/manager-status.js';
import { PbxStore } from '../../src/clicktocall/pbx-store.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { createLogger } from '../../src/lib/logger.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { FakeAmi } from '../fakes/fake-ami.js';
import { waitFor } from '../helpers/async.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const logger = createLogger({ level: 'error', silent: true });

describe('click-to-call stores and AMI pool', function () {
  this.timeout(20_000);
  let db: TestDatabase;
  let pbx: PbxStore;

  before(async () => {
    db = await createTestDatabase();
    const box = createSecretBox('s'.repeat(40));
    await new EnterpriseStore(db.pool, box).create({
      number: '0367', crmUrl: 'https://x.retailcrm.ru', apiKey: 'key-12345678', clientId: 'client-id-0367-abcdefgh', country: 'BY', site: null,
    });
    pbx = new PbxStore(db.pool, box);
  });

  after(async () => {
    await db.drop();
  });

  // GIVEN statuses in the table WHEN read through the directory THEN cached for the TTL, then refreshed
  it('serves manager status from a short-lived cache', async () => {
    let now = 1_000;
    const dir = new ManagerStatusDirectory({ pool: db.pool, ttlMs: 5_000, now: () => now });
    expect(await dir.statusOf('0367', 7)).to.equal(null);
    await db.pool.query("insert into manager_status (enterprise, user_id, status) values ('0367', 7, 'break')");
    expect(await dir.statusOf('0367', 7)).to.equal(null); // still the cached snapshot
    now += 5_001;
    expect(await dir.statusOf('0367', 7)).to.equal('break');
    await dir.set('0367', 7, 'free');
    expect(await dir.statusOf('0367', 7)).to.equal('free');
    expect(isAway('break')).to.equal(true);
    expect(isAway('dinner')).to.equal(true);
    expect(isAway('busy')).to.equal(false);
    expect(isAway(null)).to.equal(false);
  });

  // GIVEN an audit row with a final outcome WHEN a late "started" arrives THEN the final outcome stays
  it('keeps the final audit outcome', async () => {
    const audit = new ClickToCallAudit(db.pool);
    const row = await audit.open({ enterprise: '0367', userId: 7, ext: '101', phone: '+375297654321' });
    expect(row.crmCallId).to.equal(`c2c-${row.id}`);
    await audit.record(row.id, 'busy', { reason: 'busy' });
    await audit.record(row.id, 'started');
    const stored = await audit.get(row.id);
    expect(stored).to.include({ outcome: 'busy', reason: 'busy', crmCallId: `c2c-${row.id}` });
    expect((await audit.recent('0367')).map((r) => r.id)).to.include(row.id);
  });

  // GIVEN a connected pool WHEN the stored AMI settings change THEN the old client is closed and a new one logs in
  it('reconnects when the PBX settings change, and closes everything', async () => {
    const ami = await FakeAmi.start({ username: 'crm', secret: 'one' });
    const pool = new AmiPool({ pbx, logger, client: { keepaliveIntervalMs: 0 } });
    try {
      await pbx.save('0367', { host: '127.0.0.1', port: ami.port, username: 'crm', secret: 'one' });
      const first = await pool.connected('0367');
      expect(first?.client.state).to.equal('connected');
      expect((await pool.connected('0367'))?.client).to.equal(first?.client);
      await pbx.save('0367', { originateTimeoutS: 20 }); // not a connection setting: same client
      expect((await pool.connected('0367'))?.client).to.equal(first?.client);

      const ami2 = await FakeAmi.start({ username: 'crm', secret: 'two' });
      try {
        await pbx.save('0367', { port: ami2.port, secret: 'two' });
        const second = await pool.connected('0367');
        expect(second?.client).to.not.equal(first?.client);
        expect(second?.client.state).to.equal('connected');
        expect(second?.settings.originateTimeoutS).to.equal(20);
        await waitFor('old client closed', () => ami.openConnections === 0);
        await pbx.remove('0367');
        expect(await pool.connected('0367')).to.equal(null);
        await waitFor('retired client closed', () => ami2.openConnections === 0);
      } finally {
        await pool.close();
        await ami2.close();
      }
    } finally {
      await pool.close();
      await ami.close();
    }
  });

  // GIVEN configured PBXs WHEN startAll THEN each connects in the background
  it('connects eagerly with startAll', async () => {
    const ami = await FakeAmi.start({ username: 'crm', secret: 'one' });
    const pool = new AmiPool({ pbx, logger, client: { keepaliveIntervalMs: 0 } });
    try {
      await pbx.save('0367', { host: '127.0.0.1', port: ami.port, username: 'crm', secret: 'one' });
      await pool.startAll();
      await waitFor('login', () => ami.loggedInConnections === 1);
      expect(pool.states()).to.deep.equal({ '0367': 'connected' });
    } finally {
      await pool.close();
      await ami.close();
    }
  });
});
