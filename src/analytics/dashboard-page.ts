/**
 * The dashboard page, rendered on the server into one self-contained HTML document: inline CSS, inline SVG
 * charts, no external requests (the pages are opened on closed networks). Every value that reaches the HTML
 * goes through `escapeHtml`: phones, extensions and customer names come from callers and from RetailCRM.
 */
import type { CallBucket, CallFigures } from './analytics-queries.js';
import { crmOrderUrl, crmTaskUrl, humanAgo, humanSeconds, managerLabel } from './human-units.js';
import type { AnalyticsReport } from './report.js';

/** The page shows the same figures as the CLI report, for one enterprise, with its links. */
export interface DashboardData extends AnalyticsReport {
  readonly enterprise: string;
  readonly crmUrl: string;
  readonly token: string;
  /** CSP nonce of the inline script. */
  readonly nonce: string;
}

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const pct = (v: number | null): string => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);
const hh = (h: number): string => `${String(h).padStart(2, '0')}:00`;
const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

function queryString(d: DashboardData, extra: Record<string, string> = {}): string {
  return new URLSearchParams({
    enterprise: d.enterprise, token: d.token, from: d.period.from, to: d.period.to,
    callbackMinutes: String(d.options.callbackMinutes), conversionDays: String(d.options.conversionDays), ...extra,
  }).toString();
}

function summaryCards(s: CallFigures, d: DashboardData): string {
  const cards: [string, string, string][] = [
    ['calls-in', 'Inbound calls', String(s.callsIn)],
    ['calls-out', 'Outbound calls', String(s.callsOut)],
    ['answered', 'Answered (in / out)', `${s.answeredIn} / ${s.answeredOut}`],
    ['missed', 'Missed inbound', String(s.missed)],
    ['missed-not-called-back', `Not called back in ${d.options.callbackMinutes} min`, String(s.missedNotCalledBack)],
    ['avg-wait', 'Average wait (answered in)', humanSeconds(s.avgWaitSec)],
    ['p90-wait', '90% waited at most', humanSeconds(s.p90WaitSec)],
    ['avg-talk', 'Average talk', humanSeconds(s.avgTalkSec)],
    ['conversion', `Any order within ${d.options.conversionDays} days`, `${s.converted} (${pct(s.conversionRate)})`],
    ['sale-conversion', `Sale (${d.options.saleStatuses.join(', ')}) within ${d.options.conversionDays} days`,
      `${s.convertedToSale} (${pct(s.saleConversionRate)})`],
    ['leads', 'Leads created (orders / asked)', `${d.leads.created} / ${d.leads.requested}`],
    ['callback-open', 'Call-back tasks open (in RetailCRM)', `${d.callbackTasks.open} (${d.callbackTasks.openWithTask})`],
  ];
  return cards
    .map(([id, label, value]) => `<div class="card"><div class="label">${escapeHtml(label)}</div>` +
      `<div class="value" data-figure="${id}">${escapeHtml(value)}</div></div>`)
    .join('');
}

function managerTable(d: DashboardData): string {
  const rows = d.figures.managers.map((m) => `<tr>
    <td class="manager">${escapeHtml(managerLabel(m))}</td><td>${escapeHtml(m.managerCode ?? '')}</td>
    <td>${m.callsIn}</td><td>${m.callsOut}</td><td>${m.answeredIn}</td><td>${m.answeredOut}</td><td>${m.missed}</td>
    <td>${m.missedNotCalledBack}</td><td>${escapeHtml(humanSeconds(m.avgWaitSec))}</td><td>${escapeHtml(humanSeconds(m.p90WaitSec))}</td>
    <td>${escapeHtml(humanSeconds(m.avgTalkSec))}</td><td>${m.converted} (${escapeHtml(pct(m.conversionRate))})</td>
    <td>${m.convertedToSale} (${escapeHtml(pct(m.saleConversionRate))})</td></tr>`);
  return `<table id="managers"><thead><tr><th>Manager</th><th>Extension</th><th>In</th><th>Out</th><th>Answered in</th>
    <th>Answered out</th><th>Missed</th><th>Not called back</th><th>Avg wait</th><th>p90 wait</th>
    <th>Avg talk</th><th>Any order</th><th>Sale</th></tr></thead><tbody>${rows.join('') || '<tr><td colspan="13">No calls</td></tr>'}</tbody></table>`;
}

