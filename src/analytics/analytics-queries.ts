/**
 * Call analytics: the figures of one enterprise over a period [from, to) of local calendar days in the
 * enterprise's timezone (docs/analytics.md defines every figure), as types, input checks and the arithmetic
 * done outside SQL. The SQL that computes them lives in analytics-store.ts.
 */
import { InputError } from '../lib/errors.js';

export interface AnalyticsPeriod {
  readonly enterprise: string;
  /** First local day included, YYYY-MM-DD. */
  readonly from: string;
  /** First local day excluded, YYYY-MM-DD. */
  readonly to: string;
  /** IANA zone the days and hours are counted in (enterprise.settings.crmTimezone). */
  readonly timezone: string;
}

export interface AnalyticsOptions {
  /** A missed call counts as called back when an answered call with that phone starts within this many minutes. */
  readonly callbackMinutes: number;
  /** An answered call converts when the customer's order is created within this many days after it started. */
  readonly conversionDays: number;
  /**
   * RetailCRM status codes that count as a sale (the enterprise's `--sale-statuses`, default `complete`): an
   * answered call converts "to a sale" when such an order of the customer is created within conversionDays.
   */
  readonly saleStatuses: readonly string[];
}

export const DEFAULT_SALE_STATUSES: readonly string[] = Object.freeze(['complete']);
export const DEFAULT_OPTIONS: AnalyticsOptions = Object.freeze({ callbackMinutes: 30, conversionDays: 7, saleStatuses: DEFAULT_SALE_STATUSES });
export const STATUS_CODE = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_PERIOD_DAYS = 366;

export interface CallFigures {
  readonly callsIn: number;
  readonly callsOut: number;
  readonly answeredIn: number;
  readonly answeredOut: number;
  readonly missed: number;
  readonly missedNotCalledBack: number;
  readonly avgWaitSec: number | null;
  readonly p90WaitSec: number | null;
  readonly avgTalkSec: number | null;
  readonly converted: number;
  /** converted / (answeredIn + answeredOut), 0..1, rounded to 4 places; null without answered calls. */
  readonly conversionRate: number | null;
  /** Answered calls followed within conversionDays by an order of the customer now in a sale status. */
  readonly convertedToSale: number;
  /** convertedToSale / (answeredIn + answeredOut), like conversionRate. */
  readonly saleConversionRate: number | null;
}

export interface ManagerFigures extends CallFigures {
  readonly managerCode: string | null;
  readonly managerUserId: number | null;
  /** "First Last" from RetailCRM (crm_users, sql/016); null when the user's name is unknown. */
  readonly managerName: string | null;
}

/** Open task of a number waiting for a call back (callback_tasks, sql/014). */
export interface OpenCallbackTask {
  /** RetailCRM task id; null while tasks/create has not been answered (or failed). */
  readonly crmTaskId: number | null;
  readonly missedCount: number;
  readonly firstMissedAt: string;
}

/** Call-back tasks whose first miss falls in the period (callback_tasks, sql/014). */
export interface CallbackTaskFigures {
  /** Numbers not called back yet (open rows). */
  readonly open: number;
  /** Of those, the ones whose task exists in RetailCRM. */
  readonly openWithTask: number;
  /** Rows completed (the caller was reached). */
  readonly completed: number;
}

export interface Lead {
  readonly phone: string;
  readonly calledAt: string;
  /** The order in RetailCRM; null while orders/create has not been answered (or failed). */
  readonly crmOrderId: number | null;
  readonly customerId: number | null;
}

/** Leads (crm_leads, sql/014) of calls that started in the period. */
export interface LeadList {
  /** Leads asked for (one per new number per lead period). */
  readonly requested: number;
  /** Of those, orders RetailCRM created. */
  readonly created: number;
  /** Latest first. */
  readonly items: readonly Lead[];
}

export interface CallBucket {
  readonly callsIn: number;
  readonly callsOut: number;
  readonly answered: number;
  readonly missed: number;
}
export interface HourBucket extends CallBucket {
  readonly hour: number;
}
export interface DayBucket extends CallBucket {
  readonly day: string;
}

export interface MissedCallback {
  readonly phone: string;
  readonly customerId: number | null;
  readonly customerName: string | null;
  /** ISO instant of the latest missed call from this phone. */
  readonly lastMissedAt: string;
  /** Missed calls from this phone in the period with no answered call after them. */
  readonly attempts: number;
  readonly minutesAgo: number;
  readonly managerCode: string | null;
  readonly managerUserId: number | null;
  readonly managerName: string | null;
  readonly ringCodes: readonly string[];
  /** The number's open call-back task, when call-back tasks are on (null: none). */
  readonly openTask: OpenCallbackTask | null;
}

export interface MissedCallbackList {
  readonly total: number;
  readonly items: readonly MissedCallback[];
}

export class AnalyticsTimeoutError extends Error {
  readonly code = 'ANALYTICS_TIMEOUT';
  constructor(options?: { cause?: unknown }) {
    super('the analytics query ran past its deadline; choose a shorter period', options);
    this.name = 'AnalyticsTimeoutError';
  }
}

// ---- input ------------------------------------------------------------------------------------------------

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

