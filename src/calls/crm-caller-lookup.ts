/** Adapts RetailCRM's `telephony/manager` answer to what the caller lookup chain stores and routes on. */
import type { Enterprise } from '../db/enterprise-store.js';
import type { RetailCrmClient } from '../crm/client.js';
import type { CrmAccount } from '../crm/types.js';
import type { CallerInfo, CrmCallerLookup } from './caller-lookup.js';
import { displayName } from './caller-name.js';

export function crmAccount(enterprise: Enterprise): CrmAccount {
  return { key: enterprise.number, url: enterprise.crmUrl, apiKey: enterprise.apiKey };
}

export function crmCallerLookup(client: RetailCrmClient): CrmCallerLookup {
  return async (enterprise, phone, signal): Promise<CallerInfo | null> => {
    const answer = await client.telephonyManager(crmAccount(enterprise), phone, { signal });
    const customer = answer.customer;
    if (!customer) return null;
    const isCorporate = customer.type === 'customer_corporate';
    return {
      customerId: customer.id,
      name: displayName({
        firstName: customer.firstName,
        lastName: customer.lastName,
        company: customer.companyName,
        isCorporate,
      }),
      isCorporate,
      managerUserId: answer.manager?.id ?? customer.managerId ?? null,
    };
  };
}
