/** RetailCRM's callers prove their tenant by the integration module's `clientId`; this finds the tenant for one. */
import type { Enterprise } from '../domain/enterprise.js';
import type { EnterpriseStore } from '../db/enterprise-store.js';
import { safeEqual } from '../secrets/secret-box.js';

export async function enterpriseByClientId(
  enterprises: Pick<EnterpriseStore, 'findByClientId'>,
  clientId: string | null,
): Promise<Enterprise | null> {
  if (clientId === null || clientId === '' || clientId.length > 200) return null;
  const found = await enterprises.findByClientId(clientId);
  return found && safeEqual(found.clientId, clientId) ? found : null;
}
