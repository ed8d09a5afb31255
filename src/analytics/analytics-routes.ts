/**
 * The analytics HTTP surface: JSON (`/api/analytics/summary|managers|hourly|daily|missed`), CSV exports
 * (`managers.csv`, `missed.csv`) and the dashboard page. The per-enterprise dashboard token (query `token` or
 * `Authorization: Bearer`) is the only credential; anything else gets a bare 403. Figures of one period are
 * computed once and shared for a few seconds, because a page load asks for summary and managers together.
 */
import { randomBytes } from 'node:crypto';
import { ttlCache } from '../lib/ttl-cache.js';
import { InputError } from '../lib/errors.js';
import { json, type HttpReply, type HttpRequest, type HttpServer } from '../http/http-server.js';
import { PATHS } from '../http/public-paths.js';
import { verifyEnterpriseToken } from '../secrets/enterprise-tokens.js';
import { type TokenGenerations } from '../domain/enterprise.js';
import type { Logger } from '../lib/logger.js';
import type { SecretBox } from '../secrets/secret-box.js';
import {
  AnalyticsTimeoutError,
  busiestHours,
  checkOptions,
  checkPeriodDays,
  type AnalyticsOptions,
  type AnalyticsPeriod,
  type AnalyticsQueries,
  type PeriodFigures,
} from './analytics-queries.js';
import { renderDashboardPage } from './dashboard-page.js';

export const ANALYTICS_API = '/api/analytics/';

export interface AnalyticsEnterprise {
  readonly number: string;
  readonly crmUrl: string;
  readonly settings: { readonly crmTimezone: string; readonly tokenGenerations?: TokenGenerations };
}

export interface AnalyticsRoutesDeps {
  readonly queries: AnalyticsQueries;
  readonly enterprises: { find(number: string): Promise<AnalyticsEnterprise | null> };
  readonly box: Pick<SecretBox, 'verify'>;
  readonly logger: Logger;
  /** How long computed figures are reused (ms); 0 disables. */
  readonly cacheMs?: number;
  /**
   * Requests computed at once; beyond it a request gets 503 at once instead of queueing (the queries run on a
   * small pool of their own, DB_ANALYTICS_POOL_MAX, so the dashboard never takes connections from the call path).
   */
  readonly maxConcurrent?: number;
  readonly now?: () => Date;
}

const ENTERPRISE = /^[A-Za-z0-9_-]{1,32}$/;
const forbidden = (): HttpReply => json(403, { success: false, error: 'forbidden' });

interface Authorized {
  readonly enterprise: AnalyticsEnterprise;
  readonly token: string;
}

async function authorize(req: HttpRequest, deps: AnalyticsRoutesDeps): Promise<Authorized | null> {
  const number = req.url.searchParams.get('enterprise') ?? '';
  const bearer = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
  const token = req.url.searchParams.get('token') ?? bearer ?? '';
  if (!ENTERPRISE.test(number) || token === '') return null;
  const enterprise = await deps.enterprises.find(number);
  // Verified whether or not the enterprise exists, so both cost the same.
  const valid = verifyEnterpriseToken(deps.box, 'dashboard', number, enterprise?.settings.tokenGenerations, token);
  return enterprise && valid ? { enterprise, token } : null;
}

/** The local calendar day of `now` in `timezone`, YYYY-MM-DD. */
export function localDay(now: Date, timezone: string, offsetDays = 0): string {
  const day = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .format(now);
  const ms = Date.parse(`${day}T00:00:00Z`) + offsetDays * 86_400_000;
  return new Date(ms).toISOString().slice(0, 10);
}

function intParam(params: URLSearchParams, name: string): number | undefined {
  const raw = params.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,6}$/.test(raw)) throw new InputError(`${name} must be a whole number`, name);
  return Number(raw);
}

export interface AnalyticsRequest {
  readonly period: AnalyticsPeriod;
  readonly options: AnalyticsOptions;
}

/** Period and windows from the query string; without from/to, the last 7 local days including today. */
export function analyticsRequest(params: URLSearchParams, enterprise: AnalyticsEnterprise, now: Date): AnalyticsRequest {
  const tz = enterprise.settings.crmTimezone;
  const to = params.get('to') || localDay(now, tz, 1);
  const from = params.get('from') || localDay(new Date(Date.parse(`${to}T12:00:00Z`) || now.getTime()), 'UTC', -7);
  checkPeriodDays(from, to);
  const options = checkOptions({ callbackMinutes: intParam(params, 'callbackMinutes'), conversionDays: intParam(params, 'conversionDays') });
  return { period: { enterprise: enterprise.number, from, to, timezone: tz }, options };
}

// ---- CSV --------------------------------------------------------------------------------------------------

