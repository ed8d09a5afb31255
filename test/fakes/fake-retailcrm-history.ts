/**
 * Changes made "by a person in RetailCRM" on the fake: edit, delete and merge customers, edit orders, each
 * leaving history entries the way RetailCRM does (one per changed field, snake_case names). Works only through
 * the fake's public API: account() for the data, addUser() to draw ids from the fake's own counter, so history
 * ids keep growing across entities exactly as sinceId paging expects.
 */
import type { FakeCustomer, FakeOrder, FakeRetailCrm } from './fake-retailcrm.js';

type HistoryRecord = FakeRetailCrm extends { account(k?: string): { history: (infer R)[] } } ? R : never;

const FIELD_NAMES: Readonly<Record<string, string>> = {
  firstName: 'first_name',
  lastName: 'last_name',
  patronymic: 'patronymic',
  nickName: 'nick_name',
  phones: 'phones',
  managerId: 'manager',
  email: 'email',
  status: 'status',
  customerId: 'customer',
  phone: 'phone',
};

function formatDate(d: Date): string {
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

/** A fresh id from the fake's counter (the throwaway user is removed again). */
export function nextFakeId(fake: FakeRetailCrm, apiKey?: string): number {
  const probe = fake.addUser(apiKey === undefined ? {} : { apiKey });
  fake.account(apiKey).users.delete(probe.id);
  return probe.id;
}

export interface ChangeOptions {
  readonly apiKey?: string;
  /** Made with the fake account's API key (our own change: apiKey.current in history). */
  readonly viaApi?: boolean;
  /** History createdAt; default now. */
  readonly at?: Date;
}

function push(
  fake: FakeRetailCrm,
  entity: 'customer' | 'order',
  entityId: number,
  field: string,
  oldValue: unknown,
  newValue: unknown,
  opts: ChangeOptions,
): void {
  const record: HistoryRecord = {
    id: nextFakeId(fake, opts.apiKey),
    createdAt: formatDate(opts.at ?? new Date()),
    source: opts.viaApi ? 'api' : 'user',
    viaApi: opts.viaApi ?? false,
    field,
    oldValue,
    newValue,
    entity,
    entityId,
  };
  fake.account(opts.apiKey).history.push(record);
}

export function editCustomer(fake: FakeRetailCrm, id: number, patch: Partial<Omit<FakeCustomer, 'id'>>, opts: ChangeOptions = {}): FakeCustomer {
  const customer = fake.account(opts.apiKey).customers.get(id);
  if (!customer) throw new Error(`fake has no customer ${id}`);
  for (const [key, value] of Object.entries(patch) as [keyof FakeCustomer, unknown][]) {
    const old = customer[key];
    (customer as unknown as Record<string, unknown>)[key] = value;
    push(fake, 'customer', id, FIELD_NAMES[key] ?? key, old, value, opts);
  }
  return customer;
}

export function deleteCustomer(fake: FakeRetailCrm, id: number, opts: ChangeOptions = {}): void {
  fake.account(opts.apiKey).customers.delete(id);
  push(fake, 'customer', id, 'id', id, null, opts);
}

/** RetailCRM's merge: `to` keeps every phone of both, `from` disappears. */
export function mergeCustomers(fake: FakeRetailCrm, fromId: number, toId: number, opts: ChangeOptions = {}): void {
  const customers = fake.account(opts.apiKey).customers;
  const from = customers.get(fromId);
  const to = customers.get(toId);
  if (!from || !to) throw new Error(`fake has no customer ${from ? toId : fromId}`);
  editCustomer(fake, toId, { phones: [...new Set([...to.phones, ...from.phones])] }, opts);
  deleteCustomer(fake, fromId, opts);
}

export function editOrder(fake: FakeRetailCrm, id: number, patch: Partial<Omit<FakeOrder, 'id'>>, opts: ChangeOptions = {}): FakeOrder {
  const order = fake.account(opts.apiKey).orders.get(id);
  if (!order) throw new Error(`fake has no order ${id}`);
  for (const [key, value] of Object.entries(patch) as [keyof FakeOrder, unknown][]) {
    const old = order[key];
    (order as unknown as Record<string, unknown>)[key] = value;
    push(fake, 'order', id, FIELD_NAMES[key] ?? key, old, value, opts);
  }
  return order;
}

/** Old history nobody should replay: entries dated `at` for an entity. */
export function addOldHistory(fake: FakeRetailCrm, entity: 'customer' | 'order', entityId: number, at: Date, opts: ChangeOptions = {}): void {
  push(fake, entity, entityId, 'id', null, entityId, { ...opts, at });
}
