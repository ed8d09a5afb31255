/**
 * In-process fake RetailCRM (node:http, port 0) speaking the API v5 contract in /work/shared/retailcrm-api.md:
 * accounts keyed by API key, customers (individual and corporate), users, orders, integration modules, call
 * events and uploads, history with sinceId paging. It records every request for assertions and has a control
 * API (plain methods, not HTTP) for latency, injected failures, outage modes and RetailCRM's own rate limit.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const JSON_FIELDS = new Set(['event', 'calls', 'customer', 'customerCorporate', 'order', 'task', 'integrationModule', 'requires']);
const CALL_EVENT_TYPES = ['in', 'out', 'hangup'];
const HANGUP_STATUSES = ['answered', 'busy', 'cancel', 'failed', 'no answered'];
const CALL_RESULTS = ['answered', 'busy', 'failed', 'no answer', 'not allowed', 'unknown'];
const USER_STATUSES = ['free', 'busy', 'dinner', 'break'];
const LIMITS = [20, 50, 100];
const MAX_BODY = 1024 * 1024;

type Json = Record<string, unknown>;

export interface FakeCustomer {
  id: number;
  externalId?: string;
  type: 'customer' | 'customer_corporate';
  firstName?: string | null;
  lastName?: string | null;
  patronymic?: string | null;
  /** Corporate customers: the company's name. */
  nickName?: string;
  email?: string;
  phones: string[];
  managerId?: number;
  site?: string;
  createdAt: string;
}

export interface FakeUser {
  id: number;
  firstName?: string | null;
  lastName?: string | null;
  patronymic?: string | null;
  email?: string;
  status: string;
  online: boolean;
  active: boolean;
  isManager: boolean;
  /** Extension; the integration module's additionalCodes override it. */
  code?: string;
}

export interface FakeOrder {
  id: number;
  number: string;
  externalId?: string;
  customerId?: number;
  managerId?: number;
  status: string;
  site?: string;
  phone?: string;
  orderMethod?: string;
  managerComment?: string;
  createdAt: string;
}

/** A task as `tasks/create` stores it (docs/leads-and-tasks.md). */
export interface FakeTask {
  id: number;
  text: string;
  commentary?: string;
  /** `Y-m-d H:i`. */
  datetime?: string;
  performerId: number;
  customerId?: number;
  phone?: string;
  complete: boolean;
  createdAt: string;
  completedAt?: string;
}

interface HistoryRecord {
  id: number;
  createdAt: string;
  created?: boolean;
  source: string;
  viaApi: boolean;
  field: string;
  oldValue: unknown;
  newValue: unknown;
  entity: 'customer' | 'order';
  entityId: number;
}

export interface FakeAccount {
  readonly apiKey: string;
  scopes: string[];
  sites: string[];
  /** `GET /api/credentials` siteAccess: access_full, or access_selective (only `sites`). */
  siteAccess: 'access_full' | 'access_selective';
  /** `GET /api/v5/settings` → settings.timezone.value (contract §7.6); null: the field is absent. */
  timezone: string | null;
  readonly customers: Map<number, FakeCustomer>;
  readonly users: Map<number, FakeUser>;
  readonly orders: Map<number, FakeOrder>;
  readonly tasks: Map<number, FakeTask>;
  readonly modules: Map<string, Json>;
  readonly events: Json[];
  /** Uploaded calls by externalId. */
  readonly calls: Map<string, Json>;
  readonly history: HistoryRecord[];
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** Query decoded with bracket notation: `filter[ids][]=1` → `{filter: {ids: ['1']}}`. */
  readonly query: Json;
  readonly rawQuery: string;
  readonly contentType: string | undefined;
  readonly rawBody: string;
  /** Form fields; the JSON-in-field ones (event, calls, customer, …) decoded when they parse. */
  readonly form: Json;
  readonly headers: http.IncomingHttpHeaders;
  /** Date.now() when the request arrived. */
  readonly receivedAt: number;
  /** performance.now() when the request was read: for sub-millisecond latencies within this process. */
  readonly receivedAtHr: number;
}

export interface FailSpec {
  readonly status: number;
  readonly body?: string;
  readonly contentType?: string;
  /** Sent as the Retry-After header. */
  readonly retryAfter?: string | number;
  /** Only requests to this exact path (e.g. /api/v5/telephony/manager) consume the failure. */
  readonly route?: string;
}

export type FakeMode = 'normal' | 'down' | 'hang' | 'garbage' | 'rateLimit';

