/**
 * The vocabulary of call analytics: a period of one enterprise, the options, the figures the queries return
 * (docs/analytics.md defines every figure), and the checks of what a caller asks for.
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
}

export const DEFAULT_OPTIONS: AnalyticsOptions = Object.freeze({ callbackMinutes: 30, conversionDays: 7 });
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
}

export interface ManagerFigures extends CallFigures {
  readonly managerCode: string | null;
  readonly managerUserId: number | null;
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
  readonly ringCodes: readonly string[];
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
  return { callbackMinutes, conversionDays };
}
