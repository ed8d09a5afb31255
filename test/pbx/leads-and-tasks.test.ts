/**
 * PBX tier, leads and call-back tasks on a real Asterisk 22 with the shipped dialplan: a missed call makes one
 * RetailCRM task, a second miss does not make another, the answered call-back completes it; a new number calling
 * three times at once gets one customer and one lead.
 */
import { expect } from 'chai';
import { waitFor } from '../helpers/async.js';
import { DID, MANAGERS, uploadedCall, usePbxWorld, type PbxWorld } from './pbx-world.js';

describe('pbx: leads and call-back tasks on a real Asterisk 22', function () {
  this.timeout(180_000);
  let world: PbxWorld;
  usePbxWorld((w) => (world = w), {
    crmScopes: ['task_read', 'task_write', 'order_write'],
    enterpriseFlags: ['--callback-tasks', 'on', '--callback-due-minutes', '20', '--leads', 'on', '--lead-order-method', 'phone'],
  });

  const tasksFor = (phone: string) => [...world.crm.account().tasks.values()].filter((t) => t.phone === phone);
  const row = async (phone: string): Promise<Record<string, unknown> | undefined> =>
    (await world.db.pool.query('select state, missed_count, crm_task_id from callback_tasks where phone = $1 order by id', [phone])).rows[0];

  // GIVEN a customer of 101 WHEN they call twice and nobody answers, then 101 calls them back and they answer THEN
  // one task for 101 linked to the customer after the first miss, none more after the second, completed by the call-back.
  it('missed calls make one task; the answered call-back completes it', async () => {
    const phone = '+375291120001';
    const customer = world.crm.addCustomer({ firstName: 'Olga', lastName: 'Callback', phones: [phone], managerId: MANAGERS['101'] });
    for (const ext of ['101', '102', '103'] as const) await world.lab.setEndpoint(ext, 'noanswer');
    await world.lab.callIn(DID, phone, { giveUpAfterMs: 3_000 });
    const first = await uploadedCall(world, (c) => c['phone'] === phone);
    expect(first).to.include({ type: 'in', result: 'no answer' });
    await waitFor('the call-back task in RetailCRM', () => tasksFor(phone).length === 1, 30_000);
    const [task] = tasksFor(phone);
    expect(task).to.deep.include({ performerId: MANAGERS['101'], customerId: customer.id, complete: false });
    expect(task?.text).to.match(/^Call back \+375291120001 \(Olga Callback\), missed at \d\d:\d\d/);

    await world.lab.waitIdle();
    await world.lab.callIn(DID, phone, { giveUpAfterMs: 3_000 });
    await uploadedCall(world, (c) => c['phone'] === phone && c['externalId'] !== first['externalId']);
    await waitFor('the second miss counted', async () => (await row(phone))?.['missed_count'] === 2, 30_000);
    expect(tasksFor(phone)).to.have.length(1);

    await world.lab.waitIdle();
    await world.lab.setEndpoint('pstn', 'answer', { ring: 1, talk: 2 });
    await world.lab.dialOut('101', phone);
    await uploadedCall(world, (c) => c['phone'] === phone && c['type'] === 'out' && c['result'] === 'answered');
    await waitFor('the task completed in RetailCRM', () => task?.complete === true, 30_000);
    await waitFor('the row completed with its task', async () => {
      const r = await row(phone);
      return r?.['state'] === 'completed' && r['missed_count'] === 2 && r['crm_task_id'] === task?.id;
    }, 10_000);
    expect(world.crm.requests({ path: '/api/v5/tasks/create' }).filter((r) => (r.form['task'] as Record<string, unknown>)['phone'] === phone)).to.have.length(1);
  });

  // GIVEN leads on WHEN a number RetailCRM does not know calls three times at once THEN one customer, one lead
  // linked to it (order method phone, the caller's number)
  it('a new number calling three times at once: one customer, one lead', async () => {
    const phone = '+375291120002';
    for (const ext of ['101', '102', '103'] as const) await world.lab.setEndpoint(ext, 'answer', { ring: 1, talk: 3 });
    await Promise.all([world.lab.callIn(DID, phone), world.lab.callIn(DID, phone), world.lab.callIn(DID, phone)]);
    await waitFor('the lead in RetailCRM', () => [...world.crm.account().orders.values()].some((o) => o.phone === phone), 60_000);
    await world.lab.waitIdle();
    const customers = [...world.crm.account().customers.values()].filter((c) => c.phones.includes(phone));
    expect(customers).to.have.length(1);
    const orders = [...world.crm.account().orders.values()].filter((o) => o.phone === phone);
    expect(orders).to.have.length(1);
    expect(orders[0]).to.deep.include({ customerId: customers[0]?.id, orderMethod: 'phone' });
    await waitFor('the lead stored with its order', async () =>
      (await world.db.pool.query('select crm_order_id from crm_leads where phone = $1', [phone])).rows[0]?.['crm_order_id'] === orders[0]?.id, 10_000);
    expect((await world.db.pool.query('select count(*)::int as n from crm_leads where phone = $1', [phone])).rows[0]).to.deep.equal({ n: 1 });
  });
});