export class FakeRetailCrm {
  readonly apiKey: string;
  private readonly server: http.Server;
  private readonly accounts = new Map<string, FakeAccount>();
  private recorded: RecordedRequest[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private mode: FakeMode = 'normal';
  private garbageKind: 'html' | 'truncated' = 'html';
  private latency = new Map<string, number>();
  /** While set, answers wait here until the test releases them (holdAnswers). */
  private held: (() => void)[] | undefined;
  private failures: FailSpec[] = [];
  private rateLimit: { general: number; telephony: number } | undefined;
  private buckets = new Map<string, { tokens: number; at: number }>();
  private nextId = 1;
  private port = 0;

  private constructor(apiKey: string) {
    this.apiKey = apiKey;
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.addAccount(apiKey);
  }

  static async start(options: { apiKey?: string } = {}): Promise<FakeRetailCrm> {
    const fake = new FakeRetailCrm(options.apiKey ?? 'test-api-key');
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(0, '127.0.0.1', () => resolve());
    });
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  /** Base URL of the account, as a tenant would configure it. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  // ---- seeding ------------------------------------------------------------------------------------------------

  addAccount(
    apiKey: string,
    opts: { scopes?: string[]; sites?: string[]; siteAccess?: FakeAccount['siteAccess']; timezone?: string | null } = {},
  ): FakeAccount {
    const account: FakeAccount = {
      apiKey,
      scopes: opts.scopes ?? ['telephony_read', 'telephony_write', 'customer_read', 'customer_write', 'user_read',
        'user_write', 'order_read', 'integration_read', 'integration_write'],
      sites: opts.sites ?? ['shop1'],
      siteAccess: opts.siteAccess ?? 'access_full',
      timezone: opts.timezone === undefined ? 'Europe/Moscow' : opts.timezone,
      customers: new Map(),
      users: new Map(),
      orders: new Map(),
      tasks: new Map(),
      modules: new Map(),
      events: [],
      calls: new Map(),
      history: [],
    };
    this.accounts.set(apiKey, account);
    return account;
  }

  account(apiKey: string = this.apiKey): FakeAccount {
    const account = this.accounts.get(apiKey);
    if (!account) throw new Error(`fake RetailCRM has no account with key ${apiKey}`);
    return account;
  }

  addCustomer(input: Partial<FakeCustomer> & { apiKey?: string }): FakeCustomer {
    const { apiKey, ...fields } = input;
    const account = this.account(apiKey);
    const customer: FakeCustomer = {
      type: 'customer',
      phones: [],
      createdAt: formatDate(new Date()),
      ...fields,
      id: fields.id ?? this.nextId++,
    };
    account.customers.set(customer.id, customer);
    this.pushHistory(account, 'customer', customer.id, { created: true, source: 'user', viaApi: false });
    return customer;
  }

  addUser(input: Partial<FakeUser> & { apiKey?: string }): FakeUser {
    const { apiKey, ...fields } = input;
    const user: FakeUser = {
      status: 'free',
      online: true,
      active: true,
      isManager: true,
      ...fields,
      id: fields.id ?? this.nextId++,
    };
    this.account(apiKey).users.set(user.id, user);
    return user;
  }

  addOrder(input: Partial<FakeOrder> & { apiKey?: string }): FakeOrder {
    const { apiKey, ...fields } = input;
    const account = this.account(apiKey);
    const id = fields.id ?? this.nextId++;
    const order: FakeOrder = { number: `${id}A`, status: 'new', createdAt: formatDate(new Date()), ...fields, id };
    account.orders.set(order.id, order);
    this.pushHistory(account, 'order', order.id, { created: true, source: 'user', viaApi: false });
    return order;
  }

  // ---- control ------------------------------------------------------------------------------------------------

  /** Delay before answering: for one exact path, or for every request when `route` is omitted. */
  setLatency(ms: number, route?: string): void {
    this.latency.set(route ?? '*', ms);
  }

  /**
   * Every request from now on waits for its answer until the returned function is called, which answers them and
   * stops holding: a test controls exactly when RetailCRM "finishes", with no guess at a latency.
   */
  holdAnswers(): () => void {
    const held: (() => void)[] = [];
    this.held = held;
    return () => {
      if (this.held === held) this.held = undefined;
      for (const answer of held.splice(0)) answer();
    };
  }

  /** The next `n` requests (to `spec.route`, if given) get this answer instead of the real one. */
  failNext(n: number, spec: FailSpec): void {
    for (let i = 0; i < n; i++) this.failures.push(spec);
  }

  /** down: destroy each connection; hang: never answer; garbage: 200 with HTML or truncated JSON; rateLimit: 503. */
  setMode(mode: FakeMode, opts: { garbage?: 'html' | 'truncated' } = {}): void {
    this.mode = mode;
    this.garbageKind = opts.garbage ?? 'html';
  }

  /** Enforce RetailCRM's limit per API key (token bucket, burst = rate); 503 above it. null turns it off. */
  setRateLimit(limit: { perSecond: number; telephonyPerSecond?: number } | null): void {
    this.rateLimit = limit ? { general: limit.perSecond, telephony: limit.telephonyPerSecond ?? limit.perSecond * 4 } : undefined;
    this.buckets.clear();
  }

  /** Back to a fresh default account and normal behaviour; recorded requests are dropped. */
  reset(): void {
    this.accounts.clear();
    this.addAccount(this.apiKey);
    this.recorded = [];
    this.mode = 'normal';
    this.latency = new Map();
    for (const answer of this.held?.splice(0) ?? []) answer();
    this.held = undefined;
    this.failures = [];
    this.rateLimit = undefined;
    this.buckets.clear();
  }

