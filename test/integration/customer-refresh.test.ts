/** Integration: re-reading one customer from the fake RetailCRM into `retailcrm_customers` (real PostgreSQL). */
import { expect } from 'chai';
import { createSyncFixture, customerRows, ENTERPRISE, type SyncFixture } from '../helpers/sync-fixture.js';

describe('customer refresh (real PostgreSQL, fake RetailCRM)', () => {
  let f: SyncFixture;

  before(async () => {
    f = await createSyncFixture();
  });
  after(async () => {
    await f.close();
  });
  beforeEach(async () => {
    await f.reset();
  });

  // GIVEN a customer with two phones in RetailCRM WHEN refreshed THEN one E.164 row per phone with name and manager
  it('writes one row per normalised phone', async () => {
    const c = f.fake.addCustomer({ firstName: 'Иван', lastName: 'Петров', phones: ['+375291234567', '80291234568', 'n/a'], managerId: 7 });
    const result = await f.customers.refresh(f.enterprise, c.id);
    expect(result).to.deep.equal({ customerId: c.id, exists: true, phones: ['+375291234567', '+375291234568'] });
    expect(await customerRows(f)).to.deep.equal([
      { phone: '+375291234567', customer_id: c.id, customer_name: 'Иван Петров', is_corporate: false, manager_user_id: 7 },
      { phone: '+375291234568', customer_id: c.id, customer_name: 'Иван Петров', is_corporate: false, manager_user_id: 7 },
    ]);
    expect(f.changed).to.deep.equal([{ enterprise: ENTERPRISE, phones: ['+375291234567', '+375291234568'] }]);
  });

  // GIVEN rows for phones A and B WHEN the customer now has B and C THEN A is removed, C added, all three invalidated
  it('removes rows of phones the customer no longer has', async () => {
    const c = f.fake.addCustomer({ firstName: 'Anna', phones: ['+375291111111', '+375292222222'] });
    await f.customers.refresh(f.enterprise, c.id);
    c.phones = ['+375292222222', '+375293333333'];
    c.managerId = 9;
    f.changed.length = 0;
    await f.customers.refresh(f.enterprise, c.id);
    const rows = await customerRows(f);
    expect(rows.map((r) => [r.phone, r.manager_user_id])).to.deep.equal([
      ['+375292222222', 9],
      ['+375293333333', 9],
    ]);
    expect(f.changed[0]?.phones).to.deep.equal(['+375291111111', '+375292222222', '+375293333333']);
  });

  // GIVEN stored rows WHEN RetailCRM answers 404 for the customer THEN its rows are removed and reported
  it('removes every row of a deleted customer', async () => {
    const c = f.fake.addCustomer({ firstName: 'Gone', phones: ['+375291111111'] });
    await f.customers.refresh(f.enterprise, c.id);
    f.fake.account().customers.delete(c.id);
    const result = await f.customers.refresh(f.enterprise, c.id);
    expect(result).to.deep.equal({ customerId: c.id, exists: false, phones: ['+375291111111'] });
    expect(await customerRows(f)).to.deep.equal([]);
  });

  // GIVEN a corporate customer WHEN refreshed THEN the company name is stored and the row is marked corporate
  it('names corporate customers by company', async () => {
    const c = f.fake.addCustomer({ type: 'customer_corporate', nickName: 'ООО "Ромашка"', phones: ['+375171234567'], managerId: 8 });
    await f.customers.refresh(f.enterprise, c.id);
    expect(await customerRows(f)).to.deep.equal([
      { phone: '+375171234567', customer_id: c.id, customer_name: 'ООО "Ромашка"', is_corporate: true, manager_user_id: 8 },
    ]);
  });

  // GIVEN a phone stored for customer X WHEN customer Y now has that phone THEN the row points at Y
  it('moves a shared phone to the customer refreshed last', async () => {
    const x = f.fake.addCustomer({ firstName: 'X', phones: ['+375291111111'] });
    const y = f.fake.addCustomer({ firstName: 'Y', phones: ['+375291111111'] });
    await f.customers.refresh(f.enterprise, x.id);
    await f.customers.refresh(f.enterprise, y.id);
    expect((await customerRows(f)).map((r) => r.customer_id)).to.deep.equal([y.id]);
  });

  // GIVEN RetailCRM failing with 500 WHEN refreshed THEN it rejects and the table is untouched
  it('leaves the table alone when RetailCRM fails', async () => {
    const c = f.fake.addCustomer({ firstName: 'Kept', phones: ['+375291111111'] });
    await f.customers.refresh(f.enterprise, c.id);
    f.fake.failNext(1, { status: 500 });
    let failed = false;
    await f.customers.refresh(f.enterprise, c.id).catch(() => {
      failed = true;
    });
    expect(failed).to.equal(true);
    expect(await customerRows(f)).to.have.length(1);
  });
});