/** Round gridline steps (1, 2, 5 × 10ⁿ) giving at most 5 lines up to max. */
function ticks(max: number): number[] {
  const raw = Math.max(1, max) / 5;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * pow).find((v) => v >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v <= max; v += Math.max(1, Math.round(step))) out.push(v);
  return out;
}

/**
 * A bar chart in SVG: one `rect.bar` per bucket (all calls) with a `rect.bar-missed` overlay, each with a tooltip
 * (`<title>`); gridlines with their values, both axes labelled, and a legend.
 */
function barChart(id: string, buckets: readonly (CallBucket & { label: string; tip: string })[], labelEvery: number, xAxis: string): string {
  const width = 960;
  const height = 250;
  const top = 30;
  const bottom = 44;
  const left = 56;
  const slot = (width - left) / Math.max(1, buckets.length);
  const grid = ticks(Math.max(1, ...buckets.map((b) => b.callsIn + b.callsOut)));
  const max = Math.max(1, grid[grid.length - 1] ?? 1, ...buckets.map((b) => b.callsIn + b.callsOut));
  const y = (v: number): number => ((height - top - bottom) * v) / max;
  const base = height - bottom;
  const lines = grid.map((v) => `<line class="grid" x1="${left}" x2="${width}" y1="${(base - y(v)).toFixed(1)}" y2="${(base - y(v)).toFixed(1)}"></line>` +
    `<text class="tick" x="${left - 6}" y="${(base - y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`);
  const parts = buckets.map((b, i) => {
    const total = b.callsIn + b.callsOut;
    const x = left + i * slot + slot * 0.1;
    const w = Math.max(1, slot * 0.8);
    const tip = escapeHtml(`${b.tip}: ${plural(total, 'call', 'calls')} (${b.callsIn} in, ${b.callsOut} out), ${b.answered} answered, ${b.missed} missed`);
    const label = i % labelEvery === 0
      ? `<text class="tick" x="${(x + w / 2).toFixed(1)}" y="${base + 15}" text-anchor="middle">${escapeHtml(b.label)}</text>` : '';
    return `<rect class="bar" x="${x.toFixed(1)}" y="${(base - y(total)).toFixed(1)}" width="${w.toFixed(1)}" ` +
      `height="${y(total).toFixed(1)}"><title>${tip}</title></rect>` +
      `<rect class="bar-missed" x="${x.toFixed(1)}" y="${(base - y(b.missed)).toFixed(1)}" ` +
      `width="${w.toFixed(1)}" height="${y(b.missed).toFixed(1)}"><title>${tip}</title></rect>${label}`;
  });
  return `<svg id="${id}" class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(`Calls per ${xAxis.toLowerCase()}`)}">
    ${lines.join('')}
    <line x1="${left}" y1="${base}" x2="${width}" y2="${base}" class="axis"></line>
    <line x1="${left}" y1="${top - 6}" x2="${left}" y2="${base}" class="axis"></line>
    <text class="axis-label x-label" x="${(left + width) / 2}" y="${height - 6}" text-anchor="middle">${escapeHtml(xAxis)}</text>
    <text class="axis-label y-label" x="14" y="${(top + base) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(top + base) / 2})">Calls</text>
    <g class="legend" transform="translate(${width - 290} 6)">` +
    `<rect class="swatch-calls" x="0" y="0" width="12" height="12"></rect><text x="18" y="11">Calls (in + out)</text>` +
    `<rect class="swatch-missed" x="140" y="0" width="12" height="12"></rect><text x="158" y="11">Missed inbound</text></g>${parts.join('')}</svg>`;
}

