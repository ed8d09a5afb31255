/**
 * Checks a RetailCRM account and API key before the service relies on them (`enterprise add`, `enterprise
 * check`): `GET /api/credentials` (is the key valid, which scopes, which sites), `GET /api/v5/settings` (the
 * account's timezone) and, when the key does not list its sites, `GET /api/v5/reference/sites`. What a feature
 * cannot work without is a problem (the key is refused); what only an optional feature needs is a warning.
 * The scope decision is a pure function, tested as a table.
 */
import { CrmAuthError, CrmError, errorMessage } from '../lib/errors.js';
import type { RetailCrmClient } from './client.js';
import type { Credentials } from './types.js';
import type { CrmAccount } from './types.js';

export interface AccountNeeds {
  /** Popups and call history (call/event, calls/upload). */
  readonly telephonyEvents: boolean;
  /** Customers created for unknown numbers. */
  readonly autoCreateCustomers: boolean;
  /** Call-back tasks for missed calls (tasks/create, tasks/{id}/edit, tasks to find one after a lost answer). */
  readonly callbackTasks?: boolean;
  /** Orders for new callers (orders/create, orders by externalId after a lost answer). */
  readonly leads?: boolean;
  /** The site the enterprise names (--site), or null. */
  readonly site: string | null;
}

interface ScopeNeed {
  readonly scope: string;
  readonly why: string;
  readonly when: (n: AccountNeeds) => boolean;
}

/** Scopes a feature cannot work without (RetailCRM answers "Access denied." otherwise). */
const REQUIRED: readonly ScopeNeed[] = [
  { scope: 'telephony_read', why: 'caller lookup (telephony/manager)', when: () => true },
  { scope: 'customer_read', why: 'caller names and RetailCRM changes (customers, history)', when: () => true },
  { scope: 'telephony_write', why: 'popups and call history (--telephony-events on)', when: (n) => n.telephonyEvents },
  { scope: 'customer_write', why: 'customers for new numbers (--auto-create-customers on)', when: (n) => n.autoCreateCustomers },
  { scope: 'task_read', why: 'call-back tasks (--callback-tasks on)', when: (n) => n.callbackTasks === true },
  { scope: 'task_write', why: 'call-back tasks (--callback-tasks on)', when: (n) => n.callbackTasks === true },
  { scope: 'order_read', why: 'leads for new callers (--leads on)', when: (n) => n.leads === true },
  { scope: 'order_write', why: 'leads for new callers (--leads on)', when: (n) => n.leads === true },
];

/** Scopes only optional features use. */
const OPTIONAL: readonly { readonly scope: string; readonly why: string }[] = [
  { scope: 'integration_read', why: 'register (telephony module)' },
  { scope: 'integration_write', why: 'register (telephony module, click-to-call)' },
  { scope: 'user_read', why: 'users sync' },
  { scope: 'user_write', why: 'manager status sent to RetailCRM' },
  { scope: 'order_read', why: 'orders history (call-to-order conversion in the dashboard)' },
  { scope: 'reference_read', why: 'the list of sites' },
];

export interface ScopeAssessment {
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
}

export function assessCredentials(creds: Credentials, needs: AccountNeeds, knownSites: readonly string[] | null): ScopeAssessment {
  const have = new Set(creds.scopes);
  const problems = REQUIRED.filter((r) => r.when(needs) && !have.has(r.scope)).map(
    (r) => `the key lacks the scope ${r.scope}, needed for ${r.why}`,
  );
  const warnings = OPTIONAL.filter((o) => !have.has(o.scope)).map((o) => `the key lacks ${o.scope}: no ${o.why}`);
  const limited = creds.siteAccess !== undefined && creds.siteAccess !== 'access_full';
  const sites = creds.sitesAvailable.length > 0 ? creds.sitesAvailable : (knownSites ?? []);
  if (needs.site !== null && sites.length > 0 && !sites.includes(needs.site)) {
    problems.push(
      limited
        ? `the key may not use site ${needs.site} (it may use: ${sites.join(', ')})`
        : `the account has no site ${needs.site} (sites: ${sites.join(', ')})`,
    );
  }
  if (needs.site === null && sites.length > 1) {
    warnings.push(`the account has several sites (${sites.join(', ')}): set --site for popups and new customers`);
  }
  return { problems, warnings };
}

export interface AccountCheck {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
  readonly scopes: readonly string[];
  readonly sites: readonly string[];
  /** The account's timezone as RetailCRM reports it; null when it could not be read. */
  readonly timezone: string | null;
}

function validZone(zone: string | null): string | null {
  if (zone === null) return null;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return zone;
  } catch {
    return null;
  }
}

export async function checkCrmAccount(
  crm: Pick<RetailCrmClient, 'credentials' | 'accountSettings' | 'sites'>,
  account: CrmAccount,
  needs: AccountNeeds,
  timeoutMs: number,
): Promise<AccountCheck> {
  const opts = { timeoutMs };
  let creds: Credentials;
  try {
    creds = await crm.credentials(account, opts);
  } catch (err) {
    const problem = err instanceof CrmAuthError
      ? `RetailCRM refuses the API key (${err.status ?? '?'} ${err.message}): check the key and the account URL ${account.url}`
      : `cannot check the key: RetailCRM at ${account.url} did not answer usefully (${errorMessage(err)})`;
    return { ok: false, problems: [problem], warnings: [], scopes: [], sites: [], timezone: null };
  }
  const warnings: string[] = [];
  let timezone: string | null = null;
  try {
    const reported = (await crm.accountSettings(account, opts)).timezone;
    timezone = validZone(reported);
    if (timezone === null) warnings.push(`RetailCRM reports no usable timezone (${JSON.stringify(reported)}): pass --timezone`);
  } catch (err) {
    warnings.push(`cannot read the account's timezone (${err instanceof CrmError ? err.message : errorMessage(err)}): pass --timezone`);
  }
  let knownSites: string[] | null = null;
  if (creds.sitesAvailable.length === 0 && creds.scopes.includes('reference_read')) {
    try {
      knownSites = await crm.sites(account, opts);
    } catch (err) {
      warnings.push(`cannot read the account's sites (${errorMessage(err)})`);
    }
  }
  const assessed = assessCredentials(creds, needs, knownSites);
  return {
    ok: assessed.problems.length === 0,
    problems: assessed.problems,
    warnings: [...assessed.warnings, ...warnings],
    scopes: creds.scopes,
    sites: creds.sitesAvailable.length > 0 ? creds.sitesAvailable : (knownSites ?? []),
    timezone,
  };
}
