/**
 * RetailCRM API v5 client (contract /work/shared/retailcrm-api.md). One instance serves every account; each call
 * names its account. Per request: admission through the RateLimiter (rate + in-flight bound), one explicit
 * deadline covering the wait and the HTTP exchange, no retries (callers own the retry policy: one quick retry on
 * the call path, then the outbox), errors translated once in ./http-errors.ts, bodies checked in ./parse.ts.
 */
import http from 'node:http';
import https from 'node:https';
import got, { type Got } from 'got';
import { Agent as UndiciAgent } from 'undici';
import { CrmError, CrmHttpError, CrmRateLimitedError, CrmTimeoutError, InputError } from '../lib/errors.js';
import { deadlineSignal } from '../lib/deadline.js';
import { encodeForm, encodeQuery, type FormFields, type QueryParams } from './form-encoding.js';
import { interpretResponse, translateRequestError } from './http-errors.js';
import * as parse from './parse.js';
import { rateClassForPath, type RateLimiter } from './rate-limiter.js';
import { MAX_CALLS_PER_UPLOAD, type CallEvent, type CallEventResult, type CrmRequestOptions, type AccountSettings, type Credentials, type Customer, type CustomerCreate, type CustomersFilter, type HistoryPage, type HistoryQuery, type OrderCreate, type Task, type TaskCreate, type TasksFilter, type IntegrationModule, type IntegrationModuleEditInfo, type ManagerLookup, type Order, type OrdersFilter, type Page, type UploadCall, type UploadResult, type User, type UserStatus } from './types.js';
import { type CrmAccount } from './types.js';

export interface RetailCrmClientOptions {
  readonly limiter: RateLimiter;
  /** Deadline of a request when the caller gives none. */
  readonly defaultTimeoutMs: number;
  readonly userAgent?: string;
  /** Sockets per RetailCRM host kept by our agents; default 16. */
  readonly maxSocketsPerHost?: number;
  /** Told of every request's end (metrics, /ready): which account, path, HTTP status or failure, duration. */
  readonly onRequest?: (observation: CrmRequestObservation) => void;
}

export interface CrmRequestObservation {
  /** The account's key (our enterprise number). */
  readonly account: string;
  /** Path after `/api`, e.g. `/v5/telephony/manager`. */
  readonly path: string;
  /** The HTTP status as a string, or `timeout`, `network`, `error` when no answer came. */
  readonly status: string;
  readonly seconds: number;
}

export interface Paging {
  readonly page?: number;
  /** 20, 50 or 100 (contract §1.8). */
  readonly limit?: number;
}

interface RequestSpec {
  readonly method: 'GET' | 'POST';
  /** Path after `/api`, e.g. `/v5/telephony/manager` or `/credentials`. */
  readonly path: string;
  readonly query?: QueryParams;
  readonly form?: FormFields;
}

/**
 * The live call path's requests (the caller lookup and popups): sent through undici's keep-alive pool, which costs
 * a fifth of got's time per request here (README, "HTTP clients"); everything else keeps got.
 */
const HOT_PATHS: ReadonlySet<string> = new Set(['/v5/telephony/manager', '/v5/telephony/call/event']);

interface HttpAnswer {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export class RetailCrmClient {
  private readonly limiter: RateLimiter;
  private readonly defaultTimeoutMs: number;
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly got: Got;
  private readonly hot: UndiciAgent;
  private readonly baseHeaders: Record<string, string>;
  private readonly onRequest: ((o: CrmRequestObservation) => void) | undefined;

  constructor(options: RetailCrmClientOptions) {
    this.onRequest = options.onRequest;
    if (!(options.defaultTimeoutMs > 0)) throw new RangeError('defaultTimeoutMs must be positive');
    this.limiter = options.limiter;
    this.defaultTimeoutMs = options.defaultTimeoutMs;
    const maxSockets = options.maxSocketsPerHost ?? 16;
    this.agents = {
      http: new http.Agent({ keepAlive: true, maxSockets }),
      https: new https.Agent({ keepAlive: true, maxSockets }),
    };
    this.baseHeaders = { 'user-agent': options.userAgent ?? 'retailcrm-agi', accept: 'application/json' };
    this.hot = new UndiciAgent({ connections: maxSockets, keepAliveTimeout: 4_000 });
    this.got = got.extend({
      agent: this.agents,
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      responseType: 'text',
      decompress: true,
      headers: {
        'user-agent': options.userAgent ?? 'retailcrm-agi',
        accept: 'application/json',
      },
    });
  }

