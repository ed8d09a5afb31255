/**
 * The analytics plugin: JSON (`/api/analytics/summary|managers|hourly|daily|missed`), CSV exports
 * (`managers.csv`, `missed.csv`) and the dashboard page. The per-enterprise dashboard token (query `token` or
 * `Authorization: Bearer`) is the only credential; anything else gets a bare 403. Figures of one period are
 * computed once and shared for a few seconds, because a page load asks for summary and managers together.
 */
import { randomBytes } from 'node:crypto';
import { ttlCache } from '../lib/ttl-cache.js';
import { InputError } from '../lib/errors.js';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from '../http/http-server.js';
import { PATHS } from '../http/public-paths.js';
import { enterpriseTokenAuth, type TokenAuthed } from '../access/enterprise-token-auth.js';
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
import { crmOrderUrl, crmTaskUrl, humanAgo, managerLabel } from './human-units.js';

export const ANALYTICS_API = '/api/analytics/';

export interface AnalyticsEnterprise {
  readonly number: string;
  readonly crmUrl: string;
  readonly settings: {
    readonly crmTimezone: string;
    readonly tokenGenerations?: TokenGenerations;
    /** RetailCRM status codes counted as a sale; default `complete` (docs/analytics.md). */
    readonly saleStatuses?: readonly string[];
  };
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
  const options = checkOptions({
    callbackMinutes: intParam(params, 'callbackMinutes'),
    conversionDays: intParam(params, 'conversionDays'),
    saleStatuses: enterprise.settings.saleStatuses,
  });
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

function sendCsv(reply: FastifyReply, name: string, body: string): FastifyReply {
  return reply
    .headers({
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="${name}"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    })
    .send(`\ufeff${body}`);
}

// New columns go at the end: spreadsheets built on the older exports keep their column letters.
const MANAGER_COLUMNS = [
  'manager_code', 'manager_user_id', 'calls_in', 'calls_out', 'answered_in', 'answered_out', 'missed',
  'missed_not_called_back', 'avg_wait_sec', 'p90_wait_sec', 'avg_talk_sec', 'converted', 'conversion_rate',
  'manager_name', 'converted_to_sale', 'sale_conversion_rate',
] as const;
const MISSED_COLUMNS = [
  'phone', 'customer_name', 'customer_id', 'last_missed_at', 'attempts', 'minutes_ago', 'manager_code', 'manager_user_id',
  'manager_name', 'ago', 'crm_task_id', 'task_url',
] as const;
const LEAD_COLUMNS = ['phone', 'called_at', 'crm_order_id', 'customer_id', 'order_url'] as const;

// ---- routes -----------------------------------------------------------------------------------------------

const ANALYTICS_QUERY = {
  type: 'object',
  properties: {
    enterprise: { type: 'string', maxLength: 32 },
    token: { type: 'string', maxLength: 512, description: 'the dashboard token (or Authorization: Bearer)' },
    from: { type: 'string', maxLength: 10, description: 'first local day, YYYY-MM-DD' },
    to: { type: 'string', maxLength: 10, description: 'day after the last, YYYY-MM-DD' },
    callbackMinutes: { type: 'string', maxLength: 6 },
    conversionDays: { type: 'string', maxLength: 6 },
  },
} as const;

type Handler = (request: FastifyRequest, reply: FastifyReply, a: TokenAuthed<AnalyticsEnterprise>, r: AnalyticsRequest) => Promise<unknown>;

export const analyticsPlugin: FastifyPluginAsync<AnalyticsRoutesDeps> = async (app, deps) => {
  const cacheMs = deps.cacheMs ?? 15_000;
  const now = deps.now ?? (() => new Date());
  // At most 100 distinct queries are kept, each for cacheMs: the dashboard reloads every few seconds.
  const cache = cacheMs > 0 ? ttlCache<string, Promise<PeriodFigures>>({ max: 100, ttlMs: cacheMs }) : undefined;
  const maxConcurrent = deps.maxConcurrent ?? 4;
  let running = 0;
  const auth = enterpriseTokenAuth({
    purpose: 'dashboard',
    enterprises: deps.enterprises,
    box: deps.box,
    claim: (request) => {
      const query = request.query as Record<string, string | undefined>;
      const number = query['enterprise'] ?? '';
      const bearer = /^Bearer\s+(\S+)$/i.exec(String(request.headers.authorization ?? ''))?.[1];
      const token = query['token'] ?? bearer ?? '';
      return ENTERPRISE.test(number) && token !== '' ? { enterprise: number, token } : null;
    },
  });

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

  const route = (url: string, summary: string, handler: Handler): void => {
    app.route({
      method: ['GET'],
      url,
      schema: { summary, tags: ['analytics'], querystring: ANALYTICS_QUERY },
      onRequest: app.adminOnly,
      preValidation: auth.hook,
      handler: async (request, reply) => {
        const a = auth.authorizedOf(request);
        const query = new URLSearchParams(request.query as Record<string, string>);
        const r = analyticsRequest(query, a.enterprise, now());
        if (running >= maxConcurrent) {
          return reply.code(503).header('retry-after', '5').send(errorBody('the analytics are busy; try again in a few seconds'));
        }
        running++;
        try {
          return await handler(request, reply, a, r);
        } catch (err) {
          if (err instanceof AnalyticsTimeoutError) {
            request.logger.warn('analytics query timed out', { enterprise: r.period.enterprise, from: r.period.from, to: r.period.to });
            return reply.code(503).send(errorBody(err.message));
          }
          throw err;
        } finally {
          running--;
        }
      },
    });
  };
  const api = (name: string, summary: string, handler: Handler): void => route(`${ANALYTICS_API}${name}`, summary, handler);

  api('summary', 'Call figures of a period', async (_req, _reply, _a, r) => {
    const [f, hours, callbackTasks, leads] = await Promise.all([
      figures(r), deps.queries.hourly(r.period), deps.queries.callbackTasks(r.period), deps.queries.leads(r.period, 1),
    ]);
    return {
      success: true, period: r.period, options: r.options, summary: f.summary, busiestHours: busiestHours(hours),
      callbackTasks, leads: { requested: leads.requested, created: leads.created },
    };
  });
  api('leads', 'Leads created in the period', async (_req, _reply, a, r) => ({
    success: true, period: r.period, crmUrl: a.enterprise.crmUrl, ...(await deps.queries.leads(r.period)),
  }));
  api('leads.csv', 'Leads created in the period as CSV', async (_req, reply, a, r) => {
    const list = await deps.queries.leads(r.period, 5_000);
    const rows = list.items.map((l) => [
      l.phone, l.calledAt, l.crmOrderId, l.customerId, l.crmOrderId === null ? null : crmOrderUrl(a.enterprise.crmUrl, l.crmOrderId),
    ]);
    return sendCsv(reply, `leads-${r.period.enterprise}-${r.period.from}-${r.period.to}.csv`, csv(LEAD_COLUMNS, rows));
  });
  api('managers', 'Figures per manager', async (_req, _reply, _a, r) => ({ success: true, period: r.period, managers: (await figures(r)).managers }));
  api('hourly', 'Calls per hour of the day', async (_req, _reply, _a, r) => {
    const hours = await deps.queries.hourly(r.period);
    return { success: true, period: r.period, hours, busiestHours: busiestHours(hours) };
  });
  api('daily', 'Calls per day', async (_req, _reply, _a, r) => ({ success: true, period: r.period, days: await deps.queries.daily(r.period) }));
  api('missed', 'Missed calls not called back', async (_req, _reply, a, r) => {
    const list = await deps.queries.missedWaiting(r.period);
    return { success: true, period: r.period, crmUrl: a.enterprise.crmUrl, ...list };
  });
  api('managers.csv', 'Figures per manager as CSV', async (_req, reply, _a, r) => {
    const rows = (await figures(r)).managers.map((m) => [
      m.managerCode, m.managerUserId, m.callsIn, m.callsOut, m.answeredIn, m.answeredOut, m.missed, m.missedNotCalledBack,
      m.avgWaitSec, m.p90WaitSec, m.avgTalkSec, m.converted, m.conversionRate, managerLabel(m), m.convertedToSale,
      m.saleConversionRate,
    ]);
    return sendCsv(reply, `managers-${r.period.enterprise}-${r.period.from}-${r.period.to}.csv`, csv(MANAGER_COLUMNS, rows));
  });
  api('missed.csv', 'Missed calls not called back as CSV', async (_req, reply, a, r) => {
    const list = await deps.queries.missedWaiting(r.period, 5_000);
    const rows = list.items.map((m) => {
      const taskId = m.openTask?.crmTaskId ?? null;
      return [
        m.phone, m.customerName, m.customerId, m.lastMissedAt, m.attempts, m.minutesAgo, m.managerCode, m.managerUserId,
        m.managerCode === null && m.managerUserId === null ? null : managerLabel(m), humanAgo(m.minutesAgo), taskId,
        taskId === null ? null : crmTaskUrl(a.enterprise.crmUrl, taskId),
      ];
    });
    return sendCsv(reply, `missed-${r.period.enterprise}-${r.period.from}-${r.period.to}.csv`, csv(MISSED_COLUMNS, rows));
  });

  route(PATHS.dashboard, 'The analytics dashboard page', async (_req, reply, a, r) => {
    const [f, hours, days, missed, callbackTasks, leads] = await Promise.all([
      figures(r), deps.queries.hourly(r.period), deps.queries.daily(r.period), deps.queries.missedWaiting(r.period, 200),
      deps.queries.callbackTasks(r.period), deps.queries.leads(r.period, 200),
    ]);
    const nonce = randomBytes(16).toString('base64');
    return reply
      .headers({
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        // the token is in the URL: never send it on as a Referer (tel: and RetailCRM links)
        'referrer-policy': 'no-referrer',
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'content-security-policy':
          `default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}'; img-src data:; ` +
          `connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
      })
      .send(renderDashboardPage({
        enterprise: a.enterprise.number, crmUrl: a.enterprise.crmUrl, token: a.token, period: r.period, options: r.options,
        figures: f, hours, busiestHours: busiestHours(hours), days, missed, callbackTasks, leads, nonce,
      }));
  });
};