function dayNumber(value: string, name: string): number {
  const m = DAY.exec(value);
  const ms = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!m || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value) {
    throw new InputError(`${name} must be a date YYYY-MM-DD (got ${JSON.stringify(value)})`, name);
  }
  return ms / 86_400_000;
}

/** Validates a [from, to) range of days: real dates, from before to, at most MAX_PERIOD_DAYS days. */
export function checkPeriodDays(from: string, to: string): { days: number } {
  const a = dayNumber(from, 'from');
  const b = dayNumber(to, 'to');
  if (b <= a) throw new InputError('to must be after from (the period is [from, to): to is excluded)', 'to');
  if (b - a > MAX_PERIOD_DAYS) throw new InputError(`the period may span at most ${MAX_PERIOD_DAYS} days`, 'to');
  return { days: b - a };
}

export function checkOptions(options: Partial<AnalyticsOptions>): AnalyticsOptions {
  const callbackMinutes = options.callbackMinutes ?? DEFAULT_OPTIONS.callbackMinutes;
  const conversionDays = options.conversionDays ?? DEFAULT_OPTIONS.conversionDays;
  if (!Number.isInteger(callbackMinutes) || callbackMinutes < 1 || callbackMinutes > 10_080) {
    throw new InputError('callbackMinutes must be a whole number of minutes from 1 to 10080', 'callbackMinutes');
  }
  if (!Number.isInteger(conversionDays) || conversionDays < 1 || conversionDays > 365) {
    throw new InputError('conversionDays must be a whole number of days from 1 to 365', 'conversionDays');
  }
  const saleStatuses = [...new Set(options.saleStatuses ?? DEFAULT_OPTIONS.saleStatuses)].sort();
  if (saleStatuses.length === 0 || saleStatuses.length > 50 || !saleStatuses.every((c) => STATUS_CODE.test(c))) {
    throw new InputError('saleStatuses must be 1 to 50 RetailCRM status codes (letters, digits, _ and -)', 'saleStatuses');
  }
  return { callbackMinutes, conversionDays, saleStatuses };
}

/** Ranges up to this many days get an exact p90 from the calls; longer ones the histogram's bucket edge. */
export const EXACT_P90_MAX_DAYS = 31;

/**
 * percentile_disc(0.9) over a histogram: the bucket holding the ⌈0.9·n⌉-th smallest wait, reported as the
 * largest whole second of that bucket (the last, open bucket reports its lower edge).
 */
export function histogramP90(buckets: readonly { b: number; n: number }[], edges: readonly number[]): number | null {
  const sorted = [...buckets].sort((x, y) => x.b - y.b);
  const total = sorted.reduce((a, x) => a + x.n, 0);
  if (total === 0) return null;
  const target = Math.ceil(0.9 * total);
  let seen = 0;
  for (const { b, n } of sorted) {
    seen += n;
    if (seen >= target) return b <= edges.length ? (edges[b - 1] ?? 1) - 1 : (edges[edges.length - 1] ?? 0);
  }
  return null;
}

/** The bucket counts of several rollup rows' histograms (wait_hist, sql/006) added up, as histogramP90 takes them. */
export function summedHistogram(hists: readonly (readonly number[])[] | null): { b: number; n: number }[] {
  const sum: number[] = [];
  for (const h of hists ?? []) h.forEach((n, i) => { sum[i] = (sum[i] ?? 0) + n; });
  return sum.map((n, i) => ({ b: i + 1, n })).filter((x) => x.n !== 0);
}

export interface PeriodFigures {
  readonly summary: CallFigures;
  /** Busiest managers first; calls with no extension are one row with managerCode null. */
  readonly managers: readonly ManagerFigures[];
}

export interface AnalyticsQueries {
  figures(period: AnalyticsPeriod, options?: Partial<AnalyticsOptions>): Promise<PeriodFigures>;
  hourly(period: AnalyticsPeriod): Promise<HourBucket[]>;
  daily(period: AnalyticsPeriod): Promise<DayBucket[]>;
  missedWaiting(period: AnalyticsPeriod, limit?: number): Promise<MissedCallbackList>;
  callbackTasks(period: AnalyticsPeriod): Promise<CallbackTaskFigures>;
  leads(period: AnalyticsPeriod, limit?: number): Promise<LeadList>;
}

export function busiestHours(hours: readonly HourBucket[], count = 3): { hour: number; calls: number }[] {
  return hours
    .map((h) => ({ hour: h.hour, calls: h.callsIn + h.callsOut }))
    .filter((h) => h.calls > 0)
    .sort((a, b) => b.calls - a.calls || a.hour - b.hour)
    .slice(0, count);
}

/**
 * The whole local months inside [from, to) as [from, to) of their first days, for the monthly rollup (sql/017);
 * the days before and after them are read per day. No whole month: an empty range at `to`.
 */
export function wholeMonths(from: string, to: string): { from: string; to: string } {
  const first = from.endsWith('-01') ? from : nextMonth(from);
  const last = `${to.slice(0, 7)}-01`;
  return first < last ? { from: first, to: last } : { from: to, to };
}

function nextMonth(day: string): string {
  const y = Number(day.slice(0, 4));
  const m = Number(day.slice(5, 7));
  return m === 12 ? `${String(y + 1).padStart(4, '0')}-01-01` : `${day.slice(0, 4)}-${String(m + 1).padStart(2, '0')}-01`;
}