  /** Closes idle keep-alive sockets; call at shutdown after the last request. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
    // Destroying idle sockets does not wait on the network; a failure here is only worth a process warning.
    this.hot.destroy().catch((err: unknown) => process.emitWarning(err instanceof Error ? err : String(err)));
  }

  // ---- telephony ----------------------------------------------------------------------------------------------

  /** Responsible manager and customer for a caller's phone. Neither present = the CRM knows nothing. */
  async telephonyManager(
    account: CrmAccount,
    phone: string,
    opts: CrmRequestOptions & { ignoreStatus?: boolean } = {},
  ): Promise<ManagerLookup> {
    const query = { phone, details: true, ignoreStatus: opts.ignoreStatus ?? true };
    const body = await this.request(account, { method: 'GET', path: '/v5/telephony/manager', query }, opts);
    return parse.parseManagerLookup(body);
  }

  async callEvent(account: CrmAccount, event: CallEvent, opts: CrmRequestOptions = {}): Promise<CallEventResult> {
    const body = await this.request(account, { method: 'POST', path: '/v5/telephony/call/event', form: { event } }, opts);
    return parse.parseCallEventResult(body);
  }

  /** Uploads call history (idempotent by externalId). More than 50 calls is refused before any I/O. */
  async callsUpload(account: CrmAccount, calls: readonly UploadCall[], opts: CrmRequestOptions = {}): Promise<UploadResult> {
    if (calls.length > MAX_CALLS_PER_UPLOAD) {
      throw new InputError(`calls/upload takes at most ${MAX_CALLS_PER_UPLOAD} calls, got ${calls.length}`, 'calls');
    }
    if (calls.length === 0) return { processedCallsCount: 0, duplicateCalls: [] };
    const body = await this.request(account, { method: 'POST', path: '/v5/telephony/calls/upload', form: { calls } }, opts);
    return parse.parseUploadResult(body);
  }

  // ---- customers ----------------------------------------------------------------------------------------------

  /** Creates a customer; `site` is needed when the key sees several stores. Resolves with the new id. */
  async customersCreate(
    account: CrmAccount,
    customer: CustomerCreate,
    site: string | undefined,
    opts: CrmRequestOptions = {},
  ): Promise<number> {
    const body = await this.request(account, { method: 'POST', path: '/v5/customers/create', form: { customer, site } }, opts);
    return parse.parseCreatedId(body);
  }

  /** A customer by CRM id; null when RetailCRM answers 404 (no such customer). */
  async customerGet(account: CrmAccount, id: number, site?: string, opts: CrmRequestOptions = {}): Promise<Customer | null> {
    const spec = { method: 'GET', path: `/v5/customers/${segment(id)}`, query: { by: 'id', site } } as const;
    const body = await this.requestOrNotFound(account, spec, opts);
    return body === null ? null : parse.parseCustomerGet(body);
  }

  async customersList(
    account: CrmAccount,
    filter: CustomersFilter,
    paging: Paging = {},
    opts: CrmRequestOptions = {},
  ): Promise<Page<Customer>> {
    const query = { filter: { ...filter }, page: paging.page, limit: paging.limit };
    const body = await this.request(account, { method: 'GET', path: '/v5/customers', query }, opts);
    return parse.parseCustomersList(body);
  }

  async customersHistory(account: CrmAccount, query: HistoryQuery, opts: CrmRequestOptions = {}): Promise<HistoryPage> {
    const body = await this.request(account, { method: 'GET', path: '/v5/customers/history', query: historyQuery(query) }, opts);
    return parse.parseHistoryPage(body);
  }

  // ---- orders -------------------------------------------------------------------------------------------------

  async ordersList(
    account: CrmAccount,
    filter: OrdersFilter,
    paging: Paging = {},
    opts: CrmRequestOptions = {},
  ): Promise<Page<Order>> {
    const query = { filter: { ...filter }, page: paging.page, limit: paging.limit };
    const body = await this.request(account, { method: 'GET', path: '/v5/orders', query }, opts);
    return parse.parseOrdersList(body);
  }

  async ordersHistory(account: CrmAccount, query: HistoryQuery, opts: CrmRequestOptions = {}): Promise<HistoryPage> {
    const body = await this.request(account, { method: 'GET', path: '/v5/orders/history', query: historyQuery(query) }, opts);
    return parse.parseHistoryPage(body);
  }

