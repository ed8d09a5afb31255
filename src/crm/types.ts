/**
 * Types for what we send to and receive from RetailCRM API v5 (contract /work/shared/retailcrm-api.md).
 * Outgoing types follow the contract's field names exactly. Incoming types are what src/crm/parse.ts
 * produces from untrusted JSON: ids normalised to numbers, missing/null names to `undefined`.
 */

/** One RetailCRM account as the client needs it. */
export interface CrmAccount {
  /** Our enterprise number: the limiter's key. */
  readonly key: string;
  /** Account base URL, e.g. https://acc.retailcrm.ru (no trailing /api). */
  readonly url: string;
  readonly apiKey: string;
}

export interface CrmRequestOptions {
  /** The caller's cancellation (e.g. the live call's budget); an abort surfaces as CrmTimeoutError. */
  readonly signal?: AbortSignal;
  /** Deadline for this request, limiter wait included; defaults to the client's defaultTimeoutMs. */
  readonly timeoutMs?: number;
}

// ---- enums (note the two different spellings of "no answer") -----------------------------------------------

export const CALL_EVENT_TYPES = ['in', 'out', 'hangup'] as const;
export type CallEventType = (typeof CALL_EVENT_TYPES)[number];

export const HANGUP_STATUSES = ['answered', 'busy', 'cancel', 'failed', 'no answered'] as const;
export type HangupStatus = (typeof HANGUP_STATUSES)[number];

export const CALL_RESULTS = ['answered', 'busy', 'failed', 'no answer', 'not allowed', 'unknown'] as const;
export type CallResult = (typeof CALL_RESULTS)[number];

