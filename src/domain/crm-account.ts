/** The tenant's RetailCRM account as the RetailCRM client addresses it (key for the rate limiter, URL, API key). */
import type { Enterprise } from './enterprise.js';

export interface CrmAccount {
  /** Our enterprise number: the limiter's key. */
  readonly key: string;
  /** Account base URL, e.g. https://acc.retailcrm.ru (no trailing /api). */
  readonly url: string;
  readonly apiKey: string;
}

export function crmAccount(enterprise: Enterprise): CrmAccount {
  return { key: enterprise.number, url: enterprise.crmUrl, apiKey: enterprise.apiKey };
}
