/**
 * The analytics report as data and as plain-text tables: what `retailcrm-agi report` prints. It asks the same
 * queries as the dashboard, so the CLI and the page never disagree.
 */
import {
  busiestHours,
  type AnalyticsOptions,
  type AnalyticsPeriod,
  type AnalyticsQueries,
  type DayBucket,
  type HourBucket,
  type MissedCallbackList,
  type PeriodFigures,
} from './analytics-queries.js';

export interface AnalyticsReport {
  readonly period: AnalyticsPeriod;
  readonly options: AnalyticsOptions;
  readonly figures: PeriodFigures;
  readonly hours: readonly HourBucket[];
  readonly busiestHours: readonly { hour: number; calls: number }[];
  readonly days: readonly DayBucket[];
  readonly missed: MissedCallbackList;
}

export async function buildReport(queries: AnalyticsQueries, period: AnalyticsPeriod, options: AnalyticsOptions): Promise<AnalyticsReport> {
  // One after another: the CLI's pool has two connections, and a long query must not starve the others' wait.
  const figures = await queries.figures(period, options);
  const hours = await queries.hourly(period);
  const days = await queries.daily(period);
  const missed = await queries.missedWaiting(period, 50);
  return { period, options, figures, hours, busiestHours: busiestHours(hours), days, missed };
}

/** Left-aligned first column, right-aligned numbers, columns padded to the widest cell. */
export function textTable(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [header, ...rows].map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c).replace(/\s+/g, ' '))));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  const [head, ...body] = cells;
  return [line(head ?? []), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)}%`);

export function formatReport(r: AnalyticsReport): string {
  const s = r.figures.summary;
  const out: string[] = [];
  out.push(`Calls of ${r.period.enterprise} from ${r.period.from} to ${r.period.to} (excluded), ${r.period.timezone}`, '');
  out.push(textTable(['figure', 'value'], [
    ['calls in', s.callsIn], ['calls out', s.callsOut], ['answered in', s.answeredIn], ['answered out', s.answeredOut],
    ['missed', s.missed], [`missed, not called back in ${r.options.callbackMinutes} min`, s.missedNotCalledBack],
    ['average wait, s', s.avgWaitSec], ['p90 wait, s', s.p90WaitSec], ['average talk, s', s.avgTalkSec],
    [`calls followed by an order in ${r.options.conversionDays} days`, s.converted], ['conversion', pct(s.conversionRate)],
    ['busiest hours', r.busiestHours.map((b) => `${String(b.hour).padStart(2, '0')}:00 (${b.calls})`).join(', ') || '-'],
  ]), '');
  out.push('Per manager', textTable(
    ['ext', 'user', 'in', 'out', 'ans in', 'ans out', 'missed', 'not cb', 'avg wait', 'p90 wait', 'avg talk', 'orders', 'conv'],
    r.figures.managers.map((m) => [m.managerCode ?? '(none)', m.managerUserId, m.callsIn, m.callsOut, m.answeredIn,
      m.answeredOut, m.missed, m.missedNotCalledBack, m.avgWaitSec, m.p90WaitSec, m.avgTalkSec, m.converted, pct(m.conversionRate)]),
  ), '');
  out.push('Per hour of day', textTable(['hour', 'in', 'out', 'answered', 'missed'],
    r.hours.map((h) => [`${String(h.hour).padStart(2, '0')}:00`, h.callsIn, h.callsOut, h.answered, h.missed])), '');
  out.push('Per day', textTable(['day', 'in', 'out', 'answered', 'missed'],
    r.days.map((d) => [d.day, d.callsIn, d.callsOut, d.answered, d.missed])), '');
  out.push(`Waiting for a call back: ${r.missed.total} phone(s)`, textTable(
    ['phone', 'customer', 'last missed (UTC)', 'min ago', 'missed', 'rang'],
    r.missed.items.map((m) => [m.phone, m.customerName, m.lastMissedAt.slice(0, 16).replace('T', ' '), m.minutesAgo, m.attempts, m.managerCode]),
  ));
  return out.join('\n');
}