  /** Creates an order (a lead); `site` is needed when the key sees several stores. Resolves with the new id. */
  async ordersCreate(account: CrmAccount, order: OrderCreate, site: string | undefined, opts: CrmRequestOptions = {}): Promise<number> {
    const body = await this.request(account, { method: 'POST', path: '/v5/orders/create', form: { order, site } }, opts);
    return parse.parseCreatedId(body);
  }

  // ---- tasks --------------------------------------------------------------------------------------------------

  /** Creates a task (needs task_write). Resolves with the new id. */
  async tasksCreate(account: CrmAccount, task: TaskCreate, site: string | undefined, opts: CrmRequestOptions = {}): Promise<number> {
    const body = await this.request(account, { method: 'POST', path: '/v5/tasks/create', form: { task, site } }, opts);
    return parse.parseCreatedId(body);
  }

  /** Marks a task done (`tasks/{id}/edit` with `complete: true`); false when RetailCRM has no such task (404). */
  async taskComplete(account: CrmAccount, id: number, opts: CrmRequestOptions = {}): Promise<boolean> {
    const spec = { method: 'POST', path: `/v5/tasks/${segment(id)}/edit`, form: { task: { complete: true } } } as const;
    const body = await this.requestOrNotFound(account, spec, opts);
    if (body === null) return false;
    parse.parseSuccess(body);
    return true;
  }

  async tasksList(account: CrmAccount, filter: TasksFilter, paging: Paging = {}, opts: CrmRequestOptions = {}): Promise<Page<Task>> {
    const query = { filter: { ...filter }, page: paging.page, limit: paging.limit };
    const body = await this.request(account, { method: 'GET', path: '/v5/tasks', query }, opts);
    return parse.parseTasksList(body);
  }

  // ---- users --------------------------------------------------------------------------------------------------

  async users(account: CrmAccount, paging: Paging = {}, opts: CrmRequestOptions = {}): Promise<Page<User>> {
    const query = { page: paging.page, limit: paging.limit };
    const body = await this.request(account, { method: 'GET', path: '/v5/users', query }, opts);
    return parse.parseUsersList(body);
  }

  /** PBX → CRM status sync (`status` is a plain form field). */
  async userStatus(account: CrmAccount, userId: number, status: UserStatus, opts: CrmRequestOptions = {}): Promise<void> {
    const spec = { method: 'POST', path: `/v5/users/${segment(userId)}/status`, form: { status } } as const;
    parse.parseSuccess(await this.request(account, spec, opts));
  }

  // ---- integration module and key -----------------------------------------------------------------------------

  /** The module's current settings; null when RetailCRM answers 404 (not registered). */
  async integrationModuleGet(account: CrmAccount, code: string, opts: CrmRequestOptions = {}): Promise<IntegrationModule | null> {
    const spec = { method: 'GET', path: `/v5/integration-modules/${segment(code)}` } as const;
    const body = await this.requestOrNotFound(account, spec, opts);
    return body === null ? null : parse.parseIntegrationModule(body);
  }

  /** Creates or updates the module. `module.code` must equal `code` (contract §2.2). */
  async integrationModuleEdit(
    account: CrmAccount,
    code: string,
    module: IntegrationModule,
    opts: CrmRequestOptions = {},
  ): Promise<IntegrationModuleEditInfo> {
    if (module.code !== code) {
      throw new InputError(`integrationModule.code ${JSON.stringify(module.code)} differs from ${JSON.stringify(code)}`, 'code');
    }
    const spec = {
      method: 'POST',
      path: `/v5/integration-modules/${segment(code)}/edit`,
      form: { integrationModule: module },
    } as const;
    return parse.parseIntegrationModuleEditInfo(await this.request(account, spec, opts));
  }

  /** The account's settings; only the timezone is read (contract §7.6: `settings.timezone.value`, IANA). */
  async accountSettings(account: CrmAccount, opts: CrmRequestOptions = {}): Promise<AccountSettings> {
    return parse.parseAccountSettings(await this.request(account, { method: 'GET', path: '/v5/settings' }, opts));
  }

  /** The account's site (store) codes (contract §7.6: `sites` is an object keyed by code). */
  async sites(account: CrmAccount, opts: CrmRequestOptions = {}): Promise<string[]> {
    return parse.parseSites(await this.request(account, { method: 'GET', path: '/v5/reference/sites' }, opts));
  }

  /** What the API key may do (scopes); the path has no version segment. */
  async credentials(account: CrmAccount, opts: CrmRequestOptions = {}): Promise<Credentials> {
    return parse.parseCredentials(await this.request(account, { method: 'GET', path: '/credentials' }, opts));
  }