  requests(filter: { method?: string; path?: string | RegExp } = {}): RecordedRequest[] {
    return this.recorded.filter(
      (r) =>
        (filter.method === undefined || r.method === filter.method) &&
        (filter.path === undefined ||
          (typeof filter.path === 'string' ? r.path === filter.path : filter.path.test(r.path))),
    );
  }

  /** Stops listening and destroys every connection, hanging ones included. */
  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  // ---- HTTP ---------------------------------------------------------------------------------------------------

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('error', () => req.socket.destroy());
    req.on('end', () => {
      if (size > MAX_BODY) {
        send(res, 413, { success: false, errorMsg: 'Request entity too large' });
        return;
      }
      this.handle(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, rawBody: string): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const contentType = req.headers['content-type'];
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: parseBracketQuery(url.search),
      rawQuery: url.search.replace(/^\?/, ''),
      contentType,
      rawBody,
      form: parseForm(contentType, rawBody),
      headers: req.headers,
      receivedAt: Date.now(),
      receivedAtHr: performance.now(),
    };
    this.recorded.push(record);

    if (this.mode === 'down') {
      req.socket.destroy();
      return;
    }
    if (this.mode === 'hang') return;
    if (this.held) {
      this.held.push(() => {
        if (!res.destroyed) this.respond(record, res);
      });
      return;
    }
    const delay = this.latency.get(record.path) ?? this.latency.get('*') ?? 0;
    if (delay <= 0) {
      this.respond(record, res);
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!res.destroyed) this.respond(record, res);
    }, delay);
    this.timers.add(timer);
  }

  private respond(r: RecordedRequest, res: http.ServerResponse): void {
    const failIndex = this.failures.findIndex((f) => f.route === undefined || f.route === r.path);
    if (failIndex >= 0) {
      const [f] = this.failures.splice(failIndex, 1) as [FailSpec];
      const headers: http.OutgoingHttpHeaders = { 'content-type': f.contentType ?? 'application/json; charset=utf-8' };
      if (f.retryAfter !== undefined) headers['retry-after'] = String(f.retryAfter);
      res.writeHead(f.status, headers);
      res.end(f.body ?? JSON.stringify({ success: false, errorMsg: `injected ${f.status}` }));
      return;
    }
    if (this.mode === 'rateLimit' || !this.admit(r)) {
      sendHtml(res, 503, '<html><head><title>503 Service Temporarily Unavailable</title></head><body>' +
        '<center><h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>');
      return;
    }
    if (this.mode === 'garbage') {
      if (this.garbageKind === 'html') sendHtml(res, 200, '<!DOCTYPE html><html><body>Maintenance</body></html>');
      else {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        res.end('{"success":true,"manager":{"id":1,"firstName":"Ива');
      }
      return;
    }
    const routed = this.route(r);
    send(res, routed.status, routed.body);
  }

  private admit(r: RecordedRequest): boolean {
    if (!this.rateLimit) return true;
    const cls = r.path.includes('/telephony/') ? 'telephony' : 'general';
    const rate = this.rateLimit[cls];
    const key = `${apiKeyOf(r) ?? ''}|${cls}`;
    const now = performance.now();
    const bucket = this.buckets.get(key) ?? { tokens: rate, at: now };
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) * rate) / 1000);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  // ---- API ----------------------------------------------------------------------------------------------------

  private route(r: RecordedRequest): { status: number; body: Json } {
    const notFound = { status: 404, body: { success: false, errorMsg: 'API method not found' } };
    const p = r.path;
    let m: RegExpMatchArray | null;
    type Handler = (a: FakeAccount) => { status: number; body: Json };
    let handler: Handler | undefined;
    if (r.method === 'GET' && p === '/api/credentials') handler = (a) => this.credentials(a);
    else if (!p.startsWith('/api/v5/')) return notFound;
    else if (r.method === 'GET' && p === '/api/v5/telephony/manager') handler = (a) => this.manager(a, r);
    else if (r.method === 'POST' && p === '/api/v5/telephony/call/event') handler = (a) => this.callEvent(a, r);
    else if (r.method === 'POST' && p === '/api/v5/telephony/calls/upload') handler = (a) => this.callsUpload(a, r);
    else if (r.method === 'POST' && p === '/api/v5/customers/create') handler = (a) => this.customersCreate(a, r);
    else if (r.method === 'GET' && p === '/api/v5/customers') handler = (a) => this.customersList(a, r);
    else if (r.method === 'GET' && p === '/api/v5/customers/history') handler = (a) => this.history(a, r, 'customer');
    else if (r.method === 'GET' && p === '/api/v5/orders/history') handler = (a) => this.history(a, r, 'order');
    else if (r.method === 'GET' && p === '/api/v5/orders') handler = (a) => this.ordersList(a, r);
    else if (r.method === 'POST' && p === '/api/v5/orders/create') handler = (a) => this.ordersCreate(a, r);
    else if (r.method === 'POST' && p === '/api/v5/tasks/create') handler = (a) => this.tasksCreate(a, r);
    else if (r.method === 'GET' && p === '/api/v5/tasks') handler = (a) => this.tasksList(a, r);
    else if (r.method === 'GET' && p === '/api/v5/users') handler = (a) => this.usersList(a, r);
    else if (r.method === 'GET' && p === '/api/v5/settings') handler = (a) => this.settings(a);
    else if (r.method === 'GET' && p === '/api/v5/reference/sites') handler = (a) => this.sitesReference(a);
    else if (r.method === 'GET' && (m = /^\/api\/v5\/customers\/([^/]+)$/.exec(p))) {
      const id = decodeURIComponent(m[1] ?? '');
      handler = (a) => this.customerGet(a, r, id);
    } else if (r.method === 'POST' && (m = /^\/api\/v5\/tasks\/([^/]+)\/edit$/.exec(p))) {
      const id = decodeURIComponent(m[1] ?? '');
      handler = (a) => this.taskEdit(a, r, id);
    } else if (r.method === 'POST' && (m = /^\/api\/v5\/users\/([^/]+)\/status$/.exec(p))) {
      const id = Number(m[1]);
      handler = (a) => this.userStatus(a, r, id);
    } else if ((m = /^\/api\/v5\/integration-modules\/([^/]+)(\/edit)?$/.exec(p))) {
      const code = decodeURIComponent(m[1] ?? '');
      if (r.method === 'GET' && !m[2]) handler = (a) => this.moduleGet(a, code);
      if (r.method === 'POST' && m[2]) handler = (a) => this.moduleEdit(a, r, code);
    }
    if (!handler) return notFound;
    const key = apiKeyOf(r);
    if (key === undefined) return { status: 403, body: { success: false, errorMsg: '"apiKey" is missing.' } };
    const account = this.accounts.get(key);
    if (!account) return { status: 403, body: { success: false, errorMsg: 'Wrong "apiKey" value.' } };
    return handler(account);
  }

  private credentials(a: FakeAccount): { status: number; body: Json } {
    return ok({ scopes: a.scopes, siteAccess: a.siteAccess, sitesAvailable: a.sites, credentials: [] });
  }

  /** Contract §7.6 (PHP client's Settings model); only what we read, plus a neighbour field. */
  private settings(a: FakeAccount): { status: number; body: Json } {
    const updated = { updated_at: '2026-01-15 10:00:00' };
    return ok({
      settings: {
        default_currency: { value: 'BYN', ...updated },
        system_language: { value: 'RU', ...updated },
        ...(a.timezone !== null ? { timezone: { value: a.timezone, ...updated } } : {}),
        work_times: [],
        non_working_days: [],
      },
    });
  }

  /** Needs reference_read; `sites` is an object keyed by site code (contract §7.6). */
  private sitesReference(a: FakeAccount): { status: number; body: Json } {
    if (!a.scopes.includes('reference_read')) return { status: 403, body: { success: false, errorMsg: 'Access denied.' } };
    return ok({ sites: Object.fromEntries(a.sites.map((code) => [code, { code, name: code, url: `https://${code}.example.com` }])) });
  }

  private manager(a: FakeAccount, r: RecordedRequest): { status: number; body: Json } {
    const phone = str(r.query.phone);
    if (!phone) return missing('phone');
    const digits = phone.replace(/\D/g, '');
    const customer = [...a.customers.values()].find((c) => c.phones.some((n) => n.replace(/\D/g, '') === digits));
    if (!customer || digits === '') return ok({});
    const body: Json = {};
    const user = customer.managerId === undefined ? undefined : a.users.get(customer.managerId);
    if (user && (r.query.ignoreStatus === '1' || user.status === 'free')) {
      body.manager = {
        id: user.id,
        firstName: user.firstName,
        lastName: user.lastName,
        patronymic: user.patronymic,
        email: user.email,
        code: this.codeOf(a, user),
      };
    }
    if (r.query.details === '1') {
      body.customer = serializeCustomer(customer);
      const base = this.url;
      body.links = {
        newOrderLink: `${base}/orders/add?phone=${digits}`,
        newCustomerLink: `${base}/customers/add?phone=${digits}`,
        customerLink: `${base}/customers/${customer.id}`,
      };
    }
    return ok(body);
  }

  private codeOf(a: FakeAccount, user: FakeUser): string | undefined {
    for (const module of a.modules.values()) {
      const telephony = (module.integrations as Json | undefined)?.telephony as Json | undefined;
      const codes = telephony?.additionalCodes;
      if (Array.isArray(codes)) {
        const hit = (codes as Json[]).find((c) => Number(c.userId) === user.id);
        if (hit) return String(hit.code);
      }
    }
    return user.code;
  }

  private callEvent(a: FakeAccount, r: RecordedRequest): { status: number; body: Json } {
    const event = r.form.event;
    if (!isObj(event)) return missing('event');
    const errors: Json = {};
    if (typeof event.phone !== 'string' || event.phone === '') errors.phone = 'This value should not be blank.';
    if (!CALL_EVENT_TYPES.includes(event.type as string)) errors.type = 'The value you selected is not a valid choice.';
    if (event.hangupStatus !== undefined && !HANGUP_STATUSES.includes(event.hangupStatus as string)) {
      errors.hangupStatus = 'The value you selected is not a valid choice.';
    }
    if (Object.keys(errors).length > 0) return entityErrors(errors);
    a.events.push(event);
    const knownCodes = new Set([...a.users.values()].map((u) => this.codeOf(a, u)).filter(Boolean));
    const codes = Array.isArray(event.codes) ? (event.codes as unknown[]).map(String) : [];
    const userIds = Array.isArray(event.userIds) ? (event.userIds as unknown[]).map(Number) : [];
    return ok({
      notExistCodes: codes.filter((c) => !knownCodes.has(c)),
      notExistUsers: userIds.filter((id) => !a.users.has(id)),
    });
  }

  private callsUpload(a: FakeAccount, r: RecordedRequest): { status: number; body: Json } {
    const calls = r.form.calls;
    if (!Array.isArray(calls)) return missing('calls');
    if (calls.length > 50) return entityErrors({ calls: 'This collection should contain 50 elements or less.' });
    const errors: Json = {};
    calls.forEach((c: unknown, i) => {
      if (!isObj(c)) {
        errors[`calls[${i}]`] = 'This value should be of type object.';
        return;
      }
      if (!CALL_RESULTS.includes(c.result as string)) errors[`calls[${i}].result`] = 'The value you selected is not a valid choice.';
      if (c.type !== 'in' && c.type !== 'out') errors[`calls[${i}].type`] = 'The value you selected is not a valid choice.';
      if (typeof c.date !== 'string' || !/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(c.date)) {
        errors[`calls[${i}].date`] = 'This value is not a valid datetime.';
      }
      if (typeof c.phone !== 'string' || c.phone === '') errors[`calls[${i}].phone`] = 'This value should not be blank.';
    });
    if (Object.keys(errors).length > 0) return entityErrors(errors);
    const duplicateCalls: string[] = [];
    let processed = 0;
    for (const c of calls as Json[]) {
      const externalId = typeof c.externalId === 'string' ? c.externalId : undefined;
      if (externalId !== undefined && a.calls.has(externalId)) {
        duplicateCalls.push(externalId);
        continue;
      }
      a.calls.set(externalId ?? `noid-${this.nextId++}`, c);
      processed++;
    }
    return ok({ processedCallsCount: processed, duplicateCalls });
  }

  private customersCreate(a: FakeAccount, r: RecordedRequest): { status: number; body: Json } {
    const c = r.form.customer;
    if (!isObj(c)) return missing('customer');
    const site = str(r.form.site);
    if (site !== undefined && !a.sites.includes(site)) return entityErrors({ site: 'Site not found.' });
    const phones = Array.isArray(c.phones) ? (c.phones as unknown[]).flatMap((p) => (isObj(p) && typeof p.number === 'string' ? [p.number] : [])) : [];
    const id = this.nextId++;
    const customer: FakeCustomer = {
      id,
      type: 'customer',
      phones,
      createdAt: typeof c.createdAt === 'string' ? c.createdAt : formatDate(new Date()),
      site: site ?? a.sites[0],
    };
    if (typeof c.externalId === 'string') customer.externalId = c.externalId;
    if (typeof c.firstName === 'string') customer.firstName = c.firstName;
    if (typeof c.lastName === 'string') customer.lastName = c.lastName;
    if (typeof c.email === 'string') customer.email = c.email;
    if (typeof c.managerId === 'number') customer.managerId = c.managerId;
    a.customers.set(id, customer);
    this.pushHistory(a, 'customer', id, { created: true, source: 'api', viaApi: true });
    return { status: 201, body: { success: true, id } };
  }

  /**
   * orders/create (docs/leads-and-tasks.md): needs order_write; `order` JSON; `site` must be the account's; an
   * externalId already used is refused; `customer.id` must exist; without a customer one is made from the order's
   * phone and name (RetailCRM's behaviour as we understand it, marked inferred in the doc).
   */
  private ordersCreate(a: FakeAccount, r: RecordedRequest): { status: number; body: Json } {
    if (!a.scopes.includes('order_write')) return accessDenied();
    const o = r.form.order;
    if (!isObj(o)) return missing('order');
    const site = str(r.form.site);
    if (site !== undefined && !a.sites.includes(site)) return entityErrors({ site: 'Site not found.' });
    const externalId = str(o.externalId);
    if (externalId !== undefined && [...a.orders.values()].some((x) => x.externalId === externalId)) {
      return entityErrors({ externalId: 'Order with this externalId already exists.' });
    }
    const customerRef = isObj(o.customer) ? o.customer : undefined;
    let customerId: number | undefined;
    if (customerRef) {
      customerId = Number(customerRef.id);
      if (!a.customers.has(customerId)) return entityErrors({ 'customer.id': 'Customer not found.' });
    } else {
      const created = this.addCustomer({
        apiKey: a.apiKey,
        phones: typeof o.phone === 'string' ? [o.phone] : [],
        ...(typeof o.firstName === 'string' ? { firstName: o.firstName } : {}),
      });
      customerId = created.id;
    }
    if (o.createdAt !== undefined && (typeof o.createdAt !== 'string' || !/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(o.createdAt))) {
      return entityErrors({ createdAt: 'This value is not a valid datetime.' });
    }
    const id = this.nextId++;
    const order: FakeOrder = {
      id,
      number: `${id}A`,
      status: str(o.status) ?? 'new',
      site: site ?? a.sites[0],
      createdAt: str(o.createdAt) ?? formatDate(new Date()),
      customerId,
    };
    if (externalId !== undefined) order.externalId = externalId;
    if (typeof o.phone === 'string') order.phone = o.phone;
    if (typeof o.orderMethod === 'string') order.orderMethod = o.orderMethod;
    if (typeof o.managerId === 'number') order.managerId = o.managerId;
    if (typeof o.managerComment === 'string') order.managerComment = o.managerComment;
    a.orders.set(id, order);
    this.pushHistory(a, 'order', id, { created: true, source: 'api', viaApi: true });
    return { status: 201, body: { success: true, id, order: { id, number: order.number, externalId: order.externalId } } };
  }

  /** tasks/create: needs task_write; `task` JSON with text and a known performerId; datetime `Y-m-d H:i`. */
  private tasksCreate(a: FakeAccount, r: RecordedRequest): { status: number; body: Json } {
    if (!a.scopes.includes('task_write')) return accessDenied();
    const t = r.form.task;
    if (!isObj(t)) return missing('task');
    const site = str(r.form.site);
    if (site !== undefined && !a.sites.includes(site)) return entityErrors({ site: 'Site not found.' });
    const errors: Json = {};
    if (typeof t.text !== 'string' || t.text.trim() === '') errors.text = 'This value should not be blank.';
    const performerId = Number(t.performerId);
    if (!a.users.has(performerId)) errors.performerId = 'User not found.';
    if (t.datetime !== undefined && (typeof t.datetime !== 'string' || !/^\d{4}-\d\d-\d\d \d\d:\d\d$/.test(t.datetime))) {
      errors.datetime = 'This value is not a valid datetime.';
    }
    const customerRef = isObj(t.customer) ? t.customer : undefined;
    if (customerRef && !a.customers.has(Number(customerRef.id))) errors['customer.id'] = 'Customer not found.';
    if (Object.keys(errors).length > 0) return entityErrors(errors);
    const id = this.nextId++;
    const task: FakeTask = { id, text: t.text as string, performerId, complete: t.complete === true, createdAt: formatDate(new Date()) };
    if (typeof t.commentary === 'string') task.commentary = t.commentary;
    if (typeof t.datetime === 'string') task.datetime = t.datetime;
    if (customerRef) task.customerId = Number(customerRef.id);
    if (typeof t.phone === 'string') task.phone = t.phone;
    a.tasks.set(id, task);
    return { status: 201, body: { success: true, id } };
  }

  /** tasks/{id}/edit: needs task_write; 404 for an unknown id; `complete: true` completes it (again is fine). */
  private taskEdit(a: FakeAccount, r: RecordedRequest, rawId: string): { status: number; body: Json } {
    if (!a.scopes.includes('task_write')) return accessDenied();
    const t = r.form.task;
    if (!isObj(t)) return missing('task');
    const task = a.tasks.get(Number(rawId));
    if (!task) return { status: 404, body: { success: false, errorMsg: 'Not found' } };
    if (t.text !== undefined) {
      if (typeof t.text !== 'string' || t.text.trim() === '') return entityErrors({ text: 'This value should not be blank.' });
      task.text = t.text;
    }
    if (typeof t.complete === 'boolean') {
      if (t.complete && !task.complete) task.completedAt = formatDate(new Date());
      task.complete = t.complete;
    }
    return ok({});
  }

  /** GET tasks: needs task_read; filter[text] (substring), filter[performers][], filter[status] performing|completed, filter[ids][]. */
  private tasksList(a: FakeAccount, r: RecordedRequest): { status: number; body: Json } {
    if (!a.scopes.includes('task_read')) return accessDenied();
    const filter = isObj(r.query.filter) ? r.query.filter : {};
    const text = str(filter.text);
    const status = str(filter.status);
    const performers = Array.isArray(filter.performers) ? (filter.performers as unknown[]).map(Number) : undefined;
    const ids = Array.isArray(filter.ids) ? (filter.ids as unknown[]).map(Number) : undefined;
    const list = [...a.tasks.values()].filter(
      (t) =>
        (text === undefined || t.text.includes(text)) &&
        (status === undefined || (status === 'completed') === t.complete) &&
        (!performers || performers.includes(t.performerId)) &&
        (!ids || ids.includes(t.id)),
    );
    return paginate(r, 'tasks', list.map((t) => {
      const { customerId, ...rest } = t;
      return { ...rest, customer: customerId === undefined ? undefined : { id: customerId, type: 'customer' } };
    }));
  }

  private customerGet(a: FakeAccount, r: RecordedRequest, id: string): { status: number; body: Json } {
    const by = str(r.query.by) ?? 'externalId';
    const customer = [...a.customers.values()].find((c) => (by === 'id' ? String(c.id) === id : c.externalId === id));
    if (!customer) return { status: 404, body: { success: false, errorMsg: 'Not found' } };
    return ok({ customer: serializeCustomer(customer) });
  }

  private customersList(a: FakeAccount, r: RecordedRequest): { status: number; body: Json } {
    const filter = isObj(r.query.filter) ? r.query.filter : {};
    const name = str(filter.name)?.toLowerCase();
    const ids = Array.isArray(filter.ids) ? (filter.ids as unknown[]).map(Number) : undefined;
    const list = [...a.customers.values()].filter((c) => {
      if (ids && !ids.includes(c.id)) return false;
      if (name === undefined) return true;
      const text = [c.firstName, c.lastName, c.patronymic, c.nickName, c.email].filter(Boolean).join(' ').toLowerCase();
      const digits = name.replace(/\D/g, '');
      return text.includes(name) || (digits !== '' && c.phones.some((p) => p.replace(/\D/g, '').includes(digits)));
    });
    return paginate(r, 'customers', list.map(serializeCustomer));
  }

  private ordersList(a: FakeAccount, r: RecordedRequest): { status: number; body: Json } {
    const filter = isObj(r.query.filter) ? r.query.filter : {};
    const customerId = str(filter.customerId);
    const ids = Array.isArray(filter.ids) ? (filter.ids as unknown[]).map(Number) : undefined;
    const externalIds = Array.isArray(filter.externalIds) ? (filter.externalIds as unknown[]).map(String) : undefined;
    const list = [...a.orders.values()].filter(
      (o) =>
        (customerId === undefined || String(o.customerId) === customerId) &&
        (!ids || ids.includes(o.id)) &&
        (!externalIds || (o.externalId !== undefined && externalIds.includes(o.externalId))),
    );
    return paginate(r, 'orders', list.map((o) => {
      const { customerId: cid, ...rest } = o;
      return { ...rest, customer: cid === undefined ? undefined : { id: cid } };
    }));
  }

  private usersList(a: FakeAccount, r: RecordedRequest): { status: number; body: Json } {
    const users = [...a.users.values()].map((u) => {
      const { code, ...rest } = u;
      void code; // the API's user object carries no extension (contract §7.5)
      return { ...rest, isAdmin: false };
    });
    return paginate(r, 'users', users);
  }

  private userStatus(a: FakeAccount, r: RecordedRequest, id: number): { status: number; body: Json } {
    const status = str(r.form.status);
    if (status === undefined) return missing('status');
    if (!USER_STATUSES.includes(status)) return entityErrors({ status: 'The value you selected is not a valid choice.' });
    const user = a.users.get(id);
    if (!user) return { status: 404, body: { success: false, errorMsg: 'Not found' } };
    user.status = status;
    return ok({});
  }

  private moduleGet(a: FakeAccount, code: string): { status: number; body: Json } {
    const module = a.modules.get(code);
    if (!module) return { status: 404, body: { success: false, errorMsg: 'Not found' } };
    return ok({ integrationModule: module });
  }

  private moduleEdit(a: FakeAccount, r: RecordedRequest, code: string): { status: number; body: Json } {
    const module = r.form.integrationModule;
    if (!isObj(module)) return missing('integrationModule');
    if (module.code !== code) return entityErrors({ code: 'Code in the URL and in the entity differ.' });
    a.modules.set(code, module);
    const telephony = (module.integrations as Json | undefined)?.telephony as Json | undefined;
    const codes = Array.isArray(telephony?.additionalCodes) ? (telephony.additionalCodes as Json[]) : [];
    const notExistUsersIds = codes.map((c) => Number(c.userId)).filter((id) => !a.users.has(id));
    return ok({ info: { notExistUsersIds } });
  }

  private history(a: FakeAccount, r: RecordedRequest, entity: 'customer' | 'order'): { status: number; body: Json } {
    const filter = isObj(r.query.filter) ? r.query.filter : {};
    const limit = Number(str(r.query.limit) ?? '20');
    if (!LIMITS.includes(limit)) return entityErrors({ limit: 'The value you selected is not a valid choice.' });
    const sinceId = Number(str(filter.sinceId) ?? '0');
    const startDate = str(filter.startDate);
    const all = a.history.filter(
      (h) => h.entity === entity && h.id > sinceId && (startDate === undefined || h.createdAt >= startDate),
    );
    const history = all.slice(0, limit).map((h) => ({
      id: h.id,
      createdAt: h.createdAt,
      created: h.created,
      source: h.source,
      field: h.field,
      oldValue: h.oldValue,
      newValue: h.newValue,
      ...(h.viaApi ? { apiKey: { current: true } } : { user: { id: 1 } }),
      [entity]: { id: h.entityId, site: a.sites[0] },
    }));
    return ok({
      generatedAt: formatDate(new Date()),
      history,
      pagination: { limit, totalCount: all.length, currentPage: 1, totalPageCount: Math.max(1, Math.ceil(all.length / limit)) },
    });
  }

  private pushHistory(
    a: FakeAccount,
    entity: 'customer' | 'order',
    entityId: number,
    how: { created: boolean; source: string; viaApi: boolean },
  ): void {
    a.history.push({
      id: this.nextId++,
      createdAt: formatDate(new Date()),
      created: how.created,
      source: how.source,
      viaApi: how.viaApi,
      field: 'id',
      oldValue: null,
      newValue: entityId,
      entity,
      entityId,
    });
  }
}

