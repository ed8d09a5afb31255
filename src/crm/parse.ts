/**
 * Defensive parsers: untrusted RetailCRM JSON (`unknown`) → the types in ./types.ts.
 * Rules: the envelope must be an object with `success: true`; required ids must be positive integers (numbers or
 * numeric strings, both occur); anything unusable where the contract promises it → CrmBadResponseError.
 * Optional fields are lenient: a missing, null or wrongly typed optional field becomes `undefined` (a popup
 * without an e-mail beats no popup).
 */
import { CrmBadResponseError } from '../lib/errors.js';
import type {
  AccountSettings,
  Credentials,
  Customer,
  CustomerType,
  HistoryEntityRef,
  HistoryEntry,
  HistoryPage,
  IntegrationModule,
  IntegrationModuleEditInfo,
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

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bad(message: string): never {
  throw new CrmBadResponseError(message);
}

/** The response body: an object with `success: true`. */
export function expectEnvelope(body: unknown): Obj {
  if (!isObject(body)) bad(`expected a JSON object, got ${describe(body)}`);
  if (body.success !== true) bad(`expected "success": true, got ${describe(body.success)}`);
  return body;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function toId(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  if (typeof value === 'string' && /^\d{1,15}$/.test(value.trim())) {
    const n = Number(value.trim());
    return n > 0 ? n : undefined;
  }
  return undefined;
}

export function requireId(value: unknown, what: string): number {
  const id = toId(value);
  if (id === undefined) bad(`${what} is not a valid id (${describe(value)})`);
  return id;
}

export function optId(value: unknown): number | undefined {
  return toId(value);
}

/** A non-empty string (numbers accepted, e.g. an extension sent as 101); anything else → undefined. */
export function optString(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function optBool(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === '1' || value === 'true') return true;
  if (value === 0 || value === '0' || value === 'false') return false;
  return undefined;
}

function optCount(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{1,15}$/.test(value)) return Number(value);
  return undefined;
}

function stringList(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map(optString).filter((s): s is string => s !== undefined);
}

function idList(value: unknown): number[] {
  if (!Array.isArray(value)) return [];
  return value.map(toId).filter((n): n is number => n !== undefined);
}

/** Remove control characters and collapse whitespace; undefined when nothing is left. */
function cleanName(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const cleaned = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').replace(/\s+/g, ' ').trim();
  return cleaned === '' ? undefined : cleaned;
}

function parsePhones(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  const phones: string[] = [];
  for (const item of value) {
    // Phones come as [{number}] per the contract; a bare string is tolerated.
    const number = isObject(item) ? optString(item.number) : optString(item);
    if (number !== undefined) phones.push(number);
  }
  return phones;
}

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

function parseTelephony(value: unknown): NonNullable<IntegrationModule['integrations']>['telephony'] {
  if (!isObject(value)) return undefined;
  const additionalCodes = Array.isArray(value.additionalCodes)
    ? value.additionalCodes.flatMap((c: unknown) => {
        if (!isObject(c)) return [];
        const userId = optId(c.userId);
        const code = optString(c.code);
        return userId !== undefined && code !== undefined ? [{ userId, code }] : [];
      })
    : undefined;
  const externalPhones = Array.isArray(value.externalPhones)
    ? value.externalPhones.flatMap((p: unknown) => {
        if (!isObject(p)) return [];
        const siteCode = optString(p.siteCode);
        const externalPhone = optString(p.externalPhone);
        return siteCode !== undefined && externalPhone !== undefined ? [{ siteCode, externalPhone }] : [];
      })
    : undefined;
  return dropUndefined({
    makeCallUrl: optString(value.makeCallUrl),
    changeUserStatusUrl: optString(value.changeUserStatusUrl),
    allowEdit: optBool(value.allowEdit),
    inputEventSupported: optBool(value.inputEventSupported),
    outputEventSupported: optBool(value.outputEventSupported),
    hangupEventSupported: optBool(value.hangupEventSupported),
    additionalCodes,
    externalPhones,
  });
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function parseIntegrationModule(body: unknown): IntegrationModule {
  const env = expectEnvelope(body);
  const m = env.integrationModule;
  if (!isObject(m)) bad(`integrationModule is ${describe(m)}, not an object`);
  const code = optString(m.code);
  if (code === undefined) bad('integrationModule.code is missing');
  const actions = isObject(m.actions)
    ? Object.fromEntries(
        Object.entries(m.actions).flatMap(([k, v]) => (typeof v === 'string' ? [[k, v] as const] : [])),
      )
    : undefined;
  const integrations = isObject(m.integrations) ? m.integrations : undefined;
  const telephony = integrations ? parseTelephony(integrations.telephony) : undefined;
  return dropUndefined({
    code,
    integrationCode: optString(m.integrationCode),
    active: optBool(m.active),
    freeze: optBool(m.freeze),
    name: optString(m.name),
    logo: optString(m.logo),
    clientId: optString(m.clientId),
    native: optBool(m.native),
    baseUrl: optString(m.baseUrl),
    actions,
    availableCountries: Array.isArray(m.availableCountries) ? stringList(m.availableCountries) : undefined,
    accountUrl: optString(m.accountUrl),
    integrations: integrations ? (telephony ? { telephony } : {}) : undefined,
  });
}

export function parseIntegrationModuleEditInfo(body: unknown): IntegrationModuleEditInfo {
  const env = expectEnvelope(body);
  const info = isObject(env.info) ? env.info : {};
  return { notExistUsersIds: idList(info.notExistUsersIds), notExistSiteCodes: stringList(info.notExistSiteCodes) };
}

export function parseAccountSettings(body: unknown): AccountSettings {
  const env = expectEnvelope(body);
  const settings = isObject(env.settings) ? env.settings : bad(`settings is ${describe(env.settings)}, not an object`);
  const tz = isObject(settings.timezone) ? settings.timezone.value : settings.timezone;
  return { timezone: typeof tz === 'string' && tz.trim() !== '' ? tz.trim() : null };
}

export function parseSites(body: unknown): string[] {
  const env = expectEnvelope(body);
  if (Array.isArray(env.sites)) return env.sites.flatMap((s: unknown) => (isObject(s) && typeof s.code === 'string' ? [s.code] : []));
  if (!isObject(env.sites)) bad(`sites is ${describe(env.sites)}, not an object`);
  return Object.entries(env.sites).map(([code, s]) => (isObject(s) && typeof s.code === 'string' ? s.code : code));
}

export function parseCredentials(body: unknown): Credentials {
  const env = expectEnvelope(body);
  if (!Array.isArray(env.scopes)) bad(`scopes is ${describe(env.scopes)}, not an array`);
  return {
    scopes: stringList(env.scopes),
    siteAccess: optString(env.siteAccess),
    sitesAvailable: stringList(env.sitesAvailable),
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
