/** `enterprise add|set`: the flags and how they become the enterprise's settings. */
import { parseCidrList } from '../lib/address-allow-list.js';
import { InputError } from '../lib/errors.js';
import type { EnterpriseInput } from '../db/enterprise-store.js';
import { DEFAULT_CALLBACK_TASKS, DEFAULT_LEADS, type CallbackTaskSettings, type Enterprise, type LeadSettings } from '../domain/enterprise.js';
import * as a from './args.js';

export const FLAGS = {
  number: { type: 'string' },
  'crm-url': { type: 'string' },
  'api-key': { type: 'string' },
  'client-id': { type: 'string' },
  country: { type: 'string' },
  site: { type: 'string' },
  'auto-create-customers': { type: 'string' },
  'telephony-events': { type: 'string' },
  'skip-manager-on-break': { type: 'string' },
  timezone: { type: 'string' },
  'external-phones': { type: 'string' },
  'pbx-addresses': { type: 'string' },
  'recording-retention-days': { type: 'string' },
  // RetailCRM order status codes counted as a sale by analytics (docs/analytics.md).
  'sale-statuses': { type: 'string' },
  // Leads and call-back tasks (docs/leads-and-tasks.md), off by default.
  'callback-tasks': { type: 'string' },
  'callback-default-user': { type: 'string' },
  'callback-due-minutes': { type: 'string' },
  leads: { type: 'string' },
  'lead-site': { type: 'string' },
  'lead-order-method': { type: 'string' },
  'lead-status': { type: 'string' },
  'lead-period-hours': { type: 'string' },
} as const;

type Flags = Record<string, string | boolean | undefined>;

function externalPhones(value: string): { siteCode: string; externalPhone: string }[] {
  if (value.trim() === '') return [];
  return value.split(',').map((pair) => {
    const [siteCode, externalPhone] = pair.split('=', 2).map((s) => s.trim());
    if (!siteCode || !externalPhone || !/^\+?\d{3,20}$/.test(externalPhone)) {
      throw new InputError('--external-phones is SITE=NUMBER[,SITE=NUMBER...], e.g. shop=+375171234567', 'external-phones');
    }
    return { siteCode: a.site(siteCode) ?? siteCode, externalPhone };
  });
}

function timezone(value: string): string {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
  } catch {
    throw new InputError(`--timezone must be an IANA zone such as Europe/Minsk (got ${JSON.stringify(value)})`, 'timezone');
  }
  return value;
}

function pbxAddresses(value: string): string[] {
  const parsed = parseCidrList(value);
  if (parsed.problems.length > 0) throw new InputError(`--pbx-addresses: ${parsed.problems.join('; ')}`, 'pbx-addresses');
  return [...parsed.cidrs];
}

/** A RetailCRM reference code (order method, status, site); '' or `none` clears it. */
/** `off` (keep forever) or a whole number of days, 1 to 36500. */
const STATUS_CODE = /^[A-Za-z0-9_-]{1,64}$/;

/** `--sale-statuses complete,paid`: RetailCRM status codes counted as a sale by analytics. */
function saleStatuses(value: string): string[] {
  const codes = value.split(',').map((c) => c.trim()).filter((c) => c !== '');
  if (codes.length === 0 || codes.length > 50 || !codes.every((c) => STATUS_CODE.test(c))) {
    throw new InputError('--sale-statuses is CODE[,CODE...] of RetailCRM order statuses, e.g. complete,paid', 'sale-statuses');
  }
  return [...new Set(codes)];
}

function retentionDays(value: string): number | null {
  if (value.trim().toLowerCase() === 'off') return null;
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1 || Number(value) > 36_500) {
    throw new InputError(`--recording-retention-days is a number of days (1-36500) or off (got ${JSON.stringify(value)})`, 'recording-retention-days');
  }
  return Number(value);
}

function code(value: string, name: string): string | null {
  if (value === '' || value === 'none') return null;
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(value)) throw new InputError(`--${name} must be a RetailCRM code (letters, digits, _ . -)`, name);
  return value;
}

/** The call-back task settings the flags ask for, over `current`; undefined when no flag names them. */
export function callbackTasksFrom(flags: Flags, current: CallbackTaskSettings = DEFAULT_CALLBACK_TASKS): CallbackTaskSettings | undefined {
  const on = a.str(flags, 'callback-tasks');
  const user = a.str(flags, 'callback-default-user');
  const due = a.str(flags, 'callback-due-minutes');
  if (on === undefined && user === undefined && due === undefined) return undefined;
  return {
    enabled: on === undefined ? current.enabled : a.onOff(on, 'callback-tasks'),
    defaultUserId: user === undefined ? current.defaultUserId : user === '' || user === 'none' ? null : a.positiveInt(user, 'callback-default-user'),
    dueMinutes: due === undefined ? current.dueMinutes : a.positiveInt(due, 'callback-due-minutes'),
  };
}

/** The lead settings the flags ask for, over `current`; undefined when no flag names them. */
export function leadsFrom(flags: Flags, current: LeadSettings = DEFAULT_LEADS): LeadSettings | undefined {
  const on = a.str(flags, 'leads');
  const site = a.str(flags, 'lead-site');
  const method = a.str(flags, 'lead-order-method');
  const status = a.str(flags, 'lead-status');
  const period = a.str(flags, 'lead-period-hours');
  if ([on, site, method, status, period].every((v) => v === undefined)) return undefined;
  return {
    enabled: on === undefined ? current.enabled : a.onOff(on, 'leads'),
    site: site === undefined ? current.site : code(site, 'lead-site'),
    orderMethod: method === undefined ? current.orderMethod : code(method, 'lead-order-method'),
    status: status === undefined ? current.status : code(status, 'lead-status'),
    periodHours: period === undefined ? current.periodHours : a.positiveInt(period, 'lead-period-hours'),
  };
}

export function settingsFrom(flags: Flags, current?: Enterprise['settings']): NonNullable<EnterpriseInput['settings']> {
  const s: Record<string, unknown> = {};
  const auto = a.str(flags, 'auto-create-customers');
  if (auto !== undefined) s['autoCreateCustomers'] = a.onOff(auto, 'auto-create-customers');
  const events = a.str(flags, 'telephony-events');
  if (events !== undefined) s['telephonyEvents'] = a.onOff(events, 'telephony-events');
  const skip = a.str(flags, 'skip-manager-on-break');
  if (skip !== undefined) s['skipManagerOnBreak'] = a.onOff(skip, 'skip-manager-on-break');
  const tz = a.str(flags, 'timezone');
  if (tz !== undefined) s['crmTimezone'] = timezone(tz);
  const phones = a.str(flags, 'external-phones');
  if (phones !== undefined) s['externalPhones'] = externalPhones(phones);
  const pbx = a.str(flags, 'pbx-addresses');
  if (pbx !== undefined) s['pbxAddresses'] = pbxAddresses(pbx);
  const retention = a.str(flags, 'recording-retention-days');
  if (retention !== undefined) s['recordingRetentionDays'] = retentionDays(retention);
  const sale = a.str(flags, 'sale-statuses');
  if (sale !== undefined) s['saleStatuses'] = saleStatuses(sale);
  const callbacks = callbackTasksFrom(flags, current?.callbackTasks);
  if (callbacks !== undefined) s['callbackTasks'] = callbacks;
  const leads = leadsFrom(flags, current?.leads);
  if (leads !== undefined) s['leads'] = leads;
  return s as NonNullable<EnterpriseInput['settings']>;
}