function missedList(d: DashboardData): string {
  const crm = d.crmUrl.replace(/\/+$/, '');
  const rows = d.missed.items.map((m) => {
    const tel = `tel:${m.phone.replace(/[^\d+]/g, '')}`;
    const search = `${crm}/customers?${new URLSearchParams({ 'filters[name]': m.phone }).toString()}`;
    const t = m.openTask;
    const task = t === null ? '—'
      : t.crmTaskId === null ? `not in RetailCRM yet (${plural(t.missedCount, 'miss', 'misses')})`
        : `<a class="task" href="${escapeHtml(crmTaskUrl(d.crmUrl, t.crmTaskId))}" target="_blank" rel="noopener noreferrer">task ${t.crmTaskId}</a>`;
    return `<tr><td><a class="call" href="${escapeHtml(tel)}">${escapeHtml(m.phone)}</a></td>
      <td>${escapeHtml(m.customerName ?? '')}</td><td>${escapeHtml(m.lastMissedAt.replace('T', ' ').slice(0, 16))} UTC</td>
      <td class="ago">${escapeHtml(humanAgo(m.minutesAgo))}</td><td>${m.attempts}</td><td>${escapeHtml(m.managerCode === null && m.managerUserId === null ? '' : managerLabel(m))}</td>
      <td class="open-task">${task}</td>
      <td><a class="crm" href="${escapeHtml(search)}" target="_blank" rel="noopener noreferrer">RetailCRM</a></td></tr>`;
  });
  return `<p>${d.missed.total} phone(s) still waiting for a call back${d.missed.total > d.missed.items.length
    ? ` (latest ${d.missed.items.length} shown)` : ''}; call-back tasks of the period: ${d.callbackTasks.open} open
    (${d.callbackTasks.openWithTask} in RetailCRM), ${d.callbackTasks.completed} completed.</p>
    <table id="missed"><thead><tr><th>Phone</th><th>Customer</th><th>Last missed</th><th>Ago</th>
    <th>Missed calls</th><th>Rang</th><th>Open task</th><th></th></tr></thead>
    <tbody>${rows.join('') || '<tr><td colspan="8">Nobody is waiting</td></tr>'}</tbody></table>`;
}

function leadList(d: DashboardData): string {
  const rows = d.leads.items.map((l) => `<tr><td>${escapeHtml(l.phone)}</td>
    <td>${escapeHtml(l.calledAt.replace('T', ' ').slice(0, 16))} UTC</td>
    <td>${l.crmOrderId === null ? 'not created yet'
      : `<a class="order" href="${escapeHtml(crmOrderUrl(d.crmUrl, l.crmOrderId))}" target="_blank" rel="noopener noreferrer">order ${l.crmOrderId}</a>`}</td></tr>`);
  return `<p>${plural(d.leads.requested, 'lead', 'leads')} asked for, ${d.leads.created} created as orders in RetailCRM${
    d.leads.requested > d.leads.items.length ? ` (latest ${d.leads.items.length} shown)` : ''}.</p>
    <table id="leads"><thead><tr><th>Phone</th><th>Call</th><th>Order</th></tr></thead>
    <tbody>${rows.join('') || '<tr><td colspan="3">No leads</td></tr>'}</tbody></table>`;
}

