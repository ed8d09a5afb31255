/**
 * Defensive parsers: untrusted RetailCRM JSON (`unknown`) → the types in ./types.ts.
 * Rules: the envelope must be an object with `success: true`; required ids must be positive integers (numbers or
 * numeric strings, both occur); anything unusable where the contract promises it → CrmBadResponseError.
 * Optional fields are lenient: a missing, null or wrongly typed optional field becomes `undefined` (a popup
 * without an e-mail beats no popup).
 */
import type {
  Customer,
  CustomerType,
  HistoryEntityRef,
  HistoryEntry,
  HistoryPage,
  Manager,
  ManagerLinks,
  ManagerLookup,
  CallEventResult,
  Order,
  Page,
  Pagination,
  Task,
  UploadResult,
  User,
} from './types.js';
import {
  bad,
  cleanName,
  describe,
  expectEnvelope,
  idList,
  isObject,
  optBool,
  optCount,
  optId,
  optString,
  parsePhones,
  requireId,
  stringList,
  type Obj,
} from './parse-values.js';

export { expectEnvelope, optId, optString, requireId } from './parse-values.js';
export * from './parse-account.js';

function companyNameOf(raw: Obj): string | undefined {
  // Corporate customers carry nickName; mainCompany/company hold the legal entity. Defensive: the contract
  // does not show the corporate shape in telephony/manager answers.
  const nick = cleanName(optString(raw.nickName));
  if (nick !== undefined) return nick;
  for (const key of ['mainCompany', 'company']) {
    const company = raw[key];
    if (isObject(company)) {
      const name = cleanName(optString(company.name));
      if (name !== undefined) return name;
    }
  }
  return cleanName(optString(raw.companyName));
}

export function parseCustomer(value: unknown, what = 'customer'): Customer {
  if (!isObject(value)) bad(`${what} is ${describe(value)}, not an object`);
  const companyName = companyNameOf(value);
  const type: CustomerType =
    value.type === 'customer_corporate' || (value.type !== 'customer' && companyName !== undefined)
      ? 'customer_corporate'
      : 'customer';
  const firstName = optString(value.firstName);
  const lastName = optString(value.lastName);
  const personName = cleanName([firstName, lastName].filter((s) => s !== undefined).join(' '));
  const displayName = type === 'customer_corporate' ? (companyName ?? personName) : personName;
  const managerId = optId(value.managerId) ?? (isObject(value.manager) ? optId(value.manager.id) : undefined);
  return {
    id: requireId(value.id, `${what}.id`),
    externalId: optString(value.externalId),
    type,
    firstName,
    lastName,
    patronymic: optString(value.patronymic),
    email: optString(value.email),
    companyName,
    phones: parsePhones(value.phones),
    managerId,
    site: optString(value.site),
    createdAt: optString(value.createdAt),
    isContact: optBool(value.isContact),
    displayName,
  };
}

function parseManager(value: unknown): Manager {
  if (!isObject(value)) bad(`manager is ${describe(value)}, not an object`);
  return {
    id: requireId(value.id, 'manager.id'),
    firstName: optString(value.firstName),
    lastName: optString(value.lastName),
    patronymic: optString(value.patronymic),
    email: optString(value.email),
    code: optString(value.code),
  };
}

function parseLinks(value: unknown): ManagerLinks | undefined {
  if (!isObject(value)) return undefined;
  return {
    newOrderLink: optString(value.newOrderLink),
    lastOrderLink: optString(value.lastOrderLink),
    newCustomerLink: optString(value.newCustomerLink),
    customerLink: optString(value.customerLink),
  };
}

/** GET telephony/manager. `manager`/`customer` absent, null, [] or {} all mean "not found". */
export function parseManagerLookup(body: unknown): ManagerLookup {
  const env = expectEnvelope(body);
  // Absent, null, {} and [] mean "nothing"; any other non-object is garbage and fails in the item parser.
  const present = (v: unknown): boolean =>
    v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0) && !(isObject(v) && Object.keys(v).length === 0);
  return {
    manager: present(env.manager) ? parseManager(env.manager) : undefined,
    customer: present(env.customer) ? parseCustomer(env.customer) : undefined,
    links: parseLinks(env.links),
  };
}

export function parseCallEventResult(body: unknown): CallEventResult {
  const env = expectEnvelope(body);
  return { notExistCodes: stringList(env.notExistCodes), notExistUsers: idList(env.notExistUsers) };
}

export function parseUploadResult(body: unknown): UploadResult {
  const env = expectEnvelope(body);
  return {
    processedCallsCount: optCount(env.processedCallsCount) ?? 0,
    duplicateCalls: stringList(env.duplicateCalls),
  };
}