// ---- helpers ----------------------------------------------------------------------------------------------------

function ok(body: Json): { status: number; body: Json } {
  return { status: 200, body: { success: true, ...body } };
}

/** A method the key's scopes do not allow (contract §1.2): 403 with RetailCRM's error body. */
function accessDenied(): { status: number; body: Json } {
  return { status: 403, body: { success: false, errorMsg: 'Access denied.' } };
}

function missing(name: string): { status: number; body: Json } {
  return { status: 400, body: { success: false, errorMsg: `Parameter '${name}' is missing` } };
}

function entityErrors(errors: Json): { status: number; body: Json } {
  return { status: 400, body: { success: false, errorMsg: 'Errors in the entity format', errors } };
}

function paginate(r: RecordedRequest, field: string, items: unknown[]): { status: number; body: Json } {
  const limit = Number(str(r.query.limit) ?? '20');
  if (!LIMITS.includes(limit)) return entityErrors({ limit: 'The value you selected is not a valid choice.' });
  const page = Math.max(1, Number(str(r.query.page) ?? '1') || 1);
  return ok({
    pagination: {
      limit,
      totalCount: items.length,
      currentPage: page,
      totalPageCount: Math.max(1, Math.ceil(items.length / limit)),
    },
    [field]: items.slice((page - 1) * limit, page * limit),
  });
}

