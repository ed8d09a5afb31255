/**
 * How analytics shows durations, ages, managers and RetailCRM links to people: the dashboard, the CLI report and
 * the CSV exports share these, so the three never word a figure differently.
 */

/** A wait or talk time: "45 s", "2 min 5 s", "1 h 3 min"; fractions are rounded to the second. */
export function humanSeconds(sec: number | null): string {
  if (sec === null) return '—';
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 === 0 ? `${Math.floor(s / 60)} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
  const min = Math.floor((s % 3600) / 60);
  return min === 0 ? `${Math.floor(s / 3600)} h` : `${Math.floor(s / 3600)} h ${min} min`;
}

/** How long ago, from whole minutes: "12 min", "3 h 20 min", "5 days" (a day or more: whole days, rounded down). */
export function humanAgo(minutes: number): string {
  const m = Math.max(0, Math.floor(minutes));
  if (m < 60) return `${m} min`;
  if (m < 1440) return m % 60 === 0 ? `${Math.floor(m / 60)} h` : `${Math.floor(m / 60)} h ${m % 60} min`;
  const days = Math.floor(m / 1440);
  return days === 1 ? '1 day' : `${days} days`;
}

/** The manager as people know them: RetailCRM's "First Last", else the extension, else the user id. */
export function managerLabel(m: { managerName: string | null; managerCode: string | null; managerUserId: number | null }): string {
  if (m.managerName) return m.managerName;
  if (m.managerCode) return `ext. ${m.managerCode}`;
  if (m.managerUserId !== null) return `user ${m.managerUserId}`;
  return '(no extension)';
}

const base = (crmUrl: string): string => crmUrl.replace(/\/+$/, '');

/** A task's page in RetailCRM (inferred from the admin's URLs, docs/analytics.md). */
export function crmTaskUrl(crmUrl: string, taskId: number): string {
  return `${base(crmUrl)}/tasks/${taskId}`;
}

/** An order's page in RetailCRM (inferred from the admin's URLs, docs/analytics.md). */
export function crmOrderUrl(crmUrl: string, orderId: number): string {
  return `${base(crmUrl)}/orders/${orderId}/edit`;
}