/** `{success, id}` answers (customers/create). */
export function parseCreatedId(body: unknown): number {
  return requireId(expectEnvelope(body).id, 'id');
}

export function parseSuccess(body: unknown): void {
  expectEnvelope(body);
}

export function parsePagination(value: unknown, itemCount: number): Pagination {
  const p = isObject(value) ? value : {};
  const limit = optCount(p.limit) ?? itemCount;
  const totalCount = optCount(p.totalCount) ?? itemCount;
  return {
    limit,
    totalCount,
    currentPage: optCount(p.currentPage) ?? 1,
    totalPageCount: optCount(p.totalPageCount) ?? (limit > 0 ? Math.ceil(totalCount / limit) : 1),
  };
}

function parseList<T>(body: unknown, field: string, item: (value: unknown, what: string) => T): Page<T> {
  const env = expectEnvelope(body);
  const list = env[field];
  if (!Array.isArray(list)) bad(`${field} is ${describe(list)}, not an array`);
  const items = list.map((v, i) => item(v, `${field}[${i}]`));
  return { items, pagination: parsePagination(env.pagination, items.length) };
}

export function parseCustomerGet(body: unknown): Customer {
  return parseCustomer(expectEnvelope(body).customer);
}

export function parseCustomersList(body: unknown): Page<Customer> {
  return parseList(body, 'customers', parseCustomer);
}

export function parseUser(value: unknown, what = 'user'): User {
  if (!isObject(value)) bad(`${what} is ${describe(value)}, not an object`);
  return {
    id: requireId(value.id, `${what}.id`),
    firstName: optString(value.firstName),
    lastName: optString(value.lastName),
    patronymic: optString(value.patronymic),
    email: optString(value.email),
    status: optString(value.status),
    online: optBool(value.online),
    active: optBool(value.active),
    isManager: optBool(value.isManager),
    isAdmin: optBool(value.isAdmin),
    phone: optString(value.phone),
  };
}

export function parseUsersList(body: unknown): Page<User> {
  return parseList(body, 'users', parseUser);
}

export function parseOrder(value: unknown, what = 'order'): Order {
  if (!isObject(value)) bad(`${what} is ${describe(value)}, not an object`);
  const customer = isObject(value.customer) ? value.customer : {};
  return {
    id: requireId(value.id, `${what}.id`),
    number: optString(value.number),
    externalId: optString(value.externalId),
    status: optString(value.status),
    site: optString(value.site),
    customerId: optId(customer.id) ?? optId(value.customerId),
    managerId: optId(value.managerId),
    createdAt: optString(value.createdAt),
    phone: optString(value.phone),
  };
}

export function parseOrdersList(body: unknown): Page<Order> {
  return parseList(body, 'orders', parseOrder);
}

function parseEntityRef(value: unknown): HistoryEntityRef | undefined {
  if (!isObject(value)) return undefined;
  const id = optId(value.id);
  if (id === undefined) return undefined;
  return { id, externalId: optString(value.externalId), site: optString(value.site) };
}

export function parseHistoryEntry(value: unknown, what = 'history entry'): HistoryEntry {
  if (!isObject(value)) bad(`${what} is ${describe(value)}, not an object`);
  const apiKey = isObject(value.apiKey) ? value.apiKey : {};
  return {
    id: requireId(value.id, `${what}.id`),
    createdAt: optString(value.createdAt),
    created: optBool(value.created) ?? false,
    deleted: optBool(value.deleted) ?? false,
    source: optString(value.source),
    userId: isObject(value.user) ? optId(value.user.id) : undefined,
    byCurrentApiKey: optBool(apiKey.current) ?? false,
    field: optString(value.field),
    oldValue: value.oldValue,
    newValue: value.newValue,
    customer: parseEntityRef(value.customer),
    order: parseEntityRef(value.order),
    combinedTo: parseEntityRef(value.combinedTo),
  };
}

export function parseHistoryPage(body: unknown): HistoryPage {
  const page = parseList(body, 'history', parseHistoryEntry);
  return {
    entries: page.items,
    pagination: page.pagination,
    generatedAt: optString(expectEnvelope(body).generatedAt),
  };
}

export function parseTask(value: unknown, what = 'task'): Task {
  if (!isObject(value)) bad(`${what} is ${describe(value)}, not an object`);
  const customer = isObject(value.customer) ? value.customer : {};
  return {
    id: requireId(value.id, `${what}.id`),
    text: optString(value.text),
    complete: value.complete === true,
    performerId: optId(value.performerId) ?? optId(value.performer),
    customerId: optId(customer.id),
    datetime: optString(value.datetime),
  };
}

export function parseTasksList(body: unknown): Page<Task> {
  return parseList(body, 'tasks', parseTask);
}