function serializeCustomer(c: FakeCustomer): Json {
  const phones = c.phones.map((number) => ({ number }));
  if (c.type === 'customer_corporate') {
    return {
      type: 'customer_corporate',
      id: c.id,
      externalId: c.externalId,
      nickName: c.nickName,
      mainCompany: c.nickName === undefined ? undefined : { id: c.id * 10, name: c.nickName },
      phones,
      managerId: c.managerId,
      site: c.site,
      createdAt: c.createdAt,
    };
  }
  return {
    type: 'customer',
    id: c.id,
    externalId: c.externalId,
    firstName: c.firstName,
    lastName: c.lastName,
    patronymic: c.patronymic,
    email: c.email,
    phones,
    managerId: c.managerId,
    site: c.site,
    createdAt: c.createdAt,
  };
}

function send(res: http.ServerResponse, status: number, body: Json): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function sendHtml(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(html);
}

function apiKeyOf(r: RecordedRequest): string | undefined {
  const header = r.headers['x-api-key'];
  const value = (Array.isArray(header) ? header[0] : header) ?? str(r.query.apiKey) ?? str(r.form.apiKey);
  return value === undefined || value === '' ? undefined : value;
}

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function formatDate(d: Date): string {
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

function parseForm(contentType: string | undefined, body: string): Json {
  if (!contentType?.includes('application/x-www-form-urlencoded')) return {};
  const form: Json = {};
  for (const [key, value] of new URLSearchParams(body)) {
    if (JSON_FIELDS.has(key)) {
      try {
        form[key] = JSON.parse(value) as unknown;
      } catch {
        form[key] = value;
      }
    } else {
      form[key] = value;
    }
  }
  return form;
}

/** `a[b][]=1&a[b][]=2&c=3` → `{a: {b: ['1', '2']}, c: '3'}` (PHP's reading of a query string). */
export function parseBracketQuery(search: string): Json {
  const root: Json = {};
  for (const [key, value] of new URLSearchParams(search)) {
    const m = /^([^[\]]+)((?:\[[^\]]*\])*)$/.exec(key);
    if (!m) {
      root[key] = value;
      continue;
    }
    const segments = [m[1] as string, ...[...(m[2] ?? '').matchAll(/\[([^\]]*)\]/g)].map((s) => s[1] as string)];
    let node: Json | unknown[] = root;
    segments.forEach((segment, i) => {
      const last = i === segments.length - 1;
      const nextIsArray = !last && segments[i + 1] === '';
      if (Array.isArray(node)) {
        if (last) node.push(value);
        else {
          const child = nextIsArray ? [] : {};
          node.push(child);
          node = child;
        }
        return;
      }
      if (last) {
        node[segment] = value;
        return;
      }
      const existing = node[segment];
      if (typeof existing !== 'object' || existing === null) node[segment] = nextIsArray ? [] : {};
      node = node[segment] as Json | unknown[];
    });
  }
  return root;
}