  // ---- transport ----------------------------------------------------------------------------------------------

  /** Like request(), but a JSON 404 other than "API method not found" resolves null (entity not found). */
  private async requestOrNotFound(account: CrmAccount, spec: RequestSpec, opts: CrmRequestOptions): Promise<unknown> {
    try {
      return await this.request(account, spec, opts);
    } catch (err) {
      if (err instanceof CrmHttpError && err.status === 404 && !/method not found/i.test(err.errorMsg ?? '')) return null;
      throw err;
    }
  }

  private async request(account: CrmAccount, spec: RequestSpec, opts: CrmRequestOptions): Promise<unknown> {
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    const deadline = deadlineSignal(timeoutMs, opts.signal);
    try {
      return await this.requestWithin(account, spec, timeoutMs, deadline.signal);
    } finally {
      deadline.dispose();
    }
  }

  private async requestWithin(account: CrmAccount, spec: RequestSpec, timeoutMs: number, signal: AbortSignal): Promise<unknown> {
    const cls = rateClassForPath(spec.path);
    const url = buildUrl(account.url, spec);

    const started = performance.now();
    let status = 'error';
    const observe = (): void => {
      try {
        this.onRequest?.({ account: account.key, path: spec.path, status, seconds: (performance.now() - started) / 1000 });
      } catch (err) {
        // An observer's failure must not turn into a failed request; it is reported as a process warning (stderr).
        process.emitWarning(err instanceof Error ? err : String(err));
      }
    };
    let release: () => void;
    try {
      release = await this.limiter.acquire(account.key, cls, signal);
    } catch (err) {
      status = 'timeout';
      observe();
      throw err instanceof CrmTimeoutError ? new CrmTimeoutError(timeoutMs, { cause: err }) : err;
    }
    try {
      const headers: Record<string, string> = {
        'x-api-key': account.apiKey,
        ...(spec.form ? { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' } : {}),
      };
      const body = spec.form ? encodeForm(spec.form) : undefined;
      const response = HOT_PATHS.has(spec.path)
        ? await this.sendHot(url, spec.method, headers, body, signal)
        : await this.got(url, { method: spec.method, headers, ...(body !== undefined ? { body } : {}), signal, timeout: { request: timeoutMs } });
      status = String(response.statusCode);
      return interpretResponse(response.statusCode, response.headers, response.body);
    } catch (err) {
      const translated = err instanceof CrmError ? err : translateRequestError(err, timeoutMs, signal);
      if (status === 'error') status = translated.code === 'CRM_TIMEOUT' ? 'timeout' : translated.code === 'CRM_NETWORK' ? 'network' : 'error';
      if (translated instanceof CrmRateLimitedError && translated.retryAfterMs !== undefined) {
        this.limiter.penalize(account.key, cls, translated.retryAfterMs);
      }
      throw translated;
    } finally {
      release();
      observe();
    }
  }

  /** One request through undici; the signal is the deadline (undici's own timeouts are minutes long). */
  private async sendHot(url: string, method: 'GET' | 'POST', headers: Record<string, string>, body: string | undefined, signal: AbortSignal): Promise<HttpAnswer> {
    const target = new URL(url);
    const res = await this.hot.request({
      origin: target.origin,
      path: `${target.pathname}${target.search}`,
      method,
      headers: { ...this.baseHeaders, ...headers },
      body: body ?? null,
      signal,
    });
    return { statusCode: res.statusCode, headers: res.headers, body: await res.body.text() };
  }
}

function buildUrl(base: string, spec: RequestSpec): string {
  const root = base.replace(/\/+$/, '').replace(/\/api$/, '');
  if (!/^https?:\/\//i.test(root)) throw new InputError(`RetailCRM URL must be http(s): ${JSON.stringify(base)}`, 'url');
  const query = spec.query ? encodeQuery(spec.query) : '';
  return `${root}/api${spec.path}${query === '' ? '' : `?${query}`}`;
}

function segment(value: string | number): string {
  const text = String(value);
  if (text === '' || text === '.' || text === '..') throw new InputError(`invalid path segment ${JSON.stringify(text)}`);
  return encodeURIComponent(text);
}

function historyQuery(q: HistoryQuery): QueryParams {
  // sinceId paging keeps page=1 and drops startDate (contract §1.8).
  const filter = q.sinceId !== undefined ? { sinceId: q.sinceId } : { startDate: q.startDate };
  return { filter, limit: q.limit, page: 1 };
}
