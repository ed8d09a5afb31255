/**
 * The analytics report as data and as plain-text tables: what `retailcrm-agi report` prints. It asks the same
 * queries as the dashboard, so the CLI and the page never disagree.
 */
import {
  busiestHours,
  type AnalyticsOptions,
  type AnalyticsPeriod,
  type AnalyticsQueries,
  type CallbackTaskFigures,
  type DayBucket,
  type LeadList,
  type HourBucket,
  type MissedCallbackList,
  type PeriodFigures,
} from './analytics-queries.js';
import { crmOrderUrl, crmTaskUrl, humanAgo, humanSeconds, managerLabel } from './human-units.js';

export interface AnalyticsReport {
  readonly period: AnalyticsPeriod;
  readonly options: AnalyticsOptions;
  readonly figures: PeriodFigures;
  readonly hours: readonly HourBucket[];
  readonly busiestHours: readonly { hour: number; calls: number }[];
  readonly days: readonly DayBucket[];
  readonly missed: MissedCallbackList;
  readonly callbackTasks: CallbackTaskFigures;
  readonly leads: LeadList;
  /** The enterprise's RetailCRM address, for the task and order links. */
  readonly crmUrl: string;
}

export async function buildReport(
  queries: AnalyticsQueries,
  period: AnalyticsPeriod,
  options: AnalyticsOptions,
  crmUrl: string,
): Promise<AnalyticsReport> {
  // One after another: the CLI's pool has two connections, and a long query must not starve the others' wait.
  const figures = await queries.figures(period, options);
  const hours = await queries.hourly(period);
  const days = await queries.daily(period);
  const missed = await queries.missedWaiting(period, 50);
  const callbackTasks = await queries.callbackTasks(period);
  const leads = await queries.leads(period, 50);
  return { period, options, figures, hours, busiestHours: busiestHours(hours), days, missed, callbackTasks, leads, crmUrl };
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
    ['average wait', humanSeconds(s.avgWaitSec)], ['p90 wait', humanSeconds(s.p90WaitSec)], ['average talk', humanSeconds(s.avgTalkSec)],
    [`calls followed by an order in ${r.options.conversionDays} days`, s.converted], ['conversion', pct(s.conversionRate)],
    [`calls followed by a sale (${r.options.saleStatuses.join(', ')}) in ${r.options.conversionDays} days`, s.convertedToSale],
    ['sale conversion', pct(s.saleConversionRate)],
    ['leads asked for / created', `${r.leads.requested} / ${r.leads.created}`],
    ['call-back tasks open (in RetailCRM) / completed',
      `${r.callbackTasks.open} (${r.callbackTasks.openWithTask}) / ${r.callbackTasks.completed}`],
    ['busiest hours', r.busiestHours.map((b) => `${String(b.hour).padStart(2, '0')}:00 (${b.calls})`).join(', ') || '-'],
  ]), '');
  out.push('Per manager', textTable(
    ['manager', 'ext', 'user', 'in', 'out', 'ans in', 'ans out', 'missed', 'not cb', 'avg wait', 'p90 wait', 'avg talk',
      'orders', 'conv', 'sales', 'sale conv'],
    r.figures.managers.map((m) => [managerLabel(m), m.managerCode ?? '(none)', m.managerUserId, m.callsIn, m.callsOut,
      m.answeredIn, m.answeredOut, m.missed, m.missedNotCalledBack, humanSeconds(m.avgWaitSec), humanSeconds(m.p90WaitSec),
      humanSeconds(m.avgTalkSec), m.converted, pct(m.conversionRate), m.convertedToSale, pct(m.saleConversionRate)]),
  ), '');
  out.push('Per hour of day', textTable(['hour', 'in', 'out', 'answered', 'missed'],
    r.hours.map((h) => [`${String(h.hour).padStart(2, '0')}:00`, h.callsIn, h.callsOut, h.answered, h.missed])), '');
  out.push('Per day', textTable(['day', 'in', 'out', 'answered', 'missed'],
    r.days.map((d) => [d.day, d.callsIn, d.callsOut, d.answered, d.missed])), '');
  out.push(`Waiting for a call back: ${r.missed.total} phone(s)`, textTable(
    ['phone', 'customer', 'last missed (UTC)', 'ago', 'missed', 'rang', 'open task'],
    r.missed.items.map((m) => [m.phone, m.customerName, m.lastMissedAt.slice(0, 16).replace('T', ' '), humanAgo(m.minutesAgo), m.attempts,
      m.managerCode === null && m.managerUserId === null ? null : managerLabel(m),
      m.openTask === null ? null : m.openTask.crmTaskId === null ? 'not in RetailCRM yet' : crmTaskUrl(r.crmUrl, m.openTask.crmTaskId)]),
  ), '');
  out.push(`Leads: ${r.leads.requested} asked for, ${r.leads.created} created`, textTable(
    ['phone', 'call (UTC)', 'order'],
    r.leads.items.map((l) => [l.phone, l.calledAt.slice(0, 16).replace('T', ' '), l.crmOrderId === null ? 'not created yet' : crmOrderUrl(r.crmUrl, l.crmOrderId)]),
  ));
  return out.join('\n');
}