export const USER_STATUSES = ['free', 'busy', 'dinner', 'break'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

/** Most calls/upload accepts in one request (contract §5). */
export const MAX_CALLS_PER_UPLOAD = 50;

// ---- shared -------------------------------------------------------------------------------------------------

export interface Pagination {
  readonly limit: number;
  readonly totalCount: number;
  readonly currentPage: number;
  readonly totalPageCount: number;
}

export interface Page<T> {
  readonly items: T[];
  readonly pagination: Pagination;
}

export interface Source {
  source?: string;
  medium?: string;
  campaign?: string;
  keyword?: string;
  content?: string;
}

// ---- telephony ----------------------------------------------------------------------------------------------

export interface Manager {
  readonly id: number;
  readonly firstName: string | undefined;
  readonly lastName: string | undefined;
  readonly patronymic: string | undefined;
  readonly email: string | undefined;
  /** The manager's extension (what the dialplan routes to), when the CRM knows one. */
  readonly code: string | undefined;
}

export type CustomerType = 'customer' | 'customer_corporate';

export interface Customer {
  readonly id: number;
  readonly externalId: string | undefined;
  readonly type: CustomerType;
  readonly firstName: string | undefined;
  readonly lastName: string | undefined;
  readonly patronymic: string | undefined;
  readonly email: string | undefined;
  /** Company name for corporate customers (nickName, else the main company's name). */
  readonly companyName: string | undefined;
  /** Phone numbers as stored in the CRM (not normalised). */
  readonly phones: string[];
  readonly managerId: number | undefined;
  readonly site: string | undefined;
  readonly createdAt: string | undefined;
  readonly isContact: boolean | undefined;
  /** A name for popups and caller ID: company name for corporate customers, else "First Last"; control
   * characters removed and whitespace collapsed, but NOT sanitised for any dialplan: the caller must do that. */
  readonly displayName: string | undefined;
}

export interface ManagerLinks {
  readonly newOrderLink: string | undefined;
  readonly lastOrderLink: string | undefined;
  readonly newCustomerLink: string | undefined;
  readonly customerLink: string | undefined;
}

/** GET telephony/manager. Both `manager` and `customer` absent means nothing matched the phone. */
export interface ManagerLookup {
  readonly manager: Manager | undefined;
  readonly customer: Customer | undefined;
  readonly links: ManagerLinks | undefined;
}

export interface CallEvent {
  phone: string;
  type: CallEventType;
  codes?: string[];
  userIds?: number[];
  site?: string;
  /** Only with type 'hangup'. */
  hangupStatus?: HangupStatus;
  externalPhone?: string;
  /** Same value as UploadCall.externalId so the event and the history record match. */
  callExternalId?: string;
  webAnalyticsData?: { campaign?: { name?: string; code?: string }; queryString?: string };
}

export interface CallEventResult {
  /** Extensions in `codes` the CRM does not know. */
  readonly notExistCodes: string[];
  /** User ids in `userIds` the CRM does not know. */
  readonly notExistUsers: number[];
}

export interface UploadCall {
  /** `Y-m-d H:i:s` in the account's timezone. */
  date: string;
  type: 'in' | 'out';
  phone: string;
  code?: string;
  userId?: number;
  result: CallResult;
  duration?: number;
  durationWaiting?: number;
  /** The dedup key: a call with a known externalId is reported in duplicateCalls, never updated. */
  externalId: string;
  recordUrl?: string;
  source?: Source;
  externalPhone?: string;
  site?: string;
  /** Google Analytics client id, not the module clientId. */
  clientId?: string;
}

export interface UploadResult {
  readonly processedCallsCount: number;
  /** externalIds the CRM already had. */
  readonly duplicateCalls: string[];
}

// ---- customers ----------------------------------------------------------------------------------------------

export interface CustomerCreate {
  externalId?: string;
  firstName?: string;
  lastName?: string;
  patronymic?: string;
  email?: string;
  phones?: { number: string }[];
  managerId?: number;
  /** `Y-m-d H:i:s`. */
  createdAt?: string;
  source?: Source;
  contragent?: { contragentType: 'individual' | 'legal-entity' | 'enterpreneur' };
  customFields?: Record<string, unknown>;
  tags?: { name: string }[];
  vip?: boolean;
  bad?: boolean;
}

export interface CustomersFilter {
  name?: string;
  email?: string;
  ids?: number[];
  externalIds?: string[];
  sites?: string[];
  managers?: number[];
  isContact?: boolean;
}

// ---- users --------------------------------------------------------------------------------------------------

export interface User {
  readonly id: number;
  readonly firstName: string | undefined;
  readonly lastName: string | undefined;
  readonly patronymic: string | undefined;
  readonly email: string | undefined;
  /** free|busy|dinner|break as sent; an unknown value is kept as text. */
  readonly status: string | undefined;
  readonly online: boolean | undefined;
  readonly active: boolean | undefined;
  readonly isManager: boolean | undefined;
  readonly isAdmin: boolean | undefined;
  readonly phone: string | undefined;
}

// ---- integration module -------------------------------------------------------------------------------------

export interface AdditionalCode {
  userId: number;
  code: string;
}

export interface ExternalPhone {
  siteCode: string;
  externalPhone: string;
}

export interface TelephonyIntegration {
  makeCallUrl?: string;
  changeUserStatusUrl?: string;
  allowEdit?: boolean;
  inputEventSupported?: boolean;
  outputEventSupported?: boolean;
  hangupEventSupported?: boolean;
  additionalCodes?: AdditionalCode[];
  externalPhones?: ExternalPhone[];
}

export interface IntegrationModule {
  code: string;
  integrationCode?: string;
  active?: boolean;
  freeze?: boolean;
  name?: string;
  logo?: string;
  clientId?: string;
  native?: boolean;
  baseUrl?: string;
  actions?: Record<string, string>;
  availableCountries?: string[];
  accountUrl?: string;
  integrations?: { telephony?: TelephonyIntegration };
}

export interface IntegrationModuleEditInfo {
  /** additionalCodes[].userId values the account does not have. */
  readonly notExistUsersIds: number[];
  /** externalPhones[].siteCode values the account does not have. */
  readonly notExistSiteCodes: string[];
}

export interface AccountSettings {
  /** IANA zone name, e.g. Europe/Minsk; null when RetailCRM does not say. */
  readonly timezone: string | null;
}

export interface Credentials {
  readonly scopes: string[];
  readonly siteAccess: string | undefined;
  readonly sitesAvailable: string[];
}

// ---- orders and history -------------------------------------------------------------------------------------

export interface OrdersFilter {
  customerId?: number;
  externalIds?: string[];
  customer?: string;
  customerExternalId?: string;
  ids?: number[];
  numbers?: string[];
  managers?: number[];
  createdAtFrom?: string;
  createdAtTo?: string;
}

export interface Order {
  readonly id: number;
  readonly number: string | undefined;
  readonly externalId: string | undefined;
  readonly status: string | undefined;
  readonly site: string | undefined;
  readonly customerId: number | undefined;
  readonly managerId: number | undefined;
  readonly createdAt: string | undefined;
  readonly phone: string | undefined;
}

export interface HistoryQuery {
  /** Entries with a greater id; the way to page (contract §1.8). */
  sinceId?: number;
  /** `Y-m-d H:i:s`; only for the first request when no sinceId is stored. */
  startDate?: string;
  /** 20, 50 or 100. */
  limit: number;
}

export interface HistoryEntityRef {
  readonly id: number;
  readonly externalId: string | undefined;
  readonly site: string | undefined;
}

export interface HistoryEntry {
  readonly id: number;
  readonly createdAt: string | undefined;
  readonly created: boolean;
  readonly deleted: boolean;
  /** api | user | code | … as sent. */
  readonly source: string | undefined;
  readonly userId: number | undefined;
  /** true: the change was made with the API key we used (skip it to avoid echo loops). */
  readonly byCurrentApiKey: boolean;
  readonly field: string | undefined;
  readonly oldValue: unknown;
  readonly newValue: unknown;
  /** customers/history: the customer; orders/history: undefined. */
  readonly customer: HistoryEntityRef | undefined;
  /** orders/history: the order; customers/history: undefined. */
  readonly order: HistoryEntityRef | undefined;
  /** Set when the customer was merged into another one. */
  readonly combinedTo: HistoryEntityRef | undefined;
}

export interface HistoryPage {
  readonly entries: HistoryEntry[];
  readonly pagination: Pagination;
  readonly generatedAt: string | undefined;
}

// ---- orders/create and tasks (docs/leads-and-tasks.md) ------------------------------------------------------------

/** What `orders/create` gets for a lead (form field `order`, JSON). */
export interface OrderCreate {
  /** Ours, unique per lead: a retried creation finds the order by it instead of creating a twin. */
  externalId: string;
  /** Code from reference/order-methods, e.g. `phone`. */
  orderMethod?: string;
  /** Code from reference/statuses, e.g. `new`. */
  status?: string;
  /** The customer the order is for; without it RetailCRM makes a customer from the order's contact fields. */
  customer?: { id: number };
  phone?: string;
  managerId?: number;
  /** `Y-m-d H:i:s` in the account's timezone: when the call came. */
  createdAt?: string;
  customerComment?: string;
  /** Free text shown on the order: who called and when. */
  managerComment?: string;
}

/** What `tasks/create` gets (form field `task`, JSON). */
export interface TaskCreate {
  text: string;
  commentary?: string;
  /** Due time, `Y-m-d H:i` in the account's timezone (the PHP client's Task::$datetime). */
  datetime?: string;
  performerId: number;
  customer?: { id: number };
  phone?: string;
}

export interface TasksFilter {
  text?: string;
  performers?: number[];
  /** `performing` or `completed` (PHP client's TaskStatus). */
  status?: string;
  ids?: number[];
}

export interface Task {
  readonly id: number;
  readonly text: string | undefined;
  readonly complete: boolean;
  readonly performerId: number | undefined;
  readonly customerId: number | undefined;
  readonly datetime: string | undefined;
}
