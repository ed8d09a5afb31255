/** Adapts RetailCRM's `telephony/manager` answer to what the caller lookup chain stores and routes on. */
import type { RetailCrmClient } from '../crm/client.js';
import { crmAccount } from '../domain/crm-account.js';
import type { CallerInfo } from '../domain/caller-info.js';
import type { CrmCallerLookup } from './caller-lookup.js';
import { displayName } from '../domain/caller-name.js';

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