const CSS = `body{font:14px system-ui,sans-serif;margin:0;background:#f5f6f8;color:#222}
header{background:#23395d;color:#fff;padding:12px 20px}header h1{margin:0;font-size:20px}
main{padding:16px 20px}section{background:#fff;border-radius:6px;padding:12px 16px;margin-bottom:16px}
h2{font-size:16px;margin:0 0 10px}.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #dde;border-radius:6px;padding:8px 12px;min-width:150px}.label{color:#667;font-size:12px}
.value{font-size:22px;font-weight:600}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:right}th:first-child,td:first-child{text-align:left}
#missed td,#missed th,#leads td,#leads th{text-align:left}.chart{max-width:100%;height:auto}.chart text{font-size:12px;fill:#556}
.bar,.swatch-calls{fill:#4a7bd0}.bar-missed,.swatch-missed{fill:#e0644f}.axis{stroke:#777}.grid{stroke:#e4e6ea}.axis-label{font-weight:600}
.legend text{fill:#333}#managers td,#missed td{white-space:nowrap}form label{margin-right:10px}
.exports a{margin-right:12px}`;

export function renderDashboardPage(d: DashboardData): string {
  const s = d.figures.summary;
  const dayLabelEvery = Math.max(1, Math.ceil(d.days.length / 16));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Calls: ${escapeHtml(d.enterprise)} ${escapeHtml(d.period.from)} – ${escapeHtml(d.period.to)}</title>
<style>${CSS}</style></head><body>
<header><h1>Calls of ${escapeHtml(d.enterprise)}</h1>
<div>${escapeHtml(d.period.from)} to ${escapeHtml(d.period.to)} (excluded), ${escapeHtml(d.period.timezone)}</div></header>
<main>
<section><form id="filters" method="get" action="">
  <label>Enterprise <input name="enterprise" value="${escapeHtml(d.enterprise)}" size="10"></label>
  <label>Token <input name="token" type="password" value="${escapeHtml(d.token)}" size="12"></label>
  <label>From <input name="from" type="date" value="${escapeHtml(d.period.from)}"></label>
  <label>To (excluded) <input name="to" type="date" value="${escapeHtml(d.period.to)}"></label>
  <label>Call back within <input name="callbackMinutes" type="number" min="1" value="${d.options.callbackMinutes}" style="width:5em"> min</label>
  <label>Order within <input name="conversionDays" type="number" min="1" value="${d.options.conversionDays}" style="width:4em"> days</label>
  <button type="submit">Show</button> <span id="form-error" role="alert"></span>
</form></section>
<section><h2>Summary</h2><div class="cards" id="summary">${summaryCards(s, d)}</div>
<p id="busiest">Busiest hours: ${escapeHtml(d.busiestHours.map((b) => `${hh(b.hour)} (${b.calls})`).join(', ') || '—')}</p></section>
<section><h2>Calls per hour of day</h2>${barChart('hourly-chart', d.hours.map((h) => ({ ...h, label: hh(h.hour), tip: `${hh(h.hour)}–${hh((h.hour + 1) % 24)}` })), 2, 'Hour of day (local)')}</section>
<section><h2>Calls per day</h2>${barChart('daily-chart', d.days.map((x) => ({ ...x, label: x.day.slice(5), tip: x.day })), dayLabelEvery, 'Day')}</section>
<section><h2>Managers</h2>${managerTable(d)}</section>
<section><h2>Missed calls not called back, with their open task</h2>${missedList(d)}</section>
<section><h2>Leads created</h2>${leadList(d)}</section>
<section class="exports"><h2>Export</h2>
  <a id="export-managers" href="/api/analytics/managers.csv?${escapeHtml(queryString(d))}">Managers (CSV)</a>
  <a id="export-missed" href="/api/analytics/missed.csv?${escapeHtml(queryString(d))}">Missed calls (CSV)</a>
  <a id="export-leads" href="/api/analytics/leads.csv?${escapeHtml(queryString(d))}">Leads (CSV)</a>
</section>
</main>
<script nonce="${escapeHtml(d.nonce)}">
document.getElementById('filters').addEventListener('submit', function (e) {
  var f = e.target, err = document.getElementById('form-error');
  if (f.from.value && f.to.value && f.from.value >= f.to.value) { e.preventDefault(); err.textContent = 'From must be before To'; }
});
</script>
</body></html>`;
}