/** One CSV cell (RFC 4180 quoting); a leading =, @ or +/- not followed by a digit is defused for spreadsheets. */
export function csvCell(value: unknown): string {
  let s = value === null || value === undefined ? '' : String(value);
  if (/^[=@\t\r]/.test(s) || /^[+-](?![\d])/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csv(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

function csvReply(name: string, body: string): HttpReply {
  return {
    status: 200,
    headers: {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="${name}"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    },
    body: `\ufeff${body}`,
  };
}

const MANAGER_COLUMNS = [
  'manager_code', 'manager_user_id', 'calls_in', 'calls_out', 'answered_in', 'answered_out', 'missed',
  'missed_not_called_back', 'avg_wait_sec', 'p90_wait_sec', 'avg_talk_sec', 'converted', 'conversion_rate',
] as const;
const MISSED_COLUMNS = [
  'phone', 'customer_name', 'customer_id', 'last_missed_at', 'attempts', 'minutes_ago', 'manager_code', 'manager_user_id',
] as const;

// ---- routes -----------------------------------------------------------------------------------------------

export function registerAnalyticsRoutes(http: HttpServer, deps: AnalyticsRoutesDeps): void {
  const cacheMs = deps.cacheMs ?? 15_000;
  const now = deps.now ?? (() => new Date());
  // At most 100 distinct queries are kept, each for cacheMs: the dashboard reloads every few seconds.
  const cache = cacheMs > 0 ? ttlCache<string, Promise<PeriodFigures>>({ max: 100, ttlMs: cacheMs }) : undefined;
  const maxConcurrent = deps.maxConcurrent ?? 4;
  let running = 0;

  const figures = (r: AnalyticsRequest): Promise<PeriodFigures> => {
    const key = JSON.stringify([r.period, r.options]);
    const hit = cache?.get(key);
    if (hit) return hit;
    const value = deps.queries.figures(r.period, r.options);
    if (cache) {
      cache.set(key, value);
      value.catch(() => cache.delete(key));
    }
    return value;
  };

  const guarded = (handler: (req: HttpRequest, a: Authorized, r: AnalyticsRequest) => Promise<HttpReply>) =>
    async (req: HttpRequest): Promise<HttpReply> => {
      const a = await authorize(req, deps);
      if (!a) return forbidden();
      const r = analyticsRequest(req.url.searchParams, a.enterprise, now());
      if (running >= maxConcurrent) {
        return json(503, { success: false, error: 'the analytics are busy; try again in a few seconds' }, { 'retry-after': '5' });
      }
      running++;
      try {
        return await handler(req, a, r);
      } catch (err) {
        if (err instanceof AnalyticsTimeoutError) {
          deps.logger.warn('analytics query timed out', { enterprise: r.period.enterprise, from: r.period.from, to: r.period.to });
          return json(503, { success: false, error: err.message });
        }
        throw err;
      } finally {
        running--;
      }
    };

  const api = (name: string, handler: Parameters<typeof guarded>[0]): void =>
    http.route(['GET'], `${ANALYTICS_API}${name}`, guarded(handler), { access: 'admin' });

  api('summary', async (_req, _a, r) => {
    const [f, hours] = await Promise.all([figures(r), deps.queries.hourly(r.period)]);
    return json(200, { success: true, period: r.period, options: r.options, summary: f.summary, busiestHours: busiestHours(hours) });
  });
  api('managers', async (_req, _a, r) => json(200, { success: true, period: r.period, managers: (await figures(r)).managers }));
  api('hourly', async (_req, _a, r) => {
    const hours = await deps.queries.hourly(r.period);
    return json(200, { success: true, period: r.period, hours, busiestHours: busiestHours(hours) });
  });
  api('daily', async (_req, _a, r) => json(200, { success: true, period: r.period, days: await deps.queries.daily(r.period) }));
  api('missed', async (_req, a, r) => {
    const list = await deps.queries.missedWaiting(r.period);
    return json(200, { success: true, period: r.period, crmUrl: a.enterprise.crmUrl, ...list });
  });
  api('managers.csv', async (_req, _a, r) => {
    const rows = (await figures(r)).managers.map((m) => [
      m.managerCode, m.managerUserId, m.callsIn, m.callsOut, m.answeredIn, m.answeredOut, m.missed, m.missedNotCalledBack,
      m.avgWaitSec, m.p90WaitSec, m.avgTalkSec, m.converted, m.conversionRate,
    ]);
    return csvReply(`managers-${r.period.enterprise}-${r.period.from}-${r.period.to}.csv`, csv(MANAGER_COLUMNS, rows));
  });
  api('missed.csv', async (_req, _a, r) => {
    const list = await deps.queries.missedWaiting(r.period, 5_000);
    const rows = list.items.map((m) => [
      m.phone, m.customerName, m.customerId, m.lastMissedAt, m.attempts, m.minutesAgo, m.managerCode, m.managerUserId,
    ]);
    return csvReply(`missed-${r.period.enterprise}-${r.period.from}-${r.period.to}.csv`, csv(MISSED_COLUMNS, rows));
  });

  http.route(['GET'], PATHS.dashboard, guarded(async (_req, a, r) => {
    const [f, hours, days, missed] = await Promise.all([
      figures(r), deps.queries.hourly(r.period), deps.queries.daily(r.period), deps.queries.missedWaiting(r.period, 200),
    ]);
    const nonce = randomBytes(16).toString('base64');
    return {
      status: 200,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        // the token is in the URL: never send it on as a Referer (tel: and RetailCRM links)
        'referrer-policy': 'no-referrer',
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'content-security-policy':
          `default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}'; img-src data:; ` +
          `connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
      },
      body: renderDashboardPage({
        enterprise: a.enterprise.number, crmUrl: a.enterprise.crmUrl, token: a.token, period: r.period, options: r.options,
        figures: f, hours, busiestHours: busiestHours(hours), days, missed, nonce,
      }),
    };
  }), { access: 'admin' });
}
