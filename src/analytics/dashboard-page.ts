/**
 * The dashboard page, rendered on the server into one self-contained HTML document: inline CSS, inline SVG
 * charts, no external requests (the pages are opened on closed networks). Every value that reaches the HTML
 * goes through `escapeHtml`: phones, extensions and customer names come from callers and from RetailCRM.
 */
import type { CallBucket, CallFigures } from './analytics-queries.js';
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

const fmt = (v: number | null, suffix = ''): string => (v === null ? '—' : `${v}${suffix}`);
const pct = (v: number | null): string => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);
const hh = (h: number): string => `${String(h).padStart(2, '0')}:00`;

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
    ['avg-wait', 'Average wait (answered in)', fmt(s.avgWaitSec, ' s')],
    ['p90-wait', '90% waited at most', fmt(s.p90WaitSec, ' s')],
    ['avg-talk', 'Average talk', fmt(s.avgTalkSec, ' s')],
    ['conversion', `Order within ${d.options.conversionDays} days`, `${s.converted} (${pct(s.conversionRate)})`],
  ];
  return cards
    .map(([id, label, value]) => `<div class="card"><div class="label">${escapeHtml(label)}</div>` +
      `<div class="value" data-figure="${id}">${escapeHtml(value)}</div></div>`)
    .join('');
}

function managerTable(d: DashboardData): string {
  const rows = d.figures.managers.map((m) => `<tr>
    <td>${escapeHtml(m.managerCode ?? '(none)')}</td><td>${escapeHtml(m.managerUserId ?? '')}</td>
    <td>${m.callsIn}</td><td>${m.callsOut}</td><td>${m.answeredIn}</td><td>${m.answeredOut}</td><td>${m.missed}</td>
    <td>${m.missedNotCalledBack}</td><td>${escapeHtml(fmt(m.avgWaitSec))}</td><td>${escapeHtml(fmt(m.p90WaitSec))}</td>
    <td>${escapeHtml(fmt(m.avgTalkSec))}</td><td>${m.converted} (${escapeHtml(pct(m.conversionRate))})</td></tr>`);
  return `<table id="managers"><thead><tr><th>Extension</th><th>User id</th><th>In</th><th>Out</th><th>Answered in</th>
    <th>Answered out</th><th>Missed</th><th>Not called back</th><th>Avg wait, s</th><th>p90 wait, s</th>
    <th>Avg talk, s</th><th>Orders</th></tr></thead><tbody>${rows.join('') || '<tr><td colspan="12">No calls</td></tr>'}</tbody></table>`;
}

/** A bar chart in SVG: one `rect.bar` per bucket (all calls) with a `rect.bar-missed` overlay. */
function barChart(id: string, buckets: readonly (CallBucket & { label: string })[], labelEvery: number): string {
  const width = 960;
  const height = 220;
  const top = 10;
  const bottom = 30;
  const left = 40;
  const slot = (width - left) / Math.max(1, buckets.length);
  const max = Math.max(1, ...buckets.map((b) => b.callsIn + b.callsOut));
  const y = (v: number): number => ((height - top - bottom) * v) / max;
  const parts = buckets.map((b, i) => {
    const total = b.callsIn + b.callsOut;
    const x = left + i * slot + slot * 0.1;
    const w = Math.max(1, slot * 0.8);
    const label = i % labelEvery === 0
      ? `<text x="${(x + w / 2).toFixed(1)}" y="${height - 12}" text-anchor="middle">${escapeHtml(b.label)}</text>` : '';
    return `<rect class="bar" x="${x.toFixed(1)}" y="${(height - bottom - y(total)).toFixed(1)}" width="${w.toFixed(1)}" ` +
      `height="${y(total).toFixed(1)}"><title>${escapeHtml(`${b.label}: ${total} calls, ${b.answered} answered, ` +
      `${b.missed} missed`)}</title></rect>` +
      `<rect class="bar-missed" x="${x.toFixed(1)}" y="${(height - bottom - y(b.missed)).toFixed(1)}" ` +
      `width="${w.toFixed(1)}" height="${y(b.missed).toFixed(1)}"></rect>${label}`;
  });
  return `<svg id="${id}" class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img">
    <line x1="${left}" y1="${height - bottom}" x2="${width}" y2="${height - bottom}" class="axis"></line>
    <text x="${left - 4}" y="${top + 10}" text-anchor="end">${max}</text>
    <text x="${left - 4}" y="${height - bottom}" text-anchor="end">0</text>${parts.join('')}</svg>`;
}

function missedList(d: DashboardData): string {
  const crm = d.crmUrl.replace(/\/+$/, '');
  const rows = d.missed.items.map((m) => {
    const tel = `tel:${m.phone.replace(/[^\d+]/g, '')}`;
    const search = `${crm}/customers?${new URLSearchParams({ 'filters[name]': m.phone }).toString()}`;
    return `<tr><td><a class="call" href="${escapeHtml(tel)}">${escapeHtml(m.phone)}</a></td>
      <td>${escapeHtml(m.customerName ?? '')}</td><td>${escapeHtml(m.lastMissedAt.replace('T', ' ').slice(0, 16))} UTC</td>
      <td>${m.minutesAgo}</td><td>${m.attempts}</td><td>${escapeHtml(m.managerCode ?? '')}</td>
      <td><a class="crm" href="${escapeHtml(search)}" target="_blank" rel="noopener noreferrer">RetailCRM</a></td></tr>`;
  });
  return `<p>${d.missed.total} phone(s) still waiting for a call back${d.missed.total > d.missed.items.length
    ? ` (latest ${d.missed.items.length} shown)` : ''}.</p>
    <table id="missed"><thead><tr><th>Phone</th><th>Customer</th><th>Last missed</th><th>Minutes ago</th>
    <th>Missed calls</th><th>Rang</th><th></th></tr></thead>
    <tbody>${rows.join('') || '<tr><td colspan="7">Nobody is waiting</td></tr>'}</tbody></table>`;
}

const CSS = `body{font:14px system-ui,sans-serif;margin:0;background:#f5f6f8;color:#222}
header{background:#23395d;color:#fff;padding:12px 20px}header h1{margin:0;font-size:20px}
main{padding:16px 20px}section{background:#fff;border-radius:6px;padding:12px 16px;margin-bottom:16px}
h2{font-size:16px;margin:0 0 10px}.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #dde;border-radius:6px;padding:8px 12px;min-width:150px}.label{color:#667;font-size:12px}
.value{font-size:22px;font-weight:600}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:right}th:first-child,td:first-child{text-align:left}
#missed td,#missed th{text-align:left}.chart{max-width:100%;height:auto}.chart text{font-size:11px;fill:#556}
.bar{fill:#4a7bd0}.bar-missed{fill:#e0644f}.axis{stroke:#999}form label{margin-right:10px}
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
<section><h2>Calls per hour of day</h2>${barChart('hourly-chart', d.hours.map((h) => ({ ...h, label: hh(h.hour) })), 2)}</section>
<section><h2>Calls per day</h2>${barChart('daily-chart', d.days.map((x) => ({ ...x, label: x.day.slice(5) })), dayLabelEvery)}</section>
<section><h2>Managers</h2>${managerTable(d)}</section>
<section><h2>Missed calls waiting for a call back</h2>${missedList(d)}</section>
<section class="exports"><h2>Export</h2>
  <a id="export-managers" href="/api/analytics/managers.csv?${escapeHtml(queryString(d))}">Managers (CSV)</a>
  <a id="export-missed" href="/api/analytics/missed.csv?${escapeHtml(queryString(d))}">Missed calls (CSV)</a>
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
