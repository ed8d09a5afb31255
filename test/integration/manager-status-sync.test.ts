/** Integration: manager statuses read from RetailCRM's users (fake) into the real database, on start and after. */
import { expect } from 'chai';
import { ManagerStatusDirectory } from '../../src/integration/manager-status.js';
import { ManagerStatusSync } from '../../src/integration/manager-status-sync.js';
import { RetailCrmClient } from '../../src/crm/client.js';
import { RateLimiter } from '../../src/crm/rate-limiter.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { CrmUserStore } from '../../src/db/crm-user-store.js';
import { createLogger } from '../../src/lib/logger.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { waitFor } from '../helpers/async.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const logger = createLogger({ level: 'error', silent: true });

describe('manager status sync from RetailCRM', function () {
  this.timeout(20_000);
  let db: TestDatabase;
  let crm: FakeRetailCrm;
  let enterprises: EnterpriseStore;

  beforeEach(async () => {
    db = await createTestDatabase();
    crm = await FakeRetailCrm.start();
    crm.addAccount('other-key');
    enterprises = new EnterpriseStore(db.pool, createSecretBox('s'.repeat(40)));
    await enterprises.create({ number: '0001', crmUrl: 'http://127.0.0.1:1', apiKey: 'dead-key-1234', clientId: 'client-id-0001-abcdefgh', country: 'BY', site: null });
    await enterprises.create({ number: '0367', crmUrl: crm.url, apiKey: crm.apiKey, clientId: 'client-id-0367-abcdefgh', country: 'BY', site: null });
  });
  afterEach(async () => {
    await crm.close();
    await db.drop();
  });

  // GIVEN a manager already on break in RetailCRM (and an enterprise whose RetailCRM is unreachable) WHEN the
  // sync runs THEN the break is known, the other statuses too, and the unreachable enterprise is only logged.
  it('reads every user\'s status, whatever another enterprise does', async () => {
    crm.addUser({ id: 11, status: 'break' });
    crm.addUser({ id: 12, status: 'free' });
    crm.addUser({ id: 13, status: 'dinner' });
    const statuses = new ManagerStatusDirectory({ pool: db.pool, ttlMs: 0 });
    const sync = new ManagerStatusSync({
      crm: new RetailCrmClient({ limiter: new RateLimiter(), defaultTimeoutMs: 2_000 }),
      enterprises,
      statuses,
      logger,
      intervalMs: 60_000,
    });
    expect(await sync.syncAll()).to.equal(3);
    expect(await statuses.statusOf('0367', 11)).to.equal('break');
    expect(await statuses.statusOf('0367', 12)).to.equal('free');
    expect(await statuses.statusOf('0367', 13)).to.equal('dinner');
    // Back from break: the next pass writes only the change.
    crm.account().users.get(11)!.status = 'free';
    await sync.syncAll();
    expect(await statuses.statusOf('0367', 11)).to.equal('free');
    await sync.stop();
  });

  // GIVEN the sync started WHEN RetailCRM changes a status THEN the next interval picks it up; stop() ends it
  it('runs at start and every interval until stopped', async () => {
    crm.addUser({ id: 21, status: 'free' });
    const statuses = new ManagerStatusDirectory({ pool: db.pool, ttlMs: 0 });
    const sync = new ManagerStatusSync({
      crm: new RetailCrmClient({ limiter: new RateLimiter(), defaultTimeoutMs: 500 }),
      enterprises,
      statuses,
      logger,
      intervalMs: 50,
    });
    sync.start();
    await waitFor('the first pass', async () => (await statuses.statusOf('0367', 21)) === 'free');
    crm.account().users.get(21)!.status = 'break';
    await waitFor('a later pass', async () => (await statuses.statusOf('0367', 21)) === 'break');
    await sync.stop();
  });

  // GIVEN users with names in RetailCRM WHEN the sync reads them THEN "First Last" is stored for analytics, and
  // a renamed user is renamed on the next pass (a user without a name has none)
  it('keeps the users\' names for analytics', async () => {
    crm.addUser({ id: 31, firstName: 'Anna', lastName: 'Smirnova' });
    crm.addUser({ id: 32, firstName: 'Oleg' });
    crm.addUser({ id: 33 });
    const names = new CrmUserStore(db.pool);
    const sync = new ManagerStatusSync({
      crm: new RetailCrmClient({ limiter: new RateLimiter(), defaultTimeoutMs: 2_000 }),
      enterprises,
      statuses: new ManagerStatusDirectory({ pool: db.pool, ttlMs: 0 }),
      names,
      logger,
      intervalMs: 60_000,
    });
    await sync.syncAll();
    expect([...(await names.names('0367'))]).to.deep.equal([[31, 'Anna Smirnova'], [32, 'Oleg']]);
    crm.account().users.get(32)!.lastName = 'Petrov';
    await sync.syncAll();
    expect((await names.names('0367')).get(32)).to.equal('Oleg Petrov');
    expect(await names.names('0001')).to.deep.equal(new Map());
    await sync.stop();
  });
});
